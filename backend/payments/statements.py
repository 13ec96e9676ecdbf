"""Daily merchant statements and the per-bank settlement summary.

A statement lists one local day's payments and refunds of a merchant, from
the orders, and checks its totals against the ledger's own transfers into and
out of the merchant's wallet: a job that finds them different fails loudly
instead of publishing a wrong statement.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import delete, func, insert, select

from backend.clock import as_utc, local_today, utcnow
from backend.errors import Conflict
from backend.extensions import db
from backend.jobs import enqueue, with_app
from backend.ledger.models import Transfer
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant, MerchantStatus
from backend.payments.models import Order, Refund, Statement
from backend.payments.service import local_day_bounds, merchant_number
from backend.readdb import read_heavy
from backend.sql import fen_sum

CSV_COLUMNS = ("type", "reference", "kind", "time", "amount_fen", "transfer_id", "note")


#: A payment stamped in the last moments of a day may commit just after midnight: a finished day is read on the
#: replica only once it ended this long before the replica's allowed lag.
COMMIT_MARGIN = timedelta(seconds=60)


class StatementMismatch(RuntimeError):
    """The orders and the ledger disagree; nothing is published."""


def compute_live(merchant: Merchant, day: date) -> dict:
    """Today's statement, provisional: read on the replica when it is fresh enough (backend/readdb.py)."""
    return read_heavy(compute, merchant, day)


def compute_finished_day(merchant: Merchant, day: date) -> dict:
    """A finished day's statement, to be stored. The replica holds every commit older than its lag, which is at
    most ``READ_MAX_LAG_SECONDS`` when it serves reads: once the day ended longer ago than that (and a margin for
    the payments committed just after midnight), the replica has all of it; before, the primary is read."""
    _, end = local_day_bounds(day)
    max_lag = timedelta(seconds=float(current_app.config.get("READ_MAX_LAG_SECONDS", 10.0)))
    if as_utc(end) + max_lag + COMMIT_MARGIN <= utcnow():
        return read_heavy(compute, merchant, day)
    return compute(merchant, day)


def compute(merchant: Merchant, day: date) -> dict:
    """Return the statement body of ``merchant`` for local ``day`` (not stored)."""
    start, end = local_day_bounds(day)
    payments = db.session.execute(
        select(Order).where(Order.merchant_id == merchant.id, Order.paid_at >= start, Order.paid_at < end,
                            Order.payment_transfer_id.is_not(None)).order_by(Order.paid_at, Order.id)
    ).scalars().all()
    refunds = db.session.execute(
        select(Refund, Order.reference).join(Order, Order.id == Refund.order_id)
        .where(Order.merchant_id == merchant.id, Refund.created_at >= start, Refund.created_at < end)
        .order_by(Refund.created_at, Refund.id)
    ).all()
    gross = sum(o.amount_fen for o in payments)
    refunded = sum(r.amount_fen for r, _ in refunds)
    # An order may be paid in several legs (main balance, red packet, coupon) sharing a batch id.
    ledger_in = db.session.execute(
        select(fen_sum(Transfer.amount_fen), func.count(func.distinct(Transfer.batch_id)))
        .where(Transfer.credit_account_id == merchant.account_id, Transfer.code.in_(TransferCode.PAYMENT_LEGS),
               Transfer.created_at >= start, Transfer.created_at < end)
    ).one()
    ledger_out = db.session.execute(
        select(fen_sum(Transfer.amount_fen), func.count(func.distinct(Transfer.batch_id)))
        .where(Transfer.debit_account_id == merchant.account_id, Transfer.code == TransferCode.REFUND,
               Transfer.created_at >= start, Transfer.created_at < end)
    ).one()
    if (gross, len(payments)) != tuple(ledger_in) or (refunded, len(refunds)) != tuple(ledger_out):
        raise StatementMismatch(
            f"merchant {merchant.id} {day}: orders say {gross}/{len(payments)} in, {refunded}/{len(refunds)} out; "
            f"ledger says {ledger_in[0]}/{ledger_in[1]} in, {ledger_out[0]}/{ledger_out[1]} out")
    return {
        "merchant": {"id": merchant.id, "merchant_number": merchant_number(merchant.id), "name_zh": merchant.name_zh,
                     "name_en": merchant.name_en},
        "day": day.isoformat(),
        "currency": "CNY",
        "payments": [{"reference": o.reference, "kind": o.kind, "paid_at": as_utc(o.paid_at).isoformat(),
                      "amount_fen": o.amount_fen, "transfer_id": o.payment_transfer_id,
                      "description": o.description} for o in payments],
        "refunds": [{"reference": ref, "refunded_at": as_utc(r.created_at).isoformat(), "amount_fen": r.amount_fen,
                     "transfer_id": r.transfer_id, "reason": r.reason} for r, ref in refunds],
        "totals": {"payment_count": len(payments), "gross_fen": gross, "refund_count": len(refunds),
                   "refunds_fen": refunded, "net_fen": gross - refunded, "fees_fen": 0},
    }


