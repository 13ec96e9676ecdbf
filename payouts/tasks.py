"""Paying a batch's lines: the RQ job (inline on the embedded default) and the sweep that restarts it.

Exactly once: a line's id is its payment's idempotency key. A chunk of
pending lines is claimed by one conditional ``UPDATE … WHERE status =
'pending'`` (which row-locks them on PostgreSQL, skipping rows another run
holds), paid through the ledger, and marked paid in the same transaction. A worker killed mid-chunk leaves that
transaction uncommitted, so the database rolls all of it back: the lines are
still pending and the next run pays them; lines of committed chunks are paid
and no run touches them again. A second run of the same batch (the sweep
re-enqueues it while the first is still going) takes the next unclaimed
lines, and a line the other run holds is never paid by both: its UPDATE
waits for the row and then finds it no longer pending.

The wallet cap: a line that would push a wallet past its balance cap pays the
part that fits into the wallet and the rest to the payee's linked bank account
(redeemed at the payee's operator bank) where the payee switched that on;
otherwise it fails with ``payee_balance_cap`` and nothing moves. The bank is
credited after commit, referenced by the line id, which the bank de-duplicates
on, so a crash between commit and credit is repaired by the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update

from backend.banks.models import OperatorBank
from backend.clock import utcnow
from backend.errors import DomainError
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind
from backend.guards import check as money_gate
from backend.jobs import enqueue, with_app
from backend.ledger import service as ledger
from backend.ledger.models import Account
from backend.wallets.models import Wallet, WalletStatus
from backend.wallets.service import card_network
from payouts.models import Batch, BatchStatus, Category, Line, LineStatus, Organisation, PayeePreference, PayoutCode

log = logging.getLogger(__name__)
L = Line.__table__
#: Lines paid per transaction: large enough to amortise the commit, small enough that a killed worker
#: redoes little and the batch account's row lock is released often.
CHUNK = 250


@dataclass
class _Payee:
    user_id: int
    account_id: int
    status: str
    card_token: str | None
    issuance_account_id: int
    bank_code: str
    overflow: bool
    balance_fen: int
    cap_fen: int | None


def _payees(wallet_ids) -> dict[int, _Payee]:
    stmt = (
        select(Wallet.id, Wallet.user_id, Wallet.account_id, Wallet.status, Wallet.card_token,
               OperatorBank.issuance_account_id,
               OperatorBank.code, PayeePreference.overflow_to_bank, Account.balance_fen, Account.balance_cap_fen)
        .join(OperatorBank, OperatorBank.id == Wallet.bank_id)
        .join(Account, Account.id == Wallet.account_id)
        .outerjoin(PayeePreference, PayeePreference.user_id == Wallet.user_id)
        .where(Wallet.id.in_(sorted(set(wallet_ids))))
        .order_by(Account.id)
    )
    return {r.id: _Payee(r.user_id, r.account_id, r.status, r.card_token, r.issuance_account_id, r.code,
                         bool(r.overflow_to_bank), r.balance_fen, r.balance_cap_fen)
            for r in db.session.execute(stmt)}


class _Refused(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def _split(line, payee: _Payee) -> tuple[int, int]:
    """Return (wallet part, bank part) of a line for this payee now; raise ``_Refused``."""
    if payee.status != WalletStatus.ACTIVE:
        raise _Refused("payee_wallet_frozen", "The payee's wallet is frozen.")
    try:  # a wallet frozen through the money gate (protection) fails its line, which can be retried later
        money_gate(MoneyMove(MoveKind.PAYOUT, line.amount_fen, to_user_id=payee.user_id))
    except DomainError as exc:
        raise _Refused(exc.code, str(exc.detail)) from None
    amount = line.amount_fen
    if payee.cap_fen is None or payee.balance_fen + amount <= payee.cap_fen:
        return amount, 0
    headroom = max(0, payee.cap_fen - payee.balance_fen)
    if payee.overflow and payee.card_token:
        return headroom, amount - headroom
    raise _Refused("payee_balance_cap",
                   f"The payee's wallet would pass its ¥{payee.cap_fen // 100:,} balance cap "
                   f"(¥{headroom / 100:,.2f} fits); the payee can upgrade the wallet or have the excess sent to "
                   "their linked bank account, then retry the line.")


def _memo(org_name: str, line) -> str:
    """What the payee's wallet history shows: 工资 · 越秀区财政局 · 三月工资."""
    return " · ".join(p for p in (Category.ZH[line.category], org_name, line.memo) if p)[:140]


