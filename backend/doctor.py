"""``flask doctor``: the effective configuration (secrets masked) and a check of each service."""

from __future__ import annotations

from dataclasses import dataclass

import click
from flask import Flask

from backend import preflight

#: Configuration shown by the doctor besides the services (name → how to show it).
SHOWN = ("TIMEZONE", "TOKEN_TTL", "ACCESS_TOKEN_TTL", "IDEMPOTENCY_TTL", "ORDER_TTL", "QR_KEY_RETENTION",
         "LOGIN_MAX_FAILURES", "LOGIN_LOCKOUT_SECONDS", "PASSWORD_HASH_METHOD")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | FAIL
    detail: str


def configuration(app: Flask) -> list[tuple[str, str]]:
    """Return (name, value) pairs of the effective configuration, secrets masked."""
    c = app.config
    rows = [
        ("mode", preflight.mode(c)),
        ("SUIYUAN_ENV", c.get("SUIYUAN_ENV") or "development"),
        ("SECRET_KEY", preflight.masked_secret(c.get("SECRET_KEY"))),
        ("DATABASE_URL", preflight.masked_url(str(c.get("SQLALCHEMY_DATABASE_URI") or ""))),
        ("REDIS_URL", preflight.masked_url(c["REDIS_URL"]) if c.get("REDIS_URL")
         else "(not set: in-process emulation, jobs run inline)"),
        ("READ_DATABASE_URL", preflight.masked_url(c["READ_DATABASE_URL"]) if c.get("READ_DATABASE_URL")
         else "(not set: heavy reads on the primary)"),
    ]
    return rows + [(k, str(c.get(k))) for k in SHOWN]


def _database(app: Flask) -> list[Check]:
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from backend.extensions import db

    try:
        with db.engine.connect() as conn:
            version = conn.execute(text("SELECT version()") if conn.dialect.name == "postgresql"
                                   else text("SELECT 'SQLite ' || sqlite_version()")).scalar_one()
            try:
                current = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            except Exception:  # noqa: BLE001 - no table yet: never migrated
                current = set()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        return [Check("database", "FAIL", f"cannot connect: {str(exc).splitlines()[0]}")]
    out = [Check("database", "ok", str(version).split(",")[0])]
    heads = set(ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_heads())
    if current == heads:
        out.append(Check("migrations", "ok", f"at the heads ({', '.join(sorted(heads))})"))
    else:
        out.append(Check("migrations", "FAIL", f"database at {sorted(current) or 'nothing'}, code at "
                                               f"{sorted(heads)}: run `flask db upgrade heads`"))
    return out


def _redis(app: Flask) -> list[Check]:
    url = app.config.get("REDIS_URL")
    if not url:
        status = "FAIL" if preflight.mode(app.config) == "production" else "ok"
        return [Check("redis", status, "in-process emulation (one process only; jobs run inline)")]
    if (why := preflight.redis_problem(url)) is not None:
        return [Check("redis", "FAIL", why)]
    from rq import Worker

    from backend.extensions import get_redis

    r = get_redis()
    out = [Check("redis", "ok", f"Redis {r.info('server').get('redis_version')} at {preflight.masked_url(url)}")]
    workers = [w for w in Worker.all(connection=r) if "default" in w.queue_names()]
    if workers:
        out.append(Check("rq workers", "ok", f"{len(workers)} listening on 'default'"))
    else:
        out.append(Check("rq workers", "warn", "none listening on 'default': jobs (statements, KPIs, reports) "
                                               "will wait; start `rq worker -w backend.jobs.AppWorker …`"))
    return out


def _replica(app: Flask) -> list[Check]:
    """The read replica, if one is configured: a warning, never a failure (reads fall back to the primary)."""
    from backend import readdb

    status = readdb.replica_status(app)
    if not status.configured:
        return []
    if status.serving_reads:
        return [Check("replica", "ok", f"lag {status.lag_s:.1f} s (bound {status.max_lag_s:.0f} s): serving reads")]
    why = status.error or f"lag {status.lag_s:.1f} s is past the bound of {status.max_lag_s:.0f} s"
    return [Check("replica", "warn", f"{why}: heavy reads go to the primary")]


def checks(app: Flask) -> list[Check]:
    """Return the findings: configuration problems, then each service."""
    out = [Check("configuration", "FAIL", p) for p in preflight.config_problems(app.config)]
    if not out:
        out.append(Check("configuration", "ok", f"fit for {preflight.mode(app.config)}"))
    with app.app_context():
        out += _database(app)
        out += _redis(app)
        out += _replica(app)
    return out


@click.command("doctor")
def doctor_command():
    """Print the effective configuration (secrets masked) and check each service; exit 1 on a failure."""
    from flask import current_app

    app = current_app._get_current_object()
    click.echo("Configuration")
    for name, value in configuration(app):
        click.echo(f"  {name:22} {value}")
    click.echo("Checks")
    found = checks(app)
    for c in found:
        click.echo(f"  {c.status:5} {c.name:14} {c.detail}")
    if any(c.status == "FAIL" for c in found):
        raise SystemExit(1)
