"""The signed records of a hard wallet and the issuer's signatures, as they travel.

A payment record is what a card signs when it pays: card id, counter (monotonic, from 1), amount,
terminal id, time, the previous record's hash, and the card's running totals (cumulative spending
before this record and cumulative loads applied), so that any two records of one card can be checked
against each other. Its hash covers the signature too, so a record's hash names exactly one signed
record; the first record's "previous hash" is the card's genesis hash.

Canonical bytes are compact JSON with sorted keys (ASCII), the same on card, terminal and server.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = 1
KINDS = ("fare", "unload")
#: The terminal id of records a card signs for the issuer (unloading to the soft wallet).
ISSUER_TERMINAL = "ISSUER"
MAX_ID_LEN = 40
MAX_TRIP_LEN = 80


class RecordError(ValueError):
    """A record (or authorisation) is malformed; ``field`` names the part."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def b64(data: bytes) -> str:
    """Return unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str, field: str = "signature") -> bytes:
    """Return the bytes of unpadded base64url ``text``; raise ``RecordError`` naming ``field``."""
    if not isinstance(text, str) or len(text) > 200:
        raise RecordError(f"{field} must be base64url text.", field)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise RecordError(f"{field} is not base64url.", field) from exc


def canonical(data: dict) -> bytes:
    """Return the canonical bytes of ``data`` (sorted keys, no spaces, ASCII)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def genesis_hash(card_id: str) -> str:
    """Return the "previous hash" of a card's first record."""
    return hashlib.sha256(b"suiyuan-transit-genesis|" + card_id.encode()).hexdigest()


def public_key_from(raw: bytes) -> Ed25519PublicKey:
    """Return the Ed25519 public key of 32 raw bytes; raise ``RecordError`` otherwise."""
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise RecordError("A public key is 32 bytes of Ed25519.", "public_key") from exc


