"""Production refuses to start without a real secret and a reachable Redis; the embedded default needs
nothing; ``flask doctor`` shows the effective configuration (secrets masked) and checks each service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend import create_app, preflight
from tests.conftest import PG_URL, REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "s" * 40
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # port 1: nothing listens


def _env(**values) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SUIYUAN_ENV") and not k.startswith("PYTEST")}
    env.update(FLASK_APP="backend:create_app", **{k: v for k, v in values.items() if v is not None})
    return env


def _start(*, argv=("-c", "import wsgi"), **values) -> subprocess.CompletedProcess:
    """Start the app the way gunicorn does (import ``wsgi``) with the environment ``values``."""
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=_env(**values), capture_output=True, text=True,
                          timeout=60)


def test_postgresql_without_a_secret_exits_non_zero_naming_it():
    run = _start(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL)
    assert run.returncode != 0
    assert "refuses to start" in run.stderr and "SECRET_KEY is not set" in run.stderr, run.stderr
    assert "REDIS_URL" not in run.stderr.split("refuses to start", 1)[1].split("flask doctor")[0]


def test_postgresql_without_redis_exits_non_zero_naming_it():
    run = _start(DATABASE_URL=PG_URL, SECRET_KEY=GOOD_SECRET)
    assert run.returncode != 0
    assert "REDIS_URL is not set" in run.stderr, run.stderr


def test_an_unreachable_redis_is_refused_too():
    run = _start(DATABASE_URL=PG_URL, SECRET_KEY=GOOD_SECRET, REDIS_URL=UNREACHABLE_REDIS)
    assert run.returncode != 0
    assert "REDIS_URL redis://127.0.0.1:1/0 does not answer" in run.stderr, run.stderr


def test_gunicorn_with_the_production_config_halts_with_the_reason():
    gunicorn = Path(sys.executable).parent / "gunicorn"
    run = _start(argv=("-c", f"import os, sys; os.execv({str(gunicorn)!r}, [{str(gunicorn)!r}, '-c', "
                             "'gunicorn.conf.py', '-b', '127.0.0.1:0', 'wsgi:app'])"),
                 DATABASE_URL=PG_URL, SECRET_KEY="short", REDIS_URL=REDIS_URL)
    assert run.returncode != 0
    assert "SECRET_KEY is 5 characters long" in run.stderr + run.stdout, run.stderr


def test_suiyuan_env_production_applies_on_sqlite_as_well(tmp_path):
    run = _start(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", SUIYUAN_ENV="production")
    assert run.returncode != 0
    assert "SECRET_KEY is not set" in run.stderr and "REDIS_URL is not set" in run.stderr, run.stderr


def test_a_production_app_starts_when_everything_is_there():
    run = _start(argv=("-c", "import wsgi; print('started', wsgi.app.config['SUIYUAN_ENV'])"),
                 DATABASE_URL=PG_URL, SECRET_KEY=GOOD_SECRET, REDIS_URL=REDIS_URL)
    assert run.returncode == 0, run.stderr
    assert "started development" in run.stdout


def test_the_embedded_default_needs_no_configuration(tmp_path):
    """No SECRET_KEY, no REDIS_URL, SQLite: what `make run` does (tests/test_app.py serves it end to end)."""
    run = _start(argv=("-c", "import wsgi; print(wsgi.app.config['SQLALCHEMY_DATABASE_URI'])"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("sqlite:///")


@pytest.mark.parametrize(("config", "problems"), [
    ({}, []),
    ({"SUIYUAN_ENV": "test", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x/y"}, []),
    ({"SUIYUAN_ENV": "staging"}, ["SUIYUAN_ENV is 'staging'"]),
    ({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x/y", "SECRET_KEY": preflight.DEV_SECRET,
      "REDIS_URL": "redis://r"}, ["SECRET_KEY is not set"]),
    ({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x/y", "SECRET_KEY": "x" * 31, "REDIS_URL": "redis://r"},
     ["SECRET_KEY is 31 characters long"]),
    ({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x/y", "SECRET_KEY": "x" * 32}, ["REDIS_URL is not set"]),
])
def test_config_problems(config, problems):
    config = {"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db", **config}
    found = preflight.config_problems(config)
    assert len(found) == len(problems) and all(f.startswith(p) for f, p in zip(found, problems, strict=True)), found


def test_create_app_refuses_in_process_with_every_reason():
    with pytest.raises(preflight.StartupRefused) as refused:
        create_app({"DATABASE_URL": PG_URL, "SECRET_KEY": "", "REDIS_URL": None, "SUIYUAN_ENV": "development"})
    assert [p.split(" ")[0] for p in refused.value.problems] == ["SECRET_KEY", "REDIS_URL"]


def test_only_flask_doctor_is_let_through():
    assert preflight.running_doctor(["/venv/bin/flask", "doctor"])
    assert preflight.running_doctor(["/usr/lib/python3/site-packages/flask/__main__.py", "--app", "x", "doctor"])
    assert not preflight.running_doctor(["/venv/bin/flask", "run"])
    assert not preflight.running_doctor(["/venv/bin/gunicorn", "doctor:app"])
    assert not preflight.running_doctor(["/venv/bin/rq", "worker", "doctor"])


def test_masking():
    assert preflight.masked_url("postgresql://suiyuan:hunter2@db:5432/s") == "postgresql://suiyuan:***@db:5432/s"
    assert "hunter2" not in preflight.masked_url("redis://:hunter2@redis:6379/0")
    assert preflight.masked_secret("x" * 40) == "*** (40 characters)"
    assert preflight.masked_secret(preflight.DEV_SECRET) == "(the development value)"


def _doctor(**values) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "flask"), "doctor"], cwd=ROOT, env=_env(**values),
                          capture_output=True, text=True, timeout=60)


def test_doctor_reports_a_misconfigured_production_app_and_fails():
    secret = "p" * 12 + "SECRETVALUE"
    run = _doctor(DATABASE_URL=PG_URL, SECRET_KEY=secret)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "mode                   production" in out
    assert "SECRETVALUE" not in out and "*** (23 characters)" in out
    assert "FAIL  configuration  SECRET_KEY is 23 characters long" in out
    assert "FAIL  configuration  REDIS_URL is not set" in out
    assert "ok    database       PostgreSQL" in out


@pytest.fixture
def empty_pg_database():
    """A new, empty PostgreSQL database; its URL."""
    import uuid

    import sqlalchemy as sa

    from tests.conftest import _pg_admin_url, unavailable

    admin = _pg_admin_url()
    name = f"suiyuan_doctor_{uuid.uuid4().hex[:8]}"
    try:
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        unavailable("PostgreSQL", str(exc).splitlines()[0])
    yield admin.set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def test_doctor_passes_the_configuration_and_services_and_finds_the_missing_migrations(empty_pg_database):
    run = _doctor(DATABASE_URL=empty_pg_database, SECRET_KEY=GOOD_SECRET, REDIS_URL=REDIS_URL)
    out = run.stdout
    assert "ok    configuration  fit for production" in out, out + run.stderr
    assert "ok    database       PostgreSQL" in out
    assert "ok    redis          Redis " in out
    assert GOOD_SECRET not in out
    assert "FAIL  migrations     database at nothing" in out and "flask db upgrade heads" in out
    assert run.returncode == 1


def test_doctor_on_the_embedded_default(tmp_path):
    run = _doctor(DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    assert "mode                   embedded" in run.stdout, run.stdout + run.stderr
    assert "ok    configuration  fit for embedded" in run.stdout
    assert "ok    redis          in-process emulation" in run.stdout
    assert "(the development value)" in run.stdout


def test_an_rq_worker_of_a_misconfigured_production_refuses_to_start():
    rq = Path(sys.executable).parent / "rq"
    run = subprocess.run([str(rq), "worker", "-w", "backend.jobs.AppWorker", "--burst", "--url", REDIS_URL,
                          "suiyuan-preflight-test"], cwd=ROOT, env=_env(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL,
                                                                        PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "SECRET_KEY is not set" in run.stderr + run.stdout, run.stderr
