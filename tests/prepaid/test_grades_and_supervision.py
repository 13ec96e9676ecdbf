"""Credit grades from documented inputs (daily, overridable with a reason), complaints, and the regulator's
supervision overview."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from backend.clock import local_today, utcnow
from backend.extensions import db
from prepaid import grades, tasks
from prepaid.models import Contract, Grade, PrepaidMerchant
from tests.prepaid.helpers import buy, make_world, ok, publish, refused, release


@pytest.fixture
def w(app, factory):
    return make_world(app, factory)


def _approved_months_ago(pm_id: int, months: int) -> None:
    db.session.execute(update(PrepaidMerchant).where(PrepaidMerchant.id == pm_id).values(
        reviewed_at=utcnow() - timedelta(days=30 * months + 1)))
    db.session.commit()


def test_the_score_follows_the_documented_inputs():
    clean = {"months_on_platform": 12, "release_ratio_bp": 6_000, "late_refund_rate_bp": 0, "complaint_rate_bp": 0,
             "escrow_coverage_bp": 10_000}
    assert grades.score(clean) == (100, {"months_on_platform": 20, "release_ratio_bp": 25, "late_refund_rate_bp": 20,
                                         "complaint_rate_bp": 20, "escrow_coverage_bp": 15})
    newcomer = {**clean, "months_on_platform": 0}
    assert grades.score(newcomer)[0] == 80 and grades.grade_of(80) == "B"
    risky = {**clean, "release_ratio_bp": 1_000, "late_refund_rate_bp": 1_000, "complaint_rate_bp": 500}
    points, parts = grades.score(risky)
    assert parts == {"months_on_platform": 20, "release_ratio_bp": 5, "late_refund_rate_bp": 10,
                     "complaint_rate_bp": 0, "escrow_coverage_bp": 15}
    assert points == 50 and grades.grade_of(points) == "C"
    assert [grades.grade_of(p) for p in (85, 84, 65, 64)] == ["A", "B", "B", "C"]


def test_a_merchants_grade_is_computed_daily_from_its_history_and_shown_as_a_badge(w, factory):
    _approved_months_ago(w.gym["id"], 13)
    plan = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=10_000, refund_fee_bp=0)
    people = [factory.consumer(balance_fen=100_000, wallet_class=3) for _ in range(4)]
    made = [ok(buy(w, p, plan["id"]), 201) for p in people]
    ok(release(w, w.gym_owner, made[0]["code"], 10), 201)
    ok(release(w, w.gym_owner, made[1]["code"], 2), 201)
    db.session.execute(update(Contract).where(Contract.id == made[2]["id"]).values(
        cooling_off_ends_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    ok(w.api.post(f"/prepaid/contracts/{made[2]['id']}/refund", people[2], money=True), 201)  # late
    ok(w.api.post(f"/prepaid/contracts/{made[3]['id']}/complaints", people[3], json={"text": "教练经常缺席"}), 201)
    now = grades.evaluate(db.session.get(PrepaidMerchant, w.gym["id"]), utcnow())
    i = now["inputs"]
    # Released ¥1,200 of ¥1,200 + ¥1,800 still held; 1 late refund and 1 complaint in 4 contracts.
    assert (i["months_on_platform"], i["contracts_sold"], i["released_fen"], i["outstanding_fen"]) == (
        13, 4, 120_000, 180_000)
    assert (i["release_ratio_bp"], i["late_refund_rate_bp"], i["complaint_rate_bp"], i["escrow_coverage_bp"]) == (
        4_000, 2_500, 2_500, 10_000)
    assert now["points"] == {"months_on_platform": 20, "release_ratio_bp": 20, "late_refund_rate_bp": 0,
                             "complaint_rate_bp": 0, "escrow_coverage_bp": 15}
    assert (now["score"], now["grade"]) == (55, "C")
    # The daily job stores today's computation once; the badge shows it.
    today = local_today().isoformat()
    assert tasks.recompute_grades(today) == 2 and tasks.recompute_grades(today) == 0
    assert db.session.execute(select(func.count()).select_from(Grade)).scalar_one() == 2
    badge = ok(w.api.get(f"/prepaid/merchants/{w.gym['id']}", people[0]))["credit_grade"]
    assert badge["grade"] == "C" and badge["source"] == "computed"
    plan_badge = ok(w.api.get(f"/prepaid/plans/{plan['id']}", people[0]))["credit_grade"]
    assert plan_badge == badge
    # A consumer sees the grade, not the inputs; the regulator sees inputs and history.
    assert "now" not in ok(w.api.get(f"/prepaid/merchants/{w.gym['id']}/grade", people[0]))
    staff = ok(w.api.get(f"/prepaid/merchants/{w.gym['id']}/grade", w.sports_regulator))
    assert staff["now"]["inputs"]["complaints_90d"] == 1 and staff["history"][0]["kind"] == "computed"


def test_a_regulator_overrides_with_a_reason_kept_in_history_and_may_clear_it(w, factory):
    url = f"/prepaid/merchants/{w.gym['id']}/grade"
    assert ok(w.api.get(url, w.gym_owner))["source"] == "provisional"
    refused(w.api.post(url, w.sports_regulator, json={"grade": "C"}), 422, "validation_failed", "reason")
    refused(w.api.post(url, w.sports_regulator, json={"grade": "D", "reason": "x"}), 422, "validation_failed",
            "grade")
    refused(w.api.post(url, w.education_regulator, json={"grade": "C", "reason": "x"}), 404,
            "prepaid_merchant_not_found")
    refused(w.api.post(url, w.icbc_reviewer, json={"grade": "C", "reason": "x"}), 403, "role_forbidden")
    body = ok(w.api.post(url, w.sports_regulator, json={"grade": "C", "reason": "多次被投诉未整改"}), 201)
    assert (body["grade"], body["source"], body["reason"]) == ("C", "override", "多次被投诉未整改")
    tasks.recompute_grades(local_today().isoformat())  # a later computation does not lift the override
    assert ok(w.api.get(f"/prepaid/merchants/{w.gym['id']}", factory.consumer()))["credit_grade"]["grade"] == "C"
    cleared = ok(w.api.post(url, w.sports_regulator, json={"grade": None, "reason": "已整改"}), 201)
    assert cleared["source"] == "computed" and cleared["grade"] == "B"
    assert [h["kind"] for h in cleared["history"]] == ["cleared", "computed", "override"]


def test_complaints_are_the_consumers_own_and_seen_by_the_industrys_regulator(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    alice, bob = (factory.consumer(balance_fen=300_000, wallet_class=3) for _ in range(2))
    c = ok(buy(w, alice, plan["id"]), 201)
    refused(w.api.post(f"/prepaid/contracts/{c['id']}/complaints", bob, json={"text": "x"}), 404,
            "contract_not_found")
    refused(w.api.post(f"/prepaid/contracts/{c['id']}/complaints", alice, json={"text": ""}), 422,
            "validation_failed", "text")
    ok(w.api.post(f"/prepaid/contracts/{c['id']}/complaints", alice, json={"text": "门店关门了"}), 201)
    assert [x["text"] for x in ok(w.api.get("/prepaid/complaints", w.sports_regulator))["items"]] == ["门店关门了"]
    assert ok(w.api.get("/prepaid/complaints", w.education_regulator))["items"] == []


def test_supervision_shows_liabilities_per_merchant_and_industry_with_warning_signs(w, factory):
    plan = publish(w, w.gym_owner, w.gym, units=50, unit_price_fen=9_000)  # ¥4,500
    people = [factory.consumer(balance_fen=450_000, wallet_class=3) for _ in range(5)]
    made = [ok(buy(w, p, plan["id"]), 201) for p in people]  # ¥22,500 sold
    ok(release(w, w.gym_owner, made[0]["code"], 2), 201)  # ¥180 released: sales far ahead
    for p, c in zip(people[1:4], made[1:4], strict=True):
        ok(w.api.post(f"/prepaid/contracts/{c['id']}/refund", p, money=True), 201)  # 3 refunds this week
    body = ok(w.api.get("/prepaid/supervision", w.sports_regulator))
    assert [m["prepaid_merchant_id"] for m in body["merchants"]] == [w.gym["id"]]
    gym = body["merchants"][0]
    assert (gym["outstanding_fen"], gym["open_contracts"], gym["sold_30d_fen"], gym["released_30d_fen"]) == (
        2 * 450_000 - 18_000, 2, 2_250_000, 18_000)
    assert (gym["refunds_30d"], gym["refunded_30d_fen"], gym["release_rate_bp"]) == (3, 3 * 450_000, 80)
    assert gym["warnings"] == ["sales_ahead_of_releases", "refund_burst"]
    assert body["industries"] == [{"industry": "sports_fitness", "industry_zh": "体育健身", "merchants": 1,
                                   "outstanding_fen": 882_000, "sold_30d_fen": 2_250_000, "released_30d_fen": 18_000,
                                   "refunds_30d": 3, "complaints_30d": 0, "warnings": 2}]
    pilot = ok(w.api.get("/prepaid/supervision", w.pilot))
    assert {i["industry"] for i in pilot["industries"]} == {"sports_fitness", "education_training"}
    csv_text = w.api.get("/prepaid/supervision?format=csv", w.sports_regulator).get_data(as_text=True)
    lines = csv_text.splitlines()
    assert lines[0].startswith("prepaid_merchant_id,") and "sales_ahead_of_releases;refund_burst" in lines[1]
    row = next(csv.DictReader(io.StringIO(csv_text)))
    assert row["outstanding_yuan"] == "8820.00" and "outstanding_fen" not in row  # money for people: yuan
    refused(w.api.get("/prepaid/supervision", w.gym_owner), 403, "role_forbidden")
