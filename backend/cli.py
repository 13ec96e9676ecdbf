"""``flask`` commands: seeding, ledger verification, staff accounts, jobs, and ``serve`` (``make run``)."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

ledger_cli = AppGroup("ledger", help="Ledger checks.")
users_cli = AppGroup("users", help="Staff accounts.")
keys_cli = AppGroup("keys", help="QR signing keys.")
statements_cli = AppGroup("statements", help="Merchant statements.")


@keys_cli.command("rotate")
def keys_rotate():
    """Retire the active QR signing key and start signing with a new one."""
    from backend.payments.keys import rotate

    click.echo(f"now signing with {rotate().kid}; retired keys stay published for QR_KEY_RETENTION")


@keys_cli.command("list")
def keys_list():
    """Show the published QR signing keys."""
    from backend.payments.keys import key_json, published

    for k in published():
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
