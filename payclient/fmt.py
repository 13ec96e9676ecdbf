"""Formatting for people: local times, countdowns, grouped code digits."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from suiyuan_protocol.masking import mask_phone

__all__ = ["LOCAL_ZONE", "local", "hhmm", "day_time", "countdown", "group_digits", "mask_phone", "login_alert"]

#: The pilot's days and clocks are Asia/Shanghai, like the server's.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def local(dt: datetime) -> datetime:
    return dt.astimezone(LOCAL_ZONE)


def hhmm(dt: datetime | None) -> str:
    return local(dt).strftime("%H:%M") if dt else ""


def day_time(dt: datetime | None) -> str:
    """``"11-29 14:05"``."""
    return local(dt).strftime("%m-%d %H:%M") if dt else ""


def countdown(seconds: float) -> str:
    """``"4:05"`` for 245 s; never negative."""
    s = max(0, int(seconds + 0.999))
    return f"{s // 60}:{s % 60:02d}"


def group_digits(code: str, size: int = 4) -> str:
    """``"6900 0000 1234 5678 90"``: easier to read aloud or type."""
    return " ".join(code[i:i + size] for i in range(0, len(code), size))


def login_alert(tr, user) -> tuple[str, str] | None:
    """Return the (title, text) warning the owner that strangers tried to log in, or None.

    ``user`` is the :class:`~payclient.models.User` of a log-in answer; its
    ``login_alerts`` count attempts from clients other than the account's known
    devices over the last day.
    """
    alerts = getattr(user, "login_alerts", None)
    if alerts is None or not alerts.any:
        return None
    return tr("login_alert.title"), tr("login_alert.text", failed=alerts.failed, blocked=alerts.blocked,
                                       last=day_time(alerts.last_at).replace(" ", "\u00a0"))  # one line
