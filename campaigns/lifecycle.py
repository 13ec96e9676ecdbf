"""A campaign's state: the one function every view, report and job asks, and the moves between states.

``state(campaign, at)`` is what a campaign *is* at ``at``: the stored status
moved along by the clock (scheduled → live when its window opens, live or
paused → ended when it closes). The list, one campaign, the live monitor's
figures, the settlement report, the consumer's offers and the console all
show ``state``, so no two of them can disagree; ``advance`` writes it back.

Every change of status is a conditional UPDATE naming the states it may
come from (``CampaignStatus.TRANSITIONS``), so an illegal or concurrent move
changes nothing. The modules of this plug-in (service, control, lottery,
settlement, tasks) import this one; it imports none of them at module level.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from backend import clock
from backend.clock import as_utc
from backend.errors import Conflict, NotFound
from backend.extensions import db
from campaigns.models import Campaign, CampaignKind, CampaignStatus

#: Lotteries: how long registrants may reveal their secrets after registration closes (the draw then runs).
DEFAULT_REVEAL_S = 600


def now() -> datetime:
    return clock.utcnow()


def get(campaign_id: int) -> Campaign:
    """Return the campaign; raise ``NotFound`` (campaign_not_found)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    return campaign


def due_status(status: str, opens_at: datetime, closes_at: datetime, at: datetime | None = None) -> str:
    """Return the status the clock says a campaign stored as ``status`` is in (never settles by itself)."""
    at = at or now()
    if status == CampaignStatus.SCHEDULED and as_utc(opens_at) <= at:
        status = CampaignStatus.LIVE
    if status in (CampaignStatus.LIVE, CampaignStatus.PAUSED) and as_utc(closes_at) <= at:
        status = CampaignStatus.ENDED
    return status


def state(campaign, at: datetime | None = None) -> str:
    """Return what ``campaign`` (a ``Campaign`` or a row with status, opens_at, closes_at) is at ``at``."""
    return due_status(campaign.status, campaign.opens_at, campaign.closes_at, at)


def illegal(status: str, target: str) -> Conflict:
    return Conflict(f"A {status} campaign cannot become {target}.", code="illegal_transition", status_now=status)


def move(campaign_id: int, target: str, frm: tuple[str, ...] | None = None, **values) -> bool:
    """Move a campaign to ``target`` if it is in one of ``frm`` (default: every source the table allows);
    return whether it moved. Does not commit."""
    sources = CampaignStatus.sources_of(target)
    frm = sources if frm is None else tuple(s for s in frm if s in sources)
    return db.session.execute(
        update(Campaign.__table__).where(Campaign.id == campaign_id, Campaign.status.in_(frm))
        .values(status=target, **values)
    ).rowcount == 1


def advance(campaign_id: int) -> str:
    """Write back what the clock says: scheduled → live → ended (paused → ended); commit if it moved;
    return the status. Safe any time, from any worker (conditional UPDATEs). A lottery that ends
    gets its draw scheduled."""
    row = db.session.execute(select(Campaign.status, Campaign.opens_at, Campaign.closes_at, Campaign.kind)
                             .where(Campaign.id == campaign_id)).one_or_none()
    if row is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    target = state(row)
    if target == row.status:
        return row.status
    held = False
    if row.status == CampaignStatus.SCHEDULED and move(campaign_id, CampaignStatus.LIVE, (CampaignStatus.SCHEDULED,)):
        from campaigns.zonehold import hold_if_stopped

        held = target == CampaignStatus.LIVE and hold_if_stopped(campaign_id)  # its zone is stopped
    if target == CampaignStatus.ENDED:
        move(campaign_id, CampaignStatus.ENDED, (CampaignStatus.LIVE, CampaignStatus.PAUSED), paused_at=None)
    db.session.commit()
    if held:
        from campaigns.zonehold import tell_gate_paused

        tell_gate_paused(campaign_id)
    if target == CampaignStatus.ENDED and row.kind == CampaignKind.LOTTERY and _draw_scheduler is not None:
        _draw_scheduler(campaign_id, at=draw_due_at(get(campaign_id)))
    return db.session.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar_one()


_draw_scheduler = None


def schedule_draws_with(func) -> None:
    """Have ``advance`` call ``func(campaign_id, at=…)`` when a lottery's registration ends (``tasks`` sets it
    in ``init_app``, so this module imports no module that imports it back; the minute scan draws anyway)."""
    global _draw_scheduler
    _draw_scheduler = func


def advance_due(campaign_ids_query=None) -> int:
    """Advance every campaign whose stored status is behind the clock (before listing by status);
    return how many moved."""
    at = now()
    q = select(Campaign.id).where(or_(
        and_(Campaign.status == CampaignStatus.SCHEDULED, Campaign.opens_at <= at),
        and_(Campaign.status.in_((CampaignStatus.LIVE, CampaignStatus.PAUSED)), Campaign.closes_at <= at)))
    if campaign_ids_query is not None:
        q = q.where(Campaign.id.in_(campaign_ids_query))
    ids = list(db.session.execute(q).scalars())
    for campaign_id in ids:
        advance(campaign_id)
    return len(ids)


def funder_account(funder_id: int) -> int:
    """Return the ledger account of a funder's wallet (where budgets come from and return to)."""
    from backend.wallets.models import Wallet
    from campaigns.models import Funder

    return db.session.execute(select(Wallet.account_id).join(Funder, Funder.wallet_id == Wallet.id)
                              .where(Funder.id == funder_id)).scalar_one()


def gate_expiry(closes_at: datetime) -> int:
    """Return when the claim gate's keys may vanish (Unix seconds): a day after the claim window."""
    return int((as_utc(closes_at) + timedelta(days=1)).timestamp())


def draw_due_at(campaign) -> datetime:
    """A lottery's draw time: the end of the reveal window that follows registration."""
    return as_utc(campaign.closes_at) + timedelta(seconds=campaign.reveal_s or 0)


def spendable(campaign, at: datetime | None = None) -> bool:
    """Whether red packets and coupons claimed from ``campaign`` may be spent at ``at``."""
    at = at or now()
    return campaign.status in CampaignStatus.SPENDABLE and as_utc(campaign.spend_ends_at) > at
