"""EMVCo merchant-presented QR payload codec, with Suiyuan's Ed25519 signature.

A payload is TLV fields (``ID LEN VALUE``, LEN in characters), tag 00 first and the CRC-16/CCITT-FALSE
(tag 63) last. :func:`parse` checks CRC, structure and every field and keeps the original order so
``build(parse(text)) == text``; :func:`build` writes tags in ascending order. Our codes carry an Ed25519
signature split over unreserved templates 91/92 (GUID ``profile.SIG_GUID``), over the payload's text
without those templates and the CRC field (:func:`signed_message`); :func:`verify` checks it against the
bytes as scanned. What our own fields mean is :mod:`suiyuan_protocol.profile`; read them through
``MerchantPayload``'s named properties and build ours with :func:`suiyuan_payload`.

Every rejection is a :class:`CodecError` with a stable ``code`` (``crc_mismatch``, ``bad_length``,
``bad_tag``, ``duplicate_tag``, ``missing_format_indicator``, ``missing_crc``, ``field_too_long``,
``bad_value``, ``missing_field``, ``unsigned``, ``unknown_key``, ``bad_signature``) and the offending
``tag`` (``"62.01"`` inside a template). A wrong Python type given to :func:`build` is a ``TypeError``.
The tag table and the signature layout in full: ``docs/ARCHITECTURE.md`` (The QR codec).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from suiyuan_protocol import profile
from suiyuan_protocol.money import MoneyError, fen_to_yuan_str, yuan_str_to_fen
from suiyuan_protocol.profile import SIG_GUID, SIG_TAGS

if TYPE_CHECKING:  # cryptography is only needed by callers that sign or verify
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "SIG_GUID",
    "SIG_TAGS",
    "AltLanguage",
    "CodecError",
    "MerchantPayload",
    "Signature",
    "build",
    "crc16_ccitt_false",
    "looks_like_payload",
    "parse",
    "parse_tlv",
    "sign",
    "signed_message",
    "suiyuan_payload",
    "verify",
]

#: Every payload starts with tag 00 (payload format indicator) = "01".
PAYLOAD_PREFIX = "000201"

MAX_VALUE_LEN = 99
KEY_ID_MAX = 25
_SIG_HALF_CHARS = 43  # base64url of 32 bytes, unpadded

_TWO_DIGITS = re.compile(r"[0-9]{2}", re.ASCII)
_KEY_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{KEY_ID_MAX - 1}}}", re.ASCII)
_B64URL_HALF = re.compile(rf"[A-Za-z0-9_-]{{{_SIG_HALF_CHARS}}}", re.ASCII)
_MCC = re.compile(r"[0-9]{4}", re.ASCII)
_CURRENCY = re.compile(r"[0-9]{3}", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_LANGUAGE = re.compile(r"[A-Za-z]{2}", re.ASCII)
_PERCENT = re.compile(r"[0-9]{1,2}(?:\.[0-9]{1,2})?", re.ASCII)
_CONSUMER_DATA_REQUEST = re.compile(r"(?!.*(.).*\1)[AME]{1,3}", re.ASCII)

_AMOUNT_MAX = 13
_MAX_LEN = {"57": 5, "59": 25, "60": 15, "61": 10}
# Additional data template (62) sub-field limits; 10-99 are RFU or payment
# system specific and only bounded by the template itself.
_ADDITIONAL_MAX = {f"{i:02d}": 25 for i in range(1, 9)} | {"09": 3}
_LANGUAGE_MAX = {"00": 2, "01": 25, "02": 15}


class CodecError(ValueError):
    """A QR payload (or a payload to build) breaks the EMVCo rules or our signature rules.

    Attributes:
        code: stable machine-readable reason, e.g. ``"crc_mismatch"``.
        reason: human-readable explanation.
        tag: the offending tag (``"54"``, or ``"62.01"`` inside a template), or None.
    """

    def __init__(self, code: str, reason: str, tag: str | None = None) -> None:
        self.code = code
        self.reason = reason
        self.tag = tag
        where = f" (tag {tag})" if tag is not None else ""
        super().__init__(f"{code}: {reason}{where}")


class AltLanguage(NamedTuple):
    """Tag 64, merchant information in an alternate language."""

    language: str  #: ISO 639 alpha-2, e.g. "ZH"
    name: str  #: alternate merchant name, <= 25 chars
    city: str | None = None  #: alternate city, <= 15 chars


class Signature(NamedTuple):
    """Suiyuan signature carried in templates 91/92."""

    key_id: str
    value: bytes  #: the 64-byte Ed25519 signature


@dataclass(kw_only=True)
class MerchantPayload:
    """The decoded fields of a merchant-presented QR code.

    Money is integer fen; every other field is the text as written on the wire.
    ``None`` or an empty mapping means "field absent". ``order`` and
    ``raw_amounts`` only exist so that re-building an unmodified parsed payload
    gives back its exact text; they are ignored by ``==``.
    """

    name: str
    city: str
    merchant_accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    network_accounts: dict[str, str] = field(default_factory=dict)
    initiation: str | None = "11"
    mcc: str | None = None
    currency: str = "156"
    amount_fen: int | None = None
    tip_indicator: str | None = None
    tip_fixed_fen: int | None = None
    tip_percent: str | None = None
    country: str = "CN"
    postal_code: str | None = None
    additional: dict[str, str] = field(default_factory=dict)
    alt_language: AltLanguage | None = None
    rfu: dict[str, str] = field(default_factory=dict)
    unreserved: dict[str, dict[str, str]] = field(default_factory=dict)
    signature: Signature | None = None
    order: tuple[str, ...] | None = field(default=None, compare=False)
    raw_amounts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_dynamic(self) -> bool:
        """True for a dynamic (single-use, amount-carrying) code, 01 = "12"."""
        return self.initiation == profile.DYNAMIC

    # Suiyuan's fields, named (see :mod:`suiyuan_protocol.profile` for where they live).

    @property
    def reference(self) -> str | None:
        """The order reference (62.05), or ``None``."""
        return self.additional.get(profile.REFERENCE_LABEL)

    @property
    def terminal(self) -> str | None:
        """Who made the code (62.07), or ``None``."""
        return self.additional.get(profile.TERMINAL_LABEL)

    @property
    def suiyuan_account(self) -> dict[str, str] | None:
        """Our merchant account template (26 with our GUID), or ``None`` if the code is not ours."""
        account = self.merchant_accounts.get(profile.ACCOUNT_TAG) or {}
        return account if account.get(profile.GUID) == profile.ACCOUNT_GUID else None

    @property
    def merchant_number(self) -> str | None:
        """The merchant number in our account template (``M`` + 9 digits as written), or ``None``."""
        return (self.suiyuan_account or {}).get(profile.ACCOUNT_MERCHANT_NUMBER)

    @property
    def merchant_id(self) -> int | None:
        """The merchant id our account template names, or ``None`` if the code is not ours."""
        return profile.merchant_id_of_number(self.merchant_number)

    @property
    def expires_at(self) -> datetime | None:
        """The expiry our order template (80) carries, or ``None`` (static code, or not ours)."""
        tpl = self.unreserved.get(profile.ORDER_TAG) or {}
        seconds = tpl.get(profile.ORDER_EXPIRES_AT, "")
        if tpl.get(profile.GUID) != profile.ORDER_GUID or not seconds.isdigit():
            return None
        return datetime.fromtimestamp(int(seconds), UTC)


def suiyuan_payload(*, merchant_id: int, bank_code: str, name: str, city: str, name_zh: str, city_zh: str,
                    mcc: str | None, amount_fen: int | None = None, reference: str | None = None,
                    expires_at: datetime | None = None, terminal: str | None = None) -> MerchantPayload:
    """Return the (unsigned) payload of one of our codes: static without an amount, dynamic with one.

    Names are cut to what their fields hold (25 characters, a city 15).
    """
    additional = {}
    if reference:
        additional[profile.REFERENCE_LABEL] = reference
    if terminal:
        additional[profile.TERMINAL_LABEL] = terminal
    unreserved = {}
    if expires_at is not None:
        unreserved[profile.ORDER_TAG] = {profile.GUID: profile.ORDER_GUID,
                                         profile.ORDER_EXPIRES_AT: str(int(expires_at.timestamp()))}
    account = {profile.GUID: profile.ACCOUNT_GUID,
               profile.ACCOUNT_MERCHANT_NUMBER: profile.format_merchant_number(merchant_id),
               profile.ACCOUNT_BANK_CODE: bank_code}
    return MerchantPayload(
        initiation=profile.DYNAMIC if amount_fen is not None else profile.STATIC,
        merchant_accounts={profile.ACCOUNT_TAG: account},
        mcc=mcc,
        currency=profile.CURRENCY_CNY,
        amount_fen=amount_fen,
        country=profile.COUNTRY_CN,
        name=name[:25],
        city=city[:15],
        additional=additional,
        alt_language=AltLanguage("ZH", name_zh[:25], city_zh[:15]),
        unreserved=unreserved,
    )


def looks_like_payload(text: str) -> bool:
    """True if ``text`` starts as every EMVCo payload does (a quick test, not a parse)."""
    return (text or "").strip().startswith(PAYLOAD_PREFIX)


# --------------------------------------------------------------------------- CRC

def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16_ccitt_false(data: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, no reflection).

    ``crc16_ccitt_false(b"123456789") == 0x29B1``.
    """
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def _crc_text(body: str) -> str:
    """Return the four uppercase hex digits of the CRC over ``body`` (which ends in "6304")."""
    return f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


