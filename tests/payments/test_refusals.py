"""Every refusal of a payment, charge or refund has its own code and moves no money."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from backend.auth.models import Role
from backend.clock import utcnow
from backend.extensions import db
from backend.merchants.models import Merchant, MerchantStatus
from backend.payments import service as payments
from suiyuan_protocol import codec
from tests.payments.helpers import (
    PaycodeClock,
    add_cashier,
    charge,
    ledger_untouched,
    new_order,
    ok,
    open_shop,
    paid_order,
    pay,
    refund,
    refused,
    register_device,
    static_payload,
)

AMOUNT = 5_000  # ¥50.00


@pytest.fixture
def consumer(factory):
    return factory.consumer(balance_fen=100_000)


@pytest.fixture
def order(api, shop):
    return new_order(api, shop.owner, shop.merchant_id, AMOUNT)


def order_status(api, shop, order_id: int) -> str:
    return ok(api.get(f"/orders/{order_id}", shop.owner))["status"]


# ---------------------------------------------------------------- forged and damaged codes


def _rebuilt(text: str, **changes) -> str:
    """Return ``text`` re-encoded with ``changes``, the original signature templates kept, CRC recomputed."""
    return codec.build(dataclasses.replace(codec.parse(text), **changes))


def tampered_amount(text, other):
    return _rebuilt(text, amount_fen=1)


def tampered_amount_by_hand(text, other):
    body = text[:-4].replace("540550.00", "540505.00")
    assert body != text[:-4]
    return body + f"{codec.crc16_ccitt_false(body.encode()):04X}"


def swapped_merchant(text, other):
    accounts = codec.parse(text).merchant_accounts
    return _rebuilt(text, merchant_accounts={"26": {**accounts["26"], "01": payments.merchant_number(other)}})


def signed_by_unknown_key(text, other):
    return codec.sign(codec.parse(text), "k20240101-forged", Ed25519PrivateKey.generate())


def forged_under_our_kid(text, other):
    parsed = codec.parse(text)
    return codec.sign(parsed, parsed.signature.key_id, Ed25519PrivateKey.generate())


def unsigned(text, other):
    return _rebuilt(text, signature=None)


def damaged_crc(text, other):
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def garbage(text, other):
    return "https://example.com/pay?amount=50"


@pytest.mark.parametrize(("forge", "code"), [
    (tampered_amount, "qr_amount_tampered"),
    (tampered_amount_by_hand, "qr_amount_tampered"),
    (swapped_merchant, "qr_merchant_mismatch"),
    (signed_by_unknown_key, "qr_unknown_key"),
    (forged_under_our_kid, "qr_bad_signature"),
    (unsigned, "qr_unsigned"),
    (damaged_crc, "qr_crc_mismatch"),
    (garbage, "qr_malformed"),
])
def test_a_forged_or_damaged_code_is_refused(api, factory, shop, consumer, order, forge, code):
    other = factory.merchant().id
    text = forge(order["payload"], other)
    assert text != order["payload"]
    with ledger_untouched():
        refused(pay(api, consumer, text), 422, code)
        refused(api.post("/payments/preview", consumer, json={"payload": text}), 422, code)
    assert order_status(api, shop, order["id"]) == "created"
    ok(pay(api, consumer, order["payload"]), 201)  # the genuine code still pays


# ---------------------------------------------------------------- orders that cannot be paid


def test_an_expired_order_is_refused(api, shop, consumer, monkeypatch):
    import time_machine

    short = new_order(api, shop.owner, shop.merchant_id, AMOUNT, ttl_seconds=30)
    # Every clock moves (the express lane on PostgreSQL reads the clock too, not only the general path).
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=True):
        with ledger_untouched():
            refused(pay(api, consumer, short["payload"]), 409, "order_expired")
        assert order_status(api, shop, short["id"]) == "expired"
        with ledger_untouched():
            refused(pay(api, consumer, short["payload"]), 409, "order_expired")


def test_a_paid_code_cannot_be_replayed(api, factory, consumer, order):
    ok(pay(api, consumer, order["payload"]), 201)
    someone_else = factory.consumer(balance_fen=100_000)
    with ledger_untouched():
        refused(pay(api, consumer, order["payload"]), 409, "order_already_paid")
        refused(pay(api, someone_else, order["payload"]), 409, "order_already_paid")


def test_a_cancelled_order_is_refused(api, shop, consumer, order):
    assert ok(api.post(f"/orders/{order['id']}/cancel", shop.owner))["status"] == "cancelled"
    with ledger_untouched():
        refused(pay(api, consumer, order["payload"]), 409, "order_cancelled")
    refused(api.post(f"/orders/{order['id']}/cancel", shop.owner), 409, "illegal_transition")


def test_a_suspended_merchant_cannot_be_paid_or_create_orders(api, shop, consumer, order):
    db.session.execute(update(Merchant).where(Merchant.id == shop.merchant_id)
                       .values(status=MerchantStatus.SUSPENDED))
    db.session.commit()
    with ledger_untouched():
        refused(pay(api, consumer, order["payload"]), 422, "merchant_not_active")
        refused(api.post("/orders", shop.owner, json={"merchant_id": shop.merchant_id, "amount_fen": 100}),
                409, "merchant_not_active")


# ---------------------------------------------------------------- the payer's money and limits


def test_insufficient_funds(api, factory, order):
    poor = factory.consumer(balance_fen=AMOUNT - 1)
    with ledger_untouched():
        body = refused(pay(api, poor, order["payload"]), 422, "insufficient_funds")
    assert body["balance_fen"] == AMOUNT - 1


def test_wallet_tier_limits(api, factory, shop):
    """A class-4 wallet pays at most ¥2,000 at once and ¥5,000 a day."""
    payer = factory.consumer(balance_fen=900_000, wallet_class=4)
    too_big = new_order(api, shop.owner, shop.merchant_id, 200_001)
    with ledger_untouched():
        assert refused(pay(api, payer, too_big["payload"]), 422, "limit_exceeded")["limit"] == "single"
    for _ in range(2):
        ok(pay(api, payer, new_order(api, shop.owner, shop.merchant_id, 200_000)["payload"]), 201)
    third = new_order(api, shop.owner, shop.merchant_id, 100_001)
    with ledger_untouched():
        body = refused(pay(api, payer, third["payload"]), 422, "limit_exceeded")
    assert (body["limit"], body["remaining_fen"]) == ("day", 100_000)


def test_a_dynamic_code_keeps_its_own_amount(api, consumer, order):
    with ledger_untouched():
        refused(pay(api, consumer, order["payload"], amount_fen=1), 422, "amount_not_allowed", field="amount_fen")


def test_money_moving_posts_need_an_idempotency_key(api, consumer, order):
    with ledger_untouched():
        refused(api.post("/payments", consumer, json={"payload": order["payload"]}), 422,
                "idempotency_key_missing")


def test_an_idempotency_key_cannot_be_reused_for_another_payment(api, shop, consumer, order):
    ok(pay(api, consumer, order["payload"], key="till-7-0001"), 201)
    second = new_order(api, shop.owner, shop.merchant_id, AMOUNT)
    with ledger_untouched():
        refused(pay(api, consumer, second["payload"], key="till-7-0001"), 409, "idempotency_key_reused")
    assert order_status(api, shop, second["id"]) == "created"


@pytest.fixture
def static_text(api, shop):
    """The shop's static code."""
    return static_payload(api, shop.owner, shop.merchant_id)


