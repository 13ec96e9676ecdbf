"""A prepaid merchant's daily statement (统一对账): escrow at the start of the local day, sold, released,
refunded (and fees), escrow at the end, tied out two ways.

- The ledger's way: the escrow figures are the net postings to the merchant's contract escrow accounts
  before the day's start and end; start + sold − released − refunded − fees must equal the end, with no
  other movement of escrow money.
- The contracts' way: from the contracts and their releases as of the day's end (units not yet
  released, ``rules.due``), what the escrow should hold; it must equal the ledger's end.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import and_, case, func, or_, select

from backend.clock import as_utc, local_today
from backend.extensions import db
from backend.ledger.models import Transfer
from backend.payments.service import local_day_bounds
from prepaid import rules
from prepaid.models import Contract, ContractStatus, Release

T = Transfer.__table__
C = Contract.__table__
R = Release.__table__


def _net_before(escrows, instant) -> int:
    inflow = select(func.coalesce(func.sum(T.c.amount_fen), 0)).where(
        T.c.credit_account_id.in_(escrows), T.c.created_at < instant)
    outflow = select(func.coalesce(func.sum(T.c.amount_fen), 0)).where(
        T.c.debit_account_id.in_(escrows), T.c.created_at < instant)
    # PostgreSQL sums bigints as numeric: back to int fen.
    return int(db.session.execute(select(inflow.scalar_subquery() - outflow.scalar_subquery())).scalar_one())


def _liability_at(prepaid_merchant_id: int, instant) -> int:
    """Return what the merchant's contracts bought before ``instant`` should still hold in escrow then."""
    released = (select(R.c.contract_id, func.sum(R.c.units).label("units")).where(R.c.created_at < instant)
                .group_by(R.c.contract_id).subquery())
    rows = db.session.execute(
        select(C.c.price_fen, C.c.units_total, C.c.status, C.c.ended_at,
               func.coalesce(released.c.units, 0).label("released"))
        .select_from(C.outerjoin(released, released.c.contract_id == C.c.id))
        .where(C.c.prepaid_merchant_id == prepaid_merchant_id, C.c.created_at < instant)
    ).all()
    total = 0
    for r in rows:
        refunded = r.status == ContractStatus.REFUNDED and r.ended_at is not None and \
            as_utc(r.ended_at) < instant
        if not refunded:
            total += rules.due(r.units_total - int(r.released), r.price_fen, r.units_total)
    return total


def compute(prepaid_merchant_id: int, day: date) -> dict:
    """Return the statement of ``day`` (local) for one prepaid merchant."""
    start, end = local_day_bounds(day)
    escrows = select(C.c.escrow_account_id).where(C.c.prepaid_merchant_id == prepaid_merchant_id)
    incoming = T.c.credit_account_id.in_(escrows)
    rows = db.session.execute(
        select(T.c.code, case((incoming, "in"), else_="out").label("direction"),
               func.count().label("n"), func.sum(T.c.amount_fen).label("fen"))
        .where(or_(incoming, T.c.debit_account_id.in_(escrows)), and_(T.c.created_at >= start, T.c.created_at < end))
        .group_by(T.c.code, "direction")
    ).all()
    moved = {(r.code, r.direction): (r.n, int(r.fen)) for r in rows}

    def take(code, direction):
        return moved.pop((code, direction), (0, 0))

    sold_n, sold = take(rules.PURCHASE, "in")
    _, released = take(rules.RELEASE, "out")
    refund_n, refunded = take(rules.REFUND, "out")
    _, fees = take(rules.FEE, "out")
    other = sum(fen if d == "in" else -fen for (_, d), (_, fen) in moved.items())
    escrow_start, escrow_end = _net_before(escrows, start), _net_before(escrows, end)
    liability_end = _liability_at(prepaid_merchant_id, end)
    releases = db.session.execute(select(func.count()).select_from(R).where(
        R.c.prepaid_merchant_id == prepaid_merchant_id, R.c.created_at >= start, R.c.created_at < end,
        R.c.amount_fen > 0)).scalar_one()
    ties = escrow_start + sold - released - refunded - fees == escrow_end and not moved and escrow_end == liability_end
    return {
        "prepaid_merchant_id": prepaid_merchant_id, "day": day.isoformat(),
        "escrow_start_fen": escrow_start, "sold_fen": sold, "contracts_sold": sold_n,
        "released_fen": released, "releases": releases, "refunded_fen": refunded, "refunds": refund_n,
        "refund_fees_fen": fees, "other_fen": other, "escrow_end_fen": escrow_end,
        "liability_end_fen": liability_end, "ties_out": ties, "provisional": day >= local_today(),
    }


def to_csv(body: dict) -> str:
    """Return the statement as CSV (one header row, one value row)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(body))
    writer.writerow([body[k] for k in body])
    return out.getvalue()
