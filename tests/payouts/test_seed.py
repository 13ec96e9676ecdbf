"""The demo seeder: a funded organisation, its staff, and a batch awaiting approval, created once."""

from __future__ import annotations

from sqlalchemy import select

from backend.auth.models import User
from backend.extensions import db
from backend.ledger import service as ledger
from backend.seed import seed_demo
from payouts import service
from payouts.models import Batch, Organisation


def test_the_demo_seeder_makes_a_funded_organisation_and_a_batch_awaiting_approval_once(app):
    created = seed_demo()
    assert any("paying organisation" in line for line in created)
    org = db.session.execute(select(Organisation)).scalar_one()
    batch = db.session.execute(select(Batch)).scalar_one()
    assert org.member_unit and ledger.balance(org.account_id) == 100_000_000
    assert (batch.status, batch.valid_count, batch.total_fen) == ("validated", 3, 385_050 + 120_000 + 68_000)
    assert not any("organisation" in line for line in seed_demo())
    approver = db.session.execute(select(User).where(User.phone == "13300000002")).scalar_one()
    body, status = service.approve(approver, batch.id, batch.total_fen, 3, lambda b: {"status": b.status})
    assert status == 200 and ledger.verify() == [] and service.check_reserves() == []
