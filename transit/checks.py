"""The transit invariants ``flask ledger verify`` checks (registered with ``register_ledger_check``)."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.extensions import db
from backend.ledger.models import Account, Transfer
from transit.models import HardWallet, TransitOperator, TransitRecord
from transit.service import Code


def verify() -> list[str]:
    """Return violations (empty when sound):

    1. no hard-wallet account is below zero;
    2. per card, what was settled to operators equals the sum of its accepted fare records, what went
       back to the soft wallet by the card equals its accepted unload records, and both equal the
       ledger's transfers of those codes out of its account;
    3. per card, the ledger's loads equal the loads the server signed, and the account holds loads less
       fares, unloads and refunds;
    4. per operator, the fares credited equal the accepted records of its terminals.
    """
    problems: list[str] = []
    R, T, A = TransitRecord.__table__, Transfer.__table__, Account.__table__

    def per_card(stmt) -> dict:
        return dict(db.session.execute(stmt).all())

    rec = {(pk, kind): s for pk, kind, s in db.session.execute(
        select(R.c.card_pk, R.c.kind, func.sum(R.c.amount_fen)).group_by(R.c.card_pk, R.c.kind)).all()}
    out = {(aid, code): s for aid, code, s in db.session.execute(
        select(T.c.debit_account_id, T.c.code, func.sum(T.c.amount_fen))
        .where(T.c.code.in_((Code.FARE, Code.UNLOAD, Code.REFUND))).group_by(T.c.debit_account_id, T.c.code)).all()}
    loads = per_card(select(T.c.credit_account_id, func.sum(T.c.amount_fen)).where(T.c.code == Code.LOAD)
                     .group_by(T.c.credit_account_id))
    balances = per_card(select(A.c.id, A.c.balance_fen).join(HardWallet.__table__,
                                                             HardWallet.__table__.c.account_id == A.c.id))
    for c in db.session.execute(select(HardWallet)).scalars():
        bal = balances.get(c.account_id, 0)
        fares, unloads = rec.get((c.id, "fare"), 0), rec.get((c.id, "unload"), 0)
        if bal < 0:
            problems.append(f"card {c.card_id}: hard-wallet balance {bal} fen is below zero")
        if not (c.settled_fen == fares == out.get((c.account_id, Code.FARE), 0)):
            problems.append(f"card {c.card_id}: settled {c.settled_fen} fen, records {fares} fen, "
                            f"ledger {out.get((c.account_id, Code.FARE), 0)} fen")
        if not (c.unloaded_fen == unloads == out.get((c.account_id, Code.UNLOAD), 0)):
            problems.append(f"card {c.card_id}: unloaded {c.unloaded_fen} fen, records {unloads} fen, "
                            f"ledger {out.get((c.account_id, Code.UNLOAD), 0)} fen")
        if c.refunded_fen != out.get((c.account_id, Code.REFUND), 0):
            problems.append(f"card {c.card_id}: refunded {c.refunded_fen} fen but the ledger says "
                            f"{out.get((c.account_id, Code.REFUND), 0)} fen")
        if c.loaded_fen != loads.get(c.account_id, 0):
            problems.append(f"card {c.card_id}: loaded {c.loaded_fen} fen but the ledger says "
                            f"{loads.get(c.account_id, 0)} fen")
        if bal != c.loaded_fen - c.settled_fen - c.unloaded_fen - c.refunded_fen:
            problems.append(f"card {c.card_id}: balance {bal} fen is not loads less fares, unloads and refunds")
    credited = dict(db.session.execute(select(T.c.credit_account_id, func.sum(T.c.amount_fen))
                                       .where(T.c.code == Code.FARE).group_by(T.c.credit_account_id)).all())
    by_operator = dict(db.session.execute(select(R.c.operator_id, func.sum(R.c.amount_fen))
                                          .where(R.c.kind == "fare").group_by(R.c.operator_id)).all())
    for op in db.session.execute(select(TransitOperator)).scalars():
        if credited.get(op.account_id, 0) != by_operator.get(op.id, 0):
            problems.append(f"operator {op.name}: credited {credited.get(op.account_id, 0)} fen but its "
                            f"terminals' records sum to {by_operator.get(op.id, 0)} fen")
    return problems
