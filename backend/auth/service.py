"""Registration, log-in, sessions and tokens, staff revocation, and the per-endpoint role declaration.

Tokens: a log-in opens a session (a refresh token in the database) and hands out a short-lived signed
access token; requests are authenticated from the access token and the Redis deny-list alone
(:mod:`backend.auth.tokens`), with no database round trip.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from backend.auth import throttle, tokens
from backend.auth.models import AuthToken, Role, User
from backend.auth.tokens import Claims
from backend.clock import as_utc, utcnow
from backend.errors import Conflict, Forbidden, TooManyRequests, Unauthorized, ValidationFailed
from backend.extensions import db, get_redis

PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")  # ASCII digits only: what the OpenAPI pattern says
# A fixed hash to compare against when the phone is unknown, so that log-in
# takes the same time whether or not the account exists.
_DUMMY_HASH: dict[str, str] = {}


def normalize_phone(phone: str, field: str = "phone") -> str:
    """Return a mainland mobile number as 11 digits; raise ``ValidationFailed`` naming ``field``."""
    digits = re.sub(r"[\s-]", "", phone or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not PHONE_RE.match(digits):
        raise ValidationFailed("Not a mainland China mobile number (11 digits, starting 13–19).", field=field)
    return digits


def check_password_strength(password: str) -> None:
    """Raise ``ValidationFailed`` unless the password is 8–128 chars with a letter and a digit."""
    if not (8 <= len(password) <= 128) or not re.search(r"[0-9]", password) or not re.search(r"[A-Za-z]", password):
        raise ValidationFailed("The password needs 8–128 characters with at least one letter and one digit.",
                               field="password")


def hash_password(password: str) -> str:
    """Return the KDF hash (scrypt) of ``password``."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def create_user(phone: str, password: str, role: str, *, display_name: str = "", bank_id: int | None = None) -> User:
    """Add a user to the session (not committed); return it.

    Raises ``ValidationFailed`` for a bad phone, password or role and
    ``Conflict`` (``phone_taken``) when the phone is already registered.
    """
    if role not in Role.ALL:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    phone = normalize_phone(phone)
    check_password_strength(password)
    user = User(phone=phone, password_hash=hash_password(password), role=role,
                display_name=display_name, bank_id=bank_id, created_at=utcnow())
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This phone number is already registered.", code="phone_taken", field="phone") from None
    return user


def register(phone: str, password: str, role: str, display_name: str = "") -> tuple[User, Session]:
    """Register a consumer or merchant owner; return the user and a new session.

    Attempts are limited per address (``registration_limited``), since each
    one also tells whether a number is registered.
    """
    if role not in Role.SELF_SERVICE:
        raise ValidationFailed("Only consumers and merchant owners can register themselves.", field="role")
    throttle.enter_registration()
    user = create_user(phone, password, role, display_name=display_name)
    session = open_session(user)
    db.session.commit()
    return user, session


def login(phone: str, password: str) -> tuple[User, Session]:
    """Check the password and return the user with a new session (refresh and access token).

    Attempts pass the gates of :mod:`backend.auth.throttle` first: a device
    that logged in to this account before is limited only by its own
    failures; other clients are slowed, then refused, per phone, address and
    device (counted in Redis, shared by all workers). Wrong passwords and
    throttled attempts from unknown clients are noted for the owner
    (:func:`throttle.alerts`). Raises ``Unauthorized`` (``bad_credentials``) or
    ``TooManyRequests`` (``login_slowed``, ``login_refused``).
    """
    phone = normalize_phone(phone)
    cfg = current_app.config
    user = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
    user_id = user.id if user else None
    known = throttle.known_device(user_id)
    gates, own = throttle.gates(phone, user_id, known)
    # Counted before the password is checked, atomically, so parallel guesses cannot all slip past.
    try:
        throttle.enter(gates)
    except TooManyRequests:
        if user_id is not None and known is None:
            throttle.note_unknown_attempt(user_id, "blocked")
        raise
    method = cfg["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = generate_password_hash("not-a-password-0", method=method)
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH[method], password)
    if not ok or user is None or not user.is_active:
        if user_id is not None and known is None:
            throttle.note_unknown_attempt(user_id, "failed")
        raise Unauthorized("Wrong phone number or password.", code="bad_credentials")
    throttle.release(gates, own)
    session = open_session(user)
    db.session.commit()
    return user, session


