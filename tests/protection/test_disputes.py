"""Complaints and disputes (issue #16 item 3): a consumer complains about a payment, a prepaid contract or a
merchant; the merchant answers (seeing the payer masked); the merchant's operator bank decides within its
deadline; an upheld complaint's refund goes through the payments' refund rule and the ledger, exactly once.
Overdue answers are marked and overdue decisions escalated to the pilot office by a periodic job; counts by
category and outcome feed the zone report and the merchant's standing."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from backend.auth.models import Role
from backend.auth.service import issue_token
from backend.clock import local_today, utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.payments.models import Refund
from protection import disputes
from protection.models import AuditEntry
from tests.factories import Person
from tests.payments.helpers import (
    account_flows,
    ledger_state,
    ledger_untouched,
    ok,
    outcome,
    paid_order,
    race,
    refund,
    refused,
)

TEXT = "收了两次钱，店员说系统故障"


@pytest.fixture(autouse=True)
def _ledger_stays_sound(app):
    yield
    assert ledger.verify() == []


def png(extra: bytes = b"") -> bytes:
    """A real 1×1 PNG (signature, IHDR, IDAT, IEND), padded with ``extra`` in a private chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + (chunk(b"prVt", extra) if extra else b"")
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def open_complaint(api, consumer, kind: str, subject_id: int, category: str = "overcharged", text: str = TEXT):
    return api.post("/protection/complaints", consumer, json={"subject_kind": kind, "subject_id": subject_id,
                                                              "category": category, "text": text})


