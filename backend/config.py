"""Configuration: embedded defaults, overridden from the environment.

Everything that differs between a laptop and production comes from environment
variables; ``create_app(config)`` may override any key for tests.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from suiyuan_protocol import money
from suiyuan_protocol.profile import (  # noqa: F401 - the server's names for the shared rules
    OFFLINE_MAX_PAYMENTS,
    OFFLINE_SINGLE_CAP_FEN,
    STATIC_QR_DAILY_CAP_FEN,
    WALLET_TIERS,
    TierLimits,
)

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

# The wallet tiers and the static-QR and offline caps are wire rules the apps explain too: their one
# definition is suiyuan_protocol.profile. Wallets copy a tier's row onto their ledger account when
# opened or upgraded, and the ledger enforces it inside the money transaction.
#: The largest amount any single request may name; more is a 422 naming the field. The one
#: definition is ``suiyuan_protocol.money.MAX_AMOUNT_FEN`` (the class-2 wallet's single-payment cap);
#: a deployment may set ``AMOUNT_MAX_FEN``, at most what a QR amount field can carry.
MAX_AMOUNT_FEN = money.MAX_AMOUNT_FEN


def amount_max_fen(raw: str | None) -> int:
    """Return the configured maximum amount (``AMOUNT_MAX_FEN``), default ``MAX_AMOUNT_FEN``.

    Raises ``ValueError`` for anything but an integer in 1..``QR_AMOUNT_CEILING_FEN``.
    """
    value = MAX_AMOUNT_FEN if raw in (None, "") else int(raw)
    if not 1 <= value <= money.QR_AMOUNT_CEILING_FEN:
        raise ValueError(f"AMOUNT_MAX_FEN must be 1..{money.QR_AMOUNT_CEILING_FEN}, not {value}")
    return value


#: Lotteries: seconds registrants have after registration closes to reveal their secrets (the draw runs
#: then). Bounded: at least a minute so a phone that was briefly offline can still reveal, at most a day so
#: winners are not kept waiting.
REVEAL_S_BOUNDS = (60, 86_400)
DEFAULT_REVEAL_S = 600


def campaign_reveal_s(raw: str | None) -> int:
    """Return the lottery reveal window (``CAMPAIGN_REVEAL_S``), default 600 s.

    Raises ``ValueError`` for anything but an integer within ``REVEAL_S_BOUNDS``.
    """
    value = DEFAULT_REVEAL_S if raw in (None, "") else int(raw)
    low, high = REVEAL_S_BOUNDS
    if not low <= value <= high:
        raise ValueError(f"CAMPAIGN_REVEAL_S must be {low}..{high} seconds, not {value}")
    return value


def database_url(raw: str | None) -> str:
    """Return a SQLAlchemy URL, defaulting to the embedded SQLite file.

    ``postgres://`` and ``postgresql://`` are mapped to the psycopg 3 driver.
    """
    if not raw:
        INSTANCE_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'suiyuan.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def from_env(env: os._Environ | dict | None = None) -> dict:
    """Return the configuration dict built from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    return {
        # development (the embedded default when the database is SQLite), production, or test (the suite's
        # own config only). Any non-SQLite database counts as production (backend/preflight.py).
        "SUIYUAN_ENV": env.get("SUIYUAN_ENV", "development"),
        "SECRET_KEY": env.get("SECRET_KEY", "dev-only-not-secret"),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL")),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # A streaming replica for heavy read-only work (backend/readdb.py); unset: everything reads the primary.
        "READ_DATABASE_URL": env.get("READ_DATABASE_URL") or None,
        "READ_MAX_LAG_SECONDS": float(env.get("READ_MAX_LAG_SECONDS", 10)),
        "READ_LAG_CHECK_SECONDS": float(env.get("READ_LAG_CHECK_SECONDS", 1)),
        # None selects the in-process Redis emulation and inline jobs.
        "REDIS_URL": env.get("REDIS_URL") or None,
        "TIMEZONE": env.get("SUIYUAN_TIMEZONE", "Asia/Shanghai"),
        # The refresh token (kept in the database, revocable) lives TOKEN_TTL; the signed access token it buys
        # lives ACCESS_TOKEN_TTL and is checked without the database (backend/auth/tokens.py).
        "TOKEN_TTL": timedelta(seconds=int(env.get("TOKEN_TTL_SECONDS", 14 * 86400))),
        "ACCESS_TOKEN_TTL": timedelta(seconds=int(env.get("ACCESS_TOKEN_TTL_SECONDS", 600))),
        # A new access-token signing key this often (a periodic job); a retired key keeps verifying for one
        # ACCESS_TOKEN_TTL, so no token it signed is refused before it expires.
        "ACCESS_KEY_ROTATION": timedelta(seconds=int(env.get("ACCESS_KEY_ROTATION_SECONDS", 86400))),
        "IDEMPOTENCY_TTL": timedelta(hours=int(env.get("IDEMPOTENCY_TTL_HOURS", 48))),
        # werkzeug's scrypt; tests lower the cost factor to stay fast.
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "scrypt:32768:8:1"),
        "ORDER_TTL": timedelta(seconds=int(env.get("ORDER_TTL_SECONDS", 300))),
        "QR_KEY_RETENTION": timedelta(days=int(env.get("QR_KEY_RETENTION_DAYS", 365))),
        "AMOUNT_MAX_FEN": amount_max_fen(env.get("AMOUNT_MAX_FEN")),
        "JSON_MAX_BYTES": int(env.get("JSON_MAX_BYTES", 256 * 1024)),
        "JSON_MAX_DEPTH": int(env.get("JSON_MAX_DEPTH", 32)),
        "LOGIN_MAX_FAILURES": int(env.get("LOGIN_MAX_FAILURES", 10)),
        "LOGIN_LOCKOUT_SECONDS": int(env.get("LOGIN_LOCKOUT_SECONDS", 900)),
        # The payment password (backend/wallets/paypass.py): this many wrong tries lock it for this long.
        "PAYMENT_PASSWORD_MAX_FAILURES": int(env.get("PAYMENT_PASSWORD_MAX_FAILURES", 5)),
        "PAYMENT_PASSWORD_LOCK_SECONDS": int(env.get("PAYMENT_PASSWORD_LOCK_SECONDS", 3 * 3600)),
        "CAMPAIGN_REVEAL_S": campaign_reveal_s(env.get("CAMPAIGN_REVEAL_S")),
        # Admission control at the claim endpoint (campaigns/admission.py): claims one worker process works
        # on at once (0: no bound), how long a claim may have queued behind a proxy's X-Request-Start (0: not
        # checked), and the Retry-After of the 429 claim_busy that turns the rest away.
        "CLAIM_MAX_IN_FLIGHT": int(env.get("CLAIM_MAX_IN_FLIGHT", 2)),
        "CLAIM_MAX_QUEUE_MS": float(env.get("CLAIM_MAX_QUEUE_MS", 0)),
        "CLAIM_BUSY_RETRY_AFTER_S": int(env.get("CLAIM_BUSY_RETRY_AFTER_S", 1)),
        "API_TITLE": "Suiyuan 穗元 e-CNY demonstration-zone API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/swagger-ui/",
    }
