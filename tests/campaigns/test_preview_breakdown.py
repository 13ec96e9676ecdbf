"""The preview shows how a payment will be paid — price, red packet, coupon, what leaves the wallet — and
the payment, the payer's receipt and the merchant's charge show the same split (issue #23 item 2)."""

from __future__ import annotations

from sqlalchemy import select

from backend.extensions import db
from campaigns.models import Claim, ClaimStatus
from tests.campaigns.helpers import balance_of, grab, live
from tests.payments.helpers import ledger_untouched, new_order, ok, pay


def preview(api, consumer, payload, **extra):
    return ok(api.post("/payments/preview", consumer, json={"payload": payload, **extra}))


def test_a_coupon_and_a_red_packet_are_shown_before_paying_and_match_the_debit(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    packet = live(api, world, packet_count=2, budget_fen=600, split="fixed")  # ¥3.00 each
    ok(grab(api, consumer, packet["id"]), 201)
    coupon = live(api, world, kind="coupon", packet_count=5, discount_fen=500, min_spend_fen=3_000)
    ok(grab(api, consumer, coupon["id"]), 201)
    order = new_order(api, world.shop.owner, world.shop.merchant_id, 6_800)  # ¥68.00, 满30减5
    with ledger_untouched():
        seen = preview(api, consumer, order["payload"])["breakdown"]
    assert seen == {"price_fen": 6_800, "coupon_fen": 500, "red_packet_fen": 300, "from_wallet_fen": 6_000,
                    "merchant_receives_fen": 6_800, "wallet_balance_fen": 10_000, "enough_balance": True,
                    "short_fen": 0}
    # Pricing reserved nothing: the coupon is still unused.
    assert db.session.execute(select(Claim.status).where(Claim.campaign_id == coupon["id"])).scalar_one() \
        == ClaimStatus.CLAIMED
    merchant_before = balance_of(world.shop.account_id)
    paid = ok(pay(api, consumer, order["payload"]), 201)
    assert {k: paid["breakdown"][k] for k in ("price_fen", "coupon_fen", "red_packet_fen", "from_wallet_fen")} \
        == {k: seen[k] for k in ("price_fen", "coupon_fen", "red_packet_fen", "from_wallet_fen")}
    assert factory.balance(consumer) == 10_000 - 6_000
    assert balance_of(world.shop.account_id) == merchant_before + 6_800
    receipt = ok(api.get(f"/payments/receipts/{paid['reference']}", consumer))
    assert receipt["breakdown"] == paid["breakdown"] and receipt["merchant"]["id"] == world.shop.merchant_id
    assert api.get(f"/payments/receipts/{paid['reference']}", factory.consumer()).status_code == 404


def test_too_little_balance_is_said_before_paying(api, world, factory):
    consumer = factory.consumer(balance_fen=2_000)
    order = new_order(api, world.shop.owner, world.shop.merchant_id, 6_800)
    seen = preview(api, consumer, order["payload"])["breakdown"]
    assert (seen["from_wallet_fen"], seen["enough_balance"], seen["short_fen"]) == (6_800, False, 4_800)


def test_a_cancelled_orders_genuine_code_is_genuine_and_has_no_price_to_pay(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    order = new_order(api, world.shop.owner, world.shop.merchant_id, 6_800)
    ok(api.post(f"/orders/{order['id']}/cancel", world.shop.owner))
    body = preview(api, consumer, order["payload"])
    assert (body["genuine"], body["merchant"]["verified"], body["order_status"], body["breakdown"]) == (
        True, True, "cancelled", None)


def test_a_static_code_is_priced_for_the_amount_typed(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    coupon = live(api, world, kind="coupon", packet_count=5, discount_fen=500, min_spend_fen=3_000)
    ok(grab(api, consumer, coupon["id"]), 201)
    text = ok(api.get(f"/merchants/{world.shop.merchant_id}/static-qr", world.shop.owner))["payload"]
    assert preview(api, consumer, text)["breakdown"] is None
    seen = preview(api, consumer, text, amount_fen=4_000)["breakdown"]
    assert (seen["coupon_fen"], seen["from_wallet_fen"]) == (500, 3_500)