def upload(api, consumer, complaint_id: int, data: bytes, name: str = "photo.png"):
    import io

    return api.client.post(f"/api/v1/protection/complaints/{complaint_id}/photos", headers=consumer.auth,
                           data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def answer(api, owner, complaint_id: int, text: str = "已核实，系统重复扣款，同意退还"):
    return api.post(f"/protection/complaints/{complaint_id}/answer", owner, json={"answer": text})


def decide(api, who, complaint_id: int, outcome: str = "upheld", refund_fen: int = 0,
           reason: str = "商户重复收款属实", key: str | None = None):
    return api.post(f"/protection/complaints/{complaint_id}/decision", who,
                    json={"outcome": outcome, "reason": reason, "refund_fen": refund_fen}, money=key is None, key=key)


def fresh(person) -> Person:
    """``person`` with a token issued now (after the clock moved days on, the old one has expired)."""
    token = issue_token(person.user)
    db.session.commit()
    return Person(person.user, token, person.phone)


def balance(account_id: int) -> int:
    value = ledger.balance(account_id)
    db.session.rollback()
    return value


def wallet_account(factory, person) -> int:
    account_id = factory.wallet(person).account_id
    db.session.rollback()
    return account_id


@pytest.fixture
def reviewer(factory):
    return factory.user(Role.BANK_REVIEWER, bank_code="ICBC")  # the shop's operator bank


@pytest.fixture
def paid(api, factory, shop):
    """A consumer (李小明) who paid the shop ¥20.00; the order."""
    consumer = factory.consumer(balance_fen=10_000, display_name="李小明")
    return consumer, paid_order(api, shop, consumer, 2_000)


def test_a_payment_complaint_end_to_end_refunds_exactly_once_through_the_ledger(api, factory, shop, reviewer, paid):
    consumer, order = paid
    payer_account, shop_account = wallet_account(factory, consumer), shop.account_id
    categories = ok(api.get("/protection/complaint-categories"))
    assert {"code": "overcharged", "label_zh": "多收费或重复扣款", "label_en": "Overcharged or charged twice"} \
        in categories["items"]
    assert (categories["answer_days"], categories["decision_days"], categories["max_photos"]) == (3, 7, 3)

    with ledger_untouched():
        opened = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    assert (opened["status"], opened["merchant_id"], opened["payer"]) == ("open", shop.merchant_id, None)
    assert opened["category_zh"] == "多收费或重复扣款" and not opened["answer_overdue"]
    photo = ok(upload(api, consumer, opened["id"], png()), 201)
    assert photo["content_type"] == "image/png"
    refused(open_complaint(api, consumer, "payment", order["id"]), 409, "complaint_already_open")

    # The merchant sees it, the payer masked, and answers once.
    [listed] = ok(api.get("/protection/complaints", shop.owner))["items"]
    assert listed["id"] == opened["id"] and listed["payer"]["name"] == "李*明"
    answered = ok(answer(api, shop.owner, opened["id"]))
    assert answered["status"] == "answered" and answered["answer"].startswith("已核实")
    refused(answer(api, shop.owner, opened["id"]), 409, "illegal_transition")

    # The bank's queue, with what a decision could still refund.
    queue = ok(api.get("/protection/complaints", reviewer, query_string={"status": "answered"}))["items"]
    assert [c["id"] for c in queue] == [opened["id"]]
    assert ok(api.get(f"/protection/complaints/{opened['id']}", reviewer))["refundable_fen"] == 2_000
    before_payer, before_shop = balance(payer_account), balance(shop_account)
    transfers_before = ledger_state()[0]
    decided = ok(decide(api, reviewer, opened["id"], refund_fen=1_500), 201)
    assert decided["status"] == "upheld" and decided["refund_fen"] == 1_500
    assert decided["refund"]["amount_fen"] == 1_500 and decided["refund"]["order_id"] == order["id"]
    assert decided["decided_by_user_id"] == reviewer.id and "refundable_fen" not in decided

    # Exactly 1,500 fen moved once: from the shop back to the payer, one reversal, one refund row.
    assert balance(payer_account) == before_payer + 1_500
    assert balance(shop_account) == before_shop - 1_500
    assert ledger_state()[0] == transfers_before + 1
    assert account_flows(shop_account)["refunds_fen"] == 1_500
    refunds = db.session.execute(select(Refund).where(Refund.order_id == order["id"])).scalars().all()
    assert [(r.amount_fen, r.created_by_user_id) for r in refunds] == [(1_500, reviewer.id)]
    db.session.rollback()
    order_now = ok(api.get(f"/orders/{order['id']}", shop.owner))
    assert (order_now["status"], order_now["refunded_fen"]) == ("partially_refunded", 1_500)

    # A decided complaint is final; the consumer sees the outcome; the decision is in the audit log.
    refused(decide(api, reviewer, opened["id"], "rejected"), 409, "illegal_transition")
    refused(api.post(f"/protection/complaints/{opened['id']}/withdraw", consumer), 409, "illegal_transition")
    refused(upload(api, consumer, opened["id"], png()), 409, "illegal_transition")
    mine = ok(api.get("/protection/complaints", consumer))["items"]
    assert [(c["id"], c["status"], c["refund_fen"]) for c in mine] == [(opened["id"], "upheld", 1_500)]
    audit = db.session.execute(select(AuditEntry).where(AuditEntry.action == "complaint_upheld")).scalar_one()
    assert (audit.actor_user_id, audit.target_id) == (reviewer.id, str(opened["id"]))
    db.session.rollback()
    standing = ok(api.get(f"/protection/merchants/{shop.merchant_id}/standing", consumer))
    assert (standing["complaints"], standing["upheld"], standing["refund_fen"]) == (1, 1, 1_500)
    assert standing["by_category"] == [{"category": "overcharged", "label_zh": "多收费或重复扣款",
                                        "label_en": "Overcharged or charged twice", "complaints": 1, "upheld": 1}]


def test_a_refund_is_bounded_by_what_was_paid_minus_what_was_refunded(api, factory, shop, reviewer, paid):
    consumer, order = paid
    ok(refund(api, shop.owner, order["id"], 500), 201)  # the shop refunded part already
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    assert ok(api.get(f"/protection/complaints/{complaint['id']}", reviewer))["refundable_fen"] == 1_500
    with ledger_untouched():
        body = refused(decide(api, reviewer, complaint["id"], refund_fen=1_501), 409, "refund_exceeds_paid")
        assert body["refundable_fen"] == 1_500
        refused(decide(api, reviewer, complaint["id"], "rejected", refund_fen=100), 422, "refund_not_applicable",
                "refund_fen")
        refused(decide(api, reviewer, complaint["id"], refund_fen=-1), 422, "validation_failed", "refund_fen")
        refused(decide(api, reviewer, complaint["id"], reason="  "), 422, "reason_required", "reason")
    assert ok(api.get(f"/protection/complaints/{complaint['id']}", consumer))["status"] == "open"  # nothing written
    ok(decide(api, reviewer, complaint["id"], refund_fen=1_500), 201)
    order_now = ok(api.get(f"/orders/{order['id']}", shop.owner))
    assert (order_now["status"], order_now["refunded_fen"]) == ("refunded", 2_000)
    with ledger_untouched():  # nothing left for the shop to refund either
        refused(refund(api, shop.owner, order["id"], 1), 409, "order_not_refundable")


def test_only_a_payment_complaint_is_refunded_and_an_upheld_one_may_refund_nothing(api, factory, shop, reviewer):
    consumer = factory.consumer(balance_fen=1_000)
    about_shop = ok(open_complaint(api, consumer, "merchant", shop.merchant_id, "misleading"), 201)
    with ledger_untouched():
        refused(decide(api, reviewer, about_shop["id"], refund_fen=100), 422, "refund_not_applicable", "refund_fen")
        decided = ok(decide(api, reviewer, about_shop["id"]), 201)
    assert (decided["status"], decided["refund"], decided["refund_fen"]) == ("upheld", None, 0)
    refused(open_complaint(api, consumer, "payment", 99_999), 404, "order_not_found", "subject_id")
    refused(open_complaint(api, consumer, "merchant", shop.merchant_id, "nonsense"), 422, "validation_failed",
            "category")
    refused(open_complaint(api, consumer, "merchant", shop.merchant_id, text="差"), 422, "reason_required", "text")


def test_someone_elses_payment_cannot_be_complained_about(api, factory, shop, paid):
    _consumer, order = paid
    stranger = factory.consumer()
    refused(open_complaint(api, stranger, "payment", order["id"]), 404, "order_not_found", "subject_id")


def test_who_may_see_answer_and_decide(api, factory, shop, reviewer, paid):
    consumer, order = paid
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    cid = complaint["id"]
    other_bank = factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    other_owner = factory.user(Role.MERCHANT_OWNER)
    factory.merchant(owner=other_owner)
    stranger = factory.consumer()
    manager = factory.user(Role.ZONE_MANAGER)
    with ledger_untouched():
        # Another bank's reviewer, another merchant's owner, another consumer: not found, not listed.
        for who in (other_bank, other_owner, stranger):
            refused(api.get(f"/protection/complaints/{cid}", who), 404, "complaint_not_found")
            assert ok(api.get("/protection/complaints", who))["items"] == []
        refused(decide(api, other_bank, cid, refund_fen=100), 404, "complaint_not_found")
        refused(answer(api, other_owner, cid), 404, "complaint_not_found")
        refused(api.post(f"/protection/complaints/{cid}/withdraw", stranger), 404, "complaint_not_found")
        # Roles that do not take part in complaints, and the wrong side's actions.
        refused(api.get("/protection/complaints", manager), 403, "role_forbidden")
        refused(decide(api, shop.owner, cid, refund_fen=100), 403, "role_forbidden")
        refused(decide(api, consumer, cid, refund_fen=100), 403, "role_forbidden")
        refused(answer(api, consumer, cid), 403, "role_forbidden")
        refused(open_complaint(api, shop.owner, "merchant", shop.merchant_id), 403, "role_forbidden")
    # The pilot office sees all and may decide.
    assert cid in [c["id"] for c in ok(api.get("/protection/complaints", factory.user(Role.PILOT_ADMIN)))["items"]]


def test_the_merchant_sees_the_payer_masked_only(api, factory, shop, reviewer):
    consumer = factory.consumer(balance_fen=10_000, display_name="欧阳小明")
    order = paid_order(api, shop, consumer, 800)
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    for resp in (api.get(f"/protection/complaints/{complaint['id']}", shop.owner),
                 api.get("/protection/complaints", shop.owner), answer(api, shop.owner, complaint["id"])):
        text = resp.get_data(as_text=True)
        assert resp.status_code == 200, text
        assert consumer.phone not in text and "欧阳小明" not in text
        assert "欧**明" in text and consumer.phone[:3] + "****" + consumer.phone[-4:] in text
    seen = ok(api.get(f"/protection/complaints/{complaint['id']}", reviewer))
    assert seen["payer"] == {"name": "欧**明", "phone": consumer.phone[:3] + "****" + consumer.phone[-4:]}


def test_overdue_answers_are_marked_and_overdue_decisions_escalated_to_the_pilot_office(api, factory, shop, reviewer,
                                                                                         paid):
    consumer, order = paid
    pilot = factory.user(Role.PILOT_ADMIN)
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    quiet = ok(open_complaint(api, consumer, "merchant", shop.merchant_id), 201)
    ok(api.post(f"/protection/complaints/{quiet['id']}/withdraw", consumer))  # withdrawn: never overdue
    assert disputes.escalate_overdue() == {"answer_overdue": 0, "escalated": 0}

    with time_machine.travel(utcnow() + timedelta(days=3, minutes=1), tick=False):
        assert disputes.escalate_overdue() == {"answer_overdue": 1, "escalated": 0}
        assert disputes.escalate_overdue() == {"answer_overdue": 0, "escalated": 0}  # safe to run twice
        reviewer, owner = fresh(reviewer), fresh(shop.owner)
        seen = ok(api.get(f"/protection/complaints/{complaint['id']}", reviewer))
        assert seen["answer_overdue"] and not seen["decision_overdue"] and seen["escalated_at"] is None
        ok(answer(api, owner, complaint["id"]))  # late, but still heard
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1), tick=False):
        assert disputes.escalate_overdue() == {"answer_overdue": 0, "escalated": 1}
        assert disputes.escalate_overdue() == {"answer_overdue": 0, "escalated": 0}
        pilot = fresh(pilot)
        escalated = ok(api.get("/protection/complaints", pilot, query_string={"escalated": "true"}))["items"]
        assert [(c["id"], c["decision_overdue"]) for c in escalated] == [(complaint["id"], True)]
        assert escalated[0]["escalated_at"] is not None
        not_escalated = ok(api.get("/protection/complaints", pilot, query_string={"escalated": "false"}))["items"]
        assert [c["id"] for c in not_escalated] == [quiet["id"]]
        ok(decide(api, pilot, complaint["id"], refund_fen=2_000), 201)  # the pilot office decides it
    actions = set(db.session.execute(select(AuditEntry.action).where(AuditEntry.target_kind == "complaint")).scalars())
    db.session.rollback()
    assert actions == {"complaint_answer_overdue", "complaint_escalated", "complaint_upheld"}
    # The job is registered through the plug-in hook, so production's scheduler runs it.
    from flask import current_app

    from backend.hooks import periodic_jobs

    assert disputes.escalate_overdue in [j.func for j in periodic_jobs(current_app)]


