"""The cooling period (冷静期): a large first-time transfer is accepted, held, and completes later.

Rule (data in :data:`protection.risk.COOLING`): where ``PROTECTION_COOLING``
is on, a transfer of at least ``min_fen`` to a payee the payer never sent
money to is not posted now. ``POST /transfers`` answers ``202`` with the held
transfer's id and when it completes; the payer may cancel it until then
(``POST /protection/held-transfers/<id>/cancel``). The periodic job
:func:`complete_due_transfers` (registered through ``backend.hooks``) posts
the due ones through the core's transfer rule
(``backend.wallets.service.complete_held_transfer``): freezes, the read-only
switch, funds and caps are checked again then.

Ledger design: nothing is reserved while a transfer waits. The money leaves
the payer's wallet once, when the transfer is posted at completion; a
cancelled (or refused) one never moved any. So no holding account, nothing to
give back, and ``flask ledger verify`` has nothing new to check; the price is
that a payer who spends the money meanwhile sees the held transfer fail
(``insufficient_funds``) instead of going through.

A transfer is posted at most once: the job takes each due row under a row
lock (``FOR UPDATE SKIP LOCKED``) and marks it completed, with the transfer's
id, in the same transaction as the posting; a cancel is a conditional UPDATE
on ``status = 'pending'``, so it either wins (nothing moves) or finds the
transfer completed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from backend.auth.models import User
from backend.clock import as_utc, utcnow
from backend.errors import Conflict, DomainError, NotFound
from backend.extensions import db
from backend.guards import Hold, MoneyMove, MoveKind
from backend.jobs import with_app
from protection import risk
from protection.masking import mask_phone
from protection.models import HeldStatus, HeldTransfer

log = logging.getLogger(__name__)
HT = HeldTransfer.__table__


def wants(move: MoneyMove) -> bool:
    """Might ``move`` be held? (No database: the switch, the kind and the amount.)"""
    return bool(current_app.config.get("PROTECTION_COOLING", False)) and move.kind == MoveKind.TRANSFER \
        and move.from_user_id is not None and move.to_user_id is not None \
        and (move.amount_fen or 0) >= risk.COOLING["min_fen"]


def decide(move: MoneyMove) -> bool:
    """With ``move`` posted (uncommitted): is it the payer's first transfer to this payee?"""
    payer, payee = risk._account(move.from_user_id), risk._account(move.to_user_id)
    return risk.first_time(payer, payee, risk.latest_debit(payer))


def place(move: MoneyMove, memo: str | None) -> dict:
    """Record the held transfer in the caller's transaction; return its body."""
    now = utcnow()
    row = HeldTransfer(payer_user_id=move.from_user_id, payee_user_id=move.to_user_id, payee_phone=move.payee_phone,
                       amount_fen=move.amount_fen, memo=memo, status=HeldStatus.PENDING, created_at=now,
                       due_at=now + timedelta(minutes=risk.COOLING["minutes"]))
    db.session.add(row)
    db.session.flush()
    if current_app.config.get("PROTECTION_RISK_CHECKS", False):
        risk.remember_device(move.from_user_id)  # the payer answered the warnings from this device
        risk.use_again_after_rollback()  # the token that confirmed it confirms nothing else
    return held_json(row)


HOLD = Hold(wants=wants, decide=decide, place=place)


def _iso(value):
    return as_utc(value).isoformat() if value else None


def held_json(row: HeldTransfer) -> dict:
    """The held transfer as the payer sees it."""
    rule = risk.COOLING_RULE
    return {"held_transfer_id": row.id, "status": row.status, "amount_fen": row.amount_fen, "memo": row.memo,
            "payee_phone_masked": mask_phone(row.payee_phone) if row.payee_phone else None,
            "created_at": _iso(row.created_at), "completes_at": _iso(row.due_at),
            "finished_at": _iso(row.finished_at), "transfer_id": row.transfer_id,
            "failure_code": row.failure_code, "failure_detail": row.failure_detail,
            "cancel_path": f"/api/v1/protection/held-transfers/{row.id}/cancel"
            if row.status == HeldStatus.PENDING else None,
            "rule": {"code": rule.code, "title_zh": rule.title_zh, "text_zh": rule.text_zh, "text_en": rule.text_en}}


