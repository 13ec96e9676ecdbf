"""SQL helpers shared by the campaign modules."""

from __future__ import annotations

from sqlalchemy import BigInteger, cast, func


def fen_sum(expr):
    """``SUM(expr)`` as a BIGINT, 0 when there are no rows (PostgreSQL's SUM of bigint is numeric,
    which the driver would hand back as a Decimal)."""
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)

