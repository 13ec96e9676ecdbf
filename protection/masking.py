"""How a payer is shown to anyone but themselves: 李*明, 138****0001 (controllable anonymity)."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    """Return a person's name with all but its first and last characters hidden (``李*明``; ``李*`` for two)."""
    if not name:
        return name
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str | None:
    """Return a mobile number with its middle four digits hidden (``138****0001``)."""
    if not phone:
        return phone
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
