"""The money gate: what every money-moving use case asks before it moves money, without importing plug-ins.

A use case describes the movement it is about to make (a :class:`MoneyMove`:
who pays, who is paid, by which device, what was scanned) and calls
:func:`check` inside its transaction, before the ledger is touched. Each
registered check may refuse by raising a ``DomainError`` (a frozen wallet, the
platform switched to read-only, a payee confirmed as fraudulent); the use case
then writes nothing. With no check registered the gate costs nothing.

The protection plug-in registers its checks in ``create_app``; prepaid
releases, payouts and any later money-moving plug-in call :func:`check` too.

The same module carries the audit hook: staff actions on money (and any
look at a payer's identity) are reported with :func:`audit`, which hands them
to the registered auditor inside the caller's transaction, so the action and
its audit record commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

CHECKS_KEY = "suiyuan.money_gate"
SQL_FORMS_KEY = "suiyuan.money_gate.sql"
CONFIRMATIONS_KEY = "suiyuan.money_gate.confirmations"
AUDITOR_KEY = "suiyuan.auditor"


class MoveKind:
    """What kind of money movement is asked for (stable strings; plug-ins add theirs)."""

    PAYMENT = "payment"  # a consumer pays a scanned merchant code
    CHARGE = "charge"  # a merchant charges a consumer's pay code
    TRANSFER = "transfer"  # wallet to wallet
    TOPUP = "topup"
    REDEEM = "redeem"
    REFUND = "refund"  # a merchant refunds a payer
    CLAIM = "claim"  # a consumer claims a red packet or coupon
    ESCROW = "escrow"  # a funder's wallet pays a campaign budget
    PAYOUT = "payout"  # an organisation's salary, subsidy or public-fund money (top-ups, batches, transfers)
    PREPAID_PURCHASE = "prepaid_purchase"  # a consumer buys a prepaid plan (into the contract's escrow)
    PREPAID_RELEASE = "prepaid_release"  # a contract's escrow pays its merchant for a use


@dataclass(frozen=True)
class MoneyMove:
    """One movement about to happen. Parties are named by what the core knows at that moment:
    consumer wallets by their owner's user id (one wallet per user), merchants by id, pay-code devices by id.

    ``payload`` is the text a consumer scanned and ``payee_phone`` the number a transfer is sent to,
    so checks can match them against registries.
    """

    kind: str
    amount_fen: int | None = None
    actor_user_id: int | None = None
    from_user_id: int | None = None
    to_user_id: int | None = None
    from_merchant_id: int | None = None
    to_merchant_id: int | None = None
    device_id: int | None = None
    payload: str | None = None
    payee_phone: str | None = None

    @property
    def user_ids(self) -> tuple[int, ...]:
        """The consumer wallets (by owner) on either side."""
        return tuple(u for u in (self.from_user_id, self.to_user_id) if u is not None)

    @property
    def merchant_ids(self) -> tuple[int, ...]:
        """The merchants on either side."""
        return tuple(m for m in (self.from_merchant_id, self.to_merchant_id) if m is not None)


Check = Callable[[MoneyMove], None]


#: A check's SQL form: a SELECT (``:name`` parameters) that returns a row whenever the check could refuse
#: the movement, and the function giving its parameters for a movement.
SqlForm = tuple[str, Callable[[MoneyMove], dict]]


def register(app, check_func: Check, *, sql: SqlForm | None = None) -> None:
    """Have every money movement on ``app`` pass ``check_func`` (which raises a ``DomainError`` to refuse).
    Registering the same function again is a no-op.

    ``sql``: the check's SQL form, so a fast path can ask it inside its own statement (PostgreSQL's
    ``pay_dynamic_order``) and hand any movement it matches to the general path, which calls ``check_func``.
    It must be the check's own statement (one definition of the rule), not a copy."""
    checks = app.extensions.setdefault(CHECKS_KEY, [])
    if check_func not in checks:
        checks.append(check_func)
    if sql is not None:
        app.extensions.setdefault(SQL_FORMS_KEY, {})[check_func] = sql


def sql_forms() -> list[SqlForm] | None:
    """Return the SQL forms of every registered check, or ``None`` if some check has none (then a fast path
    must call :func:`check` itself)."""
    forms = current_app.extensions.get(SQL_FORMS_KEY, {})
    checks = current_app.extensions.get(CHECKS_KEY, ())
    if any(c not in forms for c in checks):
        return None
    return [forms[c] for c in checks]