def test_a_static_code_pasted_over_with_another_merchant_is_refused(api, factory, consumer, static_text):
    other = factory.merchant().id
    with ledger_untouched():
        body = refused(pay(api, consumer, swapped_merchant(static_text, other), amount_fen=100), 422,
                       "qr_bad_signature")
    assert "forged" in body["detail"]


def test_a_static_code_needs_an_amount(api, consumer, static_text):
    with ledger_untouched():
        refused(pay(api, consumer, static_text), 422, "amount_required", field="amount_fen")


def test_static_codes_pay_at_most_500_yuan_a_day(api, consumer, shop, order, static_text):
    with ledger_untouched():
        refused(pay(api, consumer, static_text, amount_fen=50_001), 422, "static_qr_daily_cap")
    ok(pay(api, consumer, static_text, amount_fen=30_000), 201)
    ok(pay(api, consumer, static_text, amount_fen=20_000), 201)
    with ledger_untouched():
        body = refused(pay(api, consumer, static_text, amount_fen=1), 422, "static_qr_daily_cap")
    assert body["limit_fen"] == 50_000
    ok(pay(api, consumer, order["payload"]), 201)  # a dynamic code is not capped


def test_a_refused_static_payment_does_not_use_up_the_static_allowance(api, factory, static_text):
    payer = factory.consumer(balance_fen=40_000)
    with ledger_untouched():
        refused(pay(api, payer, static_text, amount_fen=50_000), 422, "insufficient_funds")
    factory.fund(payer, 10_000)
    ok(pay(api, payer, static_text, amount_fen=50_000), 201)


