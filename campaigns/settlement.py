"""Expiry and settlement: reclaim unspent red packets, return the unspent budget, account for every fen.

After the spend deadline, ``reclaim`` moves each consumer's unspent
restricted balance back to the campaign account (RECLAIM); ``settle`` then
returns the campaign account's balance to the funder (RETURN) and marks the
campaign settled. Both re-read state and are safe to run twice; running
them again also sweeps any money a late refund brought back.

The settlement report is computed from the ledger alone (the transfers
touching the campaign account and the consumers' restricted accounts of
this campaign), and checks the identities::

    campaign account:    issued − claimed − coupons spent + coupons refunded + reclaimed − returned = held
    restricted accounts: claimed − red packets spent + red packets refunded − reclaimed = held by consumers
    overall:             issued = spent (net of refunds) + returned + held by campaign + held by consumers
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select, update

from backend.clock import as_utc, utcnow
from backend.errors import Conflict
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Account, Transfer
from backend.ledger.service import InsufficientFunds, TransferCode
from backend.payments.models import Order
from backend.sql import fen_sum
from campaigns import lifecycle
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Claim, Redemption


class NotDue(Conflict):
    code = "not_due"
    title = "Too early"


def _campaign(campaign_id: int) -> Campaign:
    return lifecycle.get(campaign_id)


def reclaim(campaign_id: int) -> int:
    """Move every unspent red-packet balance of a campaign past its spend deadline back to the
    campaign account (RECLAIM); commit; return the fen reclaimed. Safe to run twice.

    Raises ``NotDue`` before the spend deadline.
    """
    campaign = _campaign(campaign_id)
    if as_utc(campaign.spend_ends_at) > utcnow():
        raise NotDue("Red packets are spendable until the spend deadline.", code="not_due",
                     spend_ends_at=as_utc(campaign.spend_ends_at).isoformat())
    if campaign.account_id is None:
        return 0
    rows = db.session.execute(
        select(Claim.id, Claim.restricted_account_id, Account.balance_fen)
        .join(Account, Account.id == Claim.restricted_account_id)
        .where(Claim.campaign_id == campaign_id, Account.balance_fen > 0).order_by(Claim.id)
    ).all()
    total = 0
    for r in rows:
        try:
            with db.session.begin_nested():
                ledger.transfer(r.restricted_account_id, campaign.account_id, r.balance_fen, TransferCode.RECLAIM,
                                memo=f"campaign:{campaign_id}:reclaim:claim:{r.id}", limited=False)
            total += r.balance_fen
        except InsufficientFunds:
            continue  # a concurrent refund or spend moved it; the next run sweeps what is left
    db.session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id, Campaign.reclaimed_at.is_(None))
                       .values(reclaimed_at=utcnow()))
    db.session.commit()
    return total


def settle(campaign_id: int) -> int:
    """Settle a campaign past its spend deadline: reclaim, then return the campaign account's balance
    to the funder (RETURN), status → settled; commit; return the fen returned by this run.
    Safe to run twice (a second run returns only what arrived since). Raises ``NotDue``."""
    from campaigns import lottery

    campaign = _campaign(campaign_id)
    if as_utc(campaign.spend_ends_at) > utcnow():
        raise NotDue("A campaign settles after its spend deadline.", spend_ends_at=as_utc(
            campaign.spend_ends_at).isoformat())
    if campaign.status == CampaignStatus.DRAFT:
        raise Conflict("A draft campaign was never launched; there is nothing to settle.", code="illegal_transition")
    lifecycle.advance(campaign_id)
    if campaign.kind == CampaignKind.LOTTERY and campaign.drawn_at is None and campaign.cancelled_at is None:
        lottery.draw(campaign_id)
    reclaim(campaign_id)
    db.session.execute(update(Campaign.__table__)
                       .where(Campaign.id == campaign_id,
                              Campaign.status.in_(CampaignStatus.sources_of(CampaignStatus.SETTLED)))
                       .values(status=CampaignStatus.SETTLED, settled_at=utcnow()))
    balance = ledger.balance(campaign.account_id)
    if balance > 0:
        try:
            ledger.transfer(campaign.account_id, lifecycle.funder_account(campaign.funder_id), balance,
                            TransferCode.RETURN, memo=f"campaign:{campaign_id}:settlement", limited=False)
        except InsufficientFunds:
            db.session.rollback()  # moved meanwhile; the next run returns what is there then
            return 0
    db.session.commit()
    return balance


# ---------------------------------------------------------------- figures


def _restricted_accounts(campaign_ids: Iterable[int]) -> list[int]:
    return list(db.session.execute(select(Claim.restricted_account_id).where(
        Claim.campaign_id.in_(list(campaign_ids)), Claim.restricted_account_id.is_not(None))).scalars())


def _sum(cond) -> int:
    return db.session.execute(select(fen_sum(Transfer.amount_fen)).where(*cond)).scalar_one()


def report(campaign_id: int) -> dict:
    """Return the settlement report of a campaign, every figure from the ledger, with its checks."""
    campaign = _campaign(campaign_id)
    escrow = campaign.account_id
    restricted = _restricted_accounts([campaign_id])
    T = Transfer
    if escrow is None:
        return {"campaign_id": campaign_id, "status": lifecycle.state(campaign), "launched": False,
                "issued_fen": 0, "balanced": True, "checks": []}
    into_r, out_r = T.credit_account_id.in_(restricted or [-1]), T.debit_account_id.in_(restricted or [-1])
    f = {
        "issued_fen": _sum([T.credit_account_id == escrow, T.code == TransferCode.ESCROW]),
        "claimed_fen": _sum([T.debit_account_id == escrow, into_r, T.code == TransferCode.RED_PACKET_CLAIM]),
        "red_packets_spent_fen": _sum([out_r, T.code == TransferCode.RED_PACKET_SPEND]),
        "red_packets_refunded_fen": _sum([into_r, T.code == TransferCode.REFUND]),
        "coupons_spent_fen": _sum([T.debit_account_id == escrow, T.code == TransferCode.COUPON_SUBSIDY]),
        "coupons_refunded_fen": _sum([T.credit_account_id == escrow, T.code == TransferCode.REFUND]),
        "reclaimed_fen": _sum([out_r, T.credit_account_id == escrow, T.code == TransferCode.RECLAIM]),
        "returned_fen": _sum([T.debit_account_id == escrow, T.code == TransferCode.RETURN]),
    }
    held_campaign = ledger.balance(escrow)
    held_consumers = db.session.execute(select(fen_sum(Account.balance_fen))
                                        .where(Account.id.in_(restricted or [-1]))).scalar_one()
    spent_net = (f["red_packets_spent_fen"] - f["red_packets_refunded_fen"]
                 + f["coupons_spent_fen"] - f["coupons_refunded_fen"])
    touching = or_(T.debit_account_id == escrow, T.credit_account_id == escrow, into_r, out_r)
    explained = {TransferCode.ESCROW, TransferCode.RED_PACKET_CLAIM, TransferCode.RED_PACKET_SPEND,
                 TransferCode.COUPON_SUBSIDY, TransferCode.REFUND, TransferCode.RECLAIM, TransferCode.RETURN}
    unexplained = db.session.execute(select(func.count()).where(touching, T.code.not_in(explained))).scalar_one()
    checks = [
        ("campaign account", f["issued_fen"] - f["claimed_fen"] - f["coupons_spent_fen"] + f["coupons_refunded_fen"]
         + f["reclaimed_fen"] - f["returned_fen"], held_campaign),
        ("restricted accounts", f["claimed_fen"] - f["red_packets_spent_fen"] + f["red_packets_refunded_fen"]
         - f["reclaimed_fen"], held_consumers),
        ("issued = spent + returned + held", f["issued_fen"],
         spent_net + f["returned_fen"] + held_campaign + held_consumers),
        ("issued = budget", f["issued_fen"], campaign.budget_fen),
        ("transfers of other kinds", unexplained, 0),
    ]
    claims, claimed_packets_fen = db.session.execute(
        select(func.count(), fen_sum(Claim.amount_fen)).where(Claim.campaign_id == campaign_id)
    ).one()
    return {
        "campaign_id": campaign_id,
        "status": lifecycle.state(campaign),
        "kind": campaign.kind,
        "cancelled_at": as_utc(campaign.cancelled_at).isoformat() if campaign.cancelled_at else None,
        "cancel_reclaimed": campaign.cancel_reclaimed,
        "budget_fen": campaign.budget_fen,
        **f,
        "spent_net_fen": spent_net,
        "held_by_campaign_fen": held_campaign,
        "held_by_consumers_fen": held_consumers,
        "packets": campaign.packet_count,
        "packets_claimed": claims,
        "packets_claimed_fen": claimed_packets_fen,
        **subsidy_figures([campaign_id]),
        "settled_at": as_utc(campaign.settled_at).isoformat() if campaign.settled_at else None,
        "balanced": all(a == b for _, a, b in checks),
        "checks": [{"name": n, "left_fen": a, "right_fen": b, "ok": a == b} for n, a, b in checks],
    }


def subsidy_figures(campaign_ids: list[int]) -> dict:
    """Return the payments the campaigns subsidised: distinct orders, their volume net of refunds,
    the subsidy net of refunds, and leverage = volume / subsidy (``None`` without subsidy)."""
    if not campaign_ids:
        return {"subsidised_orders": 0, "subsidised_volume_fen": 0, "subsidy_net_fen": 0, "leverage": None}
    subsidy = db.session.execute(
        select(fen_sum(Redemption.amount_fen - Redemption.refunded_fen))
        .where(Redemption.campaign_id.in_(campaign_ids))
    ).scalar_one()
    orders = select(Redemption.order_id).where(Redemption.campaign_id.in_(campaign_ids)).distinct().subquery()
    count, volume = db.session.execute(
        select(func.count(), fen_sum(Order.amount_fen - Order.refunded_fen))
        .where(Order.id.in_(select(orders.c.order_id)))
    ).one()
    return {"subsidised_orders": count, "subsidised_volume_fen": volume, "subsidy_net_fen": subsidy,
            "leverage": round(volume / subsidy, 4) if subsidy > 0 else None}
