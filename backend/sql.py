"""SQL helpers shared by the core and the plug-ins."""

from __future__ import annotations

from sqlalchemy import BigInteger, cast, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.extensions import db


def insert_for(table):
    """Return the dialect's INSERT (for ON CONFLICT), PostgreSQL or SQLite."""
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def fen_sum(expr):
    """Return SQL for ``SUM(expr)`` read as a Python ``int``: a BIGINT, 0 when there are no rows.

    Use it for every sum of fen (and of the integer counts kept beside them). PostgreSQL's SUM of a
    bigint is ``numeric``, which the driver hands back as a ``Decimal``: it compares equal to an int,
    so it slips through arithmetic and tests on SQLite, then breaks ``json.dumps`` in a response.
    """
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)
