"""Changing and stopping a campaign: edit or delete a draft, pause and resume, cancel.

Who: the pilot office, or a manager of every one of the campaign's zones
(``service.get_managed``). Every status change goes through the transition
table (``lifecycle.move``); the claim gate in Redis is told after PostgreSQL
commits (PostgreSQL is checked first on every claim, so a lost Redis write
only delays nothing; ``Gate.reconcile`` repairs the flag).

Cancel moves money, all through ``backend.ledger`` and in one transaction:

- the unclaimed budget goes back to the funder at once (RETURN, memo
  ``campaign:{id}:cancel``): for red packets the whole campaign account; for
  coupons the account less ``discount × coupons claimed and not used``,
  which stays escrowed so those coupons remain good;
- claimed red packets and coupons stay spendable until the spend deadline
  (the scan then reclaims and settles as usual) — unless the cancel says
  ``reclaim_claimed``: then every consumer's unspent red-packet balance goes
  back to the campaign account (RECLAIM), unused coupons become void, the
  whole campaign account is returned and the campaign is settled at once.

Races (PostgreSQL): the cancel locks the campaign row, then the escrow
account row. A red-packet claim debits the escrow row, so it either commits
before the cancel reads the balance or finds it empty afterwards (and is
refused as cancelled); a coupon claim holds the campaign row shared while it
commits, so the cancel counts it. The settlement report accounts for every
fen either way.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, func, select, update

from backend.auth.models import User
from backend.clock import as_utc
from backend.errors import Conflict, ValidationFailed
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Account
from backend.ledger.service import InsufficientFunds, TransferCode
from backend.sql import fen_sum
from campaigns import lifecycle, service
from campaigns.gate import Gate
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignMerchant,
    CampaignStatus,
    CampaignZone,
    Claim,
    ClaimStatus,
)

S = CampaignStatus


def _not_draft(campaign: Campaign, what: str) -> Conflict:
    return Conflict(f"Only a draft can be {what}; this campaign is {lifecycle.state(campaign)}.", code="not_draft",
                    status_now=lifecycle.state(campaign))


# ---------------------------------------------------------------- drafts


def draft_input(campaign: Campaign) -> dict:
    """Return a stored draft as the body of ``POST /campaigns`` that would create it."""
    lottery = campaign.kind == CampaignKind.LOTTERY
    opens, closes = ("registration_starts_at", "registration_ends_at") if lottery \
        else ("claim_starts_at", "claim_ends_at")
    data = {
        "name": campaign.name, "kind": campaign.kind, "funder_id": campaign.funder_id,
        "zone_ids": sorted(service.zone_ids_of(campaign.id)), "merchant_ids": service.merchants_of(campaign.id),
        "scenarios": campaign.scenarios.split(",") if campaign.scenarios else [],
        "packet_count": campaign.packet_count, "device_cap": campaign.device_cap,
        "wallet_classes": [int(c) for c in campaign.wallet_classes],
        "wallet_opened_after": campaign.wallet_opened_after and as_utc(campaign.wallet_opened_after),
        opens: as_utc(campaign.opens_at), closes: as_utc(campaign.closes_at),
        "spend_ends_at": as_utc(campaign.spend_ends_at),
    }
    if campaign.kind == CampaignKind.COUPON:
        data.update(discount_fen=campaign.discount_fen, min_spend_fen=campaign.min_spend_fen,
                    stackable=campaign.stackable)
    else:
        data.update(split=campaign.split, budget_fen=campaign.budget_fen)
    return data


def edit_draft(user: User, campaign_id: int, patch: dict) -> Campaign:
    """Change a draft: ``patch`` holds the fields of ``POST /campaigns`` to change (not ``kind``); the
    result is checked as a new campaign would be. Commit; return the campaign.

    Raises ``NotFound``, ``Forbidden``, ``Conflict`` (not_draft: launched meanwhile), ``ValidationFailed``.
    """
    campaign = service.get_managed(user, campaign_id)
    if campaign.status != S.DRAFT:
        raise _not_draft(campaign, "edited")
    data = draft_input(campaign)
    lottery = campaign.kind == CampaignKind.LOTTERY
    wrong = ("claim_starts_at", "claim_ends_at") if lottery else ("registration_starts_at", "registration_ends_at")
    for field in wrong:
        if field in patch:
            raise ValidationFailed(f"A {campaign.kind} campaign has no {field}.", field=field)
    if campaign.kind == CampaignKind.COUPON and "budget_fen" in patch:
        raise ValidationFailed("A coupon campaign's budget is count × discount; change those instead.",
                               field="budget_fen")
    data.update(patch)
    values, zone_ids, merchant_ids = service.draft_values(user, data)
    changed = db.session.execute(update(Campaign.__table__)
                                 .where(Campaign.id == campaign_id, Campaign.status == S.DRAFT)
                                 .values(**values)).rowcount
    if changed != 1:
        db.session.rollback()
        raise _not_draft(lifecycle.get(campaign_id), "edited")
    db.session.execute(delete(CampaignZone).where(CampaignZone.campaign_id == campaign_id))
    db.session.execute(delete(CampaignMerchant).where(CampaignMerchant.campaign_id == campaign_id))
    service._set_places(campaign_id, zone_ids, merchant_ids)
    db.session.commit()
    db.session.expire_all()
    return lifecycle.get(campaign_id)


def delete_draft(user: User, campaign_id: int) -> None:
    """Delete a draft (never launched: no money, packets or claims); commit.

    Raises ``NotFound``, ``Forbidden``, ``Conflict`` (not_draft).
    """
    campaign = service.get_managed(user, campaign_id)
    locked = db.session.execute(select(Campaign.status).where(Campaign.id == campaign_id).with_for_update()) \
        .scalar_one()
    if locked != S.DRAFT:
        db.session.rollback()
        raise _not_draft(campaign, "deleted")
    db.session.execute(delete(CampaignZone).where(CampaignZone.campaign_id == campaign_id))
    db.session.execute(delete(CampaignMerchant).where(CampaignMerchant.campaign_id == campaign_id))
    db.session.execute(delete(Campaign).where(Campaign.id == campaign_id, Campaign.status == S.DRAFT))
    db.session.commit()


# ---------------------------------------------------------------- pause and resume


def _tell_gate(campaign: Campaign, reason: str | None) -> None:
    """Best effort after the commit: the gate refuses (or passes) claims at once; PostgreSQL's status
    is checked on every claim anyway and ``reconcile`` repairs a flag this could not write."""
    if campaign.kind == CampaignKind.LOTTERY:
        return  # no gate: registrations are checked in PostgreSQL only
    try:
        Gate(campaign.id).set_stopped(reason, lifecycle.gate_expiry(campaign.closes_at))
    except Exception:  # noqa: BLE001
        from flask import current_app

        current_app.logger.exception("could not tell the claim gate of campaign %s: %s", campaign.id, reason)


def pause(user: User, campaign_id: int) -> Campaign:
    """Pause a live campaign: claims (registrations) answer 409 campaign_paused; what was claimed stays
    spendable. Commit; return the campaign. Raises ``Conflict`` (illegal_transition), ``Forbidden``."""
    service.get_managed(user, campaign_id)
    lifecycle.advance(campaign_id)
    if not lifecycle.move(campaign_id, S.PAUSED, (S.LIVE,), paused_at=lifecycle.now()):
        db.session.rollback()
        raise lifecycle.illegal(lifecycle.state(lifecycle.get(campaign_id)), S.PAUSED)
    db.session.commit()
    campaign = lifecycle.get(campaign_id)
    _tell_gate(campaign, S.PAUSED)
    return campaign


def resume(user: User, campaign_id: int) -> Campaign:
    """Resume a paused campaign whose window is still open. Commit; return the campaign.
    Raises ``Conflict`` (illegal_transition; a campaign paused past its window has ended)."""
    service.get_managed(user, campaign_id)
    lifecycle.advance(campaign_id)
    from campaigns.zonehold import active_stop_of

    stopped = active_stop_of(campaign_id)
    if stopped is not None:
        raise Conflict("Every campaign of this zone is stopped: resume the zone stop instead.",
                       code="zone_campaigns_stopped", zone_id=stopped.zone_id, stop_id=stopped.id)
    if not lifecycle.move(campaign_id, S.LIVE, (S.PAUSED,), paused_at=None):
        db.session.rollback()
        raise lifecycle.illegal(lifecycle.state(lifecycle.get(campaign_id)), S.LIVE)
    db.session.commit()
    campaign = lifecycle.get(campaign_id)
    _tell_gate(campaign, None)
    return campaign


# ---------------------------------------------------------------- cancel


def _unused_coupons(campaign_id: int) -> int:
    return db.session.execute(select(func.count()).where(
        Claim.campaign_id == campaign_id, Claim.status == ClaimStatus.CLAIMED)).scalar_one()


def _with_consumers(campaign_id: int) -> int:
    """Red-packet money consumers of this campaign hold now (unspent restricted balances)."""
    restricted = select(Claim.restricted_account_id).where(Claim.campaign_id == campaign_id,
                                                          Claim.restricted_account_id.is_not(None))
    return db.session.execute(select(fen_sum(Account.balance_fen)).where(Account.id.in_(restricted))).scalar_one()


def quote(campaign: Campaign) -> dict | None:
    """Return what a cancel would move now (for the console's confirmation), ``None`` if it cannot be
    cancelled: ``returned_fen`` to the funder at once, ``stays_spendable_fen`` with consumers until the
    deadline (red packets held, coupons claimed and unused × discount); with ``reclaim_claimed`` every
    fen the campaign and its consumers hold returns (``returned_if_reclaimed_fen``)."""
    if lifecycle.state(campaign) not in S.sources_of(S.CANCELLED) or campaign.account_id is None:
        return None
    escrow = ledger.balance(campaign.account_id)
    if campaign.kind == CampaignKind.COUPON:
        reserved = _unused_coupons(campaign.id) * campaign.discount_fen
        return {"returned_fen": escrow - reserved, "stays_spendable_fen": reserved,
                "unused_coupons": reserved // campaign.discount_fen, "returned_if_reclaimed_fen": escrow}
    held = _with_consumers(campaign.id)
    return {"returned_fen": escrow, "stays_spendable_fen": held, "unused_coupons": None,
            "returned_if_reclaimed_fen": escrow + held}


def _direct(action: Callable[[], tuple[dict, int]]) -> tuple[dict, int]:
    return service._direct(action)


def cancel(user: User, campaign_id: int, reclaim_claimed: bool, render: Callable[[Campaign], dict], *,
           run=_direct) -> tuple[dict, int]:
    """Cancel a scheduled, live, paused or ended campaign (see the module doc for the money); return
    ``(body, status)`` from ``run`` (``idempotency.run`` over HTTP). The body is ``render(campaign)`` plus
    ``cancel``: returned_fen, reclaimed_fen, stays_spendable_fen, void_coupons.

    Refusals: ``Forbidden``, ``Conflict`` (illegal_transition).
    """
    service.get_managed(user, campaign_id)
    lifecycle.advance(campaign_id)

    def action():
        campaign = db.session.execute(select(Campaign).where(Campaign.id == campaign_id).with_for_update()) \
            .scalar_one()
        db.session.refresh(campaign)
        status = lifecycle.state(campaign)
        if status not in S.sources_of(S.CANCELLED):
            raise lifecycle.illegal(status, S.CANCELLED)
        at = lifecycle.now()
        if not lifecycle.move(campaign_id, S.CANCELLED, (campaign.status,), cancelled_at=at,
                              cancelled_by_user_id=user.id, cancel_reclaimed=reclaim_claimed, paused_at=None):
            raise lifecycle.illegal(status, S.CANCELLED)
        escrow_id = campaign.account_id
        # Under the escrow row's lock: claims that debited it have committed, later ones find it empty.
        escrow = db.session.execute(select(Account.balance_fen).where(Account.id == escrow_id).with_for_update()) \
            .scalar_one()
        funder = service.funder_account(campaign.funder_id)
        reclaimed = void = 0
        if reclaim_claimed:
            rows = db.session.execute(
                select(Claim.id, Claim.restricted_account_id, Account.balance_fen)
                .join(Account, Account.id == Claim.restricted_account_id)
                .where(Claim.campaign_id == campaign_id, Account.balance_fen > 0).order_by(Claim.id)
            ).all()
            ledger.lock_accounts([escrow_id, *(r.restricted_account_id for r in rows)])
            for r in rows:
                ledger.transfer(r.restricted_account_id, escrow_id, r.balance_fen, TransferCode.RECLAIM,
                                memo=f"campaign:{campaign_id}:cancel:reclaim:claim:{r.id}", actor_user_id=user.id,
                                limited=False)
                reclaimed += r.balance_fen
            void = _unused_coupons(campaign_id) if campaign.kind == CampaignKind.COUPON else 0
            keep = 0
            lifecycle.move(campaign_id, S.SETTLED, (S.CANCELLED,), settled_at=at, reclaimed_at=at)
        else:
            keep = _unused_coupons(campaign_id) * campaign.discount_fen \
                if campaign.kind == CampaignKind.COUPON else 0
        back = escrow + reclaimed - keep
        if back > 0:
            try:
                ledger.transfer(escrow_id, funder, back, TransferCode.RETURN, memo=f"campaign:{campaign_id}:cancel",
                                actor_user_id=user.id, limited=False)
            except InsufficientFunds:  # the escrow row is locked: this would be a bug, never a race
                raise RuntimeError(f"campaign {campaign_id}: escrow moved under its lock") from None
        db.session.flush()
        db.session.refresh(campaign)
        stays = keep + (0 if reclaim_claimed else _with_consumers(campaign_id))
        body = render(campaign)
        body["cancel"] = {"returned_fen": back, "reclaimed_fen": reclaimed, "stays_spendable_fen": stays,
                          "void_coupons": void, "reclaim_claimed": reclaim_claimed}
        return body, 200

    body, status = run(action)
    if status < 300:
        _tell_gate(lifecycle.get(campaign_id), S.CANCELLED)
    return body, status
