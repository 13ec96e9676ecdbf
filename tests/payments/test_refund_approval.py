"""Refunds above the owner's limit need the owner's password (issue #23 item 1), enforced by the server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.clock import utcnow
from backend.payments import refund_approval
from tests.factories import PASSWORD
from tests.payments.helpers import add_cashier, ledger_untouched, ok, paid_order, refund, refused

AMOUNT = 8_000  # ¥80.00


@pytest.fixture
def consumer(factory):
    return factory.consumer(balance_fen=100_000)


def set_limit(api, shop, above_fen, password=PASSWORD):
    return api.call("PUT", f"/merchants/{shop.merchant_id}/refund-policy", shop.owner,
                    json={"refund_approval_above_fen": above_fen, "password": password})


def approval(api, who, order_id, amount_fen, password=PASSWORD):
    return api.post(f"/orders/{order_id}/refund-approvals", who,
                    json={"amount_fen": amount_fen, "owner_password": password})


def refund_with(api, who, order_id, amount_fen, token):
    return api.post(f"/orders/{order_id}/refunds", who, json={"amount_fen": amount_fen, "owner_approval": token},
                    money=True)


def test_the_owner_sets_the_limit_with_their_password(api, shop):
    refused(set_limit(api, shop, 5_000, password="not-my-password"), 403, "password_wrong", field="password")
    body = ok(set_limit(api, shop, 5_000))
    assert body["refund_approval_above_fen"] == 5_000
    assert ok(api.get(f"/merchants/{shop.merchant_id}", shop.owner))["refund_approval_above_fen"] == 5_000
    refused(api.call("PUT", f"/merchants/{shop.merchant_id}/refund-policy", shop.owner,
                     json={"refund_approval_above_fen": -1, "password": PASSWORD}), 422, "validation_failed",
            field="refund_approval_above_fen")
    assert ok(set_limit(api, shop, None))["refund_approval_above_fen"] is None


def test_a_cashier_cannot_set_the_limit(api, shop):
    cashier = add_cashier(api, shop.owner, shop.merchant_id, refund_limit_fen=10_000)
    resp = api.call("PUT", f"/merchants/{shop.merchant_id}/refund-policy", cashier,
                    json={"refund_approval_above_fen": None, "password": PASSWORD})
    assert resp.status_code == 403


def test_a_refund_above_the_limit_needs_the_owners_approval_for_that_order_and_amount(api, factory, shop,
                                                                                     consumer):
    ok(set_limit(api, shop, 5_000))
    cashier = add_cashier(api, shop.owner, shop.merchant_id, refund_limit_fen=AMOUNT)
    order = paid_order(api, shop, consumer, AMOUNT, who=cashier)
    with ledger_untouched():
        body = refused(refund(api, shop.owner, order["id"], 6_000), 403, "owner_approval_required",
                       field="owner_approval")
        assert body["limit_fen"] == 5_000
        refused(refund(api, shop.owner, order["id"]), 403, "owner_approval_required")  # "all" is above too
        refused(approval(api, cashier, order["id"], 6_000, password=PASSWORD + "x"), 403, "password_wrong",
                field="owner_password")
        refused(refund_with(api, cashier, order["id"], 6_000, "forged.token"), 403, "owner_approval_invalid")
        other = ok(approval(api, cashier, order["id"], 5_500), 201)["owner_approval"]
        refused(refund_with(api, cashier, order["id"], 6_000, other), 403, "owner_approval_invalid")
    # At or below the limit nothing is asked.
    assert ok(refund(api, cashier, order["id"], 1_000), 201)["refunded_fen"] == 1_000
    token = ok(approval(api, cashier, order["id"], 6_000), 201)["owner_approval"]
    assert ok(refund_with(api, cashier, order["id"], 6_000, token), 201)["refunded_fen"] == 7_000
    assert factory.balance(consumer) == 100_000 - AMOUNT + 7_000


def test_an_approval_expires(api, shop, consumer, monkeypatch):
    ok(set_limit(api, shop, 0))
    order = paid_order(api, shop, consumer, AMOUNT)
    token = ok(approval(api, shop.owner, order["id"], 100), 201)["owner_approval"]
    later = utcnow() + refund_approval.APPROVAL_TTL + timedelta(seconds=1)
    monkeypatch.setattr(refund_approval, "utcnow", lambda: later)
    with ledger_untouched():
        refused(refund_with(api, shop.owner, order["id"], 100, token), 403, "owner_approval_invalid")


def test_wrong_owner_passwords_lock_out(api, shop, consumer, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 2)
    ok(set_limit(api, shop, 0))
    order = paid_order(api, shop, consumer, AMOUNT)
    for _ in range(2):
        refused(approval(api, shop.owner, order["id"], 100, password="guess"), 403, "password_wrong")
    refused(approval(api, shop.owner, order["id"], 100), 429, "password_locked")


def test_the_openapi_document_lists_the_approval_and_its_errors(api):
    paths = api.get("/openapi.json").get_json()["paths"]
    refund_doc = paths["/api/v1/orders/{order_id}/refunds"]["post"]
    assert "owner_approval" in str(refund_doc) or "owner_approval" in str(api.get("/openapi.json").get_json())
    assert {"403", "409"} <= set(refund_doc["responses"])
    assert {"201", "403", "429"} <= set(paths["/api/v1/orders/{order_id}/refund-approvals"]["post"]["responses"])
    assert {"200", "403"} <= set(paths["/api/v1/merchants/{merchant_id}/refund-policy"]["put"]["responses"])
