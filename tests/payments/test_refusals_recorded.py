"""Refusals are recorded under their Idempotency-Key and replayed, and say no more than the asker may know."""

from __future__ import annotations

from datetime import timedelta

from backend.clock import utcnow
from backend.payments import service as payments
from tests.payments.helpers import PaycodeClock, charge, new_order, refund, register_device


def test_refusing_a_refund_of_an_expired_order_is_recorded_and_replayed(api, shop, monkeypatch):
    order = new_order(api, shop.owner, shop.merchant_id, 5000, ttl_seconds=30)
    later = utcnow() + timedelta(seconds=31)
    monkeypatch.setattr(payments, "utcnow", lambda: later)
    first = refund(api, shop.owner, order["id"], key="K1")
    again = refund(api, shop.owner, order["id"], key="K1")
    assert first.status_code == again.status_code == 409
    assert first.get_json() == again.get_json()
    assert first.get_json()["code"] == "order_not_refundable"


def test_a_refused_charge_does_not_show_the_merchant_the_consumers_balance(api, shop, factory, monkeypatch):
    consumer = factory.consumer(balance_fen=1234)
    device, secret = register_device(api, consumer)
    clock = PaycodeClock(monkeypatch)
    resp = charge(api, shop.owner, shop.merchant_id, clock.code(device, secret), 5000)
    body = resp.get_json()
    assert resp.status_code == 422 and body["code"] == "payer_cannot_pay"
    assert "balance_fen" not in body and "1234" not in body["detail"] and "12.34" not in body["detail"]