def mine(user: User, limit: int, before: int | None) -> list[HeldTransfer]:
    """Return ``user``'s held transfers, newest first."""
    q = select(HeldTransfer).where(HeldTransfer.payer_user_id == user.id)
    if before:
        q = q.where(HeldTransfer.id < before)
    return list(db.session.execute(q.order_by(HeldTransfer.id.desc()).limit(limit)).scalars())


def cancel(user: User, held_id: int) -> HeldTransfer:
    """Cancel a pending held transfer of ``user``'s; commit; return it. Cancelling a cancelled one again
    answers it unchanged. Raises ``NotFound`` (held_transfer_not_found; also someone else's) and
    ``Conflict`` (held_transfer_finished: it already completed or failed)."""
    row = db.session.get(HeldTransfer, held_id)
    if row is None or row.payer_user_id != user.id:
        raise NotFound("No such held transfer.", code="held_transfer_not_found")
    moved = db.session.execute(update(HT).where(HT.c.id == held_id, HT.c.status == HeldStatus.PENDING)
                               .values(status=HeldStatus.CANCELLED, finished_at=utcnow())).rowcount
    db.session.commit()
    db.session.refresh(row)
    if moved != 1 and row.status != HeldStatus.CANCELLED:
        raise Conflict(f"This transfer has already {row.status}; it can no longer be cancelled.",
                       code="held_transfer_finished", status_now=row.status, transfer_id=row.transfer_id)
    return row


@with_app
def complete_due_transfers(limit: int = 500) -> dict:
    """Job: post every held transfer whose cooling period is over, each in its own transaction; return counts.

    Safe to run twice and beside itself (rows are taken under ``FOR UPDATE SKIP
    LOCKED`` and re-checked as pending). While the platform is read-only the
    due ones stay pending (the next run tries again) and nothing is written; a
    transfer the rule refuses now (a freeze, funds, caps) is marked failed
    with the refusal's code, and no money moves.
    """
    from backend.wallets.service import complete_held_transfer
    from protection.gate import ReadOnlyMode

    counts = {"completed": 0, "failed": 0, "waiting": 0}
    ids = list(db.session.execute(select(HeldTransfer.id).where(
        HeldTransfer.status == HeldStatus.PENDING, HeldTransfer.due_at <= utcnow())
        .order_by(HeldTransfer.id).limit(limit)).scalars())
    db.session.rollback()
    for held_id in ids:
        row = db.session.execute(select(HeldTransfer).where(HeldTransfer.id == held_id,
                                                            HeldTransfer.status == HeldStatus.PENDING)
                                 .with_for_update(skip_locked=True)).scalar_one_or_none()
        if row is None:
            db.session.rollback()  # cancelled meanwhile, or another run has it
            continue
        try:
            posted = complete_held_transfer(row.payer_user_id, row.payee_user_id, row.amount_fen, row.memo)
        except ReadOnlyMode:
            db.session.rollback()
            counts["waiting"] += len(ids) - ids.index(held_id)
            break  # every later one would be refused the same way
        except DomainError as exc:
            db.session.rollback()
            db.session.execute(update(HT).where(HT.c.id == held_id, HT.c.status == HeldStatus.PENDING).values(
                status=HeldStatus.FAILED, finished_at=utcnow(), failure_code=exc.code,
                failure_detail=str(exc)[:500]))
            db.session.commit()
            counts["failed"] += 1
            continue
        db.session.execute(update(HT).where(HT.c.id == held_id).values(
            status=HeldStatus.COMPLETED, finished_at=utcnow(), transfer_id=posted.id))
        db.session.commit()
        counts["completed"] += 1
    if any(counts.values()):
        log.info("held transfers: %s", counts)
    return counts
