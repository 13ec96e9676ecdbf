"""Signed access tokens and the Redis deny-list: authentication without a database round trip.

A log-in opens a *session*: a long-lived refresh token kept (hashed) in the
database (``AuthToken``; its id is the session id ``sid``). The refresh token
buys short-lived *access tokens* (``ACCESS_TOKEN_TTL``, minutes): JWTs signed
with Ed25519 (PyJWT, ``EdDSA``) by the newest ``access`` key of
``backend.payments.keys``, which are rotated and published (``GET
/auth/keys``) like the QR keys. An access token carries the user (``sub``),
the session (``sid``), the role and the scope, so a request is authenticated
by checking a signature and asking Redis one question, not the database.

The question to Redis (one ``MGET``): has this session been logged out, has
this user been revoked since the token was issued, and is the deny-list
complete? Revocations are written to the database first (the session's
``revoked_at``, the user's ``tokens_revoked_at``) and to Redis before the
commit, so every worker refuses the token on its next request. If Redis has
lost its data (a restart without persistence: the ``READY`` marker is gone)
the first request rebuilds the deny-list from the database, and only then
answers; if Redis cannot be asked at all, the request is refused with 503
(fail closed): a revocation younger than the token could be missed otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt
import redis
from flask import current_app
from sqlalchemy import select

from backend.auth.models import AuthToken, User
from backend.clock import as_utc, utcnow
from backend.errors import DomainError, Unauthorized
from backend.extensions import db, get_redis
from backend.payments import keys

ALG = "EdDSA"
TYP = "at+jwt"  # RFC 9068: an access token, not any other JWT one of our keys might sign
READY = "auth:deny:ready"


def _user_key(user_id: int) -> str:
    return f"auth:deny:u:{user_id}"


def _session_key(sid: int) -> str:
    return f"auth:deny:s:{sid}"


class AuthUnavailable(DomainError):
    """The deny-list cannot be asked (Redis down): refuse rather than accept a token that may be revoked."""

    status = 503
    code = "auth_unavailable"
    title = "Service briefly unavailable"

    def __init__(self, detail: str = "Sign-in checks are unavailable for a moment; retry the same request.",
                 **kwargs):
        super().__init__(detail, headers={"Retry-After": "1"}, **kwargs)


@dataclass(frozen=True)
class Claims:
    user_id: int
    sid: int
    role: str
    scope: tuple[str, ...]
    issued_at: float
    expires_at: float

    @property
    def bank_id(self) -> int | None:
        for s in self.scope:
            if s.startswith("bank:"):
                return int(s[5:])
        return None


def scope_of(user: User) -> str:
    """The scope an access token of ``user`` carries: the API, and the operator bank a reviewer works for."""
    parts = ["api"]
    if user.bank_id is not None:
        parts.append(f"bank:{user.bank_id}")
    return " ".join(parts)


def _now_s() -> float:
    # Milliseconds: a revocation and a token issued in the same second must still be ordered.
    return round(utcnow().timestamp(), 3)


def ttl() -> timedelta:
    return current_app.config["ACCESS_TOKEN_TTL"]


def issue(user: User, sid: int) -> tuple[str, int]:
    """Sign an access token of ``user`` for session ``sid``; return it and its lifetime in seconds."""
    return issue_many([(user.id, user.role, scope_of(user), sid)])[0]


def issue_many(rows: list[tuple[int, str, str, int]]) -> list[tuple[str, int]]:
    """Sign an access token for each ``(user id, role, scope, sid)``; return (token, lifetime in seconds)."""
    kid, private = keys.signing_key(keys.ACCESS)
    now = _now_s()
    seconds = int(ttl().total_seconds())
    headers = {"kid": kid, "typ": TYP}
    return [(jwt.encode({"sub": str(user_id), "sid": sid, "role": role, "scope": scope, "iat": now,
                         "exp": now + seconds}, private, algorithm=ALG, headers=headers), seconds)
            for user_id, role, scope, sid in rows]


def verify(token: str) -> Claims:
    """Return the claims of a genuine, unexpired access token; raise ``Unauthorized`` (not revocation: see
    :func:`check_not_revoked`)."""
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = keys.public_keys(kid, use=keys.ACCESS).get(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") != TYP:
            raise jwt.InvalidTokenError("unknown key")
        # Expiry is checked below against backend.clock (one clock for the whole server).
        payload = jwt.decode(token, key, algorithms=[ALG], options={
            "verify_exp": False, "verify_iat": False, "require": ["sub", "sid", "role", "scope", "iat", "exp"]})
        claims = Claims(int(payload["sub"]), int(payload["sid"]), str(payload["role"]),
                        tuple(str(payload["scope"]).split()), float(payload["iat"]), float(payload["exp"]))
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise Unauthorized("The token is not valid.", code="invalid_token") from exc
    if claims.expires_at <= utcnow().timestamp():
        raise Unauthorized("The access token has expired; refresh it (POST /auth/refresh).", code="token_expired")
    return claims


def check_not_revoked(claims: Claims) -> None:
    """Refuse ``claims`` if its session was logged out or its user revoked after it was issued (one Redis
    round trip). Raises ``Unauthorized`` (``token_revoked``) or ``AuthUnavailable`` (503)."""
    r = get_redis()
    try:
        ready, user_revoked, session_revoked = r.mget(READY, _user_key(claims.user_id), _session_key(claims.sid))
        if ready is None:
            rebuild(r)
            ready, user_revoked, session_revoked = r.mget(READY, _user_key(claims.user_id),
                                                          _session_key(claims.sid))
    except redis.RedisError as exc:
        raise AuthUnavailable() from exc
    if ready is None:
        raise AuthUnavailable()
    if session_revoked is not None or (user_revoked is not None and claims.issued_at <= float(user_revoked)):
        raise Unauthorized("The token was revoked; log in again.", code="token_revoked")


def _expiry_ms(revoked_at_s: float) -> int:
    """How long a deny entry must live: until every token issued before ``revoked_at_s`` has expired."""
    left = revoked_at_s + ttl().total_seconds() + keys.LEEWAY_S - utcnow().timestamp()
    return max(1, int(left * 1000))


def rebuild(r: redis.Redis) -> None:
    """Write every revocation that can still matter (younger than one access-token lifetime) from the
    database into Redis, then mark the deny-list complete."""
    horizon = utcnow() - ttl() - timedelta(seconds=keys.LEEWAY_S)
    sessions = db.session.execute(select(AuthToken.id, AuthToken.revoked_at)
                                  .where(AuthToken.revoked_at > horizon)).all()
    users = db.session.execute(select(User.id, User.tokens_revoked_at)
                               .where(User.tokens_revoked_at > horizon)).all()
    db.session.rollback()
    pipe = r.pipeline(transaction=False)
    for sid, at in sessions:
        pipe.set(_session_key(sid), "1", px=_expiry_ms(as_utc(at).timestamp()))
    for user_id, at in users:
        _deny_user_in(pipe, user_id, round(as_utc(at).timestamp(), 3))
    pipe.set(READY, "1")
    pipe.execute()


def _deny_user_in(pipe, user_id: int, at_s: float) -> None:
    pipe.set(_user_key(user_id), repr(at_s), px=_expiry_ms(at_s))


def deny_session(sid: int) -> None:
    """Refuse every access token of session ``sid`` from now on (raises ``AuthUnavailable``)."""
    try:
        get_redis().set(_session_key(sid), "1", px=_expiry_ms(_now_s()))
    except redis.RedisError as exc:
        raise AuthUnavailable("Log-out could not reach the revocation list; try again.") from exc


def deny_user(user_id: int, at_s: float) -> None:
    """Refuse every access token of ``user_id`` issued at or before ``at_s`` (raises ``AuthUnavailable``)."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        _deny_user_in(pipe, user_id, at_s)
        pipe.execute()
    except redis.RedisError as exc:
        raise AuthUnavailable("The revocation list could not be reached; nothing was changed.") from exc
