"""Approval (maker-checker, control totals, the reserve), paying each line once, progress, retry, cancel,
the leftover's return, wallet caps and the overflow to the bank, and the reserve invariant."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Transfer
from payouts import service, tasks
from payouts.models import Batch, Line, PayoutCode
from tests.payouts.helpers import csv_bytes


def sound():
    db.session.rollback()
    return ledger.verify() == [] and service.check_reserves() == []


def payout_transfers_per_line() -> dict:
    rows = db.session.execute(select(Transfer.batch_id, func.count()).where(
        Transfer.code.in_((PayoutCode.PAYOUT, PayoutCode.TO_BANK))).group_by(Transfer.batch_id)).all()
    return dict(rows)


def test_approval_reserves_the_total_and_the_job_pays_every_line_once(world):
    a, b = world.payee("李小明"), world.payee("王芳")
    world.topup(1_000_000)
    batch = world.upload(csv_bytes([[a.phone, "李小明", "3850.50", "salary", "三月"],
                                    [b.phone, "王芳", "1200", "allowance", ""],
                                    [b.phone, "王芳", "99.99", "reimbursement", "差旅"]])).get_json()
    assert batch["status"] == "validated" and world.org_balance() == 1_000_000
    resp = world.approve(batch)
    assert resp.status_code == 200, resp.get_json()
    done = world.get(f"/batches/{batch['id']}", world.officer).get_json()
    assert done["status"] == "closed" and done["returned_fen"] == 0
    assert done["progress"]["lines"] == {"invalid": 0, "pending": 0, "paid": 3, "failed": 0, "cancelled": 0}
    assert done["progress"]["paid_fen"] == done["total_fen"] == 385_050 + 120_000 + 9_999
    assert done["progress"]["percent"] == 100.0
    assert world.factory.balance(a) == 385_050 and world.factory.balance(b) == 129_999
    assert world.org_balance() == 1_000_000 - done["total_fen"]
    assert ledger.balance(db.session.get(Batch, batch["id"]).account_id) == 0
    assert set(payout_transfers_per_line().values()) == {1}
    # Running the job again (a retried RQ job) pays nobody twice.
    tasks.run_batch(batch["id"])
    assert world.factory.balance(a) == 385_050 and world.factory.balance(b) == 129_999
    assert sound()


def test_maker_checker_and_visibility(world):
    from tests.payouts.helpers import add_member, make_org

    a = world.payee("李小明")
    world.topup(100_000)
    batch = world.upload(csv_bytes([[a.phone, "李小明", "10", "salary", ""]])).get_json()
    resp = world.approve(batch, person=world.officer)
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_an_approver"
    other_org = make_org(world.client, world.factory, world.pilot, name="南沙区人社局")
    stranger = add_member(world.client, world.factory, world.pilot, other_org, "approver", "外单位")
    consumer = world.factory.consumer()
    assert world.approve(batch, person=stranger).status_code == 404
    assert world.get(f"/batches/{batch['id']}", stranger).status_code == 404
    assert world.get(f"/batches/{batch['id']}/lines", stranger).status_code == 404
    assert world.approve(batch, person=consumer).status_code == 403
    assert world.get(f"/batches/{batch['id']}", consumer).status_code == 403
    assert world.get(f"/batches/{batch['id']}", world.pilot).status_code == 200
    assert world.approve(batch, person=world.pilot).status_code == 403
    assert world.factory.balance(a) == 0 and world.org_balance() == 100_000


def test_the_preparer_can_never_approve_even_holding_both_roles(world):
    a = world.payee("李小明")
    world.topup(100_000)
    batch = world.upload(csv_bytes([[a.phone, "李小明", "10", "salary", ""]])).get_json()
    row = db.session.get(Batch, batch["id"])
    row.created_by_user_id = world.approver.id  # the approver prepared it (e.g. promoted since)
    db.session.commit()
    resp = world.approve(batch)
    assert resp.status_code == 403 and resp.get_json()["code"] == "maker_checker"
    assert world.factory.balance(a) == 0
    # And the database refuses it even if code forgot to check.
    row = db.session.get(Batch, batch["id"])
    row.approved_by_user_id = world.approver.id
    try:
        db.session.commit()
        raise AssertionError("the CHECK should refuse maker = checker")
    except Exception as exc:  # noqa: BLE001
        db.session.rollback()
        assert "maker_is_not_checker" in str(exc)


def test_control_totals_and_funds_are_checked_before_anything_moves(world):
    a = world.payee("李小明")
    batch = world.upload(csv_bytes([[a.phone, "李小明", "10", "salary", ""]])).get_json()
    resp = world.approve(batch, expected_total_fen=999)
    assert resp.status_code == 409 and resp.get_json()["code"] == "control_total_mismatch"
    resp = world.approve(batch)
    assert resp.status_code == 422 and resp.get_json()["code"] == "insufficient_funds"
    assert world.get(f"/batches/{batch['id']}", world.officer).get_json()["status"] == "validated"
    world.topup(1_000)
    assert world.approve(batch).status_code == 200
    assert world.approve(batch).get_json()["code"] == "illegal_transition"
    assert world.factory.balance(a) == 1_000 and sound()


def test_rejection_moves_nothing(world):
    a = world.payee("李小明")
    world.topup(1_000)
    batch = world.upload(csv_bytes([[a.phone, "李小明", "10", "salary", ""]])).get_json()
    resp = world.post(f"/batches/{batch['id']}/reject", world.approver, {"reason": "金额有误"}, key=None)
    assert resp.status_code == 200 and resp.get_json()["status"] == "rejected"
    assert world.approve(batch).get_json()["code"] == "illegal_transition"
    assert world.org_balance() == 1_000 and world.factory.balance(a) == 0


def test_a_class4_wallet_over_its_cap_fails_without_the_option_and_is_split_exactly_with_it(world):
    capped = world.payee("李小明", balance_fen=950_000)  # ¥9,500 of ¥10,000
    opted = world.payee("王芳", balance_fen=950_000)
    resp = world.client.put("/api/v1/payouts/me/preferences", json={"overflow_to_bank": True}, headers=opted.auth)
    assert resp.status_code == 200 and resp.get_json() == {"overflow_to_bank": True}
    world.topup(1_000_000)
    batch = world.upload(csv_bytes([[capped.phone, "李小明", "800.01", "salary", ""],
                                    [opted.phone, "王芳", "800.01", "salary", ""]])).get_json()
    report = world.get(f"/batches/{batch['id']}/report", world.officer).get_json()
    assert report["warnings"] == {"would_exceed_cap": 1, "overflow_to_bank": 1}
    assert world.approve(batch).status_code == 200
    state = world.get(f"/batches/{batch['id']}", world.officer).get_json()
    assert state["status"] == "review"
    assert state["progress"]["lines"]["failed"] == 1 and state["progress"]["lines"]["paid"] == 1
    lines = {ln["phone_masked"][-4:]: ln for ln in
             world.get(f"/batches/{batch['id']}/lines", world.officer).get_json()["items"]}
    failed, split = lines[capped.phone[-4:]], lines[opted.phone[-4:]]
    assert failed["status"] == "failed" and failed["issue"] == "payee_balance_cap"
    assert "upgrade" in failed["issue_detail"] and failed["wallet_fen"] == failed["bank_fen"] == 0
    assert world.factory.balance(capped) == 950_000  # nothing moved
    assert (split["wallet_fen"], split["bank_fen"]) == (50_000, 30_001)
    assert world.factory.balance(opted) == 1_000_000  # exactly at the cap
    line = db.session.get(Line, split["id"])
    assert line.bank_reference == f"ICBC-payout-line-{line.id}"
    assert state["progress"]["paid_to_wallets_fen"] == 50_000 and state["progress"]["paid_to_banks_fen"] == 30_001
    assert sound()
    # The payee upgrades to class 3 (cap ¥20,000); the failed line is retried and paid in full.
    from backend.wallets import service as wallets

    wallets.upgrade(capped.user, 3, real_name="李小明", id_number="110101199003074477")
    resp = world.post(f"/batches/{batch['id']}/retry", world.officer, {}, key=None)
    assert resp.status_code == 200 and resp.get_json()["count"] == 1
    assert resp.get_json()["batch"]["status"] == "closed"
    assert world.factory.balance(capped) == 950_000 + 80_001 and sound()


def test_cancelled_lines_money_returns_to_the_organisation_when_the_batch_closes(world):
    full = world.payee("李小明", balance_fen=1_000_000)
    ok = world.payee("王芳")
    world.topup(500_000)
    batch = world.upload(csv_bytes([[full.phone, "李小明", "100", "salary", ""],
                                    [ok.phone, "王芳", "200", "salary", ""],
                                    [full.phone, "李小明", "50", "subsidy", ""]])).get_json()
    world.approve(batch)
    state = world.get(f"/batches/{batch['id']}", world.approver).get_json()
    assert state["status"] == "review" and state["progress"]["amounts_fen"]["failed"] == 15_000
    assert world.org_balance() == 500_000 - 35_000 and sound()  # failed lines' money stays reserved
    failed_ids = [ln["id"] for ln in world.get(f"/batches/{batch['id']}/lines?status=failed",
                                               world.officer).get_json()["items"]]
    resp = world.post(f"/batches/{batch['id']}/cancel", world.approver, {"line_ids": failed_ids[:1]}, key=None)
    assert resp.get_json()["batch"]["status"] == "review" and sound()
    resp = world.post(f"/batches/{batch['id']}/cancel", world.approver, {}, key=None)
    closed = resp.get_json()["batch"]
    assert closed["status"] == "closed" and closed["returned_fen"] == 15_000
    assert world.org_balance() == 500_000 - 20_000 and world.factory.balance(ok) == 20_000
    assert ledger.balance(db.session.get(Batch, batch["id"]).account_id) == 0
    again = world.post(f"/batches/{batch['id']}/cancel", world.approver, {}, key=None)
    assert again.status_code == 409 and sound()


def test_the_invariant_catches_a_reserve_that_does_not_match_its_lines(world):
    a = world.payee("李小明", balance_fen=1_000_000)
    world.topup(10_000)
    batch = world.upload(csv_bytes([[a.phone, "李小明", "10", "salary", ""]])).get_json()
    world.approve(batch)  # fails (cap): ¥10 stays reserved
    assert service.check_reserves() == []
    db.session.execute(Line.__table__.update().where(Line.batch_id == batch["id"]).values(status="paid",
                                                                                          wallet_fen=1_000))
    problems = service.check_reserves()
    assert len(problems) == 1 and f"payout batch {batch['id']}: account holds 1000 fen" in problems[0]
    db.session.rollback()


def test_payees_switching_the_overflow_on_need_a_linked_account(world):
    no_card = world.factory.consumer(card=None)
    resp = world.client.put("/api/v1/payouts/me/preferences", json={"overflow_to_bank": True}, headers=no_card.auth)
    assert resp.status_code == 422 and resp.get_json()["code"] == "no_linked_card"
    assert world.client.get("/api/v1/payouts/me/preferences", headers=no_card.auth).get_json() == \
        {"overflow_to_bank": False}


def test_a_payee_balance_that_moved_after_the_read_sends_the_chunk_line_by_line(world, monkeypatch):
    """The chunk is decided on balances read once; if a payee received money meanwhile the ledger refuses the
    chunk, it is rolled back whole and paid line by line: the others are paid, that line fails, once each."""
    moved = world.payee("李小明", balance_fen=995_000)
    others = [world.payee("王芳"), world.payee("陈静")]
    world.topup(100_000)
    real = tasks._payees
    calls = []

    def stale(wallet_ids):
        payees = real(wallet_ids)
        if not calls:  # the fast path's read: as it was before the payee's balance grew
            payees[world.factory.wallet(moved).id].balance_fen = 0
        calls.append(wallet_ids)
        return payees

    monkeypatch.setattr(tasks, "_payees", stale)
    batch = world.upload(csv_bytes([[others[0].phone, "王芳", "10", "salary", ""],
                                    [moved.phone, "李小明", "100", "salary", ""],
                                    [others[1].phone, "陈静", "20", "salary", ""]])).get_json()
    world.approve(batch)
    lines = {ln["line_no"]: ln for ln in world.get(f"/batches/{batch['id']}/lines", world.officer).get_json()["items"]}
    assert {n: ln["status"] for n, ln in lines.items()} == {2: "paid", 3: "failed", 4: "paid"}
    assert lines[3]["issue"] == "payee_balance_cap" and len(calls) == 4  # 1 fast read + 3 line-by-line reads
    assert world.factory.balance(moved) == 995_000
    assert [world.factory.balance(p) for p in others] == [1_000, 2_000]
    assert set(payout_transfers_per_line().values()) == {1} and len(payout_transfers_per_line()) == 2
    assert sound()


def test_two_runs_of_one_batch_split_it_and_pay_each_line_once(pg_app, world):
    """The sweep may enqueue a batch whose job is still running: on PostgreSQL the second run skips the rows
    the first holds (SKIP LOCKED), and no line is paid by both."""
    import threading

    from backend.extensions import db as _db

    people = [world.payee(f"李{i}明") for i in range(6)]
    world.topup(10_000_000)
    rows = [[p.phone, f"李{i}明", f"{10 + k}", cat, ""] for i, p in enumerate(people)
            for k, cat in enumerate(("salary", "allowance", "subsidy", "reimbursement"))] * 25
    rows = [[r[0], r[1], r[2], r[3], f"第{n}笔"] for n, r in enumerate(rows)]
    batch = world.upload(csv_bytes(rows)).get_json()
    assert batch["valid_count"] == 600
    service.approve(world.approver.user, batch["id"], batch["total_fen"], 600, lambda b: {})
    monkey_chunk = tasks.CHUNK
    tasks.CHUNK = 20
    app = world.app
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(tasks.run_batch(batch["id"]))
                _db.session.remove()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        tasks.CHUNK = monkey_chunk
    assert not errors, errors
    assert sum(r["paid"] for r in results) == 600
    assert set(payout_transfers_per_line().values()) == {1} and len(payout_transfers_per_line()) == 600
    assert db.session.get(Batch, batch["id"]).status == "closed"
    assert sum(world.factory.balance(p) for p in people) == batch["total_fen"] and sound()


def test_the_ledger_refuses_a_second_payout_leg_for_a_line(world):
    """Even a bug past the line's status guard could not pay a line twice: the transfers' unique index on
    (line key, code) for payout legs refuses the second."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from payouts.models import Organisation

    a = world.payee("李小明")
    world.topup(10_000)
    world.approve(world.upload(csv_bytes([[a.phone, "李小明", "1", "salary", ""]])).get_json())
    line = db.session.query(Line).filter(Line.status == "paid").one()
    source = db.session.get(Organisation, world.org_id).account_id
    with pytest.raises(IntegrityError):
        ledger.transfer(source, world.factory.wallet(a).account_id, 1, PayoutCode.PAYOUT,
                        batch_id=tasks.line_key(line.id))
        db.session.flush()
    db.session.rollback()
    assert world.factory.balance(a) == 100 and sound()


def test_a_chunk_claims_at_most_chunk_lines(world, monkeypatch):
    """A chunk is one transaction of at most ``CHUNK`` lines, on PostgreSQL too: there, an UPDATE whose
    ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` the planner may run again per row claimed every pending
    line at once; the claim now picks its rows first (a materialized CTE) and updates just those."""
    people = [world.payee(f"王{i}芳") for i in range(4)]
    world.topup(1_000_000)
    rows = [[p.phone, f"王{i}芳", f"{10 + k}", "salary", f"第{k}笔"] for k in range(5) for i, p in enumerate(people)]
    batch = world.upload(csv_bytes(rows)).get_json()
    assert batch["valid_count"] == 20
    service.approve(world.approver.user, batch["id"], batch["total_fen"], 20, lambda b: {})
    monkeypatch.setattr(tasks, "CHUNK", 6)
    claimed = []
    for _ in range(5):
        paid, failed, n = tasks.pay_chunk(db.session.get(Batch, batch["id"]))
        claimed.append(n)
    assert claimed == [6, 6, 6, 2, 0]
    assert set(payout_transfers_per_line().values()) == {1} and len(payout_transfers_per_line()) == 20
    assert sound()
