"""Who may take part in a campaign, and where its money may be spent.

A merchant accepts a campaign's red packets and coupons when it is approved
and, if the campaign lists merchants, it is listed; otherwise when the zones
plug-in has placed it in one of the campaign's zones (``zone_merchants``).
A scenario filter, when set, applies on top of either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from backend.clock import as_utc
from backend.errors import Forbidden
from backend.extensions import db
from backend.wallets.models import Wallet, WalletStatus
from campaigns.models import CampaignMerchant, CampaignZone


class NotEligible(Forbidden):
    code = "not_eligible"
    title = "Not eligible for this campaign"


def placement_table():
    """Return the zones plug-in's merchant placement table, or ``None`` if this install has none."""
    return db.metadata.tables.get("zone_merchants")


def merchant_zone_ids(merchant_ids: Iterable[int]) -> dict[int, int]:
    """Return merchant id → the zone it is placed in (merchants placed in no zone are left out)."""
    table = placement_table()
    ids = list(merchant_ids)
    if table is None or not ids:
        return {}
    rows = db.session.execute(select(table.c.merchant_id, table.c.zone_id)
                              .where(table.c.merchant_id.in_(ids), table.c.zone_id.is_not(None))).all()
    return {m: z for m, z in rows}


def accepting_campaigns(merchant_id: int, scenario: str, campaigns: dict[int, str | None]) -> set[int]:
    """Return the ids among ``campaigns`` (id → scenarios filter) whose money ``merchant_id`` may take."""
    if not campaigns:
        return set()
    ids = list(campaigns)
    listed: dict[int, set[int]] = {}
    for cid, mid in db.session.execute(select(CampaignMerchant.campaign_id, CampaignMerchant.merchant_id)
                                       .where(CampaignMerchant.campaign_id.in_(ids))).all():
        listed.setdefault(cid, set()).add(mid)
    unlisted = [cid for cid in ids if cid not in listed]
    zones: dict[int, set[int]] = {}
    if unlisted:
        for cid, zid in db.session.execute(select(CampaignZone.campaign_id, CampaignZone.zone_id)
                                           .where(CampaignZone.campaign_id.in_(unlisted))).all():
            zones.setdefault(cid, set()).add(zid)
    merchant_zone = merchant_zone_ids([merchant_id]).get(merchant_id) if unlisted else None
    out = set()
    for cid, scenarios in campaigns.items():
        if scenarios and scenario not in scenarios.split(","):
            continue
        if cid in listed:
            if merchant_id in listed[cid]:
                out.add(cid)
        elif merchant_zone is not None and merchant_zone in zones.get(cid, ()):
            out.add(cid)
    return out


def check_consumer(user_id: int, wallet_classes: str, opened_after: datetime | None) -> Wallet:
    """Return the consumer's wallet if it may take part; raise ``NotEligible`` with a ``reason``."""
    wallet = db.session.execute(select(Wallet).where(Wallet.user_id == user_id)).scalar_one_or_none()
    if wallet is None:
        raise NotEligible("Open a wallet first.", reason="no_wallet")
    if wallet.status != WalletStatus.ACTIVE:
        raise NotEligible("This wallet is frozen.", reason="wallet_frozen")
    if str(wallet.wallet_class) not in wallet_classes:
        raise NotEligible(f"This campaign is for wallets of class {', '.join(wallet_classes)}.",
                          reason="wallet_class", wallet_classes=[int(c) for c in wallet_classes])
    if opened_after is not None and as_utc(wallet.opened_at) <= as_utc(opened_after):
        raise NotEligible("This campaign is for wallets opened after "
                          f"{as_utc(opened_after).date().isoformat()}.", reason="wallet_too_old")
    return wallet
