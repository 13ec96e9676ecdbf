"""Prepaid acceptance (bank review), regulators who see their industries only, and plans within the limits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.auth.models import Role
from backend.extensions import db
from prepaid.models import Plan, PrepaidMerchant
from tests.prepaid.helpers import Api, make_world, ok, plan_body, publish, refused


@pytest.fixture
def w(app, factory):
    return make_world(app, factory)


def plan_count() -> int:
    return db.session.execute(select(func.count()).select_from(Plan)).scalar_one()


def test_application_is_reviewed_by_the_merchants_bank_only(app, factory):
    api = Api(app)
    owner = factory.user(Role.MERCHANT_OWNER)
    m = factory.merchant(owner=owner, bank_code="BOC")
    applied = ok(api.post("/prepaid/merchants", owner, json={"merchant_id": m.id, "industry": "beauty"}), 201)
    assert applied["status"] == "pending" and applied["industry_zh"] == "美容美发" and applied["bank_code"] == "BOC"
    icbc = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    boc = factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    # Another bank's reviewer does not even see the application.
    refused(api.post(f"/prepaid/merchants/{applied['id']}/review", icbc, json={"decision": "approve"}), 404,
            "prepaid_merchant_not_found")
    assert ok(api.get("/prepaid/merchants", icbc))["items"] == []
    assert [i["id"] for i in ok(api.get("/prepaid/merchants", boc))["items"]] == [applied["id"]]
    refused(api.post(f"/prepaid/merchants/{applied['id']}/review", boc, json={"decision": "reject"}), 422,
            "validation_failed", "reason")
    rejected = ok(api.post(f"/prepaid/merchants/{applied['id']}/review", boc,
                           json={"decision": "reject", "reason": "营业执照经营范围不含美容"}))
    assert rejected["status"] == "rejected"
    # Rejected: apply again (back to pending), then approved; a second review of the same is refused.
    again = ok(api.post("/prepaid/merchants", owner, json={"merchant_id": m.id, "industry": "beauty"}), 201)
    assert again["id"] == applied["id"] and again["status"] == "pending"
    assert ok(api.post(f"/prepaid/merchants/{applied['id']}/review", boc, json={"decision": "approve"}))[
        "status"] == "approved"
    refused(api.post(f"/prepaid/merchants/{applied['id']}/review", boc, json={"decision": "approve"}), 409,
            "illegal_transition")
    refused(api.post("/prepaid/merchants", owner, json={"merchant_id": m.id, "industry": "beauty"}), 409,
            "already_applied", "merchant_id")


def test_only_the_owner_of_an_approved_merchant_applies(app, factory):
    api = Api(app)
    owner, other = factory.user(Role.MERCHANT_OWNER), factory.user(Role.MERCHANT_OWNER)
    pending = factory.merchant(owner=owner, status="pending")
    mine = factory.merchant(owner=owner)
    refused(api.post("/prepaid/merchants", owner, json={"merchant_id": pending.id, "industry": "laundry"}), 409,
            "merchant_not_active", "merchant_id")
    refused(api.post("/prepaid/merchants", other, json={"merchant_id": mine.id, "industry": "laundry"}), 404,
            "merchant_not_found", "merchant_id")
    refused(api.post("/prepaid/merchants", owner, json={"merchant_id": mine.id, "industry": "casino"}), 422,
            "validation_failed", "industry")
    assert db.session.execute(select(func.count()).select_from(PrepaidMerchant)).scalar_one() == 0


def test_a_regulator_sees_its_industries_only(w):
    api = w.api
    sports = ok(api.get("/prepaid/merchants", w.sports_regulator))["items"]
    education = ok(api.get("/prepaid/merchants", w.education_regulator))["items"]
    assert [m["id"] for m in sports] == [w.gym["id"]]
    assert [m["id"] for m in education] == [w.school["id"]]
    refused(api.get(f"/prepaid/merchants/{w.school['id']}", w.sports_regulator), 404, "prepaid_merchant_not_found")
    me = ok(api.get("/prepaid/regulators/me", w.education_regulator))
    assert me["authority"] == "广州市教育局" and me["industries"] == ["education_training"]
    # The pilot office sees both; a regulator cannot create regulators; consumers see approved ones.
    assert len(ok(api.get("/prepaid/merchants", w.pilot))["items"]) == 2
    refused(api.post("/prepaid/regulators", w.sports_regulator, json={}), 403, "role_forbidden")


def test_a_regulator_may_suspend_only_its_industries_merchants(w):
    body = {"status": "suspended", "reason": "投诉集中"}
    refused(w.api.post(f"/prepaid/merchants/{w.school['id']}/status", w.sports_regulator, json=body), 404,
            "prepaid_merchant_not_found")
    refused(w.api.post(f"/prepaid/merchants/{w.school['id']}/status", w.icbc_reviewer, json=body), 404,
            "prepaid_merchant_not_found")
    assert db.session.get(PrepaidMerchant, w.school["id"]).status == "approved"


def test_plans_of_each_kind_are_published_with_their_terms(w):
    pack = publish(w, w.gym_owner, w.gym)
    assert (pack["price_fen"], pack["units"], pack["unit_price_fen"]) == (300_000, 20, 15_000)
    assert pack["cooling_off_days"] == 7 and pack["split"][0]["merchant_id"] == w.gym_merchant_id
    card = publish(w, w.gym_owner, w.gym, kind="stored_value", name="储值1000送100", units=None, unit_price_fen=None,
                   price_fen=100_000, bonus_fen=10_000)
    assert (card["price_fen"], card["units"], card["bonus_fen"]) == (100_000, 110_000, 10_000)
    season = publish(w, w.school_owner, w.school, kind="time_pass", name="春季班3个月", units=None,
                     unit_price_fen=None, price_fen=360_000, months=3)
    assert (season["units"], season["valid_days"]) == (90, 90)
    listed = ok(w.api.get(f"/prepaid/plans?prepaid_merchant_id={w.gym['id']}", w.gym_owner))["items"]
    assert {p["id"] for p in listed} == {pack["id"], card["id"]}


@pytest.mark.parametrize(("merchant", "overrides", "rule", "field"), [
    ("gym", {"units": 40, "unit_price_fen": 15_000}, "named_purchase_cap_fen", "unit_price_fen"),
    ("gym", {"kind": "stored_value", "units": None, "unit_price_fen": None, "price_fen": 500_001},
     "named_purchase_cap_fen", "price_fen"),
    ("school", {"units": 61, "unit_price_fen": 5_000}, "training_max_sessions", "units"),
    ("school", {"kind": "time_pass", "units": None, "unit_price_fen": None, "price_fen": 300_000, "months": 4},
     "training_max_months", "months"),
    ("gym", {"cooling_off_days": 3}, "cooling_off_min_days", "cooling_off_days"),
    ("gym", {"refund_fee_bp": 2_001}, "refund_fee_cap_bp", "refund_fee_bp"),
])
def test_a_plan_outside_the_limits_is_refused_with_the_rule_named_and_nothing_stored(w, merchant, overrides, rule,
                                                                                      field):
    owner, pm = (w.gym_owner, w.gym) if merchant == "gym" else (w.school_owner, w.school)
    body = {k: v for k, v in plan_body(**overrides).items() if v is not None}
    problem = refused(w.api.post(f"/prepaid/merchants/{pm['id']}/plans", owner, json=body), 422, "prepaid_limit",
                      field)
    assert problem["rule"] == rule and isinstance(problem["limit"], int)
    assert plan_count() == 0


def test_training_limits_do_not_bind_a_gym_and_the_limits_are_data(w):
    publish(w, w.gym_owner, w.gym, units=100, unit_price_fen=4_000)  # 100 sessions: fine for a gym
    body = plan_body(units=61, unit_price_fen=5_000)
    refused(w.api.post(f"/prepaid/merchants/{w.school['id']}/plans", w.school_owner, json=body), 422, "prepaid_limit")
    rules = {r["code"]: r for r in ok(w.api.get("/prepaid/rules", w.school_owner))["items"]}
    assert rules["training_max_sessions"]["value"] == 60 and rules["named_purchase_cap_fen"]["value"] == 500_000
    refused(w.api.call("PUT", "/prepaid/rules/training_max_sessions", w.school_owner, json={"value": 80}), 403,
            "role_forbidden")
    assert ok(w.api.call("PUT", "/prepaid/rules/training_max_sessions", w.pilot, json={"value": 80}))["value"] == 80
    ok(w.api.post(f"/prepaid/merchants/{w.school['id']}/plans", w.school_owner, json=body), 201)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"units": 0}, "units"),
    ({"units": 2.5}, "units"),
    ({"unit_price_fen": 0}, "unit_price_fen"),
    ({"unit_price_fen": 99.5}, "unit_price_fen"),
    ({"units": None}, "units"),
    ({"kind": "lifetime"}, "kind"),
    ({"refund_fee_bp": -1}, "refund_fee_bp"),
])
def test_bad_plan_input_names_the_field_and_stores_nothing(w, overrides, field):
    body = {k: v for k, v in plan_body(**overrides).items() if v is not None}
    refused(w.api.post(f"/prepaid/merchants/{w.gym['id']}/plans", w.gym_owner, json=body), 422, "validation_failed",
            field)
    assert plan_count() == 0


def test_a_split_must_add_up_and_name_real_parties(w, factory):
    url = f"/prepaid/merchants/{w.gym['id']}/plans"
    coach = factory.consumer()
    bad = [
        ([{"merchant_id": w.gym_merchant_id, "share_bp": 7000}, {"merchant_id": w.hq_merchant_id, "share_bp": 2000}],
         "split"),
        ([{"merchant_id": w.gym_merchant_id, "share_bp": 7000}, {"merchant_id": 99_999, "share_bp": 3000}],
         "split.1.merchant_id"),
        ([{"merchant_id": w.gym_merchant_id, "share_bp": 5000}, {"merchant_id": w.gym_merchant_id, "share_bp": 5000}],
         "split.1"),
        ([{"merchant_id": w.gym_merchant_id, "wallet_phone": coach.phone, "share_bp": 10000}], "split.0"),
        ([{"wallet_phone": "13912345678", "share_bp": 10000}], "split.0.wallet_phone"),
        ([{"merchant_id": w.gym_merchant_id, "share_bp": 0}], "split.0.share_bp"),
    ]
    for split, field in bad:
        refused(w.api.post(url, w.gym_owner, json=plan_body(split=split)), 422, "validation_failed", field)
    assert plan_count() == 0
    good = publish(w, w.gym_owner, w.gym, split=[{"wallet_phone": coach.phone, "share_bp": 1000},
                                                  {"merchant_id": w.hq_merchant_id, "share_bp": 2000},
                                                  {"merchant_id": w.gym_merchant_id, "share_bp": 7000}])
    assert [p.get("merchant_id") for p in good["split"]][:1] == [w.gym_merchant_id]  # the seller first


def test_only_an_approved_prepaid_merchant_publishes(app, factory):
    api = Api(app)
    owner = factory.user(Role.MERCHANT_OWNER)
    m = factory.merchant(owner=owner)
    pm = ok(api.post("/prepaid/merchants", owner, json={"merchant_id": m.id, "industry": "laundry"}), 201)
    refused(api.post(f"/prepaid/merchants/{pm['id']}/plans", owner, json=plan_body()), 409, "prepaid_not_approved")
    other = factory.user(Role.MERCHANT_OWNER)
    refused(api.post(f"/prepaid/merchants/{pm['id']}/plans", other, json=plan_body()), 404,
            "prepaid_merchant_not_found")
    assert plan_count() == 0


def test_every_prepaid_operation_documents_success_and_problems(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    ops = [(p, m, op) for p, item in spec["paths"].items() if p.startswith("/api/v1/prepaid/")
           for m, op in item.items() if m in ("get", "post", "put")]
    assert len(ops) >= 18
    for path, method, op in ops:
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes) and {"401", "403"} <= codes, (method, path, codes)
        assert "application/problem+json" in op["responses"]["403"]["content"], (method, path)
        assert op.get("x-roles"), (method, path)
    money = [("/api/v1/prepaid/plans/{plan_id}/purchase", "post"), ("/api/v1/prepaid/releases", "post"),
             ("/api/v1/prepaid/contracts/{contract_id}/refund", "post")]
    for path, method in money:
        params = spec["paths"][path][method].get("parameters", [])
        assert any(p["name"] == "Idempotency-Key" and p.get("required") for p in params), path


def test_plans_near_me_are_those_of_merchants_placed_in_the_zone(w, factory):
    from zones import placement
    from zones.models import Zone

    publish(w, w.gym_owner, w.gym)  # the gym is at the factory's default spot, in Yongqingfang
    placement.place_merchant(w.gym_merchant_id)
    db.session.commit()
    consumer = factory.consumer()
    zone = {z.code: z.id for z in db.session.execute(select(Zone)).scalars()}
    near = ok(w.api.get(f"/prepaid/plans?zone_id={zone['yongqingfang']}", consumer))["items"]
    assert [p["prepaid_merchant_id"] for p in near] == [w.gym["id"]]
    assert ok(w.api.get(f"/prepaid/plans?zone_id={zone['tianhelu']}", consumer))["items"] == []
