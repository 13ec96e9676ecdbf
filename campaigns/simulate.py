"""Forecast a campaign without spending anything: packet amounts, cost, and leverage from history.

- Packet amounts: ``trials`` simulated splits (seeded, so a forecast is
  reproducible) → min/p10/p50/p90/p99/max/mean of all packets, and the
  distribution of the largest packet per split (the "luckiest draw").
- Expected cost: the budget × the share past campaigns of the same kind in
  the zones spent (red packets: fen spent ÷ fen issued; coupons: coupons
  used ÷ coupons issued), weighed by how much history there is against the
  size of this campaign and leaning on the cautious assumption "everything
  is spent" for the rest::

      cost = budget × (spent + size) ÷ (issued + size)

  where ``size`` is this campaign's budget in fen (coupons: its count). With
  no history that is the whole budget; one tiny precedent barely moves it (a
  ¥1 campaign nobody used does not forecast ¥0 for ¥100,000); history much
  larger than the campaign gives its own share.
- Wallet classes: a packet larger than a class's balance cap (class 4 holds
  at most ¥10,000) is flagged, with how often the simulation drew one.
- Expected leverage: over past launched campaigns in the zones, the payment
  volume that used their subsidy ÷ the subsidy (both net of refunds);
  ``None`` with no history. Expected subsidised volume = cost × leverage.
"""

from __future__ import annotations

import random

from sqlalchemy import func, select

from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger.models import Transfer
from backend.ledger.service import TransferCode
from backend.sql import fen_sum
from campaigns import split as splitter
from campaigns.models import Campaign, CampaignKind, CampaignStatus, CampaignZone, Claim, ClaimStatus, Redemption
from campaigns.settlement import subsidy_figures

PERCENTILES = (10, 50, 90, 99)


def _distribution(values: list[int]) -> dict:
    values = sorted(values)
    out = {"min_fen": values[0]}
    out.update({f"p{p}_fen": splitter.percentile(values, p) for p in PERCENTILES})
    out.update(max_fen=values[-1], mean_fen=sum(values) // len(values))
    return out


def _cap_warnings(amounts: list[int], classes) -> list[dict]:
    """The wallet classes taking part whose balance cap some simulated packet exceeds."""
    out = []
    largest = max(amounts)
    for c in sorted(set(classes), reverse=True):
        cap = WALLET_TIERS[c].balance_cap_fen
        if cap is not None and largest > cap:
            over = sum(1 for a in amounts if a > cap)
            out.append({"wallet_class": c, "balance_cap_fen": cap, "largest_packet_fen": largest,
                        "share_over": round(over / len(amounts), 6)})
    return out


def history(zone_ids: list[int], kind: str) -> dict:
    """Return past campaigns in ``zone_ids``: how many, their subsidy figures, and the spend ratio
    (red packets: spent ÷ issued; coupons: used ÷ issued) as ``(numerator, denominator)``."""
    past = list(db.session.execute(
        select(Campaign.id, Campaign.kind, Campaign.account_id, Campaign.packet_count)
        .where(Campaign.id.in_(select(CampaignZone.campaign_id).where(CampaignZone.zone_id.in_(zone_ids))),
               Campaign.status.in_((CampaignStatus.ENDED, CampaignStatus.SETTLED)),
               Campaign.cancelled_at.is_(None))  # a cancelled campaign says little about what people spend
    ).all())
    figures = subsidy_figures([p.id for p in past])
    same = [p for p in past if (p.kind == CampaignKind.COUPON) == (kind == CampaignKind.COUPON)]
    ratio = None
    if same and kind == CampaignKind.COUPON:
        used = db.session.execute(select(func.count()).where(
            Claim.campaign_id.in_([p.id for p in same]), Claim.status == ClaimStatus.USED)).scalar_one()
        ratio = (used, sum(p.packet_count for p in same))
    elif same:
        ids = [p.id for p in same]
        issued = db.session.execute(select(fen_sum(Transfer.amount_fen)).where(
            Transfer.credit_account_id.in_([p.account_id for p in same]),
            Transfer.code == TransferCode.ESCROW)).scalar_one()
        spent = db.session.execute(select(fen_sum(Redemption.amount_fen - Redemption.refunded_fen))
                                   .where(Redemption.campaign_id.in_(ids))).scalar_one()
        ratio = (spent, issued) if issued else None
    return {"campaigns": len(past), "similar_campaigns": len(same), "ratio": ratio, **figures}


def simulate(data: dict) -> dict:
    """Return the forecast of a campaign described like ``POST /campaigns`` (nothing is stored).

    Raises ``splitter.SplitError`` for a budget that cannot be split.
    """
    kind, count = data["kind"], data["packet_count"]
    rng = random.Random(data.get("seed", 0))
    trials = data.get("trials", 200)
    out: dict = {"kind": kind, "packet_count": count, "trials": trials, "seed": data.get("seed", 0)}
    if kind == CampaignKind.COUPON:
        budget = data["discount_fen"] * count
        out["packet_amounts"] = None
        out["wallet_cap_warnings"] = []
    else:
        budget, split_kind = data["budget_fen"], data.get("split") or "random"
        splitter.check(budget, count, fixed=split_kind == "fixed")
        if split_kind == "fixed":
            trials_amounts = [[budget // count] * count]
        else:
            # Bound the work: at most ~2 million simulated packets per forecast.
            trials = max(1, min(trials, 2_000_000 // count))
            trials_amounts = [splitter.double_mean(budget, count, rng) for _ in range(trials)]
            out["trials"] = trials
        every = [a for amounts in trials_amounts for a in amounts]
        out["wallet_cap_warnings"] = _cap_warnings(every, data.get("wallet_classes") or (1, 2, 3, 4))
        out["packet_amounts"] = _distribution(every)
        out["largest_packet"] = _distribution([max(a) for a in trials_amounts])
        out["smallest_packet"] = _distribution([min(a) for a in trials_amounts])
    out["budget_fen"] = budget
    past = history(data["zone_ids"], kind)
    ratio = past.pop("ratio")
    spent, issued = ratio or (0, 0)
    size = count if kind == CampaignKind.COUPON else budget
    cost = budget * (spent + size) // (issued + size)
    weight = issued / (issued + size)
    if ratio:
        basis = (f"{'coupons used' if kind == CampaignKind.COUPON else 'red-packet money spent'}: "
                 f"{spent} of {issued} in {past['similar_campaigns']} past campaign(s) in these zones, "
                 f"weighted {weight:.0%} against assuming all of this campaign is spent")
    else:
        basis = "no similar past campaign in these zones: assumes the whole budget is spent"
    out["expected_cost_fen"] = cost
    out["cost_basis"] = basis
    out["cost_basis_detail"] = {"similar_campaigns": past["similar_campaigns"], "spent": spent, "issued": issued,
                                "unit": "coupons" if kind == CampaignKind.COUPON else "fen",
                                "history_weight": round(weight, 4)}
    out["expected_leverage"] = past["leverage"]
    out["expected_subsidised_volume_fen"] = (cost * past["subsidised_volume_fen"] // past["subsidy_net_fen"]
                                             if past["subsidy_net_fen"] else None)
    out["history"] = past
    return out
