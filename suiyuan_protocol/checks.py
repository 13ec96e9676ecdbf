"""Checks a client makes on a scanned text before any money moves, shared by the apps and the server's
scan check: what kind of code it is, and whether a merchant code is genuine and unexpired."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from suiyuan_protocol import codec, paycode

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["QrCheck", "classify", "inspect_merchant_code", "normalize_paycode"]


def normalize_paycode(text: str) -> str:
    """Return ``text`` without the spaces and dashes people type in payment codes."""
    return "".join(ch for ch in (text or "") if ch.isdigit())


def classify(text: str) -> str:
    """Return ``"merchant_qr"``, ``"paycode"`` or ``"unknown"`` for a scanned or pasted text."""
    t = (text or "").strip()
    if codec.looks_like_payload(t):
        return "merchant_qr"
    digits = normalize_paycode(t)
    if len(digits) == paycode.CODE_LENGTH and digits.startswith(paycode.PREFIX) and len(t) <= 2 * len(digits):
        return "paycode"
    return "unknown"


@dataclass(frozen=True)
class QrCheck:
    """The device's verdict on a merchant code.

    ``problem`` is None for a genuine, unexpired code, else one of
    ``unsigned``, ``bad_signature``, ``unknown_key``, ``crc_mismatch``,
    ``malformed``, ``not_ours``, ``expired``.
    """

    problem: str | None
    payload: codec.MerchantPayload | None = None
    expires_at: datetime | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def inspect_merchant_code(text: str, public_keys: Mapping[str, Ed25519PublicKey],
                          now: float | None = None) -> QrCheck:
    """Check a scanned merchant code on the device; return a :class:`QrCheck` (never raises for bad input)."""
    try:
        payload = codec.verify(text.strip(), public_keys)
    except codec.CodecError as exc:
        problem = exc.code if exc.code in ("unsigned", "bad_signature", "unknown_key", "crc_mismatch") \
            else "malformed"
        try:
            parsed = codec.parse(text.strip())
        except codec.CodecError:
            parsed = None
        return QrCheck(problem, parsed, parsed.expires_at if parsed else None, exc.reason)
    except TypeError as exc:
        return QrCheck("malformed", None, None, str(exc))
    if payload.suiyuan_account is None:
        return QrCheck("not_ours", payload, None, "not a Suiyuan merchant code")
    expires = payload.expires_at
    if expires is not None and expires.timestamp() <= (time.time() if now is None else now):
        return QrCheck("expired", payload, expires, "the code has expired")
    return QrCheck(None, payload, expires)
