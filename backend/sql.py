"""SQL helpers shared by the core and the plug-ins."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.extensions import db


def insert_for(table):
    """Return the dialect's INSERT (for ON CONFLICT), PostgreSQL or SQLite."""
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)