# One counter per user for passwords typed again to approve something (not log-ins: backend/auth/throttle.py).
_COUNT_ATTEMPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def confirm_password(user: User, password: str, *, field: str = "password") -> None:
    """Check ``user``'s password typed again to approve something (not a log-in); return nothing.

    Failures count towards a lock-out per user like log-ins do, so a cashier
    cannot guess the owner's password by trying. Raises ``Forbidden``
    (``password_wrong``, naming ``field``) or ``TooManyRequests`` (``password_locked``).
    """
    redis = get_redis()
    key = f"confirm-fail:{user.id}"
    cfg = current_app.config
    attempts = int(redis.eval(_COUNT_ATTEMPT, 1, key, cfg["LOGIN_LOCKOUT_SECONDS"]))
    if attempts > cfg["LOGIN_MAX_FAILURES"]:
        retry = max(1, redis.ttl(key))
        raise TooManyRequests("Too many wrong passwords; try again later.", code="password_locked",
                              retry_after_seconds=retry, headers={"Retry-After": str(retry)})
    if not password or not check_password_hash(user.password_hash, password):
        raise Forbidden("The password is not right.", code="password_wrong", field=field)
    redis.delete(key)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """What a log-in hands out: the access token (short-lived), the refresh token that buys new ones."""

    access_token: str
    expires_in: int
    refresh_token: str


def open_session(user: User) -> Session:
    """Open a session of ``user``: a refresh token row (added to the db session, caller commits) and the
    first access token."""
    refresh = "sy_" + secrets.token_urlsafe(32)
    now = utcnow()
    row = AuthToken(user_id=user.id, token_hash=_hash_token(refresh), created_at=now,
                    expires_at=now + current_app.config["TOKEN_TTL"])
    db.session.add(row)
    db.session.flush()
    access, seconds = tokens.issue(user, row.id)
    return Session(access, seconds, refresh)


def issue_token(user: User) -> str:
    """Open a session of ``user`` (caller commits); return its access token (tests and benchmarks)."""
    return open_session(user).access_token


_REFRESH_LOOKUP = (select(User, AuthToken.id, AuthToken.expires_at, AuthToken.revoked_at)
                   .join(AuthToken, AuthToken.user_id == User.id)
                   .where(AuthToken.token_hash == bindparam("token_hash")))


def refresh(refresh_token: str) -> tuple[str, int]:
    """Return a new access token (and its lifetime in seconds) for a live session's refresh token.

    Raises ``Unauthorized``: ``invalid_token``, ``token_revoked`` (logged out, or the user's tokens were
    revoked), ``token_expired`` or ``account_disabled`` — each means: log in again.
    """
    row = db.session.execute(_REFRESH_LOOKUP, {"token_hash": _hash_token(refresh_token or "")}).one_or_none()
    if row is None:
        raise Unauthorized("The refresh token is not valid.", code="invalid_token")
    user, sid, expires_at, revoked_at = row
    if revoked_at is not None:
        raise Unauthorized("The session was ended; log in again.", code="token_revoked")
    if as_utc(expires_at) <= utcnow():
        raise Unauthorized("The session has expired; log in again.", code="token_expired")
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    access, seconds = tokens.issue(user, sid)
    db.session.rollback()
    return access, seconds


