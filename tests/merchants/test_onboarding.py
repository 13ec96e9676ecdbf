"""Merchant onboarding over HTTP: apply, review by the operator bank, cashiers, who sees what."""

from __future__ import annotations

import pytest

from backend.auth.models import Role
from backend.extensions import db
from backend.ledger import service as ledger
from backend.merchants.models import Merchant, MerchantStatus
from backend.merchants.uscc import CHARSET
from tests.payments.helpers import (
    add_cashier,
    application,
    new_order,
    ok,
    onboard,
    pay,
    refused,
    review,
    valid_uscc,
)


@pytest.fixture
def owner(factory):
    return factory.user(Role.MERCHANT_OWNER)


@pytest.fixture
def applied(api, owner):
    """A pending application of ``owner`` at ICBC."""
    return ok(api.post("/merchants", owner, json=application(bank_code="ICBC")), 201)


def test_owner_applies_and_the_application_is_pending(api, owner):
    code = valid_uscc()
    body = ok(api.post("/merchants", owner, json=application(uscc=code.lower())), 201)
    assert body["status"] == MerchantStatus.PENDING
    assert body["verified"] is False
    assert body["uscc"] == code  # stored upper-cased
    assert body["owner_user_id"] == owner.id
    assert body["bank_code"] == "ICBC"
    assert body["merchant_number"] == f"M{body['id']:09d}"
    assert ok(api.get(f"/merchants/{body['id']}", owner))["status"] == MerchantStatus.PENDING
    assert db.session.get(Merchant, body["id"]).account_id is None  # no wallet before approval


@pytest.mark.parametrize(("field", "value"), [("bank_code", "NOPE"), ("scenario", "casino"), ("mcc", "58"),
                                              ("latitude", 91.0)])
def test_other_bad_fields_are_refused_by_name(api, owner, field, value):
    refused(api.post("/merchants", owner, json=application(**{field: value})), 422, "validation_failed", field=field)
    assert db.session.query(Merchant).count() == 0


def test_an_application_under_review_cannot_collect(api, owner, applied):
    refused(api.post("/orders", owner, json={"merchant_id": applied["id"], "amount_fen": 100}),
            409, "merchant_not_active")
    refused(api.get(f"/merchants/{applied['id']}/static-qr", owner), 409, "merchant_not_active")


def test_a_wrong_check_character_is_refused_on_the_uscc_field(api, owner):
    good = valid_uscc()
    bad = good[:17] + next(c for c in CHARSET if c != good[17])
    refused(api.post("/merchants", owner, json=application(uscc=bad)), 422, "validation_failed", field="uscc")
    assert db.session.query(Merchant).count() == 0


@pytest.mark.parametrize(("field", "value"), [("name_zh", "茶\t居"), ("name_zh", "   "), ("name_en", "   ")])
def test_a_name_that_cannot_be_put_in_a_qr_code_is_refused(api, owner, field, value):
    refused(api.post("/merchants", owner, json=application(**{field: value})), 422, "validation_failed", field=field)


def test_a_registered_uscc_cannot_apply_twice(api, owner, factory):
    code = valid_uscc()
    ok(api.post("/merchants", owner, json=application(uscc=code)), 201)
    other_owner = factory.user(Role.MERCHANT_OWNER)
    refused(api.post("/merchants", other_owner, json=application(uscc=code)), 409, "uscc_taken", field="uscc")
    assert db.session.query(Merchant).count() == 1


def test_a_reviewer_of_another_bank_can_neither_see_nor_review_it(api, factory, applied):
    stranger = factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    refused(api.get(f"/merchants/{applied['id']}", stranger), 404, "merchant_not_found")
    assert ok(api.get("/merchants", stranger))["items"] == []
    refused(review(api, stranger, applied["id"]), 404, "merchant_not_found")
    assert db.session.get(Merchant, applied["id"]).status == MerchantStatus.PENDING


def test_the_banks_reviewer_approves_and_the_wallet_opens(api, factory, owner, applied):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    listed = ok(api.get("/merchants", reviewer))["items"]
    assert [m["id"] for m in listed] == [applied["id"]]
    body = ok(review(api, reviewer, applied["id"]))
    assert body["status"] == MerchantStatus.APPROVED
    assert body["verified"] is True
    assert body["reviewed_at"] is not None
    merchant = db.session.get(Merchant, applied["id"])
    assert merchant.account_id is not None
    assert merchant.reviewed_by_user_id == reviewer.id
    assert ledger.balance(merchant.account_id) == 0
    assert ok(api.get(f"/merchants/{applied['id']}", owner))["verified"] is True