# ---------------------------------------------------------------- payment codes


@pytest.fixture
def pc_clock(monkeypatch):
    return PaycodeClock(monkeypatch, start=15 * 116_666_667)  # on a step boundary


@pytest.fixture
def device(api, consumer):
    return register_device(api, consumer)


def test_a_payment_code_charges_once(api, factory, shop, consumer, device, pc_clock):
    code = pc_clock.code(*device)
    body = ok(charge(api, shop.owner, shop.merchant_id, code, 2_000), 201)
    assert (body["kind"], body["status"], body["amount_fen"]) == ("paycode", "paid", 2_000)
    assert "payer_balance_after_fen" not in body  # the merchant does not learn the balance
    assert factory.balance(consumer) == 98_000
    with ledger_untouched():
        refused(charge(api, shop.owner, shop.merchant_id, code, 2_000), 422, "paycode_used", field="code")


@pytest.mark.parametrize(("age_s", "accepted"), [(45, True), (60, False), (120, False)])
def test_an_old_payment_code_is_refused(api, shop, device, pc_clock, age_s, accepted):
    code = pc_clock.code(*device, age_s=age_s)
    if accepted:
        ok(charge(api, shop.owner, shop.merchant_id, code, 100), 201)
        return
    with ledger_untouched():
        refused(charge(api, shop.owner, shop.merchant_id, code, 100), 422, "paycode_expired_or_forged")


def test_a_forged_payment_code_is_refused(api, shop, device, pc_clock):
    real = pc_clock.code(*device)
    forged_otp = real[:10] + f"{(int(real[10:]) + 1) % 10**8:08d}"
    unknown_device = real[:2] + "99999999" + real[10:]
    with ledger_untouched():
        for code in (forged_otp, unknown_device):
            refused(charge(api, shop.owner, shop.merchant_id, code, 100), 422, "paycode_expired_or_forged")
        refused(charge(api, shop.owner, shop.merchant_id, "12345", 100), 422, "paycode_invalid", field="code")


def test_a_payment_code_pays_at_most_500_yuan(api, shop, device, pc_clock):
    with ledger_untouched():
        refused(charge(api, shop.owner, shop.merchant_id, pc_clock.code(*device), 50_001), 422,
                "offline_amount_cap")
    ok(charge(api, shop.owner, shop.merchant_id, pc_clock.code(*device), 50_000), 201)


def test_ten_offline_payments_then_the_device_must_sync(api, shop, consumer, device, pc_clock):
    device_id, secret = device
    for _ in range(10):
        ok(charge(api, shop.owner, shop.merchant_id, pc_clock.code(device_id, secret), 100), 201)
        pc_clock.tick()
    eleventh = pc_clock.code(device_id, secret)
    with ledger_untouched():
        refused(charge(api, shop.owner, shop.merchant_id, eleventh, 100), 422, "offline_count_cap")
    listed = ok(api.get("/paycodes/devices", consumer))["items"]
    assert [d["offline_payments_since_sync"] for d in listed] == [10]
    assert ok(api.post(f"/paycodes/devices/{device_id}/sync", consumer))["offline_payments_since_sync"] == 0
    ok(charge(api, shop.owner, shop.merchant_id, eleventh, 100), 201)


def test_a_revoked_devices_codes_stop_working(api, factory, shop, consumer, device, pc_clock):
    device_id, secret = device
    refused(api.delete(f"/paycodes/devices/{device_id}", factory.consumer()), 404, "device_not_found")
    assert api.delete(f"/paycodes/devices/{device_id}", consumer).status_code == 204
    with ledger_untouched():
        refused(charge(api, shop.owner, shop.merchant_id, pc_clock.code(device_id, secret), 100), 422,
                "device_revoked")
    refused(api.post(f"/paycodes/devices/{device_id}/sync", consumer), 409, "device_revoked")


