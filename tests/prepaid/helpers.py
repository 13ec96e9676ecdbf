"""Helpers of the prepaid tests: a world of a gym (with a brand HQ and a coach), a school, their bank
reviewers and regulators, over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from backend.auth.models import Role
from backend.extensions import db
from backend.ledger import service as ledger
from backend.merchants.models import Merchant
from prepaid.models import Contract
from tests.factories import PASSWORD, Person, next_phone
from tests.payments.helpers import Api, login, ok, refused

__all__ = ["Api", "ok", "refused", "World", "make_world", "plan_body", "buy", "release", "escrow", "contract_row"]


@dataclass
class World:
    api: Api
    gym_owner: Person
    gym_merchant_id: int
    gym: dict  # the gym's prepaid merchant (sports_fitness, ICBC), approved
    school_owner: Person
    school: dict  # the school's prepaid merchant (education_training, BOC), approved
    icbc_reviewer: Person
    boc_reviewer: Person
    sports_regulator: Person  # 体育局: sports_fitness
    education_regulator: Person  # 教育局: education_training
    pilot: Person
    hq_merchant_id: int  # the gym brand's headquarters (another approved merchant)

    def merchant_account(self, merchant_id: int) -> int:
        return db.session.get(Merchant, merchant_id).account_id


def _regulator(api, pilot, authority, industries) -> Person:
    phone = next_phone()
    ok(api.post("/prepaid/regulators", pilot, json={"phone": phone, "password": PASSWORD, "authority": authority,
                                                    "industries": industries}), 201)
    return login(api, phone)


def apply_and_approve(api, owner, merchant_id, industry, reviewer) -> dict:
    applied = ok(api.post("/prepaid/merchants", owner, json={"merchant_id": merchant_id, "industry": industry}), 201)
    assert applied["status"] == "pending"
    return ok(api.post(f"/prepaid/merchants/{applied['id']}/review", reviewer, json={"decision": "approve"}))


def make_world(app, factory) -> World:
    api = Api(app)
    pilot = factory.user(Role.PILOT_ADMIN)
    icbc, boc = factory.user(Role.BANK_REVIEWER, bank_code="ICBC"), factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    gym_owner, school_owner = factory.user(Role.MERCHANT_OWNER), factory.user(Role.MERCHANT_OWNER)
    gym_m = factory.merchant(owner=gym_owner, name_zh="越秀健身房", name_en="Yuexiu Gym", mcc="7997",
                             scenario="entertainment")
    school_m = factory.merchant(owner=school_owner, name_zh="天河英语培训", name_en="Tianhe English", mcc="8299",
                                scenario="shopping", bank_code="BOC")
    hq = factory.merchant(name_zh="健身品牌总部", name_en="Gym Brand HQ", mcc="7997", scenario="entertainment")
    gym = apply_and_approve(api, gym_owner, gym_m.id, "sports_fitness", icbc)
    school = apply_and_approve(api, school_owner, school_m.id, "education_training", boc)
    return World(api, gym_owner, gym_m.id, gym, school_owner, school, icbc, boc,
                 _regulator(api, pilot, "广州市体育局", ["sports_fitness"]),
                 _regulator(api, pilot, "广州市教育局", ["education_training"]), pilot, hq.id)


def plan_body(**overrides) -> dict:
    """A session pack: 20 classes at ¥150 (¥3,000), 10% fee after cooling-off."""
    body = {"kind": "sessions", "name": "私教20节", "units": 20, "unit_price_fen": 15_000, "refund_fee_bp": 1000}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def publish(w: World, owner: Person, pm: dict, **overrides) -> dict:
    return ok(w.api.post(f"/prepaid/merchants/{pm['id']}/plans", owner, json=plan_body(**overrides)), 201)


def buy(w: World, consumer: Person, plan_id: int, key: str | None = None):
    return w.api.post(f"/prepaid/plans/{plan_id}/purchase", consumer, money=True, key=key)


def release(w: World, who: Person, code: str, units: int = 1, key: str | None = None):
    return w.api.post("/prepaid/releases", who, json={"code": code, "units": units}, money=True, key=key)


def contract_row(contract_id: int) -> Contract:
    db.session.expire_all()
    return db.session.execute(select(Contract).where(Contract.id == contract_id)).scalar_one()


def escrow(contract_id: int) -> int:
    return ledger.balance(contract_row(contract_id).escrow_account_id)