def test_rejection_needs_a_reason(api, factory, applied):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    refused(review(api, reviewer, applied["id"], "reject"), 422, "validation_failed", field="reason")
    refused(review(api, reviewer, applied["id"], "reject", "   "), 422, "validation_failed", field="reason")
    assert db.session.get(Merchant, applied["id"]).status == MerchantStatus.PENDING
    body = ok(review(api, reviewer, applied["id"], "reject", "营业执照照片不清晰"))
    assert body["status"] == MerchantStatus.REJECTED
    assert body["review_reason"] == "营业执照照片不清晰"
    assert body["verified"] is False
    assert db.session.get(Merchant, applied["id"]).account_id is None


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_a_decided_application_cannot_be_decided_again(api, factory, applied, second):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    ok(review(api, reviewer, applied["id"]))
    account_id = db.session.get(Merchant, applied["id"]).account_id
    refused(review(api, reviewer, applied["id"], second, "second thoughts"), 409, "illegal_transition")
    merchant = db.session.get(Merchant, applied["id"])
    assert (merchant.status, merchant.account_id) == (MerchantStatus.APPROVED, account_id)


def test_cashiers_collect_only_for_their_shop_and_see_only_their_own_orders(api, factory, owner):
    consumer = factory.consumer(balance_fen=100_000)
    shop = onboard(api, factory, owner=owner)
    other = onboard(api, factory)
    added = ok(api.post(f"/merchants/{shop['id']}/cashiers", owner,
                        json={"phone": "13700000001", "password": "Passw0rd!", "refund_limit_fen": 5_000}), 201)
    assert (added["merchant_id"], added["refund_limit_fen"]) == (shop["id"], 5_000)
    listed = ok(api.get(f"/merchants/{shop['id']}/cashiers", owner))["items"]
    assert [c["phone"] for c in listed] == ["13700000001"]
    cashier = add_cashier(api, owner, shop["id"], refund_limit_fen=1_000)

    refused(api.post("/orders", cashier, json={"merchant_id": other["id"], "amount_fen": 100}),
            404, "merchant_not_found")
    mine = [new_order(api, cashier, shop["id"], amount) for amount in (1_200, 3_400)]
    owners = new_order(api, owner, shop["id"], 5_600)
    ok(pay(api, consumer, mine[0]["payload"]), 201)
    ok(pay(api, consumer, owners["payload"]), 201)

    as_cashier = ok(api.get(f"/orders?merchant_id={shop['id']}", cashier))
    assert sorted(o["id"] for o in as_cashier["items"]) == sorted(o["id"] for o in mine)
    assert as_cashier["totals"] == {"order_count": 2, "paid_count": 1, "paid_fen": 1_200, "refunded_fen": 0,
                                    "net_fen": 1_200}
    refused(api.get(f"/orders/{owners['id']}", cashier), 404, "order_not_found")
    refused(api.get(f"/orders?merchant_id={other['id']}", cashier), 404, "merchant_not_found")

    as_owner = ok(api.get(f"/orders?merchant_id={shop['id']}", owner))
    assert len(as_owner["items"]) == 3
    assert as_owner["totals"] == {"order_count": 3, "paid_count": 2, "paid_fen": 6_800, "refunded_fen": 0,
                                  "net_fen": 6_800}


def test_only_the_owner_adds_cashiers(api, factory, owner):
    shop = onboard(api, factory, owner=owner)
    cashier = add_cashier(api, owner, shop["id"])
    body = {"phone": "13700000002", "password": "Passw0rd!"}
    refused(api.post(f"/merchants/{shop['id']}/cashiers", factory.user(Role.MERCHANT_OWNER), json=body),
            404, "merchant_not_found")
    refused(api.post(f"/merchants/{shop['id']}/cashiers", cashier, json=body), 403, "role_forbidden")


