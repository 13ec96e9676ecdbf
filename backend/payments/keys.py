"""The Ed25519 keys that sign QR payloads and access tokens, and their rotation.

Each key has a ``use``: ``QR`` keys sign QR payloads, ``ACCESS`` keys sign the
short-lived access tokens (backend/auth/tokens.py). Both are managed the same
way: the newest unretired key of a use signs; a retired key stays published
(``GET /keys``, ``GET /auth/keys``) and accepted for its use's retention after
retirement — ``QR_KEY_RETENTION`` for QR keys, so codes they signed (printed
static posters) keep verifying until replaced; one ``ACCESS_TOKEN_TTL`` (plus
clock leeway) for access keys, so no token is refused before it expires.
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from flask import current_app
from sqlalchemy import or_, select, update

from backend.clock import as_utc, utcnow
from backend.extensions import db
from backend.payments.models import SigningKey
from backend.secrets_box import open_sealed, seal

PURPOSE = "qr-signing-key"
QR = "qr"
ACCESS = "access"
#: Clock difference between servers that an access key's retention allows for.
LEEWAY_S = 30


def retention(use: str) -> timedelta:
    """How long a retired key of ``use`` keeps verifying."""
    cfg = current_app.config
    if use == ACCESS:
        return cfg["ACCESS_TOKEN_TTL"] + timedelta(seconds=LEEWAY_S)
    return cfg["QR_KEY_RETENTION"]


def _new_kid() -> str:
    return f"k{utcnow():%Y%m%d}-{secrets.token_hex(3)}"


def create_key(use: str = QR) -> SigningKey:
    """Generate a key of ``use`` and add it to the session (caller commits); return it."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key = SigningKey(
        kid=_new_kid(),
        public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        private_key_enc=seal(PURPOSE, raw_private),
        created_at=utcnow(),
        use=use,
    )
    db.session.add(key)
    db.session.flush()
    return key


def rotate(use: str = QR) -> SigningKey:
    """Retire every active key of ``use`` and create a new one; commit; return the new key."""
    db.session.execute(update(SigningKey.__table__).where(SigningKey.retired_at.is_(None), SigningKey.use == use)
                       .values(retired_at=utcnow()))
    key = create_key(use)
    db.session.commit()
    forget_cached(use)
    return key


def rotate_access_key_when_due() -> str | None:
    """The periodic job: start a new access-token key when the signing one is ``ACCESS_KEY_ROTATION`` old;
    return the new kid, or None when none was due."""
    key = _newest_active(ACCESS)
    if key is not None and as_utc(key.created_at) > utcnow() - current_app.config["ACCESS_KEY_ROTATION"]:
        db.session.rollback()
        return None
    return rotate(ACCESS).kid


def _newest_active(use: str) -> SigningKey | None:
    return db.session.execute(
        select(SigningKey).where(SigningKey.retired_at.is_(None), SigningKey.use == use)
        .order_by(SigningKey.created_at.desc()).limit(1)
    ).scalar_one_or_none()


def signing_key(use: str = QR) -> tuple[str, Ed25519PrivateKey]:
    """Return the kid and private key of ``use`` that sign now, creating the first key if there is none."""
    key = _newest_active(use)
    if key is None:
        # The first key is committed at once: a code it signs (a printed
        # static poster) must stay verifiable even if the caller never commits.
        key = create_key(use)
        db.session.commit()
    return key.kid, Ed25519PrivateKey.from_private_bytes(open_sealed(PURPOSE, key.private_key_enc))


def published(use: str = QR) -> list[SigningKey]:
    """Return the keys of ``use`` that verify now: active ones and recently retired ones."""
    cutoff = utcnow() - retention(use)
    return list(db.session.execute(
        select(SigningKey).where(SigningKey.use == use,
                                 or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
        .order_by(SigningKey.created_at)
    ).scalars())


class _KeyCache:
    """Published public keys, re-read at most every ``TTL_S`` seconds.

    A cache of immutable data, not state: a key's bytes never change, a new
    key is picked up at once (an unknown kid forces a re-read) and a key that
    passes its retention stops verifying within ``TTL_S``. It saves a query and
    key parsing on every payment (and every authenticated request).

    ``min_forced_s``: an unknown kid re-reads at most this often, so requests
    naming made-up kids (forged access tokens) cannot turn into a database
    read each.
    """

    TTL_S = 30.0

    def __init__(self, use: str, min_forced_s: float = 0.0):
        self.use = use
        self.min_forced_s = min_forced_s
        self.keys: dict[str, Ed25519PublicKey] = {}
        self.loaded_at = float("-inf")
        self.scope = None

    def get(self, kid: str | None = None) -> dict[str, Ed25519PublicKey]:
        scope = (current_app.config["SQLALCHEMY_DATABASE_URI"], id(current_app))
        age = time.monotonic() - self.loaded_at
        stale = age > self.TTL_S or scope != self.scope
        if stale or (kid is not None and kid not in self.keys and age >= self.min_forced_s):
            self.keys = {k.kid: Ed25519PublicKey.from_public_bytes(k.public_key) for k in published(self.use)}
            self.loaded_at, self.scope = time.monotonic(), scope
        return self.keys


_caches = {QR: _KeyCache(QR), ACCESS: _KeyCache(ACCESS, min_forced_s=0.2)}


def public_keys(kid: str | None = None, use: str = QR) -> dict[str, Ed25519PublicKey]:
    """Return kid → public key of ``use`` (for ``suiyuan_protocol.codec.verify``: QR; ``kid``: the one the
    caller needs)."""
    return _caches[use].get(kid)


def forget_cached(use: str = QR) -> None:
    """Drop the cached keys of ``use`` (after a rotation in this process)."""
    _caches[use].loaded_at = float("-inf")


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
