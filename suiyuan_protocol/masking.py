"""How people's details are shown to others: a phone number as 138****0001."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """Return ``phone`` with its middle four digits hidden (138****0001); a short one unchanged."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else phone
