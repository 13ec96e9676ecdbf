"""Configuration: embedded defaults, overridden from the environment.

Everything that differs between a laptop and production comes from environment
variables; ``create_app(config)`` may override any key for tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from payclient import money

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"


@dataclass(frozen=True)
class TierLimits:
    """Limits of one wallet class, in fen; ``None`` means no limit."""

    balance_cap_fen: int | None
    single_cap_fen: int | None
    day_cap_fen: int | None
    year_cap_fen: int | None


YUAN = 100

#: The e-CNY wallet tiers (controllable anonymity). The one table of limits:
#: wallets copy a tier's row onto their ledger account when opened or upgraded,
#: and the ledger enforces it inside the money transaction.
WALLET_TIERS: dict[int, TierLimits] = {
    4: TierLimits(10_000 * YUAN, 2_000 * YUAN, 5_000 * YUAN, 50_000 * YUAN),
    3: TierLimits(20_000 * YUAN, 5_000 * YUAN, 10_000 * YUAN, None),
    2: TierLimits(500_000 * YUAN, 50_000 * YUAN, 100_000 * YUAN, None),
    1: TierLimits(None, None, None, None),
}

#: PBOC barcode rules: static-QR payments per consumer per day.
STATIC_QR_DAILY_CAP_FEN = 500 * YUAN
#: e-CNY offline mode: one payment at most ¥500, at most 10 payments before the wallet syncs.
OFFLINE_SINGLE_CAP_FEN = 500 * YUAN
OFFLINE_MAX_PAYMENTS = 10

#: The largest amount any single request may name; more is a 422 naming the field. The one
#: definition is ``payclient.money.MAX_AMOUNT_FEN`` (the class-2 wallet's single-payment cap);
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
        # None selects the in-process Redis emulation and inline jobs.
        "REDIS_URL": env.get("REDIS_URL") or None,
        "TIMEZONE": env.get("SUIYUAN_TIMEZONE", "Asia/Shanghai"),
        "TOKEN_TTL": timedelta(seconds=int(env.get("TOKEN_TTL_SECONDS", 12 * 3600))),
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
        "CAMPAIGN_REVEAL_S": campaign_reveal_s(env.get("CAMPAIGN_REVEAL_S")),
        "API_TITLE": "Suiyuan 穗元 e-CNY demonstration-zone API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/swagger-ui/",
    }
