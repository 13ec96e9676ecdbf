"""Time in one place: UTC for storage, the pilot's local day for limits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Return ``value`` as aware UTC (SQLite hands back naive UTC datetimes)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local_zone() -> ZoneInfo:
    """Return the pilot's time zone (daily limits reset at local midnight)."""
    try:
        name = current_app.config["TIMEZONE"]
    except RuntimeError:
        name = "Asia/Shanghai"
    return ZoneInfo(name)


def local_today(now: datetime | None = None) -> date:
    """Return today's date in the pilot's time zone."""
    return (now or utcnow()).astimezone(local_zone()).date()
