"""The unified social credit code (统一社会信用代码), GB 32100-2015."""

from __future__ import annotations

import re

from backend.errors import ValidationFailed

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters."""
    total = sum(CHARSET.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def check_ok(code: str) -> bool:
    """Whether ``code`` is 18 characters of the charset whose last is the check character of the rest."""
    return bool(re.fullmatch(f"[{CHARSET}]{{18}}", code or "")) and check_char(code[:17]) == code[17]


def validate_uscc(value: str) -> str:
    """Return the 18-character code, upper-cased; raise ``ValidationFailed`` (field ``uscc``)."""
    code = (value or "").strip().upper()
    if not re.fullmatch(f"[{CHARSET}]{{18}}", code):
        raise ValidationFailed("A unified social credit code has 18 characters from 0-9 and A-Y (no I, O, S, V, Z).",
                               field="uscc")
    if not code[2:8].isdigit():
        raise ValidationFailed("Characters 3–8 of the code are the registration area and must be digits.",
                               field="uscc")
    if check_char(code[:17]) != code[17]:
        raise ValidationFailed("The code's check character is wrong (GB 32100).", field="uscc")
    return code
