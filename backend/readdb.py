"""Heavy read-only work on a PostgreSQL replica (``READ_DATABASE_URL``), with a fallback to the primary.

Zone KPIs, rankings and reports read many rows and change none; on a busy day they should not take the
primary's CPU from the payments. Code that only reads runs through :func:`read_heavy`::

    figures = read_heavy(kpis.zone_kpis, zone, day_from, day_to)

which runs it inside :func:`replica_reads` and, should the replica fail under it (it stopped since the last
lag check), once more on the primary: a read-only function is safe to run twice.

Inside the block the app's one session (``db.session``) sends its reads to the replica's engine
(:class:`RoutingSession`); everything else — outside the block, or any flush, insert, update or delete even
inside it — goes to the primary. Money-moving code never enters the block, so it never reads the replica;
and the replica is read-only, so a write sent there by mistake would fail rather than diverge.

The block reads the primary instead when ``READ_DATABASE_URL`` is unset, when the replica does not answer,
or when it lags the primary by more than ``READ_MAX_LAG_SECONDS``. The lag is asked at most once every
``READ_LAG_CHECK_SECONDS`` per process (:func:`replica_status`, also shown on ``/api/v1/health``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from flask import Flask, current_app
from flask_sqlalchemy.session import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

_reading: contextvars.ContextVar[sa.Engine | None] = contextvars.ContextVar("suiyuan_replica_reads", default=None)

#: How far behind the primary a replica is, in seconds: 0 when it has replayed everything it received (an idle
#: primary writes no new transactions, so "time since the last replayed transaction" alone would grow forever),
#: else the age of the last transaction it replayed. A database that is not a standby (or SQLite) lags 0.
LAG_SQL = sa.text("""
    SELECT CASE
      WHEN NOT pg_is_in_recovery() THEN 0.0
      WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
      ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0.0)
    END
""")


class RoutingSession(Session):
    """``db.session``'s class: inside :func:`replica_reads`, reads go to the replica; writes never do."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        engine = _reading.get()
        if engine is not None and bind is None and not self._flushing and not _is_write(clause):
            return engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def _is_write(clause) -> bool:
    return clause is not None and getattr(clause, "is_dml", False)


@dataclass
class ReplicaStatus:
    configured: bool
    lag_s: float | None = None  # None: not measured (not configured, or the replica did not answer)
    max_lag_s: float | None = None
    error: str | None = None
    checked_at: float = 0.0  # time.monotonic()

    @property
    def serving_reads(self) -> bool:
        return self.configured and self.error is None and self.lag_s is not None and self.lag_s <= self.max_lag_s

    def as_json(self) -> dict:
        return {"serving_reads": self.serving_reads, "lag_s": None if self.lag_s is None else round(self.lag_s, 3),
                "max_lag_s": self.max_lag_s, "error": self.error}


class _Replica:
    """Per app: the replica's engine and the last lag measurement."""

    def __init__(self, url: str):
        from backend.config import database_url

        self.engine = sa.create_engine(database_url(url), pool_pre_ping=True,
                                       connect_args=_connect_args(database_url(url)))
        self.lock = threading.Lock()
        self.status: ReplicaStatus | None = None


def _connect_args(url: str) -> dict:
    # Give up quickly on a replica that is gone: the request falls back to the primary instead of waiting.
    return {"connect_timeout": 2} if url.startswith("postgresql") else {}


def measure_lag(engine: sa.Engine) -> float:
    """Return the replica's lag in seconds (0 on SQLite, which has no replicas)."""
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return 0.0
        return float(conn.execute(LAG_SQL).scalar_one())


def _replica(app: Flask) -> _Replica | None:
    url = app.config.get("READ_DATABASE_URL")
    if not url:
        return None
    rep = app.extensions.get("suiyuan_replica")
    if rep is None or rep.url != url:
        with _init_lock:
            rep = app.extensions.get("suiyuan_replica")
            if rep is None or rep.url != url:
                rep = _Replica(url)
                rep.url = url
                app.extensions["suiyuan_replica"] = rep
    return rep


_init_lock = threading.Lock()


def replica_status(app: Flask | None = None) -> ReplicaStatus:
    """The replica's state, measured at most once every ``READ_LAG_CHECK_SECONDS`` in this process."""
    app = app or current_app._get_current_object()
    rep = _replica(app)
    if rep is None:
        return ReplicaStatus(configured=False)
    max_lag = float(app.config.get("READ_MAX_LAG_SECONDS", 10.0))
    every = float(app.config.get("READ_LAG_CHECK_SECONDS", 1.0))
    with rep.lock:
        now = time.monotonic()
        if rep.status is None or now - rep.status.checked_at >= every or rep.status.max_lag_s != max_lag:
            try:
                rep.status = ReplicaStatus(True, measure_lag(rep.engine), max_lag, checked_at=now)
            except sa.exc.SQLAlchemyError as exc:
                rep.status = ReplicaStatus(True, None, max_lag, error=str(exc).splitlines()[0][:200], checked_at=now)
                log.warning("replica unavailable, reads go to the primary: %s", rep.status.error)
            if rep.status.lag_s is not None and rep.status.lag_s > max_lag:
                log.warning("replica lags %.1f s (> %.1f s), reads go to the primary", rep.status.lag_s, max_lag)
        return rep.status


@contextlib.contextmanager
def replica_reads() -> Iterator[bool]:
    """Send this block's reads to the replica when it is configured, answering and fresh enough; yield whether
    it does. Nested blocks keep the outer choice."""
    if _reading.get() is not None:
        yield True
        return
    app = current_app._get_current_object()
    status = replica_status(app)
    if not status.serving_reads:
        yield False
        return
    token = _reading.set(_replica(app).engine)
    try:
        yield True
    finally:
        _reading.reset(token)


def read_heavy(func: Callable[..., T], *args, **kwargs) -> T:
    """Return ``func(*args, **kwargs)`` computed on the replica when it serves reads, else on the primary.

    ``func`` must only read. If the replica fails during it, the replica is marked down until its next lag
    check, the session's transaction is rolled back (nothing was written: ``func`` only reads) and ``func``
    runs again on the primary.
    """
    if _reading.get() is not None:
        return func(*args, **kwargs)
    app = current_app._get_current_object()
    with replica_reads() as on_replica:
        if not on_replica:
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            failed = exc
    from backend.extensions import db

    log.warning("replica failed during a read, reading the primary: %s", str(failed).splitlines()[0][:200])
    rep = _replica(app)
    with rep.lock:
        rep.status = ReplicaStatus(True, None, rep.status.max_lag_s if rep.status else None,
                                   error=str(failed).splitlines()[0][:200], checked_at=time.monotonic())
    rep.engine.dispose()  # its pooled connections lead to the failed server
    db.session.rollback()
    return func(*args, **kwargs)


def reading_replica() -> bool:
    """Whether the current code runs inside a :func:`replica_reads` block that uses the replica."""
    return _reading.get() is not None
