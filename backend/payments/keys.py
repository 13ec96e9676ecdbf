"""The Ed25519 keys that sign QR payloads, and their rotation.

The newest unretired key signs. A retired key stays published (``GET /keys``)
and accepted for ``QR_KEY_RETENTION`` after retirement, so codes it signed —
including printed static posters — keep verifying until they are replaced.
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from flask import current_app
from sqlalchemy import or_, select, update

from backend.clock import as_utc, utcnow
from backend.extensions import db
from backend.payments.models import SigningKey
from backend.secrets_box import open_sealed, seal

PURPOSE = "qr-signing-key"


def _new_kid() -> str:
    return f"k{utcnow():%Y%m%d}-{secrets.token_hex(3)}"


def create_key() -> SigningKey:
    """Generate a key and add it to the session (caller commits); return it."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key = SigningKey(
        kid=_new_kid(),
        public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        private_key_enc=seal(PURPOSE, raw_private),
        created_at=utcnow(),
    )
    db.session.add(key)
    db.session.flush()
    return key


def rotate() -> SigningKey:
    """Retire every active key and create a new one; commit; return the new key."""
    db.session.execute(update(SigningKey.__table__).where(SigningKey.retired_at.is_(None)).values(retired_at=utcnow()))
    key = create_key()
    db.session.commit()
    forget_cached()
    return key


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    """Return the kid and private key that sign now, creating the first key if there is none."""
    key = db.session.execute(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)
    ).scalar_one_or_none()
    if key is None:
        # The first key is committed at once: a code it signs (a printed
        # static poster) must stay verifiable even if the caller never commits.
        key = create_key()
        db.session.commit()
    return key.kid, Ed25519PrivateKey.from_private_bytes(open_sealed(PURPOSE, key.private_key_enc))


def published() -> list[SigningKey]:
    """Return the keys that verify codes now: active ones and recently retired ones."""
    cutoff = utcnow() - current_app.config["QR_KEY_RETENTION"]
    return list(db.session.execute(
        select(SigningKey).where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
        .order_by(SigningKey.created_at)
    ).scalars())


class _KeyCache:
    """Published public keys, re-read at most every ``TTL_S`` seconds.

    A cache of immutable data, not state: a key's bytes never change, a new
    key is picked up at once (an unknown kid forces a re-read) and a key that
    passes its retention stops verifying within ``TTL_S``. It saves a query and
    key parsing on every payment.
    """

    TTL_S = 30.0

    def __init__(self):
        self.keys: dict[str, Ed25519PublicKey] = {}
        self.loaded_at = float("-inf")
        self.scope = None

    def get(self, kid: str | None = None) -> dict[str, Ed25519PublicKey]:
        scope = (current_app.config["SQLALCHEMY_DATABASE_URI"], id(current_app))
        stale = time.monotonic() - self.loaded_at > self.TTL_S or scope != self.scope
        if stale or (kid is not None and kid not in self.keys):
            self.keys = {k.kid: Ed25519PublicKey.from_public_bytes(k.public_key) for k in published()}
            self.loaded_at, self.scope = time.monotonic(), scope
        return self.keys


_cache = _KeyCache()


def public_keys(kid: str | None = None) -> dict[str, Ed25519PublicKey]:
    """Return kid → public key for ``suiyuan_protocol.codec.verify`` (``kid``: the one the caller needs)."""
    return _cache.get(kid)


def forget_cached() -> None:
    """Drop the cached keys (after a rotation in this process)."""
    _cache.loaded_at = float("-inf")


def key_json(key: SigningKey) -> dict:
    """Return the published form of a key (JWK-like, OKP/Ed25519)."""
    retired: datetime | None = as_utc(key.retired_at)
    return {
        "kid": key.kid,
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode(),
        "created_at": as_utc(key.created_at).isoformat(),
        "retired_at": retired.isoformat() if retired else None,
        "status": "retired" if retired else "active",
    }