def test_a_decision_is_idempotent_and_moves_money_once(api, factory, shop, reviewer, paid):
    consumer, order = paid
    payer_account = wallet_account(factory, consumer)
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    before = balance(payer_account)
    first = ok(decide(api, reviewer, complaint["id"], refund_fen=700, key="decide-1"), 201)
    with ledger_untouched():
        again = ok(decide(api, reviewer, complaint["id"], refund_fen=700, key="decide-1"), 201)
        assert again == first  # the recorded answer, replayed
        refused(decide(api, reviewer, complaint["id"], refund_fen=700, key="decide-2"), 409, "illegal_transition")
        refused(decide(api, reviewer, complaint["id"], refund_fen=300, key="decide-1"), 409, "idempotency_key_reused")
        no_key = api.post(f"/protection/complaints/{complaint['id']}/decision", reviewer,
                          json={"outcome": "upheld", "reason": "再次判定", "refund_fen": 700})
        refused(no_key, 422, "idempotency_key_missing")
    assert balance(payer_account) == before + 700
    assert len(db.session.execute(select(Refund).where(Refund.order_id == order["id"])).scalars().all()) == 1
    db.session.rollback()


def test_two_deciders_at_once_decide_once_and_refund_once(app, pg_app, api, factory, shop, reviewer, paid):
    consumer, order = paid
    pilot = factory.user(Role.PILOT_ADMIN)
    payer_account = wallet_account(factory, consumer)
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    before = balance(payer_account)
    deciders = [reviewer, pilot, reviewer, pilot]
    results = race(app, 4, lambda i, a: outcome(decide(a, deciders[i], complaint["id"], refund_fen=1_200)))
    assert sorted(results) == ["illegal_transition"] * 3 + ["ok"]
    assert balance(payer_account) == before + 1_200
    assert disputes.verify_refunds() == []
    db.session.rollback()


