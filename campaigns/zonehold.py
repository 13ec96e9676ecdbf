"""What a zone-wide stop (``campaigns.zonestop``) means to the rest of the plug-in, with no import back:
which stop covers a campaign, and pausing a campaign that goes live while its zone is stopped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from backend.clock import as_utc, utcnow
from backend.extensions import db
from backend.sql import insert_for
from campaigns.models import Campaign, CampaignKind, CampaignStatus, CampaignZone, ZoneStop, ZoneStopCampaign


def active_stop_of(campaign_id: int) -> ZoneStop | None:
    """Return an active zone stop covering one of the campaign's zones, or ``None``."""
    return db.session.execute(
        select(ZoneStop).join(CampaignZone, CampaignZone.zone_id == ZoneStop.zone_id)
        .where(CampaignZone.campaign_id == campaign_id, ZoneStop.resumed_at.is_(None))
        .order_by(ZoneStop.id).limit(1)).scalar_one_or_none()


def hold_if_stopped(campaign_id: int) -> bool:
    """Called as a campaign goes live (uncommitted): if one of its zones is stopped, pause it (live → paused)
    and list it under that stop, so resuming the stop resumes it; return whether it did."""
    found = active_stop_of(campaign_id)
    if found is None:
        return False
    moved = db.session.execute(update(Campaign.__table__).where(
        Campaign.id == campaign_id, Campaign.status == CampaignStatus.LIVE).values(
        status=CampaignStatus.PAUSED, paused_at=utcnow())).rowcount
    if moved != 1:
        return False
    db.session.execute(insert_for(ZoneStopCampaign.__table__).values(stop_id=found.id, campaign_id=campaign_id)
                       .on_conflict_do_nothing())
    return True


def tell_gate_paused(campaign_id: int) -> None:
    """Best effort after the commit: the claim gate refuses the campaign's claims at once (PostgreSQL is
    asked anyway when the gate says stopped, and a rebuild reads the status from it)."""
    from campaigns.gate import Gate

    row = db.session.execute(select(Campaign.kind, Campaign.closes_at).where(Campaign.id == campaign_id)).one()
    if row.kind == CampaignKind.LOTTERY:
        return  # no gate: registrations are checked in PostgreSQL only
    try:
        Gate(campaign_id).set_stopped(CampaignStatus.PAUSED,
                                      int((as_utc(row.closes_at) + timedelta(days=1)).timestamp()))
    except Exception:  # noqa: BLE001
        from flask import current_app

        current_app.logger.exception("could not tell the claim gate of campaign %s: paused", campaign_id)
