"""Public-fund transfers between organisations: maker-checker, purpose codes, both sides and the pilot office."""

from __future__ import annotations

from backend.extensions import db
from backend.ledger import service as ledger
from tests.payouts.helpers import add_member, csv_bytes, make_org


def second_org(world):
    org_id = make_org(world.client, world.factory, world.pilot, name="南沙区人社局", district="南沙区")
    officer = add_member(world.client, world.factory, world.pilot, org_id, "officer", "南沙会计")
    return org_id, officer


def test_a_transfer_moves_only_when_another_person_approves_it(world):
    to_org, their_officer = second_org(world)
    world.topup(1_000_000)
    resp = world.post(f"/organisations/{world.org_id}/fund-transfers", world.officer,
                      {"to_org_id": to_org, "amount_fen": 250_000, "purpose_code": "special_fund",
                       "memo": "人才补贴专项"}, key=None)
    assert resp.status_code == 201, resp.get_json()
    ft = resp.get_json()
    assert ft["status"] == "pending" and ft["purpose_zh"] == "专项资金" and world.org_balance() == 1_000_000
    assert world.post(f"/fund-transfers/{ft['id']}/approve", world.officer).get_json()["code"] == "not_an_approver"
    assert world.post(f"/fund-transfers/{ft['id']}/approve", their_officer).status_code == 403  # receiving side
    key = "approve-1"
    first = world.post(f"/fund-transfers/{ft['id']}/approve", world.approver, key=key)
    again = world.post(f"/fund-transfers/{ft['id']}/approve", world.approver, key=key)
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    done = first.get_json()
    assert done["status"] == "executed" and done["transfer_id"] and done["approved_by_user_id"] == world.approver.id
    assert world.org_balance() == 750_000
    theirs = world.get(f"/organisations/{to_org}", their_officer).get_json()
    assert theirs["balance_fen"] == 250_000
    # Listed for both sides and for the pilot office.
    assert [f["id"] for f in world.get(f"/organisations/{to_org}/fund-transfers", their_officer).get_json()["items"]] \
        == [ft["id"]]
    assert [f["id"] for f in world.get(f"/organisations/{world.org_id}/fund-transfers", world.officer)
            .get_json()["items"]] == [ft["id"]]
    assert [f["id"] for f in world.get("/fund-transfers", world.pilot).get_json()["items"]] == [ft["id"]]
    assert world.get("/fund-transfers", world.officer).status_code == 403
    again = world.post(f"/fund-transfers/{ft['id']}/approve", world.approver)
    assert again.status_code == 409 and again.get_json()["code"] == "illegal_transition"
    db.session.rollback()
    assert ledger.verify() == []


def test_maker_checker_funds_and_strangers(world):
    to_org, _ = second_org(world)
    third_org = make_org(world.client, world.factory, world.pilot, name="白云区教育局")
    stranger = add_member(world.client, world.factory, world.pilot, third_org, "approver", "外单位")
    ft = world.post(f"/organisations/{world.org_id}/fund-transfers", world.officer,
                    {"to_org_id": to_org, "amount_fen": 100, "purpose_code": "appropriation"}, key=None).get_json()
    # The preparer holding the approver role too is still refused (and the database would refuse it).
    from payouts.models import FundTransfer

    row = db.session.get(FundTransfer, ft["id"])
    row.created_by_user_id = world.approver.id
    db.session.commit()
    resp = world.post(f"/fund-transfers/{ft['id']}/approve", world.approver)
    assert resp.status_code == 403 and resp.get_json()["code"] == "maker_checker"
    row = db.session.get(FundTransfer, ft["id"])
    row.created_by_user_id = world.officer.id
    db.session.commit()
    resp = world.post(f"/fund-transfers/{ft['id']}/approve", world.approver)
    assert resp.status_code == 422 and resp.get_json()["code"] == "insufficient_funds"
    assert world.get(f"/fund-transfers/{ft['id']}", world.approver).get_json()["status"] == "pending"
    assert world.get(f"/fund-transfers/{ft['id']}", stranger).status_code == 404
    assert world.get(f"/fund-transfers/{ft['id']}", world.factory.consumer()).status_code == 403
    resp = world.post(f"/fund-transfers/{ft['id']}/reject", world.approver, {"reason": "用途不符"}, key=None)
    assert resp.get_json()["status"] == "rejected"
    bad = world.post(f"/organisations/{world.org_id}/fund-transfers", world.officer,
                     {"to_org_id": world.org_id, "amount_fen": 1, "purpose_code": "other"}, key=None)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "to_org_id"
    bad = world.post(f"/organisations/{world.org_id}/fund-transfers", world.officer,
                     {"to_org_id": to_org, "amount_fen": 1, "purpose_code": "bonus"}, key=None)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "purpose_code"


def test_the_member_units_tracker_counts_scenarios_payees_wallets_and_volume(world):
    to_org, _ = second_org(world)
    a = world.payee("李小明")
    world.topup(1_000_000)
    batch = world.upload(csv_bytes(
        [[a.phone, "李小明", "100", "salary", ""], [a.phone, "李小明", "20", "subsidy", ""],
         ["13912345678", "赵六", "5", "salary", ""]])).get_json()
    world.approve(batch)
    ft = world.post(f"/organisations/{world.org_id}/fund-transfers", world.officer,
                    {"to_org_id": to_org, "amount_fen": 500, "purpose_code": "appropriation"}, key=None).get_json()
    world.post(f"/fund-transfers/{ft['id']}/approve", world.approver)
    items = {i["org_id"]: i for i in world.get("/member-units", world.pilot).get_json()["items"]}
    mine = items[world.org_id]
    assert mine["scenarios"] == ["salary", "subsidy", "public_funds"] and mine["target_met"] is True
    assert (mine["payees"], mine["payee_wallets_opened"], mine["lines_paid"], mine["paid_fen"]) == (2, 1, 2, 12_000)
    assert mine["public_funds_sent_fen"] == 500
    assert items[to_org]["scenarios_landed"] == 0 and items[to_org]["target_met"] is False
    resp = world.get("/member-units?format=csv", world.pilot)
    assert resp.mimetype == "text/csv" and resp.get_data(as_text=True).startswith("\ufefforg_id,name")
    assert "越秀区财政局" in resp.get_data(as_text=True)
    assert world.get("/member-units", world.officer).status_code == 403