def test_the_same_complaint_sent_twice_at_once_is_opened_once(app, pg_app, api, factory, shop, paid):
    consumer, order = paid
    results = race(app, 3, lambda i, a: outcome(open_complaint(a, consumer, "payment", order["id"])))
    assert sorted(results) == ["complaint_already_open"] * 2 + ["ok"]
    assert len(ok(api.get("/protection/complaints", consumer))["items"]) == 1


def test_the_ledger_check_finds_a_decision_whose_refund_disagrees(api, factory, shop, reviewer, paid):
    from flask import current_app
    from sqlalchemy import update

    from backend.hooks import run_ledger_checks
    from protection.disputes_models import Complaint

    consumer, order = paid
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    ok(decide(api, reviewer, complaint["id"], refund_fen=900), 201)
    assert run_ledger_checks(current_app) == []
    db.session.execute(update(Complaint.__table__).where(Complaint.id == complaint["id"]).values(refund_fen=950))
    db.session.commit()
    [problem] = run_ledger_checks(current_app)
    assert problem.startswith("protection.complaint_refunds: ") and "950" in problem and "900" in problem
    db.session.execute(update(Complaint.__table__).where(Complaint.id == complaint["id"]).values(refund_fen=900))
    db.session.commit()


def test_a_refund_decision_respects_freezes_and_the_read_only_switch(api, factory, shop, reviewer, paid):
    consumer, order = paid
    pilot = factory.user(Role.PILOT_ADMIN)
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    frozen = ok(api.post("/protection/freezes", reviewer, json={"target_kind": "merchant",
                                                                 "target_id": shop.merchant_id,
                                                                 "reason": "投诉集中，先行冻结"}), 201)
    with ledger_untouched():
        refused(decide(api, reviewer, complaint["id"], refund_fen=1_000), 423, "merchant_frozen")
    assert ok(api.get(f"/protection/complaints/{complaint['id']}", consumer))["status"] == "open"
    ok(api.post(f"/protection/freezes/{frozen['id']}/lift", reviewer, json={"reason": "核实完毕，解除冻结"}))
    ok(api.call("PUT", "/protection/read-only", pilot, json={"read_only": True, "reason": "演练：暂停动账"}))
    with ledger_untouched():
        refused(decide(api, reviewer, complaint["id"], refund_fen=1_000), 503, "platform_read_only")
    ok(api.call("PUT", "/protection/read-only", pilot, json={"read_only": False, "reason": "演练结束"}))
    assert ok(decide(api, reviewer, complaint["id"], refund_fen=1_000), 201)["refund"]["amount_fen"] == 1_000