def test_consumers_see_only_approved_merchants(api, factory):
    approved = [factory.merchant(), factory.merchant()]
    hidden = [factory.merchant(status=s) for s in (MerchantStatus.PENDING, MerchantStatus.REJECTED,
                                                   MerchantStatus.SUSPENDED)]
    consumer = factory.consumer()
    listed = ok(api.get("/merchants", consumer))["items"]
    assert sorted(m["id"] for m in listed) == sorted(m.id for m in approved)
    assert all(m["verified"] and "uscc" not in m for m in listed)
    for m in hidden:
        refused(api.get(f"/merchants/{m.id}", consumer), 404, "merchant_not_found")


def test_the_reviewer_finds_decided_applications_and_sees_who_applied(api, factory):
    """History by status and search (name, USCC, merchant number); each with the applicant's name and masked
    phone and the USCC's check, for the reviewer — never the applicant's whole number."""
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    people = [factory.user(Role.MERCHANT_OWNER, display_name=name) for name in ("黄老板", "周老板")]
    tea = ok(api.post("/merchants", people[0], json=application(bank_code="ICBC", name_zh="恩宁路茶居")), 201)
    noodles = ok(api.post("/merchants", people[1], json=application(bank_code="ICBC", name_zh="北京路云吞面")), 201)
    ok(review(api, reviewer, tea["id"], "approve"))
    ok(review(api, reviewer, noodles["id"], "reject", "地址与执照不符"))

    def found(**query):
        return [m["id"] for m in ok(api.get("/merchants", reviewer, query_string=query))["items"]]

    assert found(status="rejected") == [noodles["id"]]
    assert found(q="茶居") == [tea["id"]]
    assert found(q=noodles["uscc"][3:12].lower(), status="rejected") == [noodles["id"]]
    assert found(q=tea["merchant_number"]) == [tea["id"]]
    assert found(q="100%_") == []  # wildcards are searched for, not used
    [seen] = ok(api.get("/merchants", reviewer, query_string={"q": "云吞"}))["items"]
    assert seen["applicant"] == {"display_name": "周老板",
                                 "phone_masked": people[1].phone[:3] + "****" + people[1].phone[-4:]}
    assert seen["uscc_check_ok"] is True and seen["review_reason"] == "地址与执照不符"
    assert "applicant" not in ok(api.get(f"/merchants/{tea['id']}", people[0]))  # the owner knows who they are
    refused(api.get("/merchants", reviewer, query_string={"q": ""}), 422, "validation_failed", field="q")


def test_the_owner_changes_a_cashiers_refund_limit_and_the_server_holds_them_to_it(api, factory, owner):
    shop = onboard(api, factory, owner=owner)
    other = onboard(api, factory)
    consumer = factory.consumer(balance_fen=10_000)
    cashier = add_cashier(api, owner, shop["id"], refund_limit_fen=1_000)
    order = new_order(api, cashier, shop["id"], 3_000)
    ok(pay(api, consumer, order["payload"]), 201)
    refused(api.post(f"/orders/{order['id']}/refunds", cashier, json={"amount_fen": 2_000}, money=True),
            403, "refund_over_cashier_limit")
    path = f"/merchants/{shop['id']}/cashiers/{cashier.id}"
    changed = ok(api.call("PATCH", path, owner, json={"refund_limit_fen": 2_500}))
    assert (changed["user_id"], changed["refund_limit_fen"]) == (cashier.id, 2_500)
    ok(api.post(f"/orders/{order['id']}/refunds", cashier, json={"amount_fen": 2_000}, money=True), 201)
    # Only the owner, only their own cashiers.
    refused(api.call("PATCH", path, cashier, json={"refund_limit_fen": 9_999}), 403, "role_forbidden")
    refused(api.call("PATCH", f"/merchants/{other['id']}/cashiers/{cashier.id}", owner,
                     json={"refund_limit_fen": 9_999}), 404, "merchant_not_found")
    refused(api.call("PATCH", f"/merchants/{shop['id']}/cashiers/{owner.id}", owner,
                     json={"refund_limit_fen": 9_999}), 404, "cashier_not_found")
    refused(api.call("PATCH", path, owner, json={"refund_limit_fen": -1}), 422, "validation_failed",
            field="refund_limit_fen")
    zh = api.call("PATCH", f"/merchants/{shop['id']}/cashiers/{owner.id}", owner, json={"refund_limit_fen": 1},
                  headers={"Accept-Language": "zh-CN"}).get_json()
    assert zh["detail"] == "这家店没有这位收银员。"
