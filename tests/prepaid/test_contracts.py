"""Purchase = contract, release per use with splits, refunds and the closure run: exact money at every step."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Transfer
from prepaid import service, tasks
from prepaid.models import Closure, Contract
from tests.prepaid.helpers import buy, contract_row, escrow, make_world, ok, publish, refused, release


@pytest.fixture
def w(app, factory):
    return make_world(app, factory)


def contracts() -> int:
    return db.session.execute(select(func.count()).select_from(Contract)).scalar_one()


def test_buying_moves_the_price_into_the_contracts_own_escrow_and_nothing_to_the_merchant(w, factory):
    plan = publish(w, w.gym_owner, w.gym)  # 20 × ¥150 = ¥3,000
    consumer = factory.consumer(balance_fen=500_000, wallet_class=3)
    key = "buy-1"
    body = ok(buy(w, consumer, plan["id"], key=key), 201)
    assert (body["status"], body["units_left"], body["escrow_fen"], body["price_fen"]) == ("active", 20, 300_000,
                                                                                          300_000)
    assert factory.balance(consumer) == 200_000
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 0
    assert escrow(body["id"]) == 300_000
    # The terms are recorded and hashed: anyone can recompute the hash from the terms both apps show.
    terms = body["terms"]
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == body["terms_sha256"]
    assert terms["cooling_off_days"] == 7 and terms["units"] == 20 and terms["unit_price_fen"] == 15_000
    assert terms["merchant"]["id"] == w.gym_merchant_id and terms["contract_number"] == body["number"]
    assert body["in_cooling_off"] and body["code"].startswith("PPC")
    # The same key again: the same contract, the money moved once.
    again = ok(buy(w, consumer, plan["id"], key=key), 201)
    assert again["id"] == body["id"] and contracts() == 1 and factory.balance(consumer) == 200_000
    # The merchant sees the contract and its hash, not the code that releases it.
    seen = ok(w.api.get(f"/prepaid/contracts/{body['id']}", w.gym_owner))
    assert seen["terms_sha256"] == body["terms_sha256"] and "code" not in seen
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_purchase_caps_follow_the_wallet_class_and_refusals_store_nothing(w, factory):
    small = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=10_000)  # ¥1,000
    big = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=10_001)  # ¥1,000.10
    anon = factory.consumer(balance_fen=500_000, wallet_class=4)
    problem = refused(buy(w, anon, big["id"]), 422, "prepaid_limit", "plan_id")
    assert problem["rule"] == "anonymous_purchase_cap_fen" and problem["limit"] == 100_000
    assert contracts() == 0 and factory.balance(anon) == 500_000
    ok(buy(w, anon, small["id"]), 201)
    assert factory.balance(anon) == 400_000
    poor = factory.consumer(balance_fen=50_000, wallet_class=3)
    refused(buy(w, poor, small["id"]), 422, "insufficient_funds")
    assert contracts() == 1 and factory.balance(poor) == 50_000
    assert db.session.execute(select(func.count()).select_from(Transfer).where(
        Transfer.code == service.PURCHASE)).scalar_one() == 1


def test_release_per_use_splits_each_unit_exactly_and_never_passes_the_units_left(w, factory):
    coach = factory.consumer()
    plan = publish(w, w.gym_owner, w.gym, units=5, unit_price_fen=10_001,
                   split=[{"merchant_id": w.gym_merchant_id, "share_bp": 7000},
                          {"merchant_id": w.hq_merchant_id, "share_bp": 2000},
                          {"wallet_phone": coach.phone, "share_bp": 1000}])
    consumer = factory.consumer(balance_fen=100_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    gym_acc, hq_acc = w.merchant_account(w.gym_merchant_id), w.merchant_account(w.hq_merchant_id)
    r = ok(release(w, w.gym_owner, c["code"], 1, key="use-1"), 201)
    # 10,001 fen: HQ 20% → 2,000 (rounded down), coach 10% → 1,000, the gym the rest: 7,001.
    assert r["amount_fen"] == 10_001 and r["units_left"] == 4
    assert sorted(leg["amount_fen"] for leg in r["legs"]) == [1_000, 2_000, 7_001]
    assert (factory.balance(gym_acc), factory.balance(hq_acc), factory.balance(coach)) == (7_001, 2_000, 1_000)
    assert escrow(c["id"]) == 4 * 10_001
    # Idempotent: the same key is the same release.
    assert ok(release(w, w.gym_owner, c["code"], 1, key="use-1"), 201)["id"] == r["id"]
    assert escrow(c["id"]) == 4 * 10_001
    ok(release(w, w.gym_owner, c["code"], 3), 201)
    assert escrow(c["id"]) == 10_001 and factory.balance(gym_acc) == 4 * 7_001
    refused(release(w, w.gym_owner, c["code"], 2), 409, "not_enough_units", "units")
    last = ok(release(w, w.gym_owner, c["code"], 1), 201)
    assert last["contract_status"] == "completed" and escrow(c["id"]) == 0
    refused(release(w, w.gym_owner, c["code"], 1), 409, "contract_ended")
    assert (factory.balance(gym_acc), factory.balance(hq_acc), factory.balance(coach)) == (35_005, 10_000, 5_000)
    assert factory.balance(consumer) == 100_000 - 50_005
    assert service.verify_escrows() == [] and ledger.verify() == []


@pytest.mark.parametrize(("units", "field"), [(0, "units"), (1.5, "units"), ("1", "units"), (-1, "units")])
def test_bad_release_input_is_refused_and_moves_nothing(w, factory, units, field):
    plan = publish(w, w.gym_owner, w.gym)
    c = ok(buy(w, factory.consumer(balance_fen=300_000, wallet_class=3), plan["id"]), 201)
    resp = w.api.post("/prepaid/releases", w.gym_owner, json={"code": c["code"], "units": units}, money=True)
    refused(resp, 422, "validation_failed", field)
    assert escrow(c["id"]) == 300_000 and contract_row(c["id"]).units_left == 20


def test_only_the_shop_releases_and_everyone_sees_only_their_contracts(w, factory):
    gym_plan = publish(w, w.gym_owner, w.gym)
    school_plan = publish(w, w.school_owner, w.school, units=10, unit_price_fen=20_000)
    alice, bob = (factory.consumer(balance_fen=500_000, wallet_class=3) for _ in range(2))
    a = ok(buy(w, alice, gym_plan["id"]), 201)
    b = ok(buy(w, bob, school_plan["id"]), 201)
    refused(release(w, w.school_owner, a["code"]), 404, "contract_not_found", "code")
    refused(release(w, w.gym_owner, "PPCnot-a-code"), 404, "contract_not_found", "code")
    assert escrow(a["id"]) == 300_000

    def ids(who):
        return {i["id"] for i in ok(w.api.get("/prepaid/contracts", who))["items"]}

    assert ids(alice) == {a["id"]} and ids(bob) == {b["id"]}
    assert ids(w.gym_owner) == {a["id"]} and ids(w.school_owner) == {b["id"]}
    assert ids(w.sports_regulator) == {a["id"]} and ids(w.education_regulator) == {b["id"]}
    assert ids(w.pilot) == {a["id"], b["id"]}
    refused(w.api.get(f"/prepaid/contracts/{a['id']}", bob), 404, "contract_not_found")
    refused(w.api.get(f"/prepaid/contracts/{a['id']}", w.education_regulator), 404, "contract_not_found")
    refused(w.api.post(f"/prepaid/contracts/{a['id']}/refund", bob, money=True), 404, "contract_not_found")


def test_stored_value_releases_its_share_of_the_price_and_ends_at_zero(w, factory):
    plan = publish(w, w.gym_owner, w.gym, kind="stored_value", name="储值1000送100", units=None,
                   unit_price_fen=None, price_fen=100_000, bonus_fen=10_000)
    c = ok(buy(w, factory.consumer(balance_fen=100_000, wallet_class=3), plan["id"]), 201)
    assert c["units_total"] == 110_000 and c["escrow_fen"] == 100_000
    first = ok(release(w, w.gym_owner, c["code"], 33_333), 201)
    # 76,667 fen of value left holds 76,667 × 100,000 // 110,000 = 69,697 fen.
    assert first["amount_fen"] == 100_000 - 69_697 and escrow(c["id"]) == 69_697
    rest = ok(release(w, w.gym_owner, c["code"], 76_667), 201)
    assert rest["amount_fen"] == 69_697 and rest["contract_status"] == "completed" and escrow(c["id"]) == 0
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 100_000
    assert service.verify_escrows() == []


def test_cooling_off_refund_returns_everything_left_once(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    consumer = factory.consumer(balance_fen=500_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    ok(release(w, w.gym_owner, c["code"], 2), 201)
    body = ok(w.api.post(f"/prepaid/contracts/{c['id']}/refund", consumer, money=True, key="r1"), 201)
    assert (body["status"], body["refund_kind"], body["refunded_fen"], body["fee_fen"]) == (
        "refunded", "cooling_off", 18 * 15_000, 0)
    assert factory.balance(consumer) == 500_000 - 2 * 15_000 and escrow(c["id"]) == 0
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 2 * 15_000
    assert ok(w.api.post(f"/prepaid/contracts/{c['id']}/refund", consumer, money=True, key="r1"), 201) == body
    refused(w.api.post(f"/prepaid/contracts/{c['id']}/refund", consumer, money=True), 409, "contract_ended")
    refused(release(w, w.gym_owner, c["code"]), 409, "contract_ended")
    assert factory.balance(consumer) == 470_000 and service.verify_escrows() == [] and ledger.verify() == []


def test_late_refund_keeps_the_plans_fee_for_the_merchant(w, factory):
    plan = publish(w, w.gym_owner, w.gym, refund_fee_bp=1_000)  # 10% of the unused part
    consumer = factory.consumer(balance_fen=500_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    ok(release(w, w.gym_owner, c["code"], 5), 201)
    db.session.execute(update(Contract).where(Contract.id == c["id"]).values(
        cooling_off_ends_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    body = ok(w.api.post(f"/prepaid/contracts/{c['id']}/refund", consumer, money=True), 201)
    assert (body["refund_kind"], body["refunded_fen"], body["fee_fen"]) == ("late", 202_500, 22_500)
    assert factory.balance(consumer) == 500_000 - 300_000 + 202_500
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 5 * 15_000 + 22_500
    assert escrow(c["id"]) == 0 and service.verify_escrows() == [] and ledger.verify() == []


def test_suspending_a_merchant_refunds_every_open_contract_with_progress(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    people = [factory.consumer(balance_fen=300_000, wallet_class=3) for _ in range(4)]
    made = [ok(buy(w, p, plan["id"]), 201) for p in people]
    ok(release(w, w.gym_owner, made[0]["code"], 3), 201)
    ok(release(w, w.gym_owner, made[1]["code"], 20), 201)  # used up: nothing to refund
    body = ok(w.api.post(f"/prepaid/merchants/{w.gym['id']}/status", w.sports_regulator,
                         json={"status": "suspended", "reason": "门店停业，跑路风险"}))
    assert body["merchant"]["status"] == "suspended"
    closure = body["closure"]  # the job ran inline (no REDIS_URL)
    progress = ok(w.api.get(f"/prepaid/closures/{closure['id']}", w.icbc_reviewer))
    assert (progress["status"], progress["counted"], progress["refunded"], progress["failed"]) == ("done", 3, 3, 0)
    assert progress["refunded_fen"] == 17 * 15_000 + 2 * 300_000
    assert [factory.balance(p) for p in people] == [300_000 - 3 * 15_000, 0, 300_000, 300_000]
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 23 * 15_000
    # Suspended: no sales, no releases.
    refused(buy(w, factory.consumer(balance_fen=300_000, wallet_class=3), plan["id"]), 404, "plan_not_found")
    refused(release(w, w.gym_owner, made[2]["code"]), 409, "prepaid_not_approved")
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_a_closure_killed_midway_and_run_again_refunds_every_consumer_once(w, factory, monkeypatch):
    plan = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=10_000)
    people = [factory.consumer(balance_fen=100_000, wallet_class=3) for _ in range(6)]
    made = [ok(buy(w, p, plan["id"]), 201) for p in people]
    pm, closure = service.change_status(w.pilot.user, w.gym["id"], "closed", "吊销营业执照")
    real, calls = service.refund_contract, []

    def dies_on_the_fourth(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 4:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "refund_contract", dies_on_the_fourth)
    with pytest.raises(SystemExit):
        tasks.run_closure(closure.id)
    db.session.rollback()
    half = tasks.progress(closure.id)
    assert (half["status"], half["counted"], half["refunded"]) == ("running", 6, 3)
    monkeypatch.setattr(service, "refund_contract", real)
    done = tasks.run_closure(closure.id)
    assert (done["status"], done["counted"], done["refunded"], done["failed"], done["runs"]) == ("done", 6, 6, 0, 2)
    assert tasks.run_closure(closure.id)["runs"] == 2  # done: a third run changes nothing
    for p, c in zip(people, made, strict=True):
        assert factory.balance(p) == 100_000
        refunds = db.session.execute(select(func.count()).select_from(Transfer).where(
            Transfer.code == service.REFUND, Transfer.credit_account_id == factory.wallet(p).account_id)).scalar_one()
        assert refunds == 1 and escrow(c["id"]) == 0
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_a_refund_that_fails_is_counted_and_succeeds_on_a_rerun(w, factory):
    plan = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=10_000)  # ¥1,000
    full = factory.consumer(balance_fen=950_000, wallet_class=4)  # cap ¥10,000
    other = factory.consumer(balance_fen=100_000, wallet_class=4)
    ok(buy(w, full, plan["id"]), 201)
    ok(buy(w, other, plan["id"]), 201)
    factory.fund(full, 150_000)  # back at the ¥10,000 cap: the refund cannot land
    body = ok(w.api.post(f"/prepaid/merchants/{w.gym['id']}/status", w.icbc_reviewer,
                         json={"status": "suspended", "reason": "银行风控"}))
    closure = body["closure"]
    assert (closure["status"], closure["counted"], closure["refunded"], closure["failed"]) == ("running", 2, 1, 1)
    assert "payee_limit_exceeded" in closure["last_error"]
    ledger.transfer(factory.wallet(full).account_id, w.merchant_account(w.hq_merchant_id), 200_000, "payment")
    db.session.commit()
    again = ok(w.api.post(f"/prepaid/closures/{closure['id']}/run", w.icbc_reviewer), 202)
    assert (again["status"], again["counted"], again["refunded"], again["failed"]) == ("done", 2, 2, 0)
    assert factory.balance(full) == 1_000_000 - 200_000 + 100_000 and factory.balance(other) == 100_000
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_the_escrow_invariant_catches_money_that_left_without_a_release(app, w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    c = ok(buy(w, factory.consumer(balance_fen=300_000, wallet_class=3), plan["id"]), 201)
    ok(release(w, w.gym_owner, c["code"], 1), 201)
    from backend.hooks import ledger_checks, run_ledger_checks

    assert "prepaid escrow = unreleased units" in ledger_checks(app)
    assert run_ledger_checks(app) == []
    # A bug moving escrow money without taking units: the ledger still balances, the invariant does not.
    ledger.transfer(contract_row(c["id"]).escrow_account_id, w.merchant_account(w.gym_merchant_id), 1, "payment")
    db.session.commit()
    assert ledger.verify() == []
    problems = service.verify_escrows()
    assert len(problems) == 1 and c["number"] in problems[0] and "284999" in problems[0]


def test_a_time_pass_is_not_released_by_scanning(w, factory):
    plan = publish(w, w.gym_owner, w.gym, kind="time_pass", name="季卡", units=None, unit_price_fen=None,
                   price_fen=90_000, months=3)
    c = ok(buy(w, factory.consumer(balance_fen=90_000, wallet_class=3), plan["id"]), 201)
    assert c["units_total"] == 90
    refused(release(w, w.gym_owner, c["code"]), 409, "time_pass", "code")
    assert escrow(c["id"]) == 90_000
    assert db.session.get(Closure, 1) is None


def _age(contract_id: int, days: float) -> None:
    """Move a contract's purchase ``days`` into the past."""
    bought = contract_row(contract_id).created_at
    db.session.execute(update(Contract).where(Contract.id == contract_id).values(
        created_at=bought - timedelta(days=days)))
    db.session.commit()


