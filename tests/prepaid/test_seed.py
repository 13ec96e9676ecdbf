"""The prepaid demo data: regulators, a gym with plans, a consumer's card; once."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.extensions import db
from backend.seed import seed_demo
from prepaid import service
from prepaid.models import Contract, Plan, Regulator


def test_the_demo_seeder_makes_a_prepaid_gym_with_a_sold_card_once(app):
    created = seed_demo()
    assert any("prepaid acceptance of 越秀力量健身" in line for line in created)
    assert db.session.execute(select(func.count()).select_from(Regulator)).scalar_one() == 3
    assert db.session.execute(select(func.count()).select_from(Plan)).scalar_one() == 3
    contract = db.session.execute(select(Contract)).scalar_one()
    assert (contract.units_total, contract.units_left) == (110_000, 101_200)
    assert service.verify_escrows() == []
    assert not any("prepaid" in line or "regulator" in line for line in seed_demo())
    assert db.session.execute(select(func.count()).select_from(Contract)).scalar_one() == 1