def test_photos_are_checked_by_their_bytes_limited_in_number_and_size_and_served_to_those_who_may_see(
        api, factory, shop, reviewer, paid):
    consumer, order = paid
    complaint = ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    cid = complaint["id"]
    refused(upload(api, consumer, cid, b"<svg onload=alert(1)>", "photo.png"), 415, "photo_type_unsupported")
    refused(upload(api, consumer, cid, b"GIF89a" + b"\x00" * 32, "photo.jpg"), 415, "photo_type_unsupported")
    refused(upload(api, consumer, cid, png(b"\x00" * (disputes.MAX_PHOTO_BYTES + 1))), 413, "photo_too_large")
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
    ids = [ok(upload(api, consumer, cid, data), 201)["id"] for data in (png(), jpeg, png(b"x"))]
    refused(upload(api, consumer, cid, png()), 409, "too_many_photos")
    refused(upload(api, factory.consumer(), cid, png()), 404, "complaint_not_found")

    seen = ok(api.get(f"/protection/complaints/{cid}", shop.owner))
    assert [p["id"] for p in seen["photos"]] == ids
    assert [p["content_type"] for p in seen["photos"]] == ["image/png", "image/jpeg", "image/png"]
    served = api.get(f"/protection/complaints/{cid}/photos/{ids[1]}", reviewer)
    assert served.status_code == 200 and served.mimetype == "image/jpeg" and served.data == jpeg
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    refused(api.get(f"/protection/complaints/{cid}/photos/{ids[1]}", factory.user(Role.BANK_REVIEWER,
                                                                                   bank_code="BOC")),
            404, "complaint_not_found")
    other = ok(open_complaint(api, consumer, "merchant", shop.merchant_id), 201)
    refused(api.get(f"/protection/complaints/{other['id']}/photos/{ids[0]}", consumer), 404, "photo_not_found")