# ---------------------------------------------------------------- refunds


@pytest.fixture
def paid(api, consumer, order):
    return ok(pay(api, consumer, order["payload"]), 201)


def test_a_cashier_refunds_only_up_to_their_limit(api, factory, shop, consumer):
    cashier = add_cashier(api, shop.owner, shop.merchant_id, refund_limit_fen=1_000)
    order = paid_order(api, shop, consumer, AMOUNT, who=cashier)
    with ledger_untouched():
        body = refused(refund(api, cashier, order["id"], 1_001), 403, "refund_over_cashier_limit")
        refused(refund(api, cashier, order["id"]), 403, "refund_over_cashier_limit")  # all of it
    assert body["limit_fen"] == 1_000
    assert ok(refund(api, cashier, order["id"], 1_000), 201)["status"] == "partially_refunded"
    assert ok(refund(api, shop.owner, order["id"]), 201)["status"] == "refunded"
    assert factory.balance(consumer) == 100_000


def test_a_cashiers_small_refunds_add_up_against_their_limit(api, factory, shop, consumer):
    """The limit is per cashier per order in total. The refusal reports what they refunded already — a sum
    of fen read from the database, which must reach the client (and the idempotency record) as an int on
    PostgreSQL as on SQLite: a 403 problem+json, not a 500."""
    cashier = add_cashier(api, shop.owner, shop.merchant_id, refund_limit_fen=1_000)
    order = paid_order(api, shop, consumer, AMOUNT, who=cashier)
    ok(refund(api, cashier, order["id"], 400), 201)
    ok(refund(api, cashier, order["id"], 200), 201)
    with ledger_untouched():
        resp = refund(api, cashier, order["id"], 401, key="cashier-refund-3")
        body = refused(resp, 403, "refund_over_cashier_limit")
        assert refund(api, cashier, order["id"], 401, key="cashier-refund-3").get_data() == resp.get_data()
    assert (body["limit_fen"], body["refunded_by_you_fen"]) == (1_000, 600)
    assert type(body["refunded_by_you_fen"]) is int
    assert ok(refund(api, cashier, order["id"], 400), 201)["refunded_fen"] == 1_000  # exactly up to the limit
    with ledger_untouched():
        assert refused(refund(api, cashier, order["id"], 1), 403, "refund_over_cashier_limit")[
            "refunded_by_you_fen"] == 1_000
    assert ok(refund(api, shop.owner, order["id"], 1), 201)["refunded_fen"] == 1_001  # the owner has no limit


def test_refunds_never_exceed_what_was_paid(api, shop, order, paid):
    with ledger_untouched():
        body = refused(refund(api, shop.owner, order["id"], AMOUNT + 1), 409, "refund_exceeds_paid")
    assert body["refundable_fen"] == AMOUNT
    ok(refund(api, shop.owner, order["id"], 3_000), 201)
    with ledger_untouched():
        refused(refund(api, shop.owner, order["id"], 2_001), 409, "refund_exceeds_paid")
    assert ok(refund(api, shop.owner, order["id"], 2_000), 201)["status"] == "refunded"
    with ledger_untouched():
        refused(refund(api, shop.owner, order["id"], 1), 409, "order_not_refundable")


def test_an_unpaid_order_cannot_be_refunded(api, shop, order):
    with ledger_untouched():
        refused(refund(api, shop.owner, order["id"], 100), 409, "order_not_refundable")
        ok(api.post(f"/orders/{order['id']}/cancel", shop.owner))
        refused(refund(api, shop.owner, order["id"]), 409, "order_not_refundable")


def test_only_the_merchants_people_refund(api, factory, consumer, order, paid):
    other_owner = open_shop(factory).owner
    with ledger_untouched():
        refused(refund(api, consumer, order["id"], 100), 403, "role_forbidden")
        refused(refund(api, factory.user(Role.PILOT_ADMIN), order["id"], 100), 403, "role_forbidden")
        refused(refund(api, other_owner, order["id"], 100), 404, "order_not_found")
