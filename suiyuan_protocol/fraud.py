"""Is this scanned text safe to pay? Counterfeit-code and scam warnings, online and offline.

:func:`assess` classifies what the camera saw before any money moves:

- ``phishing_url``: a web link pretending to be e-CNY, or one reported as a scam;
- ``lookalike``: looks like a payment code but is not a genuine Suiyuan code (unsigned, tampered, someone
  else's account template);
- ``unknown_key``: signed with a key Suiyuan never published;
- ``reported_payee``: a genuine code, but its merchant (or this very code) is on the fraud list;
- ``expired``, ``damaged``, ``not_a_payment_code``;
- ``genuine``: safe to pay.

It needs only the published signing keys and the fraud list, both cached on the device
(:class:`payclient.scan.KeyRing`, :class:`FraudListCache`), so it works with no network. The server
publishes the fraud list as hashes (``entry_hash``) of normalised values, so the app holds no phone
numbers and the same rule (:func:`normalize`) runs on both sides. Pure Python; never imports flask.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from suiyuan_protocol import codec
from suiyuan_protocol.checks import classify, inspect_merchant_code
from suiyuan_protocol.profile import ACCOUNT_GUID

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


KINDS = ("qr_payload", "merchant", "wallet", "phone", "url")

#: Words a scam page uses to pass for the digital yuan (checked in links, lower case).
ECNY_WORDS = ("ecny", "e-cny", "dcep", "数字人民币", "数币", "shuzirenminbi", "szrmb", "digitalrmb",
              "digital-rmb", "suiyuan", "穗元", "pbc", "pboc", "央行")

_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^\s/:?#@]+\.[^\s/:?#@]{2,})(?::\d+)?(?:[/?#].*)?$",
                     re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def url_host(text: str) -> str | None:
    """Return the host of ``text`` if it is a web link (with or without ``http://``), lower case and IDNA
    (punycode) encoded without ``www.``; else ``None``."""
    t = (text or "").strip()
    if not t or " " in t or t.startswith("000201"):
        return None
    if not _SCHEME_RE.match(t) and not t.lower().startswith("www.") and "." not in t.split("/")[0]:
        return None
    m = _URL_RE.match(t)
    if not m:
        return None
    host = m.group(1).lower().rstrip(".")
    if host.replace(".", "").isdigit() and not _SCHEME_RE.match(t):
        return None  # "38.50" is an amount, not a link
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host[4:] if host.startswith("www.") else host


def normalize(kind: str, value: str) -> str:
    """Return ``value`` in the one form both the server and the app hash; raise ``ValueError``."""
    v = (value or "").strip()
    if kind == "qr_payload":
        if not v:
            raise ValueError("empty code")
        return v
    if kind == "merchant":
        digits = v[1:] if v[:1] in ("M", "m") else v
        if not digits.isdigit() or not 0 < int(digits) < 10**9:
            raise ValueError("a merchant number is M followed by 9 digits")
        return f"M{int(digits):09d}"
    if kind == "wallet":
        digits = re.sub(r"[\s-]", "", v)
        if not re.fullmatch(r"\d{16}", digits):
            raise ValueError("a wallet number has 16 digits")
        return digits
    if kind == "phone":
        digits = re.sub(r"[\s-]", "", v)
        if digits.startswith("+86"):
            digits = digits[3:]
        if not re.fullmatch(r"1[3-9]\d{9}", digits):
            raise ValueError("not a mainland mobile number")
        return digits
    if kind == "url":
        host = url_host(v)
        if host is None:
            raise ValueError("not a web address")
        return host
    raise ValueError(f"kind must be one of {', '.join(KINDS)}")


def entry_hash(kind: str, normalized: str) -> str:
    """Return the published hash of a normalised fraud-list value."""
    return hashlib.sha256(f"{kind}:{normalized}".encode()).hexdigest()


def merchant_number_of(payload: codec.MerchantPayload) -> str | None:
    """Return the Suiyuan merchant number a code names (``M`` + 9 digits), or ``None``."""
    account = payload.merchant_accounts.get("26") or {}
    number = account.get("01", "")
    if account.get("00") != ACCOUNT_GUID or not re.fullmatch(r"M\d{9}", number):
        return None
    return number


@dataclass(frozen=True)
class FraudList:
    """The confirmed fraud list as published: ``version`` and the hashes of its entries."""

    version: str = ""
    hashes: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, body: Mapping) -> FraudList:
        return cls(str(body.get("version", "")), frozenset(e["hash"] for e in body.get("entries", [])))

    def listed(self, kind: str, value: str) -> bool:
        """Return whether ``value`` (normalised here) is on the list; False for a value that cannot be."""
        try:
            return entry_hash(kind, normalize(kind, value)) in self.hashes
        except ValueError:
            return False

    def host_listed(self, host: str) -> bool:
        """Return whether ``host`` or any domain above it (``a.b.example.com`` → ``example.com``) is listed."""
        labels = host.split(".")
        return any(entry_hash("url", ".".join(labels[i:])) in self.hashes for i in range(len(labels) - 1))


@dataclass(frozen=True)
class Verdict:
    """What :func:`assess` found: ``kind`` (see the module), ``safe`` to pay, words for the consumer."""

    kind: str
    safe: bool
    title_zh: str
    detail: str
    payload: codec.MerchantPayload | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        return {"kind": self.kind, "safe": self.safe, "title_zh": self.title_zh, "detail": self.detail}


def _v(kind: str, title_zh: str, detail: str, payload=None) -> Verdict:
    return Verdict(kind, kind == "genuine", title_zh, detail, payload)


def assess(text: str, public_keys: Mapping[str, Ed25519PublicKey], fraud_list: FraudList | None = None,
           now: float | None = None) -> Verdict:
    """Classify a scanned or pasted text before paying; return a :class:`Verdict` (never raises for bad input)."""
    fraud_list = fraud_list or FraudList()
    t = (text or "").strip()
    host = url_host(t)
    if host is not None:
        if fraud_list.host_listed(host):
            return _v("phishing_url", "诈骗网址，切勿打开",
                      f"{host} is on the fraud list: a scam site. Do not open it or enter anything.")
        lowered = t.lower()
        if any(w in lowered for w in ECNY_WORDS) or host.startswith("xn--") or ".xn--" in host:
            return _v("phishing_url", "仿冒数字人民币网址",
                      f"{host} pretends to be the digital yuan. Genuine e-CNY codes are never web links.")
        return _v("not_a_payment_code", "这是网址，不是收款码",
                  f"This is a link to {host}, not a payment code. Suiyuan never asks you to pay through a link.")
    if classify(t) == "paycode":
        return _v("not_a_payment_code", "这是付款码", "This is a consumer's payment code; it cannot be paid.")
    if not t.startswith("000201"):
        return _v("not_a_payment_code", "无法识别的二维码", "This is not a payment code.")
    check = inspect_merchant_code(t, public_keys, now=now)
    payload = check.payload
    number = merchant_number_of(payload) if payload is not None else None
    if fraud_list.listed("qr_payload", t) or (number is not None and fraud_list.listed("merchant", number)):
        return _v("reported_payee", "收款方已被举报为诈骗",
                  "This payee has been confirmed as fraudulent after reports. Do not pay.", payload)
    problem = check.problem
    if problem == "unknown_key":
        return _v("unknown_key", "未知签名，疑似伪造",
                  "The code is signed with a key Suiyuan never published: it is probably forged.", payload)
    if problem in ("unsigned", "bad_signature", "not_ours"):
        return _v("lookalike", "仿冒收款码",
                  "This looks like a payment code but is not a genuine Suiyuan code "
                  f"({problem.replace('_', ' ')}): it may be a sticker pasted over the real one.", payload)
    if problem == "crc_mismatch":
        return _v("damaged", "二维码损坏", "The code is damaged; scan it again.", payload)
    if problem == "expired":
        return _v("expired", "收款码已过期", "This code has expired; ask the merchant for a new one.", payload)
    if problem is not None:
        return _v("not_a_payment_code", "无法识别的二维码", check.detail or "This is not a payment code.", payload)
    return _v("genuine", "正规收款码", "A genuine Suiyuan code.", payload)
