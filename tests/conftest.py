"""Test fixtures: the app on SQLite and on the real PostgreSQL, built from migrations.

Every test that uses ``app`` runs once per database engine (``[sqlite]`` and
``[postgresql]``). PostgreSQL comes from ``DATABASE_URL`` (default: the local
server); when it cannot be reached the PostgreSQL variants skip — unless
``CI=true``, where they fail. The same goes for real Redis (``REDIS_URL``).
"""

from __future__ import annotations

import os
import tempfile
import uuid

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

os.environ.setdefault("KIVY_NO_ARGS", "1")
# Apps the tests build from the environment (`create_app()`, `rq cron backend.cron`) are the test suite's, not a
# production start: CI points DATABASE_URL at PostgreSQL with no secret, which the preflight would refuse.
# tests/test_preflight.py removes it for the processes it starts.
os.environ["SUIYUAN_ENV"] = "test"

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("DATABASE_URL") or "postgresql://root@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

TEST_CONFIG = {
    "TESTING": True,
    # The explicit test mode (backend/preflight.py): PostgreSQL with the in-process Redis, on purpose.
    "SUIYUAN_ENV": "test",
    "SECRET_KEY": "test-secret",
    # Cheap scrypt so that creating hundreds of users stays fast; same code path.
    "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    # The embedded Redis emulation and inline jobs, whatever the environment says (CI exports
    # REDIS_URL for the tests that want the real Redis; they swap it in with `real_redis`).
    "REDIS_URL": None,
}


def unavailable(what: str, why: str):
    """Skip locally, fail in CI: a missing service must never pass silently there."""
    msg = f"{what} unavailable: {why}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: services are required)", pytrace=False)
    pytest.skip(msg)


def _pg_admin_url() -> sa.URL:
    from backend.config import database_url

    return sa.make_url(database_url(PG_URL))


def _make_app(db_url: str, **extra):
    from flask_migrate import upgrade

    from backend import create_app

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url,
                      "FAKE_REDIS_SERVER": uuid.uuid4().hex, **extra})
    with app.app_context():
        upgrade(revision="heads")  # plug-ins may add independent migration branches
    return app


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine_app(request, tmp_path_factory):
    """One migrated app per database engine for the whole session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "suiyuan.db"
        yield _make_app(f"sqlite:///{path}")
        return
    admin = _pg_admin_url()
    name = f"suiyuan_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not available"
        unavailable("PostgreSQL", str(exc).splitlines()[0])
    app = _make_app(admin.set(database=name).render_as_string(hide_password=False))
    yield app
    from backend.extensions import db

    with app.app_context():
        db.engine.dispose()
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin_engine.dispose()


def clean_database(app) -> None:
    """Empty every table (not the migration stamp) and re-insert reference data."""
    from backend.extensions import db
    from backend.seed import seed_reference

    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        # Nothing else may be using the database now: tests stop what they started (the live server's
        # fixture fails a test that leaves requests in flight or order watchers running).
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for t in tables:
                    conn.execute(sa.text(f"DELETE FROM {t}"))
        seed_reference()
        db.session.remove()
        app.extensions["redis"].flushdb()
    # The signing keys went with the tables: the next test's first key must not wait for the caches' re-read.
    from backend.payments import keys

    for use in (keys.QR, keys.ACCESS):
        keys.forget_cached(use)


@pytest.fixture
def app(engine_app):
    """A migrated app with empty tables and the reference data (banks, zones)."""
    clean_database(engine_app)
    with engine_app.app_context():
        yield engine_app


@pytest.fixture
def pg_app(app):
    """``app``, but only its PostgreSQL variant (concurrency is proven there;
    SQLite serialises writers). The SQLite variants are deselected at collection."""
    return app


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        param = getattr(getattr(item, "callspec", None), "params", {}).get("engine_app")
        (drop if param == "sqlite" and "pg_app" in item.fixturenames else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class RequestScopedSessionClient(FlaskClient):
    """A test client whose every request ends the shared session's transaction.

    The ``app`` fixture keeps one app context pushed for the whole test and
    Flask's test client reuses it, so requests would share the test's
    ``db.session``; in production each request's session is removed at
    teardown. Rolling back after each request restores that isolation.
    """

    def open(self, *args, **kwargs):
        from backend.extensions import db

        try:
            return super().open(*args, **kwargs)
        finally:
            db.session.rollback()


@pytest.fixture
def client(app):
    return RequestScopedSessionClient(app, app.response_class, use_cookies=False)


@pytest.fixture
def real_redis(app):
    """Point ``app`` at the real Redis for this test (flushed before and after)."""
    import redis

    # One Redis database per xdist worker so parallel workers never flush each other.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    client = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + f"/{15 - worker % 8}")
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", str(exc))
    client.flushdb()
    saved = app.extensions["redis"]
    app.extensions["redis"] = client
    yield client
    app.extensions["redis"] = saved
    client.flushdb()


@pytest.fixture
def factory(app):
    from tests.factories import Factory

    return Factory(app)


@pytest.fixture(autouse=True)
def _kivy_home(monkeypatch):
    monkeypatch.setenv("KIVY_HOME", tempfile.gettempdir() + "/suiyuan-kivy-home")
