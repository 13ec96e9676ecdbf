"""The lottery draw against the database: run it once, award the packets, publish everything.

The algorithm itself is ``campaigns.draw`` (pure, documented step by step,
re-run by ``python -m campaigns.verify_draw``).
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from backend.clock import as_utc, utcnow
from backend.errors import Conflict
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode
from backend.secrets_box import open_sealed
from campaigns import draw as algo
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Claim, ClaimStatus, Packet, Registration


class DrawNotDue(Conflict):
    code = "draw_not_due"
    title = "The draw has not happened yet"


def draw(campaign_id: int, *, commit: bool = True) -> bool:
    """Draw a lottery whose registration has closed and award its red packets; commit (unless
    ``commit`` is False: then the caller has advanced the campaign's status and commits).

    Returns True if this call drew, False if it had been drawn already (safe
    twice, and from two workers at once: the draw is claimed by a conditional
    UPDATE). Raises ``DrawNotDue`` before registration closes, ``Conflict``
    (not_a_lottery).
    """
    from campaigns.service import SEED_PURPOSE, _get, advance

    campaign = _get(campaign_id)
    if campaign.kind != CampaignKind.LOTTERY:
        raise Conflict("Only lotteries are drawn.", code="not_a_lottery")
    if campaign.drawn_at is not None:
        return False
    if campaign.status in (CampaignStatus.DRAFT,) or as_utc(campaign.closes_at) > utcnow():
        raise DrawNotDue("The draw runs when registration closes.", registration_ends_at=as_utc(
            campaign.closes_at).isoformat())
    if commit:
        advance(campaign_id)
    seed = open_sealed(SEED_PURPOSE, campaign.seed_sealed)
    at = utcnow()
    claimed = db.session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.drawn_at.is_(None),
               Campaign.status.in_((CampaignStatus.ENDED, CampaignStatus.SETTLED)))
        .values(drawn_at=at, seed_hex=seed.hex())
    ).rowcount
    if claimed != 1:
        if commit:
            db.session.rollback()
        return False
    registrants = [algo.Registrant(r.user_id, algo.device_tag(campaign_id, r.device_id))
                   for r in db.session.execute(select(Registration.user_id, Registration.device_id)
                                               .where(Registration.campaign_id == campaign_id)).all()]
    packets = list(db.session.execute(select(Packet.amount_fen).where(Packet.campaign_id == campaign_id)
                                      .order_by(Packet.seq)).scalars())
    devices = dict(db.session.execute(select(Registration.user_id, Registration.device_id)
                                      .where(Registration.campaign_id == campaign_id)).all())
    for w in algo.winners(seed, campaign_id, registrants, packets, campaign.device_cap):
        account_id = ledger.open_account(AccountKind.RESTRICTED)
        claim_id = db.session.execute(insert(Claim).values(
            campaign_id=campaign_id, user_id=w.user_id, packet_seq=w.seq, amount_fen=w.amount_fen,
            device_id=devices.get(w.user_id), via="draw", status=ClaimStatus.CLAIMED,
            restricted_account_id=account_id, created_at=at).returning(Claim.id)).scalar_one()
        ledger.transfer(campaign.account_id, account_id, w.amount_fen, TransferCode.RED_PACKET_CLAIM,
                        memo=f"campaign:{campaign_id}:claim:{claim_id}", limited=False)
    if commit:
        db.session.commit()
    return True


def document(campaign_id: int) -> dict:
    """Return the published draw: everything needed to recompute the winners (seed once drawn)."""
    from campaigns.service import _get

    campaign = _get(campaign_id)
    if campaign.kind != CampaignKind.LOTTERY:
        raise Conflict("Only lotteries are drawn.", code="not_a_lottery")
    drawn = campaign.drawn_at is not None
    registrants = db.session.execute(select(Registration.user_id, Registration.device_id)
                                     .where(Registration.campaign_id == campaign_id)
                                     .order_by(Registration.user_id)).all()
    packets = db.session.execute(select(Packet.seq, Packet.amount_fen).where(Packet.campaign_id == campaign_id)
                                 .order_by(Packet.seq)).all()
    winners = db.session.execute(select(Claim.user_id, Claim.packet_seq, Claim.amount_fen)
                                 .where(Claim.campaign_id == campaign_id, Claim.via == "draw")
                                 .order_by(Claim.packet_seq)).all() if drawn else []
    return {
        "campaign_id": campaign_id,
        "name": campaign.name,
        "status": "drawn" if drawn else ("pending" if campaign.launched_at else "not_launched"),
        "algorithm_version": algo.VERSION,
        "algorithm": algo.ALGORITHM,
        "verify_with": "python -m campaigns.verify_draw draw.json  (or: flask campaigns verify-draw draw.json)",
        "seed_sha256": campaign.seed_sha256,
        "seed": campaign.seed_hex if drawn else None,
        "registration_ends_at": as_utc(campaign.closes_at).isoformat(),
        "drawn_at": as_utc(campaign.drawn_at).isoformat() if drawn else None,
        "device_cap": campaign.device_cap,
        "packets": [{"seq": s, "amount_fen": a} for s, a in packets],
        "registrants": [{"user_id": u, "device_tag": algo.device_tag(campaign_id, d)} for u, d in registrants],
        "winners": [{"user_id": u, "seq": s, "amount_fen": a} for u, s, a in winners],
    }
