"""The lottery against the database: registrants' reveals, the draw (once), and its published document.

The algorithm, and why the operator cannot steer it, is ``campaigns.draw``
(pure, documented step by step, re-run by ``python -m campaigns.verify_draw``).
Timeline: launch (seed hash published) → registration (each registrant may
commit to a secret) → registration closes (the list is final) → the reveal
window (``reveal_s``; registrants send their secrets) → the draw.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from backend.clock import as_utc, utcnow
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode
from backend.secrets_box import open_sealed
from campaigns import draw as algo
from campaigns import lifecycle
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Claim, ClaimStatus, Packet, Registration

#: The secrets-box purpose the seed is sealed under at launch.
SEED_PURPOSE = "campaign-draw-seed"


class DrawNotDue(Conflict):
    code = "draw_not_due"
    title = "The draw has not happened yet"


def _registrants(campaign_id: int) -> list[algo.Registrant]:
    return [algo.Registrant(r.user_id, algo.device_tag(campaign_id, r.device_id), r.commitment, r.secret_hex)
            for r in db.session.execute(
                select(Registration.user_id, Registration.device_id, Registration.commitment, Registration.secret_hex)
                .where(Registration.campaign_id == campaign_id).order_by(Registration.user_id)).all()]


def draw(campaign_id: int, *, commit: bool = True) -> bool:
    """Draw a lottery whose reveal window has ended and award its red packets; commit (unless
    ``commit`` is False: then the caller has advanced the campaign's status and commits).

    Returns True if this call drew, False if it had been drawn already (safe
    twice, and from two workers at once: the draw is claimed by a conditional
    UPDATE, which also waits for reveals in flight). Raises ``DrawNotDue``
    before the reveal window ends, ``Conflict`` (not_a_lottery, campaign_cancelled).
    """
    campaign = lifecycle.get(campaign_id)
    if campaign.kind != CampaignKind.LOTTERY:
        raise Conflict("Only lotteries are drawn.", code="not_a_lottery")
    if campaign.drawn_at is not None:
        return False
    if campaign.cancelled_at is not None:
        raise Conflict("This lottery was cancelled; it is never drawn.", code="campaign_cancelled")
    due_at = lifecycle.draw_due_at(campaign)
    if campaign.status == CampaignStatus.DRAFT or due_at > utcnow():
        raise DrawNotDue("The draw runs when the reveal window after registration ends.",
                         registration_ends_at=as_utc(campaign.closes_at).isoformat(), draw_at=due_at.isoformat())
    if commit:
        lifecycle.advance(campaign_id)
    seed = open_sealed(SEED_PURPOSE, campaign.seed_sealed)
    at = utcnow()
    claimed = db.session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.drawn_at.is_(None), Campaign.cancelled_at.is_(None),
               Campaign.status.in_((CampaignStatus.ENDED, CampaignStatus.SETTLED)))
        .values(drawn_at=at, seed_hex=seed.hex())
    ).rowcount
    if claimed != 1:
        if commit:
            db.session.rollback()
        return False
    # Read after the UPDATE: every reveal that committed before it is in, later ones wait and are refused.
    registrants = _registrants(campaign_id)
    db.session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id)
                       .values(registrations_sha256=algo.registrations_sha256(registrants)))
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


def reveal(user_id: int, campaign_id: int, secret_hex: str) -> Registration:
    """Record a registrant's secret in the reveal window (after registration closed, before the draw);
    commit; return the registration. Revealing the same secret again is harmless.

    Raises ``ValidationFailed`` (secret: not 64 hex digits, or not what was committed), ``Conflict``
    (not_a_lottery, not_registered, no_commitment, reveal_not_open, campaign_cancelled).
    """
    secret_hex = (secret_hex or "").lower()
    if not algo.HEX64.match(secret_hex):
        raise ValidationFailed("The secret is 32 bytes in hex (64 digits).", field="secret")
    # Shared lock on the campaign row: the draw's UPDATE waits for this reveal, or this reveal sees it drawn.
    campaign = db.session.execute(select(Campaign).where(Campaign.id == campaign_id).with_for_update(read=True)) \
        .scalar_one_or_none()
    if campaign is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    db.session.refresh(campaign)
    try:
        if campaign.kind != CampaignKind.LOTTERY:
            raise Conflict("Only lotteries take reveals.", code="not_a_lottery")
        if campaign.cancelled_at is not None:
            raise Conflict("This lottery was cancelled.", code="campaign_cancelled")
        at, due_at = utcnow(), lifecycle.draw_due_at(campaign)
        if as_utc(campaign.closes_at) > at or campaign.drawn_at is not None or due_at <= at:
            raise Conflict("Secrets are revealed after registration closes and before the draw "
                           "(an earlier reveal would let the operator see them while it can still add registrations).",
                           code="reveal_not_open", registration_ends_at=as_utc(campaign.closes_at).isoformat(),
                           draw_at=due_at.isoformat())
        reg = db.session.execute(select(Registration).where(Registration.campaign_id == campaign_id,
                                                            Registration.user_id == user_id)).scalar_one_or_none()
        if reg is None:
            raise Conflict("You are not registered for this draw.", code="not_registered")
        if reg.commitment is None:
            raise Conflict("Your registration committed to no secret; there is nothing to reveal.",
                           code="no_commitment")
        if algo.commitment_of(secret_hex) != reg.commitment:
            raise ValidationFailed("This secret does not hash to your commitment.", field="secret")
        if reg.secret_hex is None:
            reg.secret_hex, reg.revealed_at = secret_hex, at
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return reg


def document(campaign_id: int) -> dict:
    """Return the published draw: everything needed to recompute the winners (seed and secrets once drawn)."""
    campaign = lifecycle.get(campaign_id)
    if campaign.kind != CampaignKind.LOTTERY:
        raise Conflict("Only lotteries are drawn.", code="not_a_lottery")
    drawn = campaign.drawn_at is not None
    registrants = _registrants(campaign_id)
    packets = db.session.execute(select(Packet.seq, Packet.amount_fen).where(Packet.campaign_id == campaign_id)
                                 .order_by(Packet.seq)).all()
    winners = db.session.execute(select(Claim.user_id, Claim.packet_seq, Claim.amount_fen)
                                 .where(Claim.campaign_id == campaign_id, Claim.via == "draw")
                                 .order_by(Claim.packet_seq)).all() if drawn else []
    # Drawn before registrants could commit (no reveal window): the v1 algorithm, key = the seed.
    version = algo.VERSION if campaign.reveal_s is not None or not drawn else algo.V1
    if campaign.cancelled_at is not None and not drawn:
        status = "cancelled"
    else:
        status = "drawn" if drawn else ("pending" if campaign.launched_at else "not_launched")
    return {
        "campaign_id": campaign_id,
        "name": campaign.name,
        "status": status,
        "algorithm_version": version,
        "algorithm": algo.ALGORITHM,
        "verify_with": "python -m campaigns.verify_draw draw.json  (or: flask campaigns verify-draw draw.json)",
        "seed_sha256": campaign.seed_sha256,
        "seed": campaign.seed_hex if drawn else None,
        "registration_ends_at": as_utc(campaign.closes_at).isoformat(),
        "reveals_end_at": lifecycle.draw_due_at(campaign).isoformat(),
        "drawn_at": as_utc(campaign.drawn_at).isoformat() if drawn else None,
        "registrations_sha256": campaign.registrations_sha256,
        "committed": sum(1 for r in registrants if r.commitment),
        "revealed": sum(1 for r in registrants if algo.revealed(r)),
        "device_cap": campaign.device_cap,
        "packets": [{"seq": s, "amount_fen": a} for s, a in packets],
        "registrants": [{"user_id": r.user_id, "device_tag": r.device_tag, "commitment": r.commitment,
                         "secret": r.secret if drawn else None} for r in registrants],
        "winners": [{"user_id": u, "seq": s, "amount_fen": a} for u, s, a in winners],
    }