def to_csv(body: dict) -> str:
    """Return the statement as CSV (one row per payment and refund, then totals)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for p in body["payments"]:
        w.writerow(("payment", p["reference"], p["kind"], p["paid_at"], p["amount_fen"], p["transfer_id"],
                    p["description"] or ""))
    for r in body["refunds"]:
        w.writerow(("refund", r["reference"], "", r["refunded_at"], -r["amount_fen"], r["transfer_id"],
                    r["reason"] or ""))
    t = body["totals"]
    w.writerow(("total", "", "", body["day"], t["net_fen"], "", f"gross {t['gross_fen']} refunds {t['refunds_fen']}"))
    return out.getvalue()


@with_app
def build_statement(merchant_id: int, day_iso: str) -> int:
    """Job: build (or rebuild) one merchant's statement for a finished day; return its id. Safe twice."""
    day = date.fromisoformat(day_iso)
    if day >= local_today():
        raise Conflict("Only finished days get a statement; today's figures are live.", code="day_not_finished")
    merchant = db.session.get(Merchant, merchant_id)
    body = compute_finished_day(merchant, day)
    t = body["totals"]
    db.session.execute(delete(Statement).where(Statement.merchant_id == merchant_id, Statement.day == day))
    statement_id = db.session.execute(insert(Statement).values(
        merchant_id=merchant_id, day=day, payment_count=t["payment_count"], gross_fen=t["gross_fen"],
        refund_count=t["refund_count"], refunds_fen=t["refunds_fen"], net_fen=t["net_fen"],
        body_json=json.dumps(body, ensure_ascii=False), body_csv=to_csv(body), built_at=utcnow(),
    ).returning(Statement.id)).scalar_one()
    db.session.commit()
    return statement_id


@with_app
def build_daily_statements(day_iso: str | None = None) -> int:
    """Job (scheduled daily): enqueue a statement for every approved merchant for ``day`` (default yesterday)."""
    from datetime import timedelta

    day = date.fromisoformat(day_iso) if day_iso else local_today() - timedelta(days=1)
    ids = db.session.execute(select(Merchant.id).where(Merchant.status == MerchantStatus.APPROVED)).scalars().all()
    for merchant_id in ids:
        enqueue(build_statement, merchant_id, day.isoformat())
    return len(ids)


def stored(merchant_id: int, day: date) -> Statement | None:
    return db.session.execute(
        select(Statement).where(Statement.merchant_id == merchant_id, Statement.day == day)
    ).scalar_one_or_none()


def bank_summary(bank_id: int, day: date) -> dict:
    """Return the operator bank's settlement summary for ``day`` from the stored statements."""
    rows = db.session.execute(
        select(Statement, Merchant).join(Merchant, Merchant.id == Statement.merchant_id)
        .where(Merchant.bank_id == bank_id, Statement.day == day).order_by(Merchant.id)
    ).all()
    merchants_out = [{"merchant_id": m.id, "merchant_number": merchant_number(m.id), "name_zh": m.name_zh,
                      "payment_count": s.payment_count, "gross_fen": s.gross_fen, "refunds_fen": s.refunds_fen,
                      "net_fen": s.net_fen} for s, m in rows]
    return {
        "day": day.isoformat(),
        "merchants": merchants_out,
        "totals": {k: sum(m[k] for m in merchants_out) for k in ("payment_count", "gross_fen", "refunds_fen",
                                                                  "net_fen")},
        "fees_fen": 0,
    }
