"""Registration, log-in, tokens, and the per-endpoint role declaration."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Callable

from flask import current_app, g, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from backend.auth import throttle
from backend.auth.models import AuthToken, Role, User
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


def register(phone: str, password: str, role: str, display_name: str = "") -> tuple[User, str]:
    """Register a consumer or merchant owner; return the user and a fresh token.

    Attempts are limited per address (``registration_limited``), since each
    one also tells whether a number is registered.
    """
    if role not in Role.SELF_SERVICE:
        raise ValidationFailed("Only consumers and merchant owners can register themselves.", field="role")
    throttle.enter_registration()
    user = create_user(phone, password, role, display_name=display_name)
    token = issue_token(user)
    db.session.commit()
    return user, token


def login(phone: str, password: str) -> tuple[User, str]:
    """Check the password and return the user with a fresh token.

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
    token = issue_token(user)
    db.session.commit()
    return user, token


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


def issue_token(user: User) -> str:
    """Create a bearer token for ``user`` (added to the session); return it."""
    token = "sy_" + secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(AuthToken(user_id=user.id, token_hash=_hash_token(token), created_at=now,
                             expires_at=now + current_app.config["TOKEN_TTL"]))
    return token


def revoke_token(token: str) -> None:
    """Revoke one bearer token and commit."""
    db.session.execute(
        update(AuthToken.__table__).where(AuthToken.token_hash == _hash_token(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Built once: every authenticated request runs it.
_TOKEN_LOOKUP = (select(User, AuthToken.expires_at, AuthToken.revoked_at)
                 .join(AuthToken, AuthToken.user_id == User.id)
                 .where(AuthToken.token_hash == bindparam("token_hash")))


def authenticate() -> User:
    """Return the user of the request's bearer token; raise ``Unauthorized``."""
    token = bearer_token()
    if not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.", code="missing_token")
    row = db.session.execute(_TOKEN_LOOKUP, {"token_hash": _hash_token(token)}).one_or_none()
    if row is None:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    user, expires_at, revoked_at = row
    if revoked_at is not None:
        raise Unauthorized("The token was revoked; log in again.", code="token_revoked")
    if as_utc(expires_at) <= utcnow():
        raise Unauthorized("The token has expired; log in again.", code="token_expired")
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    return user


def current_user() -> User:
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

