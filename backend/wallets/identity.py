"""Validation of the documents that lift a wallet's tier."""

from __future__ import annotations

import hashlib
import re
from datetime import date

from backend.errors import ValidationFailed

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """Return the GB 11643-1999 check character for the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_id_number(value: str) -> str:
    """Return the 18-character resident ID number, upper-cased.

    Raises ``ValidationFailed`` (field ``id_number``) for a wrong shape, an
    impossible birth date or a wrong GB 11643 check character.
    """
    number = (value or "").strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise ValidationFailed("A resident ID number has 17 digits and a check digit or X.", field="id_number")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationFailed("The birth date inside the ID number is not a real date.", field="id_number") from None
    if born.year < 1900 or born > date.today():
        raise ValidationFailed("The birth date inside the ID number is out of range.", field="id_number")
    if id_check_char(number[:17]) != number[17]:
        raise ValidationFailed("The ID number's check character is wrong (GB 11643).", field="id_number")
    return number


def mask_id_number(number: str) -> str:
    """Return the ID number as shown to people: first 4 and last 4 characters."""
    return number[:4] + "*" * 10 + number[-4:]


def hash_identity(secret: str, number: str) -> str:
    """Return a keyed hash of an ID number (for uniqueness without storing it)."""
    return hashlib.sha256(f"{secret}:id:{number}".encode()).hexdigest()
