"""Process-wide extension objects, bound to an app in ``create_app``."""

from __future__ import annotations

import threading

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from backend.apidocs import SuiyuanApi
from backend.readdb import RoutingSession

# Stable constraint names so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# RoutingSession: reads inside ``backend.readdb.replica_reads()`` go to READ_DATABASE_URL; everything else as usual.
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING), session_options={"class_": RoutingSession})
migrate = Migrate()
api = SuiyuanApi()

_fake_lock = threading.Lock()
_fake_servers: dict[str, object] = {}


def init_redis(app: Flask) -> None:
    """Attach a Redis client to ``app.extensions['redis']``.

    With ``REDIS_URL`` unset, an in-process emulation (fakeredis with Lua) is
    used, one server per app so tests stay isolated. Nothing connects here:
    redis-py connects lazily on the first command.
    """
    url = app.config.get("REDIS_URL")
    if url:
        client = redis.Redis.from_url(url)
    else:
        import fakeredis

        with _fake_lock:
            name = app.config.get("FAKE_REDIS_SERVER", "default")
            server = _fake_servers.get(name)
            if server is None:
                server = _fake_servers[name] = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server)
    app.extensions["redis"] = client


def get_redis() -> redis.Redis:
    """Return the current app's Redis client."""
    return current_app.extensions["redis"]