def end_session(sid: int) -> None:
    """Log out: revoke session ``sid`` (its refresh token) in the database and deny its access tokens on
    every worker at once; commit. Raises ``AuthUnavailable`` (nothing changed) when Redis can't be told."""
    db.session.execute(update(AuthToken.__table__).where(AuthToken.id == sid, AuthToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    try:
        tokens.deny_session(sid)  # before the commit: a refusal must not leave the session half-ended
    except tokens.AuthUnavailable:
        db.session.rollback()
        raise
    db.session.commit()
    tokens.deny_session(sid)  # again after it, in case Redis lost its data in between (see tokens.rebuild)


def revoke_user(user: User) -> None:
    """Staff revocation: end every session of ``user`` and refuse every access token issued so far, on every
    worker at once (the caller has changed the user — disabled, new password, new role — and this commits).
    Raises ``AuthUnavailable`` (rolled back, nothing changed) when Redis can't be told."""
    now = utcnow()
    at_s = round(now.timestamp(), 3)
    user.tokens_revoked_at = now
    db.session.execute(update(AuthToken.__table__)
                       .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None)).values(revoked_at=now))
    try:
        tokens.deny_user(user.id, at_s)
    except tokens.AuthUnavailable:
        db.session.rollback()
        raise
    db.session.commit()
    try:
        tokens.deny_user(user.id, at_s)
    except tokens.AuthUnavailable:
        pass  # written before the commit already; this second write only covers a Redis restart in between


def disable_user(user: User) -> None:
    """Disable ``user``'s account: no log-in, no refresh, and every token refused at once; commits."""
    user.is_active = False
    revoke_user(user)


def change_role(user: User, role: str, *, bank_id: int | None = None) -> None:
    """Give ``user`` another role (a staff change); tokens carrying the old role are refused at once; commits."""
    if role not in Role.ALL:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    user.role, user.bank_id = role, bank_id
    revoke_user(user)


def set_password(user: User, password: str) -> None:
    """Set ``user``'s password; every session and token of the old one ends at once; commits."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    revoke_user(user)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Principal:
    """The signed-in user of a request, as its access token says: ``id``, ``role``, ``bank_id`` and the
    session ``sid`` without the database. Any other attribute (``phone``, ``display_name``, …) loads the
    ``User`` row on first use, once per request."""

    __slots__ = ("id", "role", "bank_id", "sid", "claims", "_user")

    def __init__(self, claims: Claims):
        self.id = claims.user_id
        self.role = claims.role
        self.bank_id = claims.bank_id
        self.sid = claims.sid
        self.claims = claims
        self._user = None

    @property
    def user(self) -> User:
        """The ``User`` row (loaded on first use)."""
        if self._user is None:
            user = db.session.get(User, self.id)
            if user is None:
                raise Unauthorized("The token is not valid.", code="invalid_token")
            self._user = user
        return self._user

    def __getattr__(self, name: str):
        return getattr(self.user, name)

    def __setattr__(self, name: str, value) -> None:
        if name in Principal.__slots__:
            object.__setattr__(self, name, value)
        else:
            setattr(self.user, name, value)

    def __eq__(self, other) -> bool:
        return getattr(other, "id", None) == self.id and isinstance(other, Principal | User)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Principal user {self.id} {self.role}>"


def authenticate() -> Principal:
    """Return the signed-in user of the request's bearer token, from the token's signature and the Redis
    deny-list (no database); raise ``Unauthorized`` or ``AuthUnavailable`` (503, Redis down)."""
    token = bearer_token()
    if not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.", code="missing_token")
    claims = tokens.verify(token)
    tokens.check_not_revoked(claims)
    return Principal(claims)


def current_user() -> Principal:
    """Return the authenticated user of this request (set by ``requires``)."""
    return g.user


def requires(*roles: str) -> Callable:
    """Declare who may call an endpoint: the listed roles, or any signed-in user.

    The declaration also goes into the OpenAPI document (security and the
    ``x-roles`` extension), so every endpoint says who may call it.
    """
    for r in roles:
        if r not in Role.ALL:
            raise ValueError(f"unknown role {r!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = authenticate()
            if roles and user.role not in roles:
                raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.", code="role_forbidden")
            g.user = user
            return view(*args, **kwargs)

        docs = getattr(wrapper, "_apidoc", {})
        manual = docs.setdefault("manual_doc", {})
        manual["security"] = [{"bearerAuth": []}]
        manual["x-roles"] = list(roles) or ["any signed-in user"]
        wrapper._apidoc = docs
        return wrapper

    return decorator


def public(view: Callable) -> Callable:
    """Declare an endpoint callable without signing in."""
    docs = getattr(view, "_apidoc", {})
    docs.setdefault("manual_doc", {}).update({"security": [], "x-roles": ["public"]})
    view._apidoc = docs
    return view