def check(move: MoneyMove) -> None:
    """Run every registered check on ``move`` in the caller's transaction; return nothing.

    Raises whatever ``DomainError`` the first refusing check raises.
    """
    for check_func in current_app.extensions.get(CHECKS_KEY, ()):
        check_func(move)


def register_confirmation(app, check_func: Check) -> None:
    """Have ``check_func`` asked by :func:`confirm`: after the movement was posted (so the ledger's own
    refusals — funds, limits — come first), still inside its transaction, which a refusal rolls back.
    For warnings a consumer may confirm (risk prompts) rather than hard refusals."""
    checks = app.extensions.setdefault(CONFIRMATIONS_KEY, [])
    if check_func not in checks:
        checks.append(check_func)


def confirm(move: MoneyMove) -> None:
    """Run every registered confirmation check on a movement just posted (uncommitted); return nothing.

    Raises the first refusal; the caller's transaction must then be rolled back (``idempotency.run`` does).
    """
    for check_func in current_app.extensions.get(CONFIRMATIONS_KEY, ()):
        check_func(move)


# ---------------------------------------------------------------- holds (a cooling period)

HOLDS_KEY = "suiyuan.money_gate.holds"


@dataclass(frozen=True)
class Hold:
    """A plug-in's way to hold a movement for a while instead of moving the money now.

    ``wants(move)`` is cheap (no database): might this movement be held? Only then does the use case post
    it in a savepoint and ask ``decide(move)`` (the movement posted, uncommitted: the ledger's own refusals
    and the confirmation checks came first). If it says yes, the savepoint is rolled back (no money moved)
    and ``place(move, memo)`` records the held movement in the caller's transaction and returns the body
    the client gets (with status 202). The plug-in completes it later through the same use case.
    """

    wants: Callable[[MoneyMove], bool]
    decide: Callable[[MoneyMove], bool]
    place: Callable[[MoneyMove, str | None], dict]


def register_hold(app, hold: Hold) -> None:
    """Have movements on ``app`` offered to ``hold`` (see :class:`Hold`); registering it again is a no-op."""
    holds = app.extensions.setdefault(HOLDS_KEY, [])
    if hold not in holds:
        holds.append(hold)


def post_or_hold(move: MoneyMove, post: Callable[[], object], memo: str | None = None) -> tuple[object, dict | None]:
    """Run ``post()`` (the ledger posting and its confirmation checks) unless a registered hold takes the
    movement; return ``(posted, None)`` or ``(None, held body)``. Refusals of ``post`` propagate."""
    from backend.extensions import db

    holds = [h for h in current_app.extensions.get(HOLDS_KEY, ()) if h.wants(move)]
    if not holds:
        return post(), None
    savepoint = db.session.begin_nested()
    try:
        posted = post()
        taker = next((h for h in holds if h.decide(move)), None)
    except BaseException:
        savepoint.rollback()
        raise
    if taker is None:
        savepoint.commit()
        return posted, None
    savepoint.rollback()  # nothing moves now
    return None, taker.place(move, memo)


def active() -> bool:
    """Return whether any check is registered (a fast path may skip the gate only when none is)."""
    return bool(current_app.extensions.get(CHECKS_KEY))


# ---------------------------------------------------------------- audit

Auditor = Callable[..., None]


def register_auditor(app, auditor: Auditor) -> None:
    """Make ``auditor(action=, actor_user_id=, target_kind=, target_id=, reason=, detail=)`` the app's audit log."""
    app.extensions[AUDITOR_KEY] = auditor


def audit(action: str, *, actor_user_id: int | None, target_kind: str | None = None,
          target_id: int | str | None = None, reason: str | None = None, detail: dict | None = None) -> None:
    """Record a staff action in the audit log, in the caller's transaction (no commit); return nothing.

    Without a registered auditor nothing is recorded.
    """
    auditor = current_app.extensions.get(AUDITOR_KEY)
    if auditor is not None:
        auditor(action=action, actor_user_id=actor_user_id, target_kind=target_kind,
                target_id=None if target_id is None else str(target_id), reason=reason, detail=detail or {})
