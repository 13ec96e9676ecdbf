"""Campaign jobs (RQ): take ids, re-read state, safe to run twice; and the periodic scan for cron.

``scan_campaigns`` (every minute from ``rq cron backend.cron``) moves every
campaign along by the clock: scheduled → live → ended, draws lotteries whose
registration closed, reclaims and settles campaigns past their spend
deadline, sweeps money a late refund brought back, and reconciles the claim
gates of live campaigns with PostgreSQL. The draw is also scheduled at
launch for the end of registration (``enqueue_at``, with ``REDIS_URL``), and
on the embedded default runs when someone looks at the campaign or its draw
after registration closed, or by ``flask campaigns draw ID``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import or_, select

from backend.clock import utcnow
from backend.extensions import db
from backend.jobs import enqueue, queue, with_app
from backend.ledger.models import Account
from campaigns import lifecycle
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Claim

log = logging.getLogger(__name__)


@with_app
def draw_job(campaign_id: int) -> str:
    """Job: draw a lottery if due; return "drawn", "already drawn" or "not due"."""
    from campaigns import lottery

    try:
        return "drawn" if lottery.draw(campaign_id) else "already drawn"
    except lottery.DrawNotDue:
        db.session.rollback()
        return "not due"


@with_app
def reclaim_job(campaign_id: int) -> int:
    """Job: reclaim a campaign's unspent red packets after its spend deadline; return the fen."""
    from campaigns import settlement

    return settlement.reclaim(campaign_id)


@with_app
def settle_job(campaign_id: int) -> int:
    """Job: settle a campaign after its spend deadline; return the fen returned to the funder."""
    from campaigns import settlement

    return settlement.settle(campaign_id)


@with_app
def rebuild_gate_job(campaign_id: int) -> bool:
    """Job: rebuild a campaign's claim gate from PostgreSQL; return whether this run installed it."""
    from campaigns.gate import Gate

    try:
        return Gate(campaign_id).rebuild(lifecycle.gate_expiry(lifecycle.get(campaign_id).closes_at))
    finally:
        db.session.rollback()


def schedule_draw(campaign_id: int, at: datetime | None = None) -> None:
    """Have the draw run at ``at`` (default now): on RQ's scheduler with ``REDIS_URL``; inline on the
    embedded default when due (a future draw there runs lazily, see the module doc)."""
    try:
        if current_app.config.get("REDIS_URL"):
            if at is not None and at > utcnow():
                queue().enqueue_at(at, draw_job, campaign_id, job_id=f"campaign-{campaign_id}-draw")
            else:
                enqueue(draw_job, campaign_id)
        elif at is None or at <= utcnow():
            enqueue(draw_job, campaign_id)
    except Exception:  # noqa: BLE001 - the minute scan draws it anyway
        log.exception("could not schedule the draw of campaign %s", campaign_id)


@with_app
def scan_campaigns() -> dict:
    """Job (every minute): move every campaign along by the clock; return what was done. Safe twice."""
    from campaigns import lottery, settlement
    from campaigns.gate import Gate

    at = utcnow()
    done = {"advanced": 0, "drawn": 0, "settled": 0, "swept": 0, "gates_rebuilt": 0, "failed": 0}
    rows = db.session.execute(
        select(Campaign.id, Campaign.kind, Campaign.status, Campaign.opens_at, Campaign.closes_at,
               Campaign.spend_ends_at, Campaign.drawn_at, Campaign.account_id, Campaign.reveal_s,
               Campaign.cancelled_at)
        .where(Campaign.status != CampaignStatus.DRAFT)
    ).all()
    db.session.rollback()
    for c in rows:
        try:
            status = c.status
            if lifecycle.state(c, at) != status:
                status = lifecycle.advance(c.id)
                done["advanced"] += 1
            if (c.kind == CampaignKind.LOTTERY and c.drawn_at is None and c.cancelled_at is None
                    and status == CampaignStatus.ENDED and lifecycle.draw_due_at(c) <= at):
                done["drawn"] += int(lottery.draw(c.id))
            past_deadline = _utc(c.spend_ends_at) <= at
            if past_deadline and status != CampaignStatus.SETTLED:
                settlement.settle(c.id)
                done["settled"] += 1
            elif past_deadline and _holds_money(c.id, c.account_id):
                settlement.settle(c.id)
                done["swept"] += 1
            if status in (CampaignStatus.LIVE, CampaignStatus.PAUSED) and c.kind != CampaignKind.LOTTERY:
                done["gates_rebuilt"] += Gate(c.id).reconcile(lifecycle.gate_expiry(c.closes_at)) == "rebuilt"
                db.session.rollback()
        except Exception:  # noqa: BLE001 - one campaign's trouble must not stop the others
            db.session.rollback()
            done["failed"] += 1
            log.exception("scanning campaign %s failed", c.id)
    return done


def _utc(value):
    from backend.clock import as_utc

    return as_utc(value)


def _holds_money(campaign_id: int, account_id: int | None) -> bool:
    """Whether a settled campaign's account or its consumers' restricted accounts still hold money."""
    restricted = select(Claim.restricted_account_id).where(Claim.campaign_id == campaign_id,
                                                          Claim.restricted_account_id.is_not(None))
    held = db.session.execute(select(Account.id).where(
        or_(Account.id == account_id, Account.id.in_(restricted)), Account.balance_fen > 0).limit(1)).first()
    db.session.rollback()
    return held is not None
