"""The only writer of money.

All functions run inside the caller's database transaction (``db.session``)
and never commit: the use case that calls them commits once, so a payment and
everything that goes with it (idempotency record, order state) land together
or not at all.

Each balance change is checked by the database against the row as it is at
that instant, so concurrent requests cannot overdraw or overspend (no
read-modify-write in Python): on SQLite a conditional ``UPDATE … RETURNING``,
on PostgreSQL one call of the function ``ledger_transfer``, which judges both
rows under their row locks before writing. When a use case touches several
accounts they are locked in ascending id order so two transfers in opposite
directions cannot deadlock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)

from backend.clock import local_today, utcnow
from backend.config import TierLimits
from backend.errors import Conflict, DomainError, NotFound, Unprocessable
from backend.extensions import db
from backend.ledger.models import Account, AccountKind, Transfer
from backend.sql import fen_sum
from suiyuan_protocol.money import format_fen

A = Account.__table__
T = Transfer.__table__


class InsufficientFunds(Unprocessable):
    code = "insufficient_funds"
    title = "Insufficient funds"


class LimitExceeded(Unprocessable):
    code = "limit_exceeded"
    title = "Wallet limit exceeded"


class TransferCode:
    """Why money moved. Stored on every transfer."""

    TOPUP = "topup"
    REDEEM = "redeem"
    TRANSFER = "transfer"
    PAYMENT = "payment"
    REFUND = "refund"
    REVERSAL = "reversal"
    RED_PACKET_CLAIM = "red_packet_claim"
    RED_PACKET_SPEND = "red_packet_spend"
    COUPON_SUBSIDY = "coupon_subsidy"
    RECLAIM = "reclaim"
    ESCROW = "escrow"
    RETURN = "budget_return"

    #: Codes of the legs that pay a merchant for an order.
    PAYMENT_LEGS = frozenset({PAYMENT, RED_PACKET_SPEND, COUPON_SUBSIDY})

    #: Codes that count against a wallet's one-payment, daily and yearly caps.
    LIMITED = frozenset({TRANSFER, PAYMENT})


@dataclass(frozen=True)
class Posted:
    """A transfer as written."""

    id: int
    code: str
    debit_account_id: int
    credit_account_id: int
    amount_fen: int
    batch_id: str | None
    created_at: datetime
    debit_balance_fen: int
    credit_balance_fen: int


def open_account(kind: str, *, limits: TierLimits | None = None) -> int:
    """Create an account of ``kind`` with zero balance; return its id."""
    if kind not in AccountKind.ALL:
        raise ValueError(f"unknown account kind {kind!r}")
    values = {"kind": kind, "allow_negative": kind == AccountKind.ISSUANCE, "balance_fen": 0}
    if limits:
        values.update(_limit_values(limits))
    return db.session.execute(insert(A).values(**values).returning(A.c.id)).scalar_one()


def _limit_values(limits: TierLimits) -> dict:
    return {
        "balance_cap_fen": limits.balance_cap_fen,
        "single_cap_fen": limits.single_cap_fen,
        "day_cap_fen": limits.day_cap_fen,
        "year_cap_fen": limits.year_cap_fen,
    }


def set_limits(account_id: int, limits: TierLimits) -> None:
    """Apply new tier limits to an account (wallet upgrade).

    Raises ``LimitExceeded`` if the current balance is above the new cap
    (a downgrade must first move money out).
    """
    cap = limits.balance_cap_fen
    stmt = update(A).where(A.c.id == account_id).values(**_limit_values(limits))
    if cap is not None:
        stmt = stmt.where(A.c.balance_fen <= cap)
    if db.session.execute(stmt).rowcount != 1:
        _get(account_id)
        raise LimitExceeded("The balance is above the new tier's balance cap.", limit="balance")


def _get(account_id: int):
    row = db.session.execute(select(A).where(A.c.id == account_id)).one_or_none()
    if row is None:
        raise NotFound(f"Account {account_id} does not exist.", code="account_not_found")
    return row


def _debit_stmt(account_id: int, amount: int, limited: bool, today: date):
    cond = [A.c.id == account_id, or_(A.c.allow_negative, A.c.balance_fen >= amount)]
    values = {"balance_fen": A.c.balance_fen - amount}
    if limited:
        day_base = case((A.c.spend_day == today, A.c.day_spent_fen), else_=literal(0))
        year_base = case((A.c.spend_year == today.year, A.c.year_spent_fen), else_=literal(0))
        cond += [
            or_(A.c.single_cap_fen.is_(None), A.c.single_cap_fen >= amount),
            or_(A.c.day_cap_fen.is_(None), day_base + amount <= A.c.day_cap_fen),
            or_(A.c.year_cap_fen.is_(None), year_base + amount <= A.c.year_cap_fen),
        ]
        values.update(
            day_spent_fen=day_base + amount,
            spend_day=today,
            year_spent_fen=year_base + amount,
            spend_year=today.year,
        )
    return update(A).where(and_(*cond)).values(**values).returning(A.c.balance_fen)


def _credit_stmt(account_id: int, amount: int):
    cond = [
        A.c.id == account_id,
        or_(A.c.balance_cap_fen.is_(None), A.c.balance_fen + amount <= A.c.balance_cap_fen),
    ]
    return update(A).where(and_(*cond)).values(balance_fen=A.c.balance_fen + amount).returning(A.c.balance_fen)


def debit_refusal(row, amount: int, today: date, limited: bool) -> DomainError | None:
    """Return why debiting ``amount`` from the account ``row`` would be refused, or ``None``.

    The Python statement of the rule that ``_debit_stmt`` (SQLite) and the PostgreSQL function
    ``ledger_transfer`` (migration h_sqlpay_0001) write in SQL; tests/ledger/test_caps_agree.py
    checks the three agree over generated accounts on both engines.
    """
    if not row.allow_negative and row.balance_fen < amount:
        return InsufficientFunds(f"The balance is {format_fen(row.balance_fen)}; {format_fen(amount)} is needed.",
                                 balance_fen=row.balance_fen)
    if not limited:
        return None
    if row.single_cap_fen is not None and amount > row.single_cap_fen:
        return LimitExceeded("The amount is above this wallet's one-payment limit.", limit="single",
                             limit_fen=row.single_cap_fen)
    spent_day = row.day_spent_fen if row.spend_day == today else 0
    if row.day_cap_fen is not None and spent_day + amount > row.day_cap_fen:
        return LimitExceeded("The payment would pass this wallet's daily limit.", limit="day",
                             limit_fen=row.day_cap_fen, remaining_fen=max(0, row.day_cap_fen - spent_day))
    spent_year = row.year_spent_fen if row.spend_year == today.year else 0
    if row.year_cap_fen is not None and spent_year + amount > row.year_cap_fen:
        return LimitExceeded("The payment would pass this wallet's yearly limit.", limit="year",
                             limit_fen=row.year_cap_fen, remaining_fen=max(0, row.year_cap_fen - spent_year))
    return None


def credit_refusal(row, amount: int) -> DomainError | None:
    """Return why crediting ``amount`` to the account ``row`` would be refused, or ``None`` (see above)."""
    if row.balance_cap_fen is not None and row.balance_fen + amount > row.balance_cap_fen:
        return LimitExceeded("The receiving wallet would pass its balance limit.", limit="balance",
                             limit_fen=row.balance_cap_fen, code="payee_limit_exceeded")
    return None


def _explain_debit_failure(account_id: int, amount: int, today: date, limited: bool) -> None:
    refusal = debit_refusal(_get(account_id), amount, today, limited)
    if refusal is not None:
        raise refusal
    # Nothing explains the refusal now: the row changed under a racing transaction. Safe to retry.
    raise Conflict("The account changed while this was being processed; try again.", code="concurrent_update")


def transfer(
    debit_account_id: int,
    credit_account_id: int,
    amount_fen: int,
    code: str,
    *,
    batch_id: str | None = None,
    memo: str | None = None,
    actor_user_id: int | None = None,
    reverses_id: int | None = None,
    limited: bool | None = None,
) -> Posted:
    """Move ``amount_fen`` from the debit account to the credit account.

    Wallet caps (one payment, day, year) are enforced on the debit side when
    ``limited`` (default: the code is in ``TransferCode.LIMITED``); the balance
    cap always on the credit side.

    Returns the ``Posted`` transfer. Raises ``InsufficientFunds``,
    ``LimitExceeded`` (with ``limit`` = single/day/year/balance) or
    ``NotFound``; the caller must then roll back its transaction.
    """
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValueError("amount_fen must be a positive int")
    if debit_account_id == credit_account_id:
        raise Unprocessable("Cannot transfer to the same account.", code="same_account")
    if limited is None:
        limited = code in TransferCode.LIMITED
    today = local_today()
    now = utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        return _transfer_pg(debit_account_id, credit_account_id, amount_fen, code, limited, today, now,
                            batch_id=batch_id, memo=memo, actor_user_id=actor_user_id, reverses_id=reverses_id)
    balances: dict[int, int] = {}
    for account_id in sorted((debit_account_id, credit_account_id)):
        if account_id == debit_account_id:
            new = db.session.execute(_debit_stmt(account_id, amount_fen, limited, today)).scalar_one_or_none()
            if new is None:
                _explain_debit_failure(account_id, amount_fen, today, limited)
        else:
            new = db.session.execute(_credit_stmt(account_id, amount_fen)).scalar_one_or_none()
            if new is None:
                _refuse_credit(account_id, amount_fen)
        balances[account_id] = new
    transfer_id = db.session.execute(
        insert(T)
        .values(
            code=code,
            debit_account_id=debit_account_id,
            credit_account_id=credit_account_id,
            amount_fen=amount_fen,
            batch_id=batch_id,
            memo=memo,
            actor_user_id=actor_user_id,
            reverses_id=reverses_id,
            reversed_fen=0,
            created_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    return Posted(
        transfer_id, code, debit_account_id, credit_account_id, amount_fen, batch_id, now,
        balances[debit_account_id], balances[credit_account_id],
    )


def _refuse_credit(account_id: int, amount: int) -> None:
    refusal = credit_refusal(_get(account_id), amount)
    if refusal is not None:
        raise refusal
    raise Conflict("The account changed while this was being processed; try again.", code="concurrent_update")


# One round trip per transfer on PostgreSQL: the function ``ledger_transfer`` (created by migration
# h_sqlpay_0001, where its SQL lives) locks both rows in ascending id order, so opposite transfers cannot
# deadlock, judges them as locked and writes both balances and the transfer row, or writes nothing and
# returns NULLs. It writes in PL/pgSQL the rules _debit_stmt/_credit_stmt write with SQLAlchemy (SQLite) and
# debit_refusal/credit_refusal in Python; tests/ledger/test_caps_agree.py holds the three together, and
# backend/payments/express.py's ``pay_dynamic_order`` calls the same function.
PG_TRANSFER = text(
    "SELECT transfer_id, debit_balance, credit_balance FROM ledger_transfer(:debit, :credit, :amount, :code, "
    ":limited, :today, :now, :batch_id, :memo, :actor_user_id, :reverses_id)"
).bindparams(
    bindparam("debit", type_=BigInteger), bindparam("credit", type_=BigInteger),
    bindparam("amount", type_=BigInteger), bindparam("limited", type_=Boolean),
    bindparam("today", type_=Date), bindparam("code", type_=String), bindparam("batch_id", type_=String),
    bindparam("memo", type_=String), bindparam("actor_user_id", type_=Integer),
    bindparam("reverses_id", type_=BigInteger), bindparam("now", type_=DateTime(timezone=True)),
)


def _transfer_pg(debit: int, credit: int, amount: int, code: str, limited: bool, today: date, now: datetime,
                 **extra) -> Posted:
    row = db.session.execute(PG_TRANSFER, {
        "debit": debit, "credit": credit, "amount": amount, "limited": limited, "today": today, "code": code,
        "now": now, **extra,
    }).one()
    if row.transfer_id is not None:
        return Posted(row.transfer_id, code, debit, credit, amount, extra["batch_id"], now,
                      row.debit_balance, row.credit_balance)
    # Refused with nothing written; both rows stay locked by this transaction, so they read as judged.
    refusal = debit_refusal(_get(debit), amount, today, limited) or credit_refusal(_get(credit), amount)
    if refusal is not None:
        raise refusal
    raise Conflict("The account changed while this was being processed; try again.", code="concurrent_update")


def lock_accounts(account_ids) -> None:
    """Lock accounts in ascending id order, for a use case that posts several transfers.

    Each transfer locks its own two rows in order, but a payment in several
    legs (or a refund walking them back) touches more rows across
    statements; locking them all up front keeps the order global and so
    deadlock-free. A no-op on SQLite, which serialises writers.
    """
    ids = sorted(set(account_ids))
    if len(ids) > 2 and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(A.c.id).where(A.c.id.in_(ids)).order_by(A.c.id).with_for_update()).all()


def reverse(transfer_id: int, amount_fen: int | None = None, *, code: str = TransferCode.REVERSAL,
            actor_user_id: int | None = None, batch_id: str | None = None) -> Posted:
    """Post a transfer returning ``amount_fen`` (default: all that is left) of ``transfer_id``.

    Mistakes and refunds are fixed by reversing transfers, never by edits.
    Concurrent reversals can never return more than the original amount: the
    remaining amount is claimed with one conditional ``UPDATE``.

    Raises ``NotFound``, ``Conflict`` (code ``over_reversal``) or the errors of
    ``transfer`` (the payee may have spent the money already).
    """
    row = db.session.execute(select(T).where(T.c.id == transfer_id)).one_or_none()
    if row is None:
        raise NotFound(f"Transfer {transfer_id} does not exist.", code="transfer_not_found")
    amount = row.amount_fen - row.reversed_fen if amount_fen is None else amount_fen
    if amount <= 0:
        raise Conflict("This transfer is already fully reversed.", code="over_reversal")
    claimed = db.session.execute(
        update(T)
        .where(T.c.id == transfer_id, T.c.reversed_fen + amount <= T.c.amount_fen)
        .values(reversed_fen=T.c.reversed_fen + amount)
    ).rowcount
    if claimed != 1:
        raise Conflict("The reversal would return more than was transferred.", code="over_reversal")
    return transfer(
        row.credit_account_id, row.debit_account_id, amount, code,
        reverses_id=transfer_id, actor_user_id=actor_user_id, batch_id=batch_id, limited=False,
    )


def new_batch_id() -> str:
    """Return an id linking the transfers of one use case."""
    return str(uuid.uuid4())


def balance(account_id: int) -> int:
    """Return the balance of an account in fen."""
    return _get(account_id).balance_fen


def history(account_id: int, *, before_id: int | None = None, limit: int = 20,
            created_from=None, created_before=None) -> list:
    """Return transfers touching ``account_id``, newest first, keyset-paged by id; optionally only those
    created in [``created_from``, ``created_before``)."""
    cond = or_(T.c.debit_account_id == account_id, T.c.credit_account_id == account_id)
    stmt = select(T).where(cond)
    if before_id is not None:
        stmt = stmt.where(T.c.id < before_id)
    if created_from is not None:
        stmt = stmt.where(T.c.created_at >= created_from)
    if created_before is not None:
        stmt = stmt.where(T.c.created_at < created_before)
    return list(db.session.execute(stmt.order_by(T.c.id.desc()).limit(limit)))


def verify() -> list[str]:
    """Check conservation of money; return the list of violations (empty = sound).

    1. every transfer is positive and between two distinct accounts;
    2. each account's balance equals its credits minus its debits;
    3. no account other than issuance is below zero;
    4. the sum of all balances is zero, i.e. what the wallets, merchants and
       campaigns hold equals what the operator banks issued.
    """
    problems: list[str] = []
    bad = db.session.execute(
        select(func.count())
        .select_from(T)
        .where(or_(T.c.amount_fen <= 0, T.c.debit_account_id == T.c.credit_account_id))
    ).scalar_one()
    if bad:
        problems.append(f"{bad} transfers are not positive or not between two accounts")
    credits = (
        select(T.c.credit_account_id.label("aid"), T.c.amount_fen.label("delta"))
        .union_all(select(T.c.debit_account_id, -T.c.amount_fen))
        .subquery()
    )
    sums = select(credits.c.aid, fen_sum(credits.c.delta).label("net")).group_by(credits.c.aid).subquery()
    mismatched = db.session.execute(
        select(A.c.id, A.c.balance_fen, func.coalesce(sums.c.net, 0))
        .select_from(A.outerjoin(sums, sums.c.aid == A.c.id))
        .where(A.c.balance_fen != func.coalesce(sums.c.net, 0))
    ).all()
    for aid, bal, net in mismatched[:20]:
        problems.append(f"account {aid}: balance {bal} fen but postings sum to {net} fen")
    if len(mismatched) > 20:
        problems.append(f"… and {len(mismatched) - 20} more accounts whose balance disagrees with postings")
    negative = db.session.execute(
        select(func.count()).select_from(A).where(A.c.kind != AccountKind.ISSUANCE, A.c.balance_fen < 0)
    ).scalar_one()
    if negative:
        problems.append(f"{negative} non-issuance accounts are below zero")
    issued = -(db.session.execute(
        select(fen_sum(A.c.balance_fen)).where(A.c.kind == AccountKind.ISSUANCE)
    ).scalar_one())
    held = db.session.execute(
        select(fen_sum(A.c.balance_fen)).where(A.c.kind != AccountKind.ISSUANCE)
    ).scalar_one()
    if issued != held:
        problems.append(f"issued {issued} fen but accounts hold {held} fen")
    return problems


@dataclass(frozen=True)
class Leg:
    """One credit of ``transfer_many``."""

    credit_account_id: int
    amount_fen: int
    code: str
    batch_id: str | None = None
    memo: str | None = None


def transfer_many(debit_account_id: int, legs: list[Leg], *, actor_user_id: int | None = None) -> list[int]:
    """Move money from one account to many in one go (a payout batch's chunk); return the transfer ids in
    the order of ``legs``.

    Each leg is an ordinary transfer row; the debit account's balance is
    checked once for the total and the credit accounts' balance caps per
    account (legs to the same account add up). The debit side's wallet caps
    (one payment, day, year) are not counted, as for ``transfer(limited=False)``:
    this is for escrow-like accounts paying out. On PostgreSQL the accounts are
    locked in ascending id order first, then three statements do the work,
    whatever the number of legs; elsewhere it is a loop of ``transfer``.

    Raises ``InsufficientFunds`` or ``LimitExceeded`` (a credit's balance cap,
    ``payee_limit_exceeded``); the caller must then roll back its transaction.
    """
    if not legs:
        return []
    for leg in legs:
        if not isinstance(leg.amount_fen, int) or isinstance(leg.amount_fen, bool) or leg.amount_fen <= 0:
            raise ValueError("amount_fen must be a positive int")
        if leg.credit_account_id == debit_account_id:
            raise Unprocessable("Cannot transfer to the same account.", code="same_account")
    if db.session.get_bind().dialect.name != "postgresql":
        return [transfer(debit_account_id, leg.credit_account_id, leg.amount_fen, leg.code, batch_id=leg.batch_id,
                         memo=leg.memo, actor_user_id=actor_user_id, limited=False).id for leg in legs]
    from sqlalchemy.dialects.postgresql import ARRAY

    per_account: dict[int, int] = {}
    for leg in legs:
        per_account[leg.credit_account_id] = per_account.get(leg.credit_account_id, 0) + leg.amount_fen
    total = sum(per_account.values())
    ids = sorted({debit_account_id, *per_account})
    db.session.execute(select(A.c.id).where(A.c.id.in_(ids)).order_by(A.c.id).with_for_update()).all()
    today = local_today()
    if db.session.execute(_debit_stmt(debit_account_id, total, False, today)).scalar_one_or_none() is None:
        _explain_debit_failure(debit_account_id, total, today, False)
    credits = select(func.unnest(bindparam("cids", type_=ARRAY(BigInteger))).label("id"),
                     func.unnest(bindparam("amounts", type_=ARRAY(BigInteger))).label("amount")).subquery()
    moved = db.session.execute(
        update(A).where(A.c.id == credits.c.id,
                        or_(A.c.balance_cap_fen.is_(None), A.c.balance_fen + credits.c.amount <= A.c.balance_cap_fen))
        .values(balance_fen=A.c.balance_fen + credits.c.amount).returning(A.c.id),
        {"cids": list(per_account), "amounts": list(per_account.values())},
    ).scalars().all()
    if len(moved) != len(per_account):
        refused = min(set(per_account) - set(moved))
        _refuse_credit(refused, per_account[refused])
    now = utcnow()
    return list(db.session.execute(
        insert(T).returning(T.c.id, sort_by_parameter_order=True),
        [{"code": leg.code, "debit_account_id": debit_account_id, "credit_account_id": leg.credit_account_id,
          "amount_fen": leg.amount_fen, "batch_id": leg.batch_id, "memo": leg.memo, "actor_user_id": actor_user_id,
          "reverses_id": None, "reversed_fen": 0, "created_at": now} for leg in legs],
    ).scalars())
