"""The demo data of ``make run`` and the campaign commands."""

from __future__ import annotations

from sqlalchemy import select

from backend.extensions import db
from backend.ledger import service as ledger
from backend.seed import seed_demo
from campaigns.models import Campaign, Packet
from campaigns.seed import DEMO_CAMPAIGN


def test_the_demo_seeder_makes_one_live_funded_campaign_once(app):
    created = seed_demo()
    assert any("live campaign" in line for line in created)
    campaign = db.session.execute(select(Campaign).where(Campaign.name == DEMO_CAMPAIGN)).scalar_one()
    assert campaign.status == "live" and campaign.budget_fen == 88_800
    assert ledger.balance(campaign.account_id) == 88_800
    amounts = db.session.execute(select(Packet.amount_fen).where(Packet.campaign_id == campaign.id)).scalars().all()
    assert len(amounts) == 100 and sum(amounts) == 88_800
    assert not any("campaign" in line for line in seed_demo())
    assert db.session.execute(select(db.func.count()).select_from(Campaign)).scalar_one() == 1
    assert ledger.verify() == []


def test_the_commands(app):
    seed_demo()
    runner = app.test_cli_runner()
    campaign_id = db.session.execute(select(Campaign.id)).scalar_one()
    out = runner.invoke(args=["campaigns", "rebuild-gate", str(campaign_id)])
    assert out.exit_code == 0 and "rebuilt" in out.output
    out = runner.invoke(args=["campaigns", "scan"])
    assert out.exit_code == 0 and '"failed": 0' in out.output
    out = runner.invoke(args=["campaigns", "reclaim", str(campaign_id)])
    assert out.exit_code != 0  # not due before the spend deadline
    out = runner.invoke(args=["campaigns", "grant", str(campaign_id), "13800000002"])
    assert out.exit_code == 0 and '"via": "grant"' in out.output, out.output
    assert ledger.verify() == []
