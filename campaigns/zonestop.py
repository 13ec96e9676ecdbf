"""A zone-wide stop of every running campaign (emergency response, issue #16).

A zone manager (their own zones) or the pilot office (any zone) stops a
zone with a reason: every live campaign with that zone among its zones is
paused at once (the transition table's ``live → paused``: claims and
registrations are refused, 409 ``zone_campaigns_stopped``, and the claim
gate in Redis is told, so it hands out no packet), and a campaign of the
zone that opens while the stop lasts is paused as it goes live
(``zonehold.hold_if_stopped``, called by ``lifecycle.advance``). Red packets and
coupons already claimed stay spendable; no money moves. Resuming the stop
resumes the campaigns it paused whose window is still open and that no other
active stop covers; a campaign paused on its own before the stop stays
paused. Both are in the audit log (``backend.guards.audit``) with the reason.
"""

from __future__ import annotations

from sqlalchemy import select, update

from backend.auth.models import User
from backend.clock import utcnow
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.guards import audit
from backend.sql import insert_for
from campaigns import lifecycle
from campaigns.models import Campaign, CampaignStatus, CampaignZone, ZoneStop, ZoneStopCampaign
from campaigns.zonehold import active_stop_of

S = CampaignStatus
MIN_REASON_LEN = 4


def _reason(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) < MIN_REASON_LEN:
        raise ValidationFailed(f"State the reason in at least {MIN_REASON_LEN} characters.", field="reason",
                               code="reason_required")
    return text


def _may_act(user: User, zone_id: int) -> None:
    from campaigns.service import managed_zone_ids, zone_exists

    if not zone_exists(zone_id):
        raise NotFound("No such zone.", code="zone_not_found", field="zone_id")
    allowed = managed_zone_ids(user)
    if allowed is not None and zone_id not in allowed:
        raise Forbidden("Only a manager of this zone or the pilot office may stop its campaigns.",
                        code="campaign_forbidden")


def _tell_gates(campaign_ids: list[int], reason: str | None) -> None:
    from campaigns.control import _tell_gate

    for campaign_id in campaign_ids:
        _tell_gate(lifecycle.get(campaign_id), reason)


def stop(user: User, zone_id: int, reason: str) -> tuple[ZoneStop, list[int]]:
    """Stop every running campaign of ``zone_id``; commit; return the stop and the campaigns it paused.

    Raises ``NotFound`` (zone_not_found), ``Forbidden`` (campaign_forbidden),
    ``Conflict`` (zone_already_stopped), ``ValidationFailed`` (reason_required).
    """
    reason = _reason(reason)
    _may_act(user, zone_id)
    in_zone = select(CampaignZone.campaign_id).where(CampaignZone.zone_id == zone_id)
    lifecycle.advance_due(in_zone)  # what opened or closed by the clock is written back first
    now = utcnow()
    stop_id = db.session.execute(
        insert_for(ZoneStop.__table__).values(zone_id=zone_id, reason=reason, stopped_by_user_id=user.id,
                                              stopped_at=now).on_conflict_do_nothing().returning(ZoneStop.id)
    ).scalar_one_or_none()
    if stop_id is None:
        db.session.rollback()
        raise Conflict("This zone's campaigns are already stopped.", code="zone_already_stopped")
    live = list(db.session.execute(select(Campaign.id).where(Campaign.id.in_(in_zone),
                                                             Campaign.status == S.LIVE).order_by(Campaign.id))
                .scalars())
    paused = [cid for cid in live if lifecycle.move(cid, S.PAUSED, (S.LIVE,), paused_at=now)]
    for cid in paused:
        db.session.add(ZoneStopCampaign(stop_id=stop_id, campaign_id=cid))
    audit("zone_campaigns_stop", actor_user_id=user.id, target_kind="zone", target_id=zone_id, reason=reason,
          detail={"stop_id": stop_id, "campaign_ids": paused})
    db.session.commit()
    _tell_gates(paused, S.PAUSED)
    return db.session.get(ZoneStop, stop_id), paused


def resume(user: User, stop_id: int, reason: str) -> tuple[ZoneStop, list[int]]:
    """End a zone stop and resume the campaigns it paused (window still open, no other active stop);
    commit; return the stop and the campaigns resumed. Raises ``NotFound`` (zone_stop_not_found),
    ``Forbidden``, ``Conflict`` (zone_stop_ended)."""
    reason = _reason(reason)
    row = db.session.get(ZoneStop, stop_id)
    if row is None:
        raise NotFound("No such zone stop.", code="zone_stop_not_found")
    _may_act(user, row.zone_id)
    T = ZoneStop.__table__
    moved = db.session.execute(update(T).where(T.c.id == stop_id, T.c.resumed_at.is_(None)).values(
        resumed_at=utcnow(), resumed_by_user_id=user.id, resume_reason=reason)).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict("This zone stop has already ended.", code="zone_stop_ended")
    ids = list(db.session.execute(select(ZoneStopCampaign.campaign_id).where(ZoneStopCampaign.stop_id == stop_id)
                                  .order_by(ZoneStopCampaign.campaign_id)).scalars())
    resumed = []
    for cid in ids:
        campaign = lifecycle.get(cid)
        if lifecycle.state(campaign) != S.PAUSED or active_stop_of(cid) is not None:
            continue  # ended meanwhile (the scan writes that back), or another zone of it is still stopped
        if lifecycle.move(cid, S.LIVE, (S.PAUSED,), paused_at=None):
            resumed.append(cid)
    audit("zone_campaigns_resume", actor_user_id=user.id, target_kind="zone", target_id=row.zone_id,
          reason=reason, detail={"stop_id": stop_id, "campaign_ids": resumed})
    db.session.commit()
    _tell_gates(resumed, None)
    db.session.refresh(row)
    return row, resumed


def stops(user: User, active: bool | None, zone_id: int | None) -> list[ZoneStop]:
    """Return the zone stops ``user`` may see (their zones; the pilot office all), newest first."""
    from campaigns.service import managed_zone_ids

    q = select(ZoneStop)
    allowed = managed_zone_ids(user)
    if allowed is not None:
        q = q.where(ZoneStop.zone_id.in_(allowed or {-1}))
    if active is not None:
        q = q.where(ZoneStop.resumed_at.is_(None) if active else ZoneStop.resumed_at.is_not(None))
    if zone_id is not None:
        q = q.where(ZoneStop.zone_id == zone_id)
    return list(db.session.execute(q.order_by(ZoneStop.id.desc()).limit(100)).scalars())


def campaigns_of(stop_id: int) -> list[int]:
    return list(db.session.execute(select(ZoneStopCampaign.campaign_id).where(ZoneStopCampaign.stop_id == stop_id)
                                   .order_by(ZoneStopCampaign.campaign_id)).scalars())