def test_a_time_pass_releases_its_served_days_and_a_refund_returns_only_the_rest(app, w, factory):
    plan = publish(w, w.gym_owner, w.gym, kind="time_pass", name="季卡", units=None, unit_price_fen=None,
                   price_fen=100_000, months=3, refund_fee_bp=0)  # 90 days
    consumer = factory.consumer(balance_fen=100_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    gym = w.merchant_account(w.gym_merchant_id)
    assert tasks.release_time_passes() == 0  # no whole day served yet
    _age(c["id"], 10.5)
    assert tasks.release_time_passes() == 1 and tasks.release_time_passes() == 0  # the second run finds nothing
    # 10 days served: the escrow keeps 80/90 of the price, rounded down.
    assert escrow(c["id"]) == 80 * 100_000 // 90 and factory.balance(gym) == 100_000 - 80 * 100_000 // 90
    _age(c["id"], 5)
    body = ok(w.api.post(f"/prepaid/contracts/{c['id']}/refund", consumer, money=True), 201)
    assert body["refunded_fen"] == 75 * 100_000 // 90 and escrow(c["id"]) == 0
    assert factory.balance(gym) + factory.balance(consumer) == 100_000
    assert service.verify_escrows() == [] and ledger.verify() == []
    # Registered for the scheduler (entries are dicts here; main's hooks keep PeriodicJob objects with .func).
    funcs = [j["func"] if isinstance(j, dict) else j.func for j in app.extensions["suiyuan.periodic"]]
    assert tasks.release_time_passes in funcs and tasks.recompute_grades in funcs


def test_a_time_pass_past_its_end_is_released_completely(w, factory):
    plan = publish(w, w.gym_owner, w.gym, kind="time_pass", name="月卡", units=None, unit_price_fen=None,
                   price_fen=30_001, months=1)
    c = ok(buy(w, factory.consumer(balance_fen=30_001, wallet_class=3), plan["id"]), 201)
    _age(c["id"], 31)
    assert tasks.release_time_passes() == 1
    row = contract_row(c["id"])
    assert (row.status, row.units_left) == ("completed", 0) and escrow(c["id"]) == 0
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 30_001


def test_a_withdrawn_plan_is_no_longer_sold_but_its_contracts_keep_their_terms(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    consumer = factory.consumer(balance_fen=600_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    assert c["terms"]["consumer_wallet"].count("*") == 8
    refused(w.api.post(f"/prepaid/plans/{plan['id']}/withdraw", w.school_owner), 404, "prepaid_merchant_not_found")
    assert ok(w.api.post(f"/prepaid/plans/{plan['id']}/withdraw", w.gym_owner))["status"] == "withdrawn"
    refused(buy(w, consumer, plan["id"]), 404, "plan_not_found")
    assert ok(release(w, w.gym_owner, c["code"]), 201)["units_left"] == 19
