"""``flask protection …``: the read-only switch from a shell, for when the API itself is in trouble."""

from __future__ import annotations

import click
from flask.cli import AppGroup

protection_cli = AppGroup("protection", help="Consumer protection: the platform's read-only switch.")


@protection_cli.command("read-only")
@click.argument("state", type=click.Choice(["on", "off", "status"]))
@click.option("--reason", default="", help="Why (kept in the audit log); required for on and off")
@click.option("--as", "phone", default="", help="The phone of the pilot-office account acting (audited)")
def read_only(state, reason, phone):
    """Switch the platform to read-only (no new money moves, balances readable), back, or show it."""
    from sqlalchemy import select

    from backend.auth.models import User
    from backend.errors import DomainError
    from backend.extensions import db
    from protection import service

    if state == "status":
        current = service.platform_state()
        click.echo(f"read-only: {'on' if current.read_only else 'off'}"
                   + (f" since {current.changed_at.isoformat()} ({current.reason})" if current.read_only else ""))
        return
    pilot = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
    if pilot is None:
        raise click.BadParameter("no account with this phone", param_hint="--as")
    try:
        current = service.set_read_only(pilot, state == "on", reason)
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None
    click.echo(f"read-only: {'on' if current.read_only else 'off'}")