def _verify(public: Ed25519PublicKey | bytes, signature: bytes, message: bytes) -> bool:
    key = public if isinstance(public, Ed25519PublicKey) else public_key_from(public)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _int(data: dict, name: str, low: int, high: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecordError(f"{name} must be an integer from {low} to {high}.", name)
    return value


def _str(data: dict, name: str, max_len: int, *, empty: bool = False) -> str:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > max_len or (not empty and not value) or not value.isprintable():
        raise RecordError(f"{name} must be printable text of at most {max_len} characters.", name)
    return value


@dataclass(frozen=True)
class PaymentRecord:
    """One payment signed by a card. ``at`` is Unix seconds (UTC)."""

    card_id: str
    counter: int
    amount_fen: int
    terminal_id: str
    at: int
    prev_hash: str
    spent_before_fen: int
    loaded_fen: int
    kind: str = "fare"
    trip: str = ""
    signature: str = ""

    def payload(self) -> dict:
        """Return the signed fields (everything but the signature)."""
        data = asdict(self)
        del data["signature"]
        data["v"] = VERSION
        return data

    def signing_bytes(self) -> bytes:
        """Return the bytes the card signs."""
        return canonical(self.payload())

    @property
    def hash(self) -> str:
        """Return the SHA-256 (hex) of the signed record; the next record's ``prev_hash``."""
        return hashlib.sha256(self.signing_bytes() + b"." + self.signature.encode()).hexdigest()

    @property
    def spent_after_fen(self) -> int:
        return self.spent_before_fen + self.amount_fen

    def signed(self, private: Ed25519PrivateKey) -> PaymentRecord:
        """Return this record signed with ``private``."""
        return replace(self, signature=b64(private.sign(self.signing_bytes())))

    def verify(self, public: Ed25519PublicKey | bytes) -> bool:
        """Return whether the signature is the card's over these exact fields."""
        try:
            sig = unb64(self.signature)
        except RecordError:
            return False
        return len(sig) == 64 and _verify(public, sig, self.signing_bytes())

    def to_json(self) -> dict:
        """Return the wire form (JSON object)."""
        data = asdict(self)
        data["v"] = VERSION
        return data

    @classmethod
    def from_json(cls, data: object) -> PaymentRecord:
        """Return the record of a wire form; raise ``RecordError`` naming the bad field."""
        if not isinstance(data, dict):
            raise RecordError("A record is a JSON object.", None)
        unknown = set(data) - {*cls.__dataclass_fields__, "v"}
        if unknown:
            raise RecordError(f"Unknown fields: {', '.join(sorted(unknown))}.", sorted(unknown)[0])
        if data.get("v", VERSION) != VERSION:
            raise RecordError(f"Only version {VERSION} records are understood.", "v")
        kind = data.get("kind", "fare")
        if kind not in KINDS:
            raise RecordError(f"kind must be one of {', '.join(KINDS)}.", "kind")
        prev = _str(data, "prev_hash", 64)
        if len(prev) != 64 or any(c not in "0123456789abcdef" for c in prev):
            raise RecordError("prev_hash must be 64 lowercase hex digits.", "prev_hash")
        return cls(
            card_id=_str(data, "card_id", MAX_ID_LEN),
            counter=_int(data, "counter", 1, 2**31 - 1),
            amount_fen=_int(data, "amount_fen", 1, 10**9),
            terminal_id=_str(data, "terminal_id", MAX_ID_LEN),
            at=_int(data, "at", 0, 2**40),
            prev_hash=prev,
            spent_before_fen=_int(data, "spent_before_fen", 0, 10**15),
            loaded_fen=_int(data, "loaded_fen", 0, 10**15),
            kind=kind,
            trip=_str(data, "trip", MAX_TRIP_LEN, empty=True) if "trip" in data else "",
            signature=_str(data, "signature", 200),
        )


@dataclass(frozen=True)
class LoadAuthorisation:
    """The issuer's signed order to a card to add ``amount_fen`` (圈存); ``seq`` counts the card's loads from 1."""

    card_id: str
    seq: int
    amount_fen: int
    kid: str
    signature: str = ""

    def signing_bytes(self) -> bytes:
        return canonical({"purpose": "transit-load", "card_id": self.card_id, "seq": self.seq,
                          "amount_fen": self.amount_fen, "kid": self.kid, "v": VERSION})

    def signed(self, private: Ed25519PrivateKey) -> LoadAuthorisation:
        return replace(self, signature=b64(private.sign(self.signing_bytes())))

    def verify(self, issuer_keys: dict[str, bytes]) -> bool:
        """Return whether the issuer key named by ``kid`` signed exactly this."""
        raw = issuer_keys.get(self.kid)
        if raw is None:
            return False
        try:
            return _verify(raw, unb64(self.signature), self.signing_bytes())
        except RecordError:
            return False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LoadAuthorisation:
        return cls(_str(data, "card_id", MAX_ID_LEN), _int(data, "seq", 1, 2**31 - 1),
                   _int(data, "amount_fen", 1, 10**9), _str(data, "kid", 64), _str(data, "signature", 200))


@dataclass(frozen=True)
class CardCertificate:
    """The issuer's signature binding a card id to the card's public key, so an offline terminal can
    trust the key a card presents (a forger's own key has no certificate)."""

    card_id: str
    public_key: str  # base64url of 32 raw bytes
    kid: str
    signature: str = ""

    def signing_bytes(self) -> bytes:
        return canonical({"purpose": "transit-card", "card_id": self.card_id, "public_key": self.public_key,
                          "kid": self.kid, "v": VERSION})

    def signed(self, private: Ed25519PrivateKey) -> CardCertificate:
        return replace(self, signature=b64(private.sign(self.signing_bytes())))

    def verify(self, issuer_keys: dict[str, bytes]) -> bool:
        raw = issuer_keys.get(self.kid)
        if raw is None:
            return False
        try:
            return _verify(raw, unb64(self.signature), self.signing_bytes())
        except RecordError:
            return False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CardCertificate:
        return cls(_str(data, "card_id", MAX_ID_LEN), _str(data, "public_key", 64), _str(data, "kid", 64),
                   _str(data, "signature", 200))