def _legs(batch: Batch, org_name: str, line, payee: _Payee) -> tuple[dict, list[ledger.Leg]]:
    """Decide a line against the payee's balance as tracked in this chunk: return its new values and its
    ledger legs (wallet part, bank part), linked by the line's key. Raises ``_Refused``."""
    wallet_part, bank_part = _split(line, payee)
    key = line_key(line.id)
    memo = _memo(org_name, line)
    values = {"lid": line.id, "wallet_fen": wallet_part, "bank_fen": bank_part, "transfer_id": None,
              "bank_transfer_id": None}
    legs = []
    if wallet_part:
        legs.append(ledger.Leg(payee.account_id, wallet_part, PayoutCode.PAYOUT, key, memo))
        payee.balance_fen += wallet_part
    if bank_part:
        legs.append(ledger.Leg(payee.issuance_account_id, bank_part, PayoutCode.TO_BANK, key, memo))
    return values, legs


def _post(batch: Batch, decided: list[tuple[dict, list[ledger.Leg]]]) -> list[dict]:
    """Post every decided line's legs through the ledger in one go; return the lines' values with their
    transfer ids. Raises the ledger's ``DomainError`` (the caller rolls back)."""
    legs = [leg for _, line_legs in decided for leg in line_legs]
    ids = iter(ledger.transfer_many(batch.account_id, legs))
    for values, line_legs in decided:
        for leg in line_legs:
            values["transfer_id" if leg.code == PayoutCode.PAYOUT else "bank_transfer_id"] = next(ids)
    return [values for values, _ in decided]


def line_key(line_id: int) -> str:
    """The ledger ``batch_id`` of a line's transfers (and the bank's reference of its overflow)."""
    return f"payout-line-{line_id}"


