"""A hard wallet modelled as a secure element: its own Ed25519 key, a balance, a monotonic counter,
per-card limits as data, and the fare state validators read and write.

The card never spends without signing a record, never signs two records with one counter, and
checks the issuer's signature before it adds value. Its private key never leaves it — except in
:meth:`HardCard.to_file`, the simulator's stand-in for the chip (and what a cloner would steal).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from suiyuan_protocol.transit.fares import FareState
from suiyuan_protocol.transit.records import (
    ISSUER_TERMINAL,
    CardCertificate,
    LoadAuthorisation,
    PaymentRecord,
    b64,
    genesis_hash,
    unb64,
)


@dataclass(frozen=True)
class CardLimits:
    """Per-card limits in fen (defaults: balance ≤ ¥1,000, one offline payment ≤ ¥500)."""

    balance_cap_fen: int = 100_000
    single_payment_cap_fen: int = 50_000


class CardRefused(Exception):
    """The card refused; ``code`` is stable (insufficient_balance, over_single_cap, over_balance_cap,
    bad_authorisation, load_out_of_order, bad_amount)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def new_card_id() -> str:
    """Return a fresh card id (HW + 16 hex digits)."""
    return "HW" + secrets.token_hex(8).upper()


class HardCard:
    """The chip. Create with :meth:`create`, then :meth:`install` the issuer's certificate."""

    def __init__(self, card_id: str, private: Ed25519PrivateKey, *, limits: CardLimits | None = None):
        self.card_id = card_id
        self._private = private
        self.limits = limits or CardLimits()
        self.balance_fen = 0
        self.counter = 0
        self.head_hash = genesis_hash(card_id)
        self.spent_fen = 0
        self.loaded_fen = 0
        self.load_seq = 0
        self.fare_state = FareState()
        self.certificate: CardCertificate | None = None
        self.issuer_keys: dict[str, bytes] = {}
        self.ytc_number: str | None = None

    @classmethod
    def create(cls, card_id: str | None = None, *, limits: CardLimits | None = None) -> HardCard:
        """Return a blank card with a fresh key pair generated on the chip."""
        return cls(card_id or new_card_id(), Ed25519PrivateKey.generate(), limits=limits)

    @property
    def public_key(self) -> bytes:
        """The card's 32-byte Ed25519 public key (registered with the server at issue)."""
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def install(self, certificate: CardCertificate, issuer_keys: dict[str, bytes]) -> None:
        """Store the issuer's certificate and public keys; raise ``CardRefused`` if they do not fit."""
        if certificate.card_id != self.card_id or certificate.public_key != b64(self.public_key):
            raise CardRefused("bad_authorisation", "The certificate is for another card or key.")
        if not certificate.verify(issuer_keys):
            raise CardRefused("bad_authorisation", "The certificate is not the issuer's.")
        self.certificate = certificate
        self.issuer_keys = dict(issuer_keys)

    # ------------------------------------------------------------------ value

    def apply_load(self, auth: LoadAuthorisation) -> int:
        """Add the value of an issuer-signed load (圈存); return the new balance.

        Raises ``CardRefused``: bad_authorisation (not the issuer's or not this card's),
        load_out_of_order (not the next load: replayed or skipped), over_balance_cap.
        """
        if auth.card_id != self.card_id or not auth.verify(self.issuer_keys):
            raise CardRefused("bad_authorisation", "This load was not signed by the issuer for this card.")
        if auth.seq != self.load_seq + 1:
            raise CardRefused("load_out_of_order", f"The card expects load {self.load_seq + 1}, not {auth.seq}.")
        if self.balance_fen + auth.amount_fen > self.limits.balance_cap_fen:
            raise CardRefused("over_balance_cap", "The card would hold more than its balance cap.")
        self.balance_fen += auth.amount_fen
        self.loaded_fen += auth.amount_fen
        self.load_seq = auth.seq
        return self.balance_fen

    def pay(self, amount_fen: int, terminal_id: str, at: int, *, trip: str = "", kind: str = "fare",
            fare_state: FareState | None = None) -> PaymentRecord:
        """Sign and apply one payment; return the record. ``fare_state`` (if given) is stored with it.

        Raises ``CardRefused`` (bad_amount, over_single_cap, insufficient_balance); nothing changes then.
        """
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise CardRefused("bad_amount", "A payment is a positive number of fen.")
        if kind == "fare" and amount_fen > self.limits.single_payment_cap_fen:
            raise CardRefused("over_single_cap", "One offline payment is at most the card's single-payment cap.")
        if amount_fen > self.balance_fen:
            raise CardRefused("insufficient_balance", "The card's balance is too low.")
        record = PaymentRecord(
            card_id=self.card_id, counter=self.counter + 1, amount_fen=amount_fen, terminal_id=terminal_id,
            at=at, prev_hash=self.head_hash, spent_before_fen=self.spent_fen, loaded_fen=self.loaded_fen,
            kind=kind, trip=trip,
        ).signed(self._private)
        # Everything below is one step on the chip (its transaction buffer).
        self.counter = record.counter
        self.head_hash = record.hash
        self.spent_fen += amount_fen
        self.balance_fen -= amount_fen
        if fare_state is not None:
            self.fare_state = fare_state
        return record

    def unload(self, amount_fen: int, at: int) -> PaymentRecord:
        """Sign a record paying ``amount_fen`` back to the issuer (the soft wallet); return it."""
        return self.pay(amount_fen, ISSUER_TERMINAL, at, kind="unload")

    def set_fare_state(self, state: FareState) -> None:
        """Write the fare state alone (a tap-in, which charges nothing)."""
        self.fare_state = state

    # ------------------------------------------------------------------ simulator file

    def to_json(self) -> dict:
        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return {
            "card_id": self.card_id, "private_key": b64(raw), "limits": vars(self.limits),
            "balance_fen": self.balance_fen, "counter": self.counter, "head_hash": self.head_hash,
            "spent_fen": self.spent_fen, "loaded_fen": self.loaded_fen, "load_seq": self.load_seq,
            "fare_state": self.fare_state.to_json(),
            "certificate": self.certificate.to_json() if self.certificate else None,
            "issuer_keys": {k: b64(v) for k, v in self.issuer_keys.items()}, "ytc_number": self.ytc_number,
        }

    @classmethod
    def from_json(cls, data: dict) -> HardCard:
        card = cls(data["card_id"], Ed25519PrivateKey.from_private_bytes(unb64(data["private_key"], "private_key")),
                   limits=CardLimits(**data["limits"]))
        for name in ("balance_fen", "counter", "head_hash", "spent_fen", "loaded_fen", "load_seq", "ytc_number"):
            setattr(card, name, data[name])
        card.fare_state = FareState.from_json(data["fare_state"])
        card.certificate = CardCertificate.from_json(data["certificate"]) if data["certificate"] else None
        card.issuer_keys = {k: unb64(v, "issuer_keys") for k, v in data["issuer_keys"].items()}
        return card

    def to_file(self, path: str | os.PathLike) -> None:
        """Write the chip's whole state to ``path`` atomically (write, fsync, rename)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> HardCard:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def clone(self) -> HardCard:
        """Return an exact copy of the chip, key included: what an attacker who extracted it would hold."""
        twin = HardCard.from_json(self.to_json())
        twin.fare_state = replace(self.fare_state)
        return twin
