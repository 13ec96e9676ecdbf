"""Encryption at rest for the few secrets the database holds (QR signing keys,
pay-code device secrets), keyed from ``SECRET_KEY`` with HKDF and AES-GCM.

In production the key would come from a KMS; the interface stays the same.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _key(purpose: str) -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"suiyuan-at-rest", info=purpose.encode()).derive(secret)


def seal(purpose: str, plaintext: bytes) -> bytes:
    """Return nonce + AES-GCM ciphertext of ``plaintext`` bound to ``purpose``."""
    nonce = os.urandom(12)
    return nonce + AESGCM(_key(purpose)).encrypt(nonce, plaintext, purpose.encode())


def open_sealed(purpose: str, blob: bytes) -> bytes:
    """Return the plaintext of ``seal``; raises ``cryptography.exceptions.InvalidTag`` if tampered."""
    return AESGCM(_key(purpose)).decrypt(blob[:12], blob[12:], purpose.encode())
