"""The campaigns' invariants for ``flask ledger verify`` (registered in ``campaigns.init_app``).

Conservation of money (``backend.ledger.service.verify``) cannot see a
campaign paying more packets than it has, or its money leaving by a path the
settlement does not know. These checks can, from the ledger and the claims
alone: every launched campaign's settlement report balances (``settlement.report``'s
identities), and no campaign has more claims, or claims worth more, than its
packets and budget.
"""

from __future__ import annotations

from sqlalchemy import func, select

from backend.extensions import db
from backend.sql import fen_sum
from campaigns.models import Campaign, Claim


def verify() -> list[str]:
    """Return the campaigns' violations, one line each (empty when sound); reads only."""
    from campaigns import settlement

    problems: list[str] = []
    claims = (select(Claim.campaign_id, func.count().label("n"), fen_sum(Claim.amount_fen).label("fen"))
              .group_by(Claim.campaign_id).subquery())
    over = db.session.execute(
        select(Campaign.id, Campaign.packet_count, Campaign.budget_fen, claims.c.n, claims.c.fen)
        .join(claims, claims.c.campaign_id == Campaign.id)
        .where((claims.c.n > Campaign.packet_count) | (claims.c.fen > Campaign.budget_fen))
        .order_by(Campaign.id)
    ).all()
    for c in over:
        problems.append(f"campaign {c.id} over budget: {c.n} claims of {c.fen} fen for {c.packet_count} "
                        f"packets of {c.budget_fen} fen")
    launched = db.session.execute(select(Campaign.id).where(Campaign.account_id.is_not(None))
                                  .order_by(Campaign.id)).scalars().all()
    for campaign_id in launched:
        report = settlement.report(campaign_id)
        for check in report["checks"]:
            if not check["ok"]:
                problems.append(f"campaign {campaign_id} settlement does not balance: {check['name']}: "
                                f"{check['left_fen']} ≠ {check['right_fen']} fen")
    db.session.rollback()
    return problems