def test_a_prepaid_contract_complaint_is_against_its_merchant(api, factory, shop, reviewer):
    from tests.prepaid.helpers import apply_and_approve, plan_body

    consumer = factory.consumer(balance_fen=100_000)
    pm = apply_and_approve(api, shop.owner, shop.merchant_id, "sports_fitness", reviewer)
    plan = ok(api.post(f"/prepaid/merchants/{pm['id']}/plans", shop.owner, json=plan_body(units=10,
                                                                                           unit_price_fen=1_000)), 201)
    contract = ok(api.post(f"/prepaid/plans/{plan['id']}/purchase", consumer, money=True), 201)
    refused(open_complaint(api, factory.consumer(), "contract", contract["id"]), 404, "contract_not_found")
    complaint = ok(open_complaint(api, consumer, "contract", contract["id"], "prepaid_breach"), 201)
    assert (complaint["merchant_id"], complaint["subject_kind"]) == (shop.merchant_id, "contract")
    assert ok(api.get(f"/protection/complaints/{complaint['id']}", reviewer))["refundable_fen"] is None
    with ledger_untouched():
        refused(decide(api, reviewer, complaint["id"], refund_fen=1_000), 422, "refund_not_applicable")


def test_counts_by_category_and_outcome_feed_the_zone_report(api, factory, reviewer):
    from pypdf import PdfReader

    from tests.campaigns.helpers import make_world
    from zones import pdf, reports
    from zones.models import Zone

    world = make_world(factory)
    shop = world.shop
    people = [factory.consumer(balance_fen=10_000) for _ in range(3)]
    orders = [paid_order(api, shop, p, 1_000) for p in people]
    c = [ok(open_complaint(api, p, "payment", o["id"], cat), 201)
         for p, o, cat in zip(people, orders, ("overcharged", "overcharged", "quality"), strict=True)]
    ok(decide(api, reviewer, c[0]["id"], refund_fen=1_000), 201)
    ok(decide(api, reviewer, c[1]["id"], "rejected", reason="商户提供了小票，仅扣款一次"), 201)

    zone = db.session.get(Zone, world.zone_id)
    monday = local_today() - timedelta(days=local_today().weekday())
    figures = reports.report_figures(zone, "weekly", monday)
    [section] = [s for s in figures["sections"] if s["key"] == "complaints"]
    keys = [col["key"] for col in section["columns"]]
    rows = {r[0]: dict(zip(keys, r, strict=True)) for r in section["rows"]}
    assert rows["多收费或重复扣款 Overcharged or charged twice"] | {"category": None} == {
        "category": None, "total": 2, "upheld": 1, "rejected": 1, "withdrawn": 0, "pending": 0, "refund_fen": 1_000}
    assert rows["商品或服务质量问题 Poor quality of goods or service"]["pending"] == 1
    table = [r for r in csv.DictReader(io.StringIO(reports.to_csv(figures).lstrip("\ufeff")))
             if r["section"] == "complaints"]
    assert {(r["merchant"], r["key"], r["value"]) for r in table} >= {
        ("多收费或重复扣款 Overcharged or charged twice", "upheld", "1"),
        ("多收费或重复扣款 Overcharged or charged twice", "refund_yuan", "10.00")}  # money for people: yuan
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.render(figures))).pages)
    assert "消费者投诉分类汇总" in text and "Consumer complaints by category" in text
    # Another zone's report does not count them.
    assert disputes.report_section(world.other_zone_id, monday, monday + timedelta(days=6))["rows"] == []


def test_the_demo_complaint_is_seeded_once(api, factory, reviewer):
    consumer = factory.consumer()
    owner = factory.user(Role.MERCHANT_OWNER)
    teahouse = factory.merchant(owner=owner, uscc=disputes.DEMO_COMPLAINT[1], name_zh="永庆坊茶居")
    users = {disputes.DEMO_COMPLAINT[0]: consumer.user}
    assert disputes.seed_demo(users, {}) == ["a consumer's complaint about 永庆坊茶居"]
    assert disputes.seed_demo(users, {}) == []
    [queued] = ok(api.get("/protection/complaints", reviewer))["items"]
    assert (queued["merchant_id"], queued["status"], queued["category"]) == (teahouse.id, "open", "quality")


def test_refusals_speak_chinese_to_a_chinese_screen(api, factory, shop, paid):
    consumer, order = paid
    ok(open_complaint(api, consumer, "payment", order["id"]), 201)
    again = api.post("/protection/complaints", consumer, headers={"Accept-Language": "zh-CN"}, json={
        "subject_kind": "payment", "subject_id": order["id"], "category": "overcharged", "text": TEXT})
    body = refused(again, 409, "complaint_already_open")
    assert body["detail"] == "您对此已有一件处理中的投诉，请等待处理结果。"