_RETURNED = (L.c.id, L.c.wallet_id, L.c.amount_fen, L.c.category, L.c.memo)
#: Claim the batch's next pending lines. On PostgreSQL the rows another run holds are skipped (SKIP LOCKED),
#: so two runs of one batch split it instead of queueing behind each other. The rows are picked first, in a
#: materialized CTE, then updated: as ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` the
#: planner may run the subquery again per row and claim far more than ``n`` lines (the whole batch).
_PICKED = (select(L.c.id).where(L.c.batch_id == bindparam("for_batch"), L.c.status == LineStatus.PENDING)
           .order_by(L.c.id).limit(bindparam("n")).with_for_update(skip_locked=True)
           .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql"))
_NEXT = (update(L).where(L.c.id == _PICKED.c.id, L.c.status == LineStatus.PENDING)
         .values(attempts=L.c.attempts + 1).returning(*_RETURNED))
#: Claim given lines again (line by line, after a chunk was rolled back).
_CLAIM = (update(L).where(L.c.id.in_(bindparam("ids", expanding=True)), L.c.status == LineStatus.PENDING)
          .values(attempts=L.c.attempts + 1).returning(*_RETURNED))
_MARK_PAID = (update(L).where(L.c.id == bindparam("lid"), L.c.status == LineStatus.PENDING)
              .values(status=LineStatus.PAID, wallet_fen=bindparam("wallet_fen"), bank_fen=bindparam("bank_fen"),
                      transfer_id=bindparam("transfer_id"), bank_transfer_id=bindparam("bank_transfer_id"),
                      paid_at=bindparam("paid_at"), issue=None, issue_detail=None))
_MARK_FAILED = (update(L).where(L.c.id == bindparam("lid"), L.c.status == LineStatus.PENDING)
                .values(status=LineStatus.FAILED, issue=bindparam("code"), issue_detail=bindparam("detail")))


def _record(paid: list[dict], failed: list[dict]) -> None:
    now = utcnow()
    for p in paid:
        p["paid_at"] = now
    n = 0
    if paid:
        n += db.session.execute(_MARK_PAID, paid).rowcount
    if failed:
        n += db.session.execute(_MARK_FAILED, failed).rowcount
    if n != len(paid) + len(failed):
        # Impossible while the claim holds the rows; never commit money for a line someone else settled.
        raise RuntimeError(f"payout lines changed under their claim ({n} of {len(paid) + len(failed)} updated)")


def _org_name(batch: Batch) -> str:
    return db.session.execute(select(Organisation.name).where(Organisation.id == batch.org_id)).scalar_one()


def pay_chunk(batch: Batch) -> tuple[int, int, int]:
    """Claim the batch's next ``CHUNK`` pending lines and pay them in one transaction; commit; return
    (paid, failed, claimed).

    The fast path decides every line from the payees' balances read once and
    posts the whole chunk with ``ledger.transfer_many`` (a few statements on
    PostgreSQL, whatever the chunk's size); a refusal the reading did not
    foresee (a payee's balance moved meanwhile) rolls the chunk back and pays
    it line by line, each line in a savepoint.
    """
    claimed = sorted(db.session.execute(_NEXT, {"for_batch": batch.id, "n": CHUNK}).all())
    if not claimed:
        db.session.rollback()
        return 0, 0, 0
    payees = _payees([c.wallet_id for c in claimed])
    org_name = _org_name(batch)
    decided, failed = [], []
    for line in claimed:
        try:
            decided.append(_legs(batch, org_name, line, payees[line.wallet_id]))
        except _Refused as r:
            failed.append({"lid": line.id, "code": r.code, "detail": r.detail[:200]})
    try:
        paid = _post(batch, decided)
        _record(paid, failed)
    except DomainError:
        db.session.rollback()
        return (*_pay_one_by_one(batch, [c.id for c in claimed]), len(claimed))
    db.session.commit()
    return len(paid), len(failed), len(claimed)


def _pay_one_by_one(batch: Batch, ids: list[int]) -> tuple[int, int]:
    paid_n = failed_n = 0
    for lid in ids:
        claimed = db.session.execute(_CLAIM, {"ids": [lid]}).all()
        if not claimed:
            db.session.rollback()
            continue
        line = claimed[0]
        # A fresh read; the ledger still checks the cap atomically, and a line refused by a race fails
        # with the ledger's code and can be retried.
        payee = _payees([line.wallet_id])[line.wallet_id]
        savepoint = db.session.begin_nested()
        try:
            values = _post(batch, [_legs(batch, _org_name(batch), line, payee)])
            savepoint.commit()
            _record(values, [])
            paid_n += 1
        except (_Refused, DomainError) as exc:
            savepoint.rollback()
            code = exc.code
            detail = exc.detail if isinstance(exc, _Refused) else str(exc.detail)
            _record([], [{"lid": lid, "code": code[:32], "detail": detail[:200]}])
            failed_n += 1
        db.session.commit()
    return paid_n, failed_n


def credit_banks(batch_id: int) -> int:
    """Credit the payees' linked accounts with the overflow parts not yet credited; return how many.

    The line id is the bank's reference, so a credit repeated after a crash is
    de-duplicated by the bank; the reference is recorded once it answers.
    """
    rows = db.session.execute(
        select(L.c.id, L.c.bank_fen, Wallet.card_token, OperatorBank.code)
        .join(Wallet, Wallet.id == L.c.wallet_id).join(OperatorBank, OperatorBank.id == Wallet.bank_id)
        .where(L.c.batch_id == batch_id, L.c.status == LineStatus.PAID, L.c.bank_fen > 0,
               L.c.bank_reference.is_(None))
    ).all()
    db.session.rollback()
    done = 0
    for r in rows:
        try:
            result = card_network().credit(r.code, r.card_token, r.bank_fen, line_key(r.id))
        except Exception:  # noqa: BLE001 - the next run (or the sweep) tries again with the same reference
            log.exception("bank credit of payout line %s failed", r.id)
            continue
        db.session.execute(update(L).where(L.c.id == r.id, L.c.bank_reference.is_(None))
                           .values(bank_reference=result.reference[:64]))
        db.session.commit()
        done += 1
    return done


@with_app
def run_batch(batch_id: int) -> dict:
    """Job: pay every pending line of a processing batch, then settle it (review or closed); return counts.

    Safe to run twice and to run after a worker was killed mid-batch (see the module doc).
    """
    from payouts import service

    paid = failed = 0
    while True:
        batch = db.session.get(Batch, batch_id)
        if batch is None:
            return {"batch_id": batch_id, "status": None}
        db.session.refresh(batch)
        if batch.status != BatchStatus.PROCESSING:
            break
        p, f, claimed = pay_chunk(batch)
        paid, failed = paid + p, failed + f
        if claimed == 0:
            pending = db.session.execute(select(func.count()).where(
                L.c.batch_id == batch_id, L.c.status == LineStatus.PENDING)).scalar_one()
            db.session.rollback()
            if pending == 0:
                service.finish(batch_id)
            # else: another run holds the last lines and will settle the batch.
            break
    credit_banks(batch_id)
    status = db.session.get(Batch, batch_id).status
    db.session.rollback()
    return {"batch_id": batch_id, "status": status, "paid": paid, "failed": failed}


@with_app
def sweep() -> int:
    """Periodic: re-enqueue every processing batch (a run that died is resumed; a second run of a live one
    only waits on its rows) and repair bank credits that did not reach the bank; return how many batches."""
    ids = list(db.session.execute(select(Batch.id).where(Batch.status == BatchStatus.PROCESSING)).scalars())
    closed_with_bank = list(db.session.execute(
        select(L.c.batch_id).distinct().where(L.c.status == LineStatus.PAID, L.c.bank_fen > 0,
                                              L.c.bank_reference.is_(None))).scalars())
    db.session.rollback()
    for batch_id in ids:
        enqueue(run_batch, batch_id)
    for batch_id in set(closed_with_bank) - set(ids):
        credit_banks(batch_id)
    return len(ids)
