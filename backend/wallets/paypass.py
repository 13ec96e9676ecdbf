"""The payment password (支付密码) and the password-free limit (免密), enforced here, not by the apps.

A consumer sets six digits when opening a wallet (or later, for wallets opened
before this existed) and chooses a password-free limit (default ¥1,000, like
the e-CNY app's 小额免密 default). Then:

- a scanned payment above the limit, every top-up, redemption and transfer
  must carry ``payment_password``; without it the API answers 403
  ``payment_password_required`` (with ``password_free_limit_fen``);
- a wrong password answers 403 ``payment_password_wrong`` with
  ``attempts_left``; after ``PAYMENT_PASSWORD_MAX_FAILURES`` wrong tries the
  password is locked for ``PAYMENT_PASSWORD_LOCK_SECONDS`` (429
  ``payment_password_locked`` with Retry-After), right password or not.

The password is stored as a KDF hash (``backend.auth.service.hash_password``,
scrypt like log-in passwords); wrong tries are counted in Redis per user, like
``confirm_password``, so they survive the refused request's rollback and are
shared by every worker. A wallet that has no payment password yet (opened
before it existed, or by seed/test data through the service) is not asked
for one; ``GET /wallets/me`` says ``payment_password_set: false`` and the app
asks the consumer to set one.

The check runs before the Idempotency-Key is recorded, so a refused password
leaves nothing half-written and the same key can be sent again with the right one.
"""

from __future__ import annotations

from flask import current_app
from werkzeug.security import check_password_hash

from backend.auth.models import User
from backend.errors import Forbidden, TooManyRequests, ValidationFailed
from backend.extensions import db, get_redis
from backend.wallets.models import Wallet

#: The password-free limits a consumer can choose (fen): always ask, ¥200, ¥500, ¥1,000 (default), ¥2,000.
FREE_LIMIT_CHOICES_FEN = (0, 20_000, 50_000, 100_000, 200_000)
DEFAULT_FREE_LIMIT_FEN = 100_000

# Every try is counted before the password is checked (atomically, so parallel guesses cannot all slip past);
# the Nth starts the lock, which lasts LOCK seconds from then; a right password takes the count back.
_COUNT_TRY = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or n == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def _max_failures() -> int:
    return int(current_app.config.get("PAYMENT_PASSWORD_MAX_FAILURES", 5))


def _lock_seconds() -> int:
    return int(current_app.config.get("PAYMENT_PASSWORD_LOCK_SECONDS", 3 * 3600))


def _key(user_id: int) -> str:
    return f"paypass-fail:{user_id}"


def check_format(password: str | None, field: str = "payment_password") -> str:
    """Return the password if it is six digits and not trivially guessable; raise ``ValidationFailed``."""
    pw = password or ""
    if len(pw) != 6 or not pw.isascii() or not pw.isdigit():
        raise ValidationFailed("The payment password is six digits.", field=field)
    steps = {int(b) - int(a) for a, b in zip(pw, pw[1:], strict=False)}
    if len(set(pw)) == 1 or steps in ({1}, {-1}):
        raise ValidationFailed("Choose a payment password that is not one repeated digit or a run like 123456.",
                               field=field)
    return pw


def _hash(password: str) -> str:
    from backend.auth.service import hash_password

    return hash_password(password)


def set_initial(wallet: Wallet, password: str) -> None:
    """Give a new wallet its payment password (not committed)."""
    wallet.pay_password_hash = _hash(check_format(password))


def verify(user_id: int, wallet: Wallet, password: str | None, *, field: str = "payment_password") -> None:
    """Check ``password`` against the wallet's; count wrong tries and lock after too many.

    Raises ``TooManyRequests`` (``payment_password_locked``), ``Forbidden``
    (``payment_password_required`` when none was sent, ``payment_password_wrong`` with ``attempts_left``).
    """
    redis = get_redis()
    key = _key(user_id)
    limit = _max_failures()

    def locked():
        retry = max(1, int(redis.ttl(key)))
        return TooManyRequests("Too many wrong payment passwords; the payment password is locked for a while.",
                               code="payment_password_locked", retry_after_seconds=retry,
                               headers={"Retry-After": str(retry)})

    if not password:
        if int(redis.get(key) or 0) >= limit:
            raise locked()
        raise Forbidden("Type the payment password.", code="payment_password_required", field=field,
                        password_free_limit_fen=wallet.password_free_limit_fen)
    tries = int(redis.eval(_COUNT_TRY, 1, key, _lock_seconds(), limit))
    if tries > limit:
        raise locked()
    if not check_password_hash(wallet.pay_password_hash, password):
        if tries == limit:
            raise locked()
        raise Forbidden("The payment password is not right.", code="payment_password_wrong", field=field,
                        attempts_left=limit - tries)
    redis.delete(key)


def needed(user: User, amount_fen: int) -> bool:
    """Return whether a payment of ``amount_fen`` needs the payment password."""
    from backend.wallets.service import wallet_of

    wallet = wallet_of(user)
    return wallet.pay_password_hash is not None and amount_fen > wallet.password_free_limit_fen


def require(user: User, amount_fen: int | None, password: str | None, *, always: bool) -> None:
    """Refuse a money move of ``amount_fen`` unless the payment password allows it.

    ``always``: top-ups, redemptions and transfers; otherwise (payments) only above the
    wallet's password-free limit. A wallet without a payment password is not asked.
    A request sent again under an Idempotency-Key already used needs no password: it is
    only replayed (or refused as a different request), so the apps' outbox, which keeps
    money requests on disk to resend them, never has to store the password.
    """
    from backend import idempotency
    from backend.wallets.service import wallet_of

    wallet = wallet_of(user)
    if wallet.pay_password_hash is None:
        return
    if not always and (amount_fen is None or amount_fen <= wallet.password_free_limit_fen):
        return  # a code that does not verify (amount None) is refused by the payment path itself
    if not password and idempotency.seen(user.id, idempotency.request_key()):
        return
    verify(user.id, wallet, password)


def change(user: User, new_password: str, current_password: str | None) -> Wallet:
    """Set the payment password (the current one is needed to change it); commit."""
    from backend.wallets.service import wallet_of

    wallet = wallet_of(user)
    new = check_format(new_password, field="new_password")
    if wallet.pay_password_hash is not None:
        verify(user.id, wallet, current_password, field="current_password")
    wallet.pay_password_hash = _hash(new)
    db.session.commit()
    return wallet


def set_free_limit(user: User, limit_fen: int, password: str | None) -> Wallet:
    """Choose the password-free limit (one of ``FREE_LIMIT_CHOICES_FEN``); needs the payment password; commit."""
    from backend.wallets.service import wallet_of

    wallet = wallet_of(user)
    if limit_fen not in FREE_LIMIT_CHOICES_FEN:
        raise ValidationFailed("Choose one of the offered password-free limits.", field="limit_fen",
                               choices_fen=list(FREE_LIMIT_CHOICES_FEN))
    if wallet.pay_password_hash is None:
        raise ValidationFailed("Set a payment password first.", code="payment_password_not_set",
                               field="payment_password")
    verify(user.id, wallet, password)
    wallet.password_free_limit_fen = limit_fen
    db.session.commit()
    return wallet
