"""Refuse to start a production app that is missing what production needs; ``flask doctor`` reports.

The embedded default (SQLite, no ``REDIS_URL``, jobs inline) needs nothing:
``make run`` works with no configuration at all. Anything else — a database
that is not SQLite, or ``SUIYUAN_ENV=production`` — is production, and there a
development secret or a missing Redis is a silent disaster: with the dev
``SECRET_KEY`` anyone can forge the keyed hashes and sealed secrets; without
``REDIS_URL`` every gunicorn worker gets its own in-memory Redis (its own claim
gate, throttles and lockout counters) and jobs run inline. So ``create_app``
refuses to build such an app and names what is missing (``StartupRefused``);
the one exception is ``flask doctor``, which must be able to say what is wrong.

``SUIYUAN_ENV=test`` (set by the test suite's config, never by the
environment in production) is the explicit test mode: PostgreSQL with the
in-process Redis, on purpose.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

#: The value ``backend.config`` uses when ``SECRET_KEY`` is not set.
DEV_SECRET = "dev-only-not-secret"
MIN_SECRET_CHARS = 32
ENVIRONMENTS = ("development", "production", "test")
#: How long the start-up check waits for Redis.
REDIS_TIMEOUT_S = 3.0
SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class StartupRefused(RuntimeError):
    """The configuration is not fit for production; the message says what is missing."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Suiyuan refuses to start (production configuration):\n"
                         + "\n".join(f"  - {p}" for p in problems)
                         + "\nRun `flask doctor` to see the effective configuration and check each service.")


def mode(config: Mapping[str, Any]) -> str:
    """Return "embedded" (SQLite, no Redis needed), "production" or "test" for ``config``."""
    env = config.get("SUIYUAN_ENV") or "development"
    if env == "test":
        return "test"
    uri = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if env == "production" or not uri.startswith("sqlite"):
        return "production"
    return "embedded"


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with ``config`` for its mode, without calling out (empty: nothing)."""
    env = config.get("SUIYUAN_ENV") or "development"
    if env not in ENVIRONMENTS:
        return [f"SUIYUAN_ENV is {env!r}; use one of {', '.join(ENVIRONMENTS)}"]
    if mode(config) != "production":
        return []
    problems = []
    secret = config.get("SECRET_KEY") or ""
    if not secret or secret == DEV_SECRET:
        problems.append(f"SECRET_KEY is not set (the development value would be used): set a random value of at "
                        f"least {MIN_SECRET_CHARS} characters, e.g. `{SECRET_HINT}`")
    elif len(secret) < MIN_SECRET_CHARS:
        problems.append(f"SECRET_KEY is {len(secret)} characters long; use at least {MIN_SECRET_CHARS} random "
                        f"characters, e.g. `{SECRET_HINT}`")
    if not config.get("REDIS_URL"):
        problems.append("REDIS_URL is not set: production needs one shared Redis (claim gate, throttles, lockout "
                        "counters, job queue); without it each process would keep its own in memory and run jobs "
                        "inline")
    return problems


def redis_problem(url: str, timeout_s: float = REDIS_TIMEOUT_S) -> str | None:
    """Return why the Redis at ``url`` does not answer PING, or ``None`` when it does."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"REDIS_URL {masked_url(url)} does not answer: {exc}"
    return None


def enforce(config: Mapping[str, Any]) -> None:
    """Raise ``StartupRefused`` naming every problem if ``config`` is not fit for its mode.

    Outside the embedded default and the test mode this calls out once: a
    PING to ``REDIS_URL`` (the only exception to "the factory never calls
    out", because starting against an unreachable Redis is a silent failure).
    """
    problems = config_problems(config)
    if not problems and mode(config) == "production":
        if (why := redis_problem(config["REDIS_URL"])) is not None:
            problems.append(why)
    if problems:
        raise StartupRefused(problems)


def running_doctor(argv: list[str] | None = None) -> bool:
    """Whether this process is ``flask doctor`` (which builds the app to report on it, and serves nothing)."""
    argv = sys.argv if argv is None else argv
    program = os.path.basename(argv[0]) if argv else ""
    if program not in ("flask", "__main__.py") or (program == "__main__.py" and "flask" not in argv[0]):
        return False
    words = [a for a in argv[1:] if not a.startswith("-")]
    return "doctor" in words[:3]  # e.g. flask --app backend:create_app doctor


def masked_url(url: str | None) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    if not url:
        return ""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads (e.g. rediss://): mask by hand
        head, sep, tail = url.partition("@")
        if not sep or ":" not in head.split("//", 1)[-1]:
            return url
        scheme, _, auth = head.partition("//")
        return f"{scheme}//{auth.split(':', 1)[0]}:***@{tail}"


def masked_secret(secret: str | None) -> str:
    """Return how ``SECRET_KEY`` looks without showing it."""
    if not secret:
        return "(not set)"
    if secret == DEV_SECRET:
        return "(the development value)"
    return f"*** ({len(secret)} characters)"
