"""SQL helpers shared by the campaign modules."""

from __future__ import annotations

from sqlalchemy import BigInteger, cast, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.extensions import db


def fen_sum(expr):
    """``SUM(expr)`` as a BIGINT, 0 when there are no rows (PostgreSQL's SUM of bigint is numeric,
    which the driver would hand back as a Decimal)."""
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)


def insert_for(table):
    """Return the dialect's INSERT (for ON CONFLICT), PostgreSQL or SQLite."""
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)