# --------------------------------------------------------------------------- TLV

def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def parse_tlv(text: str, _path: str | None = None) -> list[tuple[str, str]]:
    """Split ``text`` into ``(tag, value)`` pairs, in order, without interpreting them.

    Duplicates are returned as found; :func:`parse` rejects them.

    Raises:
        CodecError: ``bad_tag`` if an ID is not two digits; ``bad_length`` if a
            length is not two digits, is 00, runs past the end, or if fewer than
            four characters are left over at the end.
    """
    prefix = f"{_path}." if _path else ""
    fields: list[tuple[str, str]] = []
    pos, end = 0, len(text)
    while pos < end:
        if end - pos < 4:
            raise CodecError(
                "bad_length", f"{end - pos} trailing characters after the last field", _path
            )
        tag, length = text[pos:pos + 2], text[pos + 2:pos + 4]
        if not _TWO_DIGITS.fullmatch(tag):
            raise CodecError("bad_tag", f"field ID {tag!r} is not two digits", _path)
        if not _TWO_DIGITS.fullmatch(length):
            raise CodecError("bad_length", f"length {length!r} is not two digits", prefix + tag)
        n = int(length)
        if n == 0:
            raise CodecError("bad_length", "length 00 is not allowed", prefix + tag)
        if pos + 4 + n > end:
            raise CodecError(
                "bad_length", f"declared length {n} runs past the end of the data", prefix + tag
            )
        fields.append((tag, text[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return fields


def _parse_template(tag: str, value: str) -> dict[str, str]:
    """Decode a nested template into an ordered dict; raise CodecError on bad TLV or duplicates."""
    out: dict[str, str] = {}
    for sub, sub_value in parse_tlv(value, tag):
        if sub in out:
            raise CodecError("duplicate_tag", "sub-field appears twice", f"{tag}.{sub}")
        out[sub] = sub_value
    return out


# --------------------------------------------------------------------------- encoding

def _text(tag: str, value: object, max_len: int = MAX_VALUE_LEN) -> str:
    """Check one text value and return it; TypeError for non-str, CodecError for bad text."""
    if not isinstance(value, str):
        raise TypeError(f"tag {tag}: value must be a str, not {type(value).__name__}")
    if not value:
        raise CodecError("bad_value", "value is empty", tag)
    # Control characters hide in scanned text and surrogates cannot be UTF-8
    # encoded for the CRC; neither belongs in a merchant name.
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise CodecError("bad_value", f"contains control character {ch!r}", tag)
    if len(value) > max_len:
        raise CodecError(
            "field_too_long", f"{len(value)} characters, at most {max_len} allowed", tag
        )
    return value


def _matching(tag: str, value: object, pattern: re.Pattern[str], what: str) -> str:
    value = _text(tag, value)
    if not pattern.fullmatch(value):
        raise CodecError("bad_value", f"{value!r} is not {what}", tag)
    return value


def _check_key(tag: object, low: int, high: int, what: str) -> str:
    if not isinstance(tag, str):
        raise TypeError(f"{what} tag must be a str, not {type(tag).__name__}")
    if not _TWO_DIGITS.fullmatch(tag) or not low <= int(tag) <= high:
        raise CodecError("bad_value", f"{what} tags must be {low:02d}-{high:02d}", tag)
    return tag


def _template(
    tag: str,
    fields: Mapping[str, str],
    keep_order: bool,
    limits: Mapping[str, int] | None = None,
    guid_required: bool = False,
) -> str:
    """Encode a nested template; sub-fields ascending unless ``keep_order``."""
    if not isinstance(fields, Mapping):
        raise TypeError(f"tag {tag}: template must be a mapping, not {type(fields).__name__}")
    if guid_required and "00" not in fields:
        raise CodecError("missing_field", "template needs a GUID in sub-field 00", f"{tag}.00")
    subs = list(fields) if keep_order else sorted(fields, key=str)
    parts = []
    for sub in subs:
        if not isinstance(sub, str) or not _TWO_DIGITS.fullmatch(sub):
            raise CodecError("bad_value", f"sub-field ID {sub!r} is not two digits", tag)
        limit = (limits or {}).get(sub, MAX_VALUE_LEN)
        parts.append(_tlv(sub, _text(f"{tag}.{sub}", fields[sub], limit)))
    value = "".join(parts)
    if not value:
        raise CodecError("bad_value", "template is empty", tag)
    if len(value) > MAX_VALUE_LEN:
        raise CodecError(
            "field_too_long", f"template is {len(value)} characters, at most 99 allowed", tag
        )
    return value


def _amount(tag: str, fen: object, raw: str | None) -> str:
    """Encode a positive fen amount as yuan text, reusing the parsed spelling if unchanged."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"tag {tag}: amount must be an int number of fen, not {type(fen).__name__}")
    if fen <= 0:
        raise CodecError("bad_value", "amount must be positive", tag)
    text = fen_to_yuan_str(fen)
    if raw is not None and _decode_amount(tag, raw) == fen:
        text = raw
    if len(text) > _AMOUNT_MAX:
        raise CodecError("field_too_long", f"amount {text!r} is over 13 characters", tag)
    return text


def _decode_amount(tag: str, text: str) -> int:
    if len(text) > _AMOUNT_MAX:
        raise CodecError("field_too_long", f"amount {text!r} is over 13 characters", tag)
    try:
        fen = yuan_str_to_fen(text)
    except MoneyError:
        raise CodecError(
            "bad_value", f"amount {text!r} must be digits with an optional '.' and 1-2 decimals", tag
        ) from None
    if fen == 0:
        raise CodecError("bad_value", "amount must be positive", tag)
    return fen


def _b64_half(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature_fields(sig: Signature) -> dict[str, str]:
    """Return the encoded values of templates 91 and 92 for ``sig``."""
    key_id, value = sig
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise CodecError(
            "bad_value", f"key id must be 1-{KEY_ID_MAX} characters of [A-Za-z0-9._-]", "91.01"
        )
    if not isinstance(value, bytes | bytearray) or len(value) != 64:
        raise CodecError("bad_value", "an Ed25519 signature is 64 bytes", "91.02")
    value = bytes(value)
    return {
        "91": _tlv("00", SIG_GUID) + _tlv("01", key_id) + _tlv("02", _b64_half(value[:32])),
        "92": _tlv("00", SIG_GUID) + _tlv("02", _b64_half(value[32:])),
    }


def _encode_fields(p: MerchantPayload) -> dict[str, str]:
    """Validate ``p`` and return ``{tag: encoded value}`` for every field but 63.

    Raises:
        CodecError: a value breaks the EMVCo or signature rules.
        TypeError: a value has the wrong Python type.
    """
    keep_order = p.order is not None
    out: dict[str, str] = {"00": "01"}
    if p.initiation is not None:
        if p.initiation not in ("11", "12"):
            raise CodecError("bad_value", 'point of initiation must be "11" or "12"', "01")
        out["01"] = p.initiation
    for tag, value in p.network_accounts.items():
        out[_check_key(tag, 2, 25, "primitive merchant account")] = _text(tag, value)
    for tag, tpl in p.merchant_accounts.items():
        _check_key(tag, 26, 51, "merchant account template")
        out[tag] = _template(tag, tpl, keep_order, guid_required=True)
    if not p.network_accounts and not p.merchant_accounts:
        raise CodecError("missing_field", "at least one merchant account (02-51) is required", "26")
    if p.mcc is None:
        raise CodecError("missing_field", "merchant category code is required", "52")
    out["52"] = _matching("52", p.mcc, _MCC, "a 4-digit merchant category code")
    out["53"] = _matching("53", p.currency, _CURRENCY, "a 3-digit ISO 4217 currency code")
    if p.amount_fen is not None:
        out["54"] = _amount("54", p.amount_fen, p.raw_amounts.get("54"))
    if p.tip_indicator is not None:
        if p.tip_indicator not in ("01", "02", "03"):
            raise CodecError("bad_value", 'tip indicator must be "01", "02" or "03"', "55")
        out["55"] = p.tip_indicator
    if p.tip_fixed_fen is not None:
        if p.tip_indicator != "02":
            raise CodecError("bad_value", 'a fixed tip (56) needs tip indicator "02"', "56")
        out["56"] = _amount("56", p.tip_fixed_fen, p.raw_amounts.get("56"))
    elif p.tip_indicator == "02":
        raise CodecError("missing_field", 'tip indicator "02" needs a fixed tip (56)', "56")
    if p.tip_percent is not None:
        if p.tip_indicator != "03":
            raise CodecError("bad_value", 'a tip percentage (57) needs tip indicator "03"', "57")
        pct = _text("57", p.tip_percent, _MAX_LEN["57"])
        if not _PERCENT.fullmatch(pct) or not Decimal(pct) > 0:
            raise CodecError("bad_value", "tip percentage must be 00.01-99.99", "57")
        out["57"] = pct
    elif p.tip_indicator == "03":
        raise CodecError("missing_field", 'tip indicator "03" needs a percentage (57)', "57")
    out["58"] = _matching("58", p.country, _COUNTRY, "a 2-letter uppercase country code")
    for tag, value in (("59", p.name), ("60", p.city)):
        if value is None or value == "":
            raise CodecError("missing_field", "merchant name and city are required", tag)
        out[tag] = _text(tag, value, _MAX_LEN[tag])
    if p.postal_code is not None:
        out["61"] = _text("61", p.postal_code, _MAX_LEN["61"])
    if p.additional:
        out["62"] = _template("62", p.additional, keep_order, _ADDITIONAL_MAX)
        request = p.additional.get("09")
        if request is not None and not _CONSUMER_DATA_REQUEST.fullmatch(request):
            raise CodecError("bad_value", "consumer data request is a combination of A, M, E", "62.09")
    if p.alt_language is not None:
        lang, alt_name, alt_city = p.alt_language
        fields = {"00": _matching("64.00", lang, _LANGUAGE, "a 2-letter language code")}
        fields["01"] = alt_name
        if alt_city is not None:
            fields["02"] = alt_city
        out["64"] = _template("64", fields, False, _LANGUAGE_MAX)
    for tag, value in p.rfu.items():
        out[_check_key(tag, 65, 79, "RFU")] = _text(tag, value)
    for tag, tpl in p.unreserved.items():
        _check_key(tag, 80, 99, "unreserved template")
        if tag in SIG_TAGS and isinstance(tpl, Mapping) and tpl.get("00") == SIG_GUID:
            raise CodecError(
                "bad_value", "set MerchantPayload.signature instead of writing 91/92 by hand", tag
            )
        out[tag] = _template(tag, tpl, keep_order, guid_required=True)
    if p.signature is not None:
        for tag, value in _signature_fields(p.signature).items():
            if tag in out:
                raise CodecError(
                    "duplicate_tag", "tag is taken by an unreserved template; cannot sign", tag
                )
            out[tag] = value
    return out


def _body(p: MerchantPayload) -> str:
    """Return the payload text up to and including "6304" (CRC not yet appended)."""
    fields = _encode_fields(p)
    if p.order is None:
        tags = sorted(fields)
    else:
        # Keep the parsed order; anything added since goes after it, ascending.
        tags = [t for t in dict.fromkeys(p.order) if t in fields]
        tags += sorted(t for t in fields if t not in tags)
        tags.remove("00")
        tags.insert(0, "00")
    return "".join(_tlv(t, fields[t]) for t in tags) + "6304"


def build(payload: MerchantPayload) -> str:
    """Return the QR payload text for ``payload``, CRC included.

    Fields come in ascending tag order with 63 last, unless ``payload.order``
    (set by :func:`parse`) says otherwise. If ``payload.signature`` is set, the
    signature templates 91/92 are written from it (use :func:`sign` to make one).

    Raises:
        CodecError: ``missing_field``, ``bad_value``, ``field_too_long`` or
            ``duplicate_tag`` (an unreserved 91/92 clashes with the signature).
        TypeError: a field has the wrong Python type (e.g. a float amount).
    """
    body = _body(payload)
    return body + _crc_text(body)


# --------------------------------------------------------------------------- decoding

def _decode_signature(unreserved: dict[str, dict[str, str]]) -> Signature | None:
    """Pop our templates 91/92 out of ``unreserved`` and return the signature they carry."""
    ours = [t for t in SIG_TAGS if unreserved.get(t, {}).get("00") == SIG_GUID]
    if not ours:
        return None
    if len(ours) != len(SIG_TAGS):
        raise CodecError("bad_signature", "signature template 91 or 92 is missing", ours[0])
    first, second = unreserved.pop("91"), unreserved.pop("92")
    if set(first) != {"00", "01", "02"} or set(second) != {"00", "02"}:
        raise CodecError("bad_signature", "signature templates have unexpected sub-fields", "91")
    key_id = first["01"]
    if not _KEY_ID.fullmatch(key_id):
        raise CodecError("bad_signature", "malformed key id", "91.01")
    halves = []
    for tag, half in (("91.02", first["02"]), ("92.02", second["02"])):
        try:
            if not _B64URL_HALF.fullmatch(half):
                raise ValueError
            raw = base64.urlsafe_b64decode(half + "=")
        except (ValueError, binascii.Error):
            raise CodecError("bad_signature", "signature is not 43 base64url characters", tag) from None
        # The last character carries 2 unused bits; insisting on the canonical
        # spelling stops a changed character from decoding to the same bytes.
        if _b64_half(raw) != half:
            raise CodecError("bad_signature", "signature is not canonically encoded", tag)
        halves.append(raw)
    return Signature(key_id, halves[0] + halves[1])


def _check_crc(text: str) -> None:
    """Compare the CRC when the text ends in "6304XXXX"; raise crc_mismatch if it differs."""
    if len(text) < 8 or text[-8:-4] != "6304":
        return  # structural checks will report missing_crc
    try:
        expected = _crc_text(text[:-4])
    except UnicodeEncodeError:
        raise CodecError("bad_value", "text cannot be encoded as UTF-8") from None
    if text[-4:].upper() != expected:
        raise CodecError(
            "crc_mismatch", f"CRC is {text[-4:]!r} but the content gives {expected!r}", "63"
        )


def _parse(text: str) -> tuple[MerchantPayload, list[tuple[str, str]]]:
    """Parse ``text`` and return the payload together with its raw top-level TLVs."""
    if not isinstance(text, str):
        raise TypeError(f"QR payload must be a str, not {type(text).__name__}")
    # CRC first: a corrupted scan is best reported as such, not as whatever
    # structural error the flipped character happens to cause.
    _check_crc(text)
    tlvs = parse_tlv(text)
    if not tlvs or tlvs[0][0] != "00":
        raise CodecError("missing_format_indicator", "payload must start with tag 00", "00")
    if tlvs[0][1] != "01":
        raise CodecError("missing_format_indicator", 'payload format indicator must be "01"', "00")
    last_tag, last_value = tlvs[-1]
    if last_tag != "63" or len(last_value) != 4:
        raise CodecError("missing_crc", "payload must end with the CRC field 6304XXXX", "63")
    seen: set[str] = set()
    for tag, _ in tlvs:
        if tag in seen:
            raise CodecError("duplicate_tag", "field appears twice", tag)
        seen.add(tag)

    kw: dict = {
        "initiation": None,
        "merchant_accounts": {},
        "network_accounts": {},
        "additional": {},
        "rfu": {},
        "unreserved": {},
        "raw_amounts": {},
        "order": tuple(tag for tag, _ in tlvs[:-1]),
    }
    simple = {"01": "initiation", "52": "mcc", "53": "currency", "55": "tip_indicator",
              "57": "tip_percent", "58": "country", "59": "name", "60": "city",
              "61": "postal_code"}
    for tag, value in tlvs[1:-1]:
        n = int(tag)
        if tag in simple:
            kw[simple[tag]] = value
        elif 2 <= n <= 25:
            kw["network_accounts"][tag] = value
        elif 26 <= n <= 51:
            kw["merchant_accounts"][tag] = _parse_template(tag, value)
        elif tag in ("54", "56"):
            kw["raw_amounts"][tag] = value
            kw["amount_fen" if tag == "54" else "tip_fixed_fen"] = _decode_amount(tag, value)
        elif tag == "62":
            kw["additional"] = _parse_template(tag, value)
        elif tag == "64":
            alt = _parse_template(tag, value)
            extra = set(alt) - set(_LANGUAGE_MAX)
            if extra:
                raise CodecError("bad_value", "unknown sub-field", f"64.{min(extra)}")
            for sub in ("00", "01"):
                if sub not in alt:
                    raise CodecError("missing_field", "language template needs 00 and 01", f"64.{sub}")
            kw["alt_language"] = AltLanguage(alt["00"], alt["01"], alt.get("02"))
        elif 65 <= n <= 79:
            kw["rfu"][tag] = value
        elif 80 <= n <= 99:
            kw["unreserved"][tag] = _parse_template(tag, value)
        # 00 and 63 were checked above and never reach this loop.
    for tag, attr in (("59", "name"), ("60", "city")):
        if attr not in kw:
            raise CodecError("missing_field", f"merchant {attr} is required", tag)
    kw.setdefault("currency", None)
    kw.setdefault("country", None)
    for tag, attr in (("53", "currency"), ("58", "country")):
        if kw[attr] is None:
            raise CodecError("missing_field", f"{attr} is required", tag)
    kw["signature"] = _decode_signature(kw["unreserved"])
    payload = MerchantPayload(**kw)
    # Same rules as build, so parse and build accept exactly the same payloads.
    _encode_fields(payload)
    return payload, tlvs


def parse(text: str) -> MerchantPayload:
    """Decode a QR payload text and return its fields.

    Checks the CRC, the structure and every field; it does *not* check the
    signature (see :func:`verify`). The result re-builds to exactly ``text``
    (apart from a lowercase CRC, which is accepted and rewritten uppercase).

    Raises:
        CodecError: ``crc_mismatch``, ``bad_length``, ``bad_tag``,
            ``missing_format_indicator``, ``missing_crc``, ``duplicate_tag``,
            ``missing_field``, ``bad_value``, ``field_too_long``, or
            ``bad_signature`` if our signature templates are malformed.
        TypeError: ``text`` is not a ``str``.
    """
    return _parse(text)[0]


# --------------------------------------------------------------------------- signing

def signed_message(payload: MerchantPayload) -> bytes:
    """Return the bytes a Suiyuan signature covers for ``payload``.

    That is the UTF-8 of ``build(payload)`` with the signature templates 91/92
    and the CRC field ``6304XXXX`` left out (any ``payload.signature`` is ignored).

    Raises:
        CodecError, TypeError: as :func:`build`.
    """
    return _body(dataclasses.replace(payload, signature=None))[:-4].encode("utf-8")


def sign(payload: MerchantPayload, key_id: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``payload`` with ``private_key`` and return the full QR text.

    The result has templates 91/92 (see ``docs/ARCHITECTURE.md``) carrying
    ``key_id`` and the signature over :func:`signed_message`, and the CRC over
    everything. An existing ``payload.signature`` is replaced.

    Raises:
        CodecError: as :func:`build`; ``bad_value`` for a malformed key id;
            ``duplicate_tag`` if ``payload.unreserved`` already uses 91 or 92.
        TypeError: as :func:`build`.
    """
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise CodecError(
            "bad_value", f"key id must be 1-{KEY_ID_MAX} characters of [A-Za-z0-9._-]", "91.01"
        )
    unsigned = dataclasses.replace(payload, signature=None)
    signature = private_key.sign(signed_message(unsigned))
    return build(dataclasses.replace(unsigned, signature=Signature(key_id, signature)))


def verify(text: str, public_keys: Mapping[str, Ed25519PublicKey]) -> MerchantPayload:
    """Parse ``text`` and check its Suiyuan signature; return the payload if genuine.

    ``public_keys`` maps key id to Ed25519 public key (the ``keys`` API).

    Raises:
        CodecError: anything :func:`parse` raises; ``unsigned`` if the code has
            no Suiyuan signature; ``unknown_key`` if its key id is not in
            ``public_keys``; ``bad_signature`` if the signature does not match.
        TypeError: ``text`` is not a ``str``.
    """
    from cryptography.exceptions import InvalidSignature

    payload, tlvs = _parse(text)
    if payload.signature is None:
        raise CodecError("unsigned", "the code carries no Suiyuan signature (templates 91/92)")
    key_id, value = payload.signature
    key = public_keys.get(key_id)
    if key is None:
        raise CodecError("unknown_key", f"no public key with id {key_id!r}", "91.01")
    # Rebuild the message from the scanned text itself rather than from the
    # decoded fields, so the bytes checked are exactly the bytes received.
    message = "".join(_tlv(t, v) for t, v in tlvs if t not in SIG_TAGS and t != "63")
    try:
        key.verify(value, message.encode("utf-8"))
    except InvalidSignature:
        raise CodecError("bad_signature", "signature does not match the code's content", "91") from None
    return payload
