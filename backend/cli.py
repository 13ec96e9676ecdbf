"""``flask`` commands: seeding, ledger verification, staff accounts, jobs, and ``serve`` (``make run``)."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

ledger_cli = AppGroup("ledger", help="Ledger checks.")
users_cli = AppGroup("users", help="Staff accounts.")
keys_cli = AppGroup("keys", help="Signing keys: QR codes (--use qr) and access tokens (--use access).")
statements_cli = AppGroup("statements", help="Merchant statements.")


USE = click.option("--use", type=click.Choice(["qr", "access"]), default="qr", show_default=True,
                   help="qr: keys that sign QR codes; access: keys that sign access tokens")


@keys_cli.command("rotate")
@USE
def keys_rotate(use):
    """Retire the active signing key of a use and start signing with a new one."""
    from backend.payments.keys import rotate

    click.echo(f"now signing with {rotate(use).kid}; retired keys stay published for their retention "
               "(QR_KEY_RETENTION; one ACCESS_TOKEN_TTL for access keys)")


@keys_cli.command("list")
@USE
def keys_list(use):
    """Show the published signing keys of a use."""
    from backend.payments.keys import key_json, published

    for k in published(use):
        j = key_json(k)
        click.echo(f"{j['kid']}  {j['status']:8}  created {j['created_at']}  x={j['x']}")


@statements_cli.command("build")
@click.argument("day", required=False)
def statements_build(day):
    """Build every approved merchant's statement for DAY (default yesterday) through the job queue."""
    from backend.jobs import enqueue
    from backend.payments.statements import build_daily_statements

    job = enqueue(build_daily_statements, day)
    click.echo(f"enqueued statements for {day or 'yesterday'} (job {job.id})")


@ledger_cli.command("verify")
def ledger_verify():
    """Prove conservation of money, then the plug-ins' invariants; exit 1 if any does not hold."""
    from flask import current_app

    from backend.hooks import ledger_checks, run_ledger_checks
    from backend.ledger.service import verify

    problems = verify() + run_ledger_checks(current_app)
    if problems:
        for p in problems:
            click.echo(f"FAIL {p}", err=True)
        sys.exit(1)
    click.echo("ledger OK: every transfer balanced, balances equal postings, wallets hold what banks issued")
    for name in ledger_checks(current_app):
        click.echo(f"{name} OK")


@users_cli.command("create")
@click.option("--phone", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@click.option("--role", required=True, type=click.Choice(["bank_reviewer", "zone_manager", "pilot_admin"]))
@click.option("--name", default="")
@click.option("--bank", "bank_code", default=None, help="Operator bank code, for bank reviewers")
def users_create(phone, password, role, name, bank_code):
    """Create a staff account (reviewer, zone manager, pilot office)."""
    from backend.auth.service import create_user
    from backend.extensions import db
    from backend.wallets.service import get_bank

    bank_id = get_bank(bank_code).id if bank_code else None
    user = create_user(phone, password, role, display_name=name, bank_id=bank_id)
    db.session.commit()
    click.echo(f"created {role} {user.phone} (id {user.id})")


@users_cli.command("disable")
@click.argument("phone")
def users_disable(phone):
    """Disable a staff (or any) account: no log-in, and every token refused at once on every worker."""
    from backend.auth import service

    service.disable_user(_user_by_phone(phone))
    click.echo(f"{phone}: disabled; its sessions ended and its access tokens are refused")


@users_cli.command("revoke")
@click.argument("phone")
def users_revoke(phone):
    """End every session of an account and refuse its access tokens at once (it may log in again)."""
    from backend.auth import service

    service.revoke_user(_user_by_phone(phone))
    click.echo(f"{phone}: every session ended")


def _user_by_phone(phone: str):
    from sqlalchemy import select

    from backend.auth.models import User
    from backend.auth.service import normalize_phone
    from backend.extensions import db

    user = db.session.execute(select(User).where(User.phone == normalize_phone(phone))).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no account with phone {phone}")
    return user


@click.command("seed")
@click.option("--reference-only", is_flag=True, help="Only operator banks and zones, no demo users")
def seed(reference_only):
    """Insert reference data and the demo logins of the README (idempotent)."""
    from backend.seed import seed_demo, seed_reference

    if reference_only:
        seed_reference()
        click.echo("reference data present")
        return
    created = seed_demo()
    click.echo("seeded: " + (", ".join(created) if created else "nothing new (already seeded)"))


@click.command("purge-idempotency-keys")
def purge_keys():
    """Delete Idempotency-Key records older than IDEMPOTENCY_TTL."""
    from backend.idempotency import purge_expired

    click.echo(f"purged {purge_expired()} keys")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--periodic/--no-periodic", default=None,
              help="Run the periodic jobs in this process (default: yes without REDIS_URL, the embedded "
                   "default; with REDIS_URL `rq cron backend.cron` runs them)")
def serve(host, port, periodic):
    """Serve the app (threaded) and, on the embedded default, run its periodic jobs in-process."""
    from flask import current_app
    from werkzeug.serving import run_simple

    from backend.scheduler import Scheduler

    app = current_app._get_current_object()
    if periodic is None:
        periodic = not app.config.get("REDIS_URL")
    scheduler = Scheduler(app).start() if periodic else None
    if scheduler:
        click.echo(f"periodic jobs in-process: {', '.join(j.name for j in scheduler.jobs)}")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=app.debug)
    finally:
        if scheduler:
            scheduler.stop()


def register(app: Flask) -> None:
    """Add the commands to ``app.cli``."""
    app.cli.add_command(ledger_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(statements_cli)
    app.cli.add_command(seed)
    app.cli.add_command(purge_keys)
    app.cli.add_command(serve)
    from backend.doctor import doctor_command

    app.cli.add_command(doctor_command)
