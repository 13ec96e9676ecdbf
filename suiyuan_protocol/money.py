"""Money parsing and formatting for Suiyuan.

Money is an ``int`` number of fen (分, 1/100 yuan) everywhere. ``Decimal`` is used
only here, to read what a person types; floats are never accepted, because a
binary float cannot represent most fen amounts exactly (0.1 + 0.2 != 0.3).

Public API:

- :func:`parse_yuan` -- fen from human input ("38.5", "¥1,234.56", "３８元").
- :func:`format_fen` -- display text ("¥1,234.56", "-¥1.20").
- :func:`fen_to_yuan_str` / :func:`yuan_str_to_fen` -- the strict wire form used
  by the EMVCo QR amount field (tag 54): digits, optional "." and 1-2 decimals,
  no grouping, no symbol.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from suiyuan_protocol.profile import WALLET_TIERS

__all__ = [
    "MAX_AMOUNT_FEN",
    "QR_AMOUNT_CEILING_FEN",
    "AmountTooLarge",
    "MoneyError",
    "fen_to_yuan_str",
    "format_fen",
    "parse_yuan",
    "yuan_str_to_fen",
]

#: The largest amount one payment, top-up, refund or budget may name, in fen: the class-2
#: wallet's single-payment cap, ¥50,000. The one definition: the server refuses more with a
#: 422 naming the field (a deployment may configure ``AMOUNT_MAX_FEN``, at most
#: :data:`QR_AMOUNT_CEILING_FEN`), the keypad stops there and :func:`parse_yuan` refuses more.
MAX_AMOUNT_FEN = WALLET_TIERS[2].single_cap_fen

#: The most an EMVCo amount field (tag 54, 13 characters: "9999999999.99") can carry.
QR_AMOUNT_CEILING_FEN = 999_999_999_999


class MoneyError(ValueError):
    """Text could not be read as a non-negative amount of yuan."""


class AmountTooLarge(MoneyError):
    """The amount is above the maximum ``max_fen`` (by default :data:`MAX_AMOUNT_FEN`)."""

    def __init__(self, message: str, max_fen: int):
        super().__init__(message)
        self.max_fen = max_fen


# Plain digits, or digits grouped by thousands with commas; then an optional
# fraction of at most two digits. An integer part may be omitted (".5") and a
# trailing dot ("38.") is tolerated because people type both.
_HUMAN_AMOUNT = re.compile(
    r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.(?P<frac>[0-9]*))?", re.ASCII
)
# The strict wire form: no grouping, no sign, 1-2 decimals if a dot is present.
_WIRE_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?", re.ASCII)

_CURRENCY_PREFIXES = ("¥", "CNY", "RMB")
_CURRENCY_SUFFIXES = ("元", "CNY", "RMB")


def _check_int(fen: object) -> int:
    # bool is a subclass of int, but True is never a meaningful amount.
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"amount must be an int number of fen, not {type(fen).__name__}")
    return fen


def parse_yuan(text: str, max_fen: int = MAX_AMOUNT_FEN) -> int:
    """Read an amount of yuan typed by a person and return it as integer fen.

    Accepts ``"38"``, ``"38.5"``, ``"38.50"``, ``"¥38.50"``, ``"1,234.56"``,
    ``"38元"``, ``".5"``, surrounding spaces and full-width forms
    (``"３８．５０"``, ``"￥38"``).

    Returns:
        The amount in fen, ``0 <= fen <= max_fen`` (default :data:`MAX_AMOUNT_FEN`).

    Raises:
        TypeError: ``text`` is not a ``str``.
        MoneyError: the text is empty, negative, not a plain decimal number
            (NaN, infinity, exponent forms, stray characters, bad grouping),
            has more than two decimal places, or exceeds ``max_fen``.
    """
    if not isinstance(text, str):
        raise TypeError(f"amount text must be a str, not {type(text).__name__}")
    # NFKC folds full-width digits, "．", "，" and "￥" into their ASCII forms.
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        raise MoneyError("amount is empty")
    negative = False
    if s[0] in "-\u2212":
        negative, s = True, s[1:].strip()
    for prefix in _CURRENCY_PREFIXES:
        if s.upper().startswith(prefix):
            s = s[len(prefix):].strip()
            break
    if s[:1] in ("-", "\u2212"):  # "¥-3" as well as "-¥3"
        negative, s = True, s[1:].strip()
    for suffix in _CURRENCY_SUFFIXES:
        if s.upper().endswith(suffix):
            s = s[: -len(suffix)].strip()
            break
    if negative:
        raise MoneyError(f"amount must not be negative: {text!r}")
    if not s:
        raise MoneyError(f"no number in {text!r}")
    match = _HUMAN_AMOUNT.fullmatch(s)
    if match is None or (match["int"] is None and not match["frac"]):
        lowered = s.lower()
        if lowered in {"nan", "snan", "inf", "infinity"}:
            raise MoneyError(f"amount must be a finite number: {text!r}")
        if "e" in lowered and any(c.isdigit() for c in lowered):
            raise MoneyError(f"write the amount without an exponent: {text!r}")
        raise MoneyError(f"not an amount of yuan: {text!r}")
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise MoneyError(f"at most two decimal places (fen) are allowed: {text!r}")
    integer = (match["int"] or "0").replace(",", "")
    try:
        fen = int(Decimal(f"{integer}.{frac or '0'}").scaleb(2))
    except InvalidOperation as exc:  # pragma: no cover - the regex already vetted it
        raise MoneyError(f"not an amount of yuan: {text!r}") from exc
    if fen > max_fen:
        raise AmountTooLarge(f"amount is over the maximum of {format_fen(max_fen)}: {text!r}", max_fen)
    return fen


def fen_to_yuan_str(fen: int) -> str:
    """Return ``fen`` as a plain yuan string with exactly two decimals.

    This is the EMVCo amount form: ``3850 -> "38.50"``, ``5 -> "0.05"``; no
    grouping, no currency symbol. A negative amount gets a leading ``"-"``.

    Raises:
        TypeError: ``fen`` is not an ``int`` (``bool`` and ``float`` included).
    """
    fen = _check_int(fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{cents:02d}"


def yuan_str_to_fen(text: str) -> int:
    """Read the strict wire form written by :func:`fen_to_yuan_str` and return fen.

    Accepts ASCII digits with an optional ``"."`` followed by one or two digits
    (``"23.72"``, ``"23.7"``, ``"23"``). No sign, symbol, grouping or spaces.

    Raises:
        TypeError: ``text`` is not a ``str``.
        MoneyError: anything else.
    """
    if not isinstance(text, str):
        raise TypeError(f"amount text must be a str, not {type(text).__name__}")
    if _WIRE_AMOUNT.fullmatch(text) is None:
        raise MoneyError(f"not a plain yuan amount with at most two decimals: {text!r}")
    integer, _, frac = text.partition(".")
    return int(integer) * 100 + int(frac.ljust(2, "0"))


def format_fen(fen: int, symbol: bool = True) -> str:
    """Return ``fen`` formatted for people, with thousands separators.

    ``3850 -> "¥38.50"``, ``-120 -> "-¥1.20"``, ``123456789 -> "¥1,234,567.89"``;
    with ``symbol=False``: ``"1,234,567.89"``.

    Raises:
        TypeError: ``fen`` is not an ``int`` (``bool`` and ``float`` included).
    """
    fen = _check_int(fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{'¥' if symbol else ''}{yuan:,}.{cents:02d}"
