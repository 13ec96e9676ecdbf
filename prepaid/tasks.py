"""Prepaid jobs (RQ): module-level, take ids, re-read state, safe to run twice."""

from __future__ import annotations

import logging

from sqlalchemy import func, select, update

from backend.clock import utcnow
from backend.errors import DomainError
from backend.extensions import db
from backend.jobs import with_app
from prepaid.models import Closure, Contract, ContractStatus, RefundKind

log = logging.getLogger(__name__)
CL = Closure.__table__


def progress(closure_id: int) -> dict:
    """Return a closure run's progress: counted, refunded (and fen), failed, status."""
    c = db.session.get(Closure, closure_id)
    db.session.refresh(c)
    return {"id": c.id, "prepaid_merchant_id": c.prepaid_merchant_id, "target_status": c.target_status,
            "reason": c.reason, "status": c.status, "counted": c.counted, "refunded": c.refunded,
            "refunded_fen": c.refunded_fen, "failed": c.failed, "runs": c.runs, "last_error": c.last_error,
            "created_at": c.created_at.isoformat() if c.created_at else None,
            "finished_at": c.finished_at.isoformat() if c.finished_at else None}


@with_app
def run_closure(closure_id: int) -> dict:
    """Job: refund every open contract of the closure's merchant, each in its own transaction; return progress.

    Safe to run again at any point (a killed run, or failures to retry): a contract is refunded by the
    conditional UPDATE that ends it, so a second run skips what the first one refunded, and the
    progress counters move in the same transaction as each refund.
    """
    from prepaid.service import refund_contract

    closure = db.session.get(Closure, closure_id)
    if closure is None or closure.status == "done":
        return progress(closure_id) if closure else {}
    merchant_id = closure.prepaid_merchant_id
    ids = list(db.session.execute(
        select(Contract.id).where(Contract.prepaid_merchant_id == merchant_id,
                                  Contract.status == ContractStatus.ACTIVE).order_by(Contract.id)).scalars())
    already = db.session.execute(select(func.count()).select_from(Contract).where(
        Contract.closure_id == closure_id)).scalar_one()
    db.session.execute(update(CL).where(CL.c.id == closure_id).values(
        runs=CL.c.runs + 1, failed=0, counted=already + len(ids), refunded=already, last_error=None))
    db.session.commit()
    for contract_id in ids:
        try:
            contract = refund_contract(contract_id, RefundKind.CLOSURE, actor_user_id=None, closure_id=closure_id)
            db.session.execute(update(CL).where(CL.c.id == closure_id).values(
                refunded=CL.c.refunded + 1, refunded_fen=CL.c.refunded_fen + contract.refunded_fen))
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            if exc.code == "contract_ended":
                # Used up (or refunded by its consumer) meanwhile: nothing of it was open any more.
                db.session.execute(update(CL).where(CL.c.id == closure_id).values(counted=CL.c.counted - 1))
                db.session.commit()
                continue
            log.warning("closure %s: contract %s not refunded: %s", closure_id, contract_id, exc.detail)
            db.session.execute(update(CL).where(CL.c.id == closure_id).values(
                failed=CL.c.failed + 1, last_error=f"contract {contract_id}: {exc.code}: {exc.detail}"[:500]))
            db.session.commit()
    db.session.execute(update(CL).where(CL.c.id == closure_id, CL.c.failed == 0).values(
        status="done", finished_at=utcnow()))
    db.session.commit()
    return progress(closure_id)


@with_app
def release_time_passes() -> int:
    """Periodic job: release the served days of every active time pass, each in its own transaction; return
    how many contracts released something. Safe to run twice or in two workers at once."""
    from prepaid.models import PlanKind
    from prepaid.service import catch_up_time_pass

    ids = list(db.session.execute(select(Contract.id).where(
        Contract.kind == PlanKind.TIME_PASS, Contract.status == ContractStatus.ACTIVE).order_by(Contract.id)).scalars())
    db.session.rollback()
    moved = 0
    for contract_id in ids:
        try:
            if catch_up_time_pass(db.session.get(Contract, contract_id)) is not None:
                moved += 1
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            log.warning("time pass %s not released: %s", contract_id, exc.detail)
    return moved


@with_app
def recompute_grades(day: str | None = None) -> int:
    """Periodic job: store yesterday's (or ``day``'s, ISO) credit grade of every prepaid merchant; return how
    many were stored. Safe to run twice (one row per merchant and day)."""
    from datetime import date

    from prepaid.grades import recompute_all

    return recompute_all(date.fromisoformat(day) if day else None)
