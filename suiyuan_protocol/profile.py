"""Suiyuan's profile of the wire rules: what our QR fields mean and the limits both sides apply.

The EMVCo codec (:mod:`suiyuan_protocol.codec`) knows the generic format; this module says which
templates and sub-fields carry *our* data, so that the server that writes a code and the app that
reads it use the same numbers. Read a payload through its named accessors
(``payload.reference``, ``payload.expires_at``, ``payload.merchant_number``) and build ours with
:func:`suiyuan_protocol.codec.suiyuan_payload`; no other module names a tag number or a GUID.

It also holds the caps the server enforces and the apps explain (static QR, offline) and the
e-CNY wallet tier table. Plain data, no imports beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCOUNT_GUID",
    "ACCOUNT_TAG",
    "ORDER_GUID",
    "ORDER_TAG",
    "SIG_GUID",
    "SIG_TAGS",
    "OFFLINE_MAX_PAYMENTS",
    "OFFLINE_SINGLE_CAP_FEN",
    "STATIC_QR_DAILY_CAP_FEN",
    "WALLET_TIERS",
    "TierLimits",
    "format_merchant_number",
    "merchant_id_of_number",
]

# ------------------------------------------------------------------ QR identifiers and tags

#: Merchant account template (tag 26) of every code we issue; sub 00 is :data:`ACCOUNT_GUID`.
ACCOUNT_TAG = "26"
ACCOUNT_GUID = "cn.suiyuan.pay"
#: Sub-fields of our account template: the merchant number (``M`` + 9 digits) and the operator bank.
ACCOUNT_MERCHANT_NUMBER = "01"
ACCOUNT_BANK_CODE = "02"

#: Order template (tag 80) of a dynamic code: sub 00 = :data:`ORDER_GUID`, sub 01 = expiry as Unix
#: seconds, so an app can tell an expired code before paying, even offline.
ORDER_TAG = "80"
ORDER_GUID = "cn.suiyuan.order"
ORDER_EXPIRES_AT = "01"

#: The signature templates (see ``docs/ARCHITECTURE.md``), each with sub 00 = :data:`SIG_GUID`.
SIG_GUID = "cn.suiyuan.sig"
SIG_TAGS = ("91", "92")

#: Sub-fields of the additional data template (tag 62) we use: EMVCo's reference label (the
#: order's reference) and terminal label (who made the code).
REFERENCE_LABEL = "05"
TERMINAL_LABEL = "07"

#: Sub 00 of any template: its globally unique identifier.
GUID = "00"

#: Point of initiation (tag 01): a static sticker or a single-use dynamic code.
STATIC = "11"
DYNAMIC = "12"
#: Currency (tag 53, ISO 4217 numeric) and country (tag 58) of every code we issue.
CURRENCY_CNY = "156"
COUNTRY_CN = "CN"


def format_merchant_number(merchant_id: int) -> str:
    """Return the merchant number printed in codes (``M`` + 9 digits)."""
    return f"M{merchant_id:09d}"


def merchant_id_of_number(number: str | None) -> int | None:
    """Return the merchant id a merchant number names, or ``None`` if it is not one."""
    if not number or not number.startswith("M") or not number[1:].isdigit():
        return None
    return int(number[1:])


# ------------------------------------------------------------------ caps

YUAN = 100

#: PBOC barcode rules: static-QR payments per consumer per day.
STATIC_QR_DAILY_CAP_FEN = 500 * YUAN
#: e-CNY offline mode: one payment at most ¥500, at most 10 payments before the wallet syncs.
OFFLINE_SINGLE_CAP_FEN = 500 * YUAN
OFFLINE_MAX_PAYMENTS = 10


@dataclass(frozen=True)
class TierLimits:
    """Limits of one wallet class, in fen; ``None`` means no limit."""

    balance_cap_fen: int | None
    single_cap_fen: int | None
    day_cap_fen: int | None
    year_cap_fen: int | None


#: The e-CNY wallet tiers (controllable anonymity). The one table of limits: the server copies a
#: tier's row onto a wallet's ledger account when it is opened or upgraded, and the ledger enforces
#: it inside the money transaction.
WALLET_TIERS: dict[int, TierLimits] = {
    4: TierLimits(10_000 * YUAN, 2_000 * YUAN, 5_000 * YUAN, 50_000 * YUAN),
    3: TierLimits(20_000 * YUAN, 5_000 * YUAN, 10_000 * YUAN, None),
    2: TierLimits(500_000 * YUAN, 50_000 * YUAN, 100_000 * YUAN, None),
    1: TierLimits(None, None, None, None),
}
