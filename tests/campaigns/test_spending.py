"""Spending red packets and coupons through the real payment flow (dynamic QR over HTTP), refunds
of subsidised payments, with exact ledger figures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from campaigns.models import Claim
from campaigns.tasks import settle_job
from tests.campaigns.helpers import (
    balance_of,
    campaign_account,
    grab,
    live,
    pass_spend_deadline,
    pay_order,
    place,
    restricted_balance,
    set_times,
)
from tests.payments.helpers import ok, open_shop, refund


def legs(body: dict) -> list[tuple[str, int]]:
    return [(leg["code"], leg["amount_fen"]) for leg in body["legs"]]


def red_packets(api, world, consumer, *amounts_and_hours) -> list[dict]:
    """Give ``consumer`` one fixed red packet per (amount, spend hours) from a fresh campaign each."""
    out = []
    for amount, hours in amounts_and_hours:
        c = live(api, world, packet_count=2, budget_fen=2 * amount,
                 spend_ends_at=(utcnow() + timedelta(hours=hours)).isoformat())
        ok(grab(api, consumer, c["id"]), 201)
        out.append(c)
    return out


def coupon(api, world, consumer, discount: int, min_spend: int, stackable: bool = False, **extra) -> dict:
    c = live(api, world, kind="coupon", packet_count=5, discount_fen=discount, min_spend_fen=min_spend,
             stackable=stackable, **extra)
    body = ok(grab(api, consumer, c["id"]), 201)
    assert (body["kind"], body["discount_fen"], body["min_spend_fen"]) == ("coupon", discount, min_spend)
    return c


def test_red_packets_pay_first_earliest_deadline_first_then_the_main_balance(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    later, sooner = red_packets(api, world, consumer, (500, 5), (300, 3))
    merchant_before = balance_of(world.shop.account_id)
    paid = pay_order(api, world, consumer, 1_000)
    assert legs(paid) == [("payment", 200), ("red_packet_spend", 300), ("red_packet_spend", 500)]
    assert (paid["subsidy_fen"], paid["paid_from_balance_fen"], paid["payer_balance_after_fen"]) == (800, 200, 9_800)
    assert balance_of(world.shop.account_id) == merchant_before + 1_000  # the full price
    assert restricted_balance(consumer.id, sooner["id"]) == restricted_balance(consumer.id, later["id"]) == 0
    assert factory.balance(consumer) == 9_800
    # Partly spent: the earliest deadline is emptied first, the later one keeps the rest.
    more_later, more_sooner = red_packets(api, world, consumer, (700, 5), (400, 4))
    paid = pay_order(api, world, consumer, 600)
    assert legs(paid) == [("red_packet_spend", 400), ("red_packet_spend", 200)]
    assert restricted_balance(consumer.id, more_sooner["id"]) == 0
    assert restricted_balance(consumer.id, more_later["id"]) == 500
    mine = ok(api.get("/wallets/me/red-packets", consumer))
    assert mine["spendable_fen"] == 500
    assert [i["state"] for i in mine["items"]] == ["spent", "spent", "spent", "active"]
    assert ledger.verify() == []


def test_red_packets_are_spent_only_where_the_campaign_allows(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    listed = live(api, world, packet_count=2, budget_fen=1_000)  # lists world.shop only
    ok(grab(api, consumer, listed["id"]), 201)
    elsewhere = open_shop(factory)
    place(elsewhere.merchant_id, world.zone_id)
    assert legs(pay_order(api, world, consumer, 300, shop=elsewhere)) == [("payment", 300)]
    # By zone (no list): a merchant placed in the zone takes it, one placed elsewhere does not.
    by_zone = live(api, world, packet_count=2, budget_fen=1_000, merchant_ids=None)
    other = factory.consumer(balance_fen=10_000)
    ok(grab(api, other, by_zone["id"]), 201)
    outside = open_shop(factory)
    place(outside.merchant_id, world.other_zone_id)
    assert legs(pay_order(api, world, other, 300, shop=outside)) == [("payment", 300)]
    assert legs(pay_order(api, world, other, 300, shop=elsewhere)) == [("red_packet_spend", 300)]
    # By scenario: a shopping-only campaign is not spent at a restaurant.
    shopping = live(api, world, packet_count=2, budget_fen=1_000, merchant_ids=None, scenarios=["shopping"])
    third = factory.consumer(balance_fen=10_000)
    ok(grab(api, third, shopping["id"]), 201)
    assert legs(pay_order(api, world, third, 300)) == [("payment", 300)]
    # After the spend deadline a red packet no longer pays.
    set_times(listed["id"], opens_at=utcnow() - timedelta(hours=3), closes_at=utcnow() - timedelta(hours=2),
              spend_ends_at=utcnow() - timedelta(seconds=1))
    assert legs(pay_order(api, world, consumer, 300)) == [("payment", 300)]
    assert restricted_balance(consumer.id, listed["id"]) == 500


def test_a_coupon_applies_only_from_its_threshold_and_once(api, world, factory):
    consumer = factory.consumer(balance_fen=20_000)
    c = coupon(api, world, consumer, 500, 3_000)
    escrow = campaign_account(c["id"])
    assert balance_of(escrow) == 2_500  # 5 coupons × 500, escrowed at launch; claiming moves no money
    assert legs(pay_order(api, world, consumer, 2_999)) == [("payment", 2_999)]
    merchant_before = balance_of(world.shop.account_id)
    paid = pay_order(api, world, consumer, 3_000)
    assert legs(paid) == [("payment", 2_500), ("coupon_subsidy", 500)]
    assert balance_of(world.shop.account_id) == merchant_before + 3_000
    assert balance_of(escrow) == 2_000
    assert factory.balance(consumer) == 20_000 - 2_999 - 2_500
    coupons = ok(api.get("/wallets/me/coupons", consumer))["items"]
    assert [(x["state"], x["used_order_id"]) for x in coupons] == [("used", paid["id"])]
    assert legs(pay_order(api, world, consumer, 3_000)) == [("payment", 3_000)]  # one use


def test_the_best_coupon_wins_and_only_stackable_ones_combine(api, world, factory):
    consumer = factory.consumer(balance_fen=50_000)
    small = coupon(api, world, consumer, 500, 3_000)
    big = coupon(api, world, consumer, 800, 5_000)
    extra = coupon(api, world, consumer, 100, 1_000, stackable=True)
    # 6,000 reaches both: the larger non-stackable one, plus the stackable one.
    assert legs(pay_order(api, world, consumer, 6_000)) == [("payment", 5_100), ("coupon_subsidy", 800),
                                                           ("coupon_subsidy", 100)]
    # 4,000 reaches only the small one now.
    assert legs(pay_order(api, world, consumer, 4_000)) == [("payment", 3_500), ("coupon_subsidy", 500)]
    used = {x["campaign"]["id"]: x["state"] for x in ok(api.get("/wallets/me/coupons", consumer))["items"]}
    assert used == {small["id"]: "used", big["id"]: "used", extra["id"]: "used"}


def test_a_coupon_prices_the_order_and_red_packets_pay_what_is_left(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    (packet,) = red_packets(api, world, consumer, (500, 5))
    c = coupon(api, world, consumer, 500, 3_000)
    paid = pay_order(api, world, consumer, 3_000)
    # 满3000减500: the price is 2,500; the red packet pays 500 of it, the wallet 2,000.
    assert legs(paid) == [("payment", 2_000), ("red_packet_spend", 500), ("coupon_subsidy", 500)]
    assert paid["subsidy_fen"] == 1_000 and factory.balance(consumer) == 8_000
    assert restricted_balance(consumer.id, packet["id"]) == 0 and balance_of(campaign_account(c["id"])) == 2_000
    # Subsidy that would exceed the price is not used: a coupon on a fully red-packet-paid order still
    # prices first, and red packets never pay more than what is left.
    again = factory.consumer(balance_fen=10_000)
    red_packets(api, world, again, (5_000, 5))
    coupon(api, world, again, 500, 1_000)
    assert legs(pay_order(api, world, again, 1_000)) == [("red_packet_spend", 500), ("coupon_subsidy", 500)]
    assert factory.balance(again) == 10_000


def test_refunds_return_each_leg_to_where_it_came_from(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    (packet,) = red_packets(api, world, consumer, (500, 5))
    c = coupon(api, world, consumer, 500, 3_000)
    escrow = campaign_account(c["id"])
    paid = pay_order(api, world, consumer, 3_000)
    assert legs(paid) == [("payment", 2_000), ("red_packet_spend", 500), ("coupon_subsidy", 500)]
    merchant = balance_of(world.shop.account_id)
    # A partial refund walks the legs in order: main balance first, then the red packet.
    ok(refund(api, world.shop.owner, paid["id"], 2_200), 201)
    assert factory.balance(consumer) == 10_000
    assert restricted_balance(consumer.id, packet["id"]) == 200
    assert balance_of(escrow) == 2_000
    assert balance_of(world.shop.account_id) == merchant - 2_200
    state = ok(api.get("/wallets/me/coupons", consumer))["items"][0]["state"]
    assert state == "used"  # the discount has not come back yet
    # The rest: 300 to the red packet, the 500 discount to the campaign budget; the coupon is usable again.
    ok(refund(api, world.shop.owner, paid["id"]), 201)
    assert restricted_balance(consumer.id, packet["id"]) == 500
    assert balance_of(escrow) == 2_500
    assert balance_of(world.shop.account_id) == merchant - 3_000
    assert ok(api.get("/wallets/me/coupons", consumer))["items"][0]["state"] == "claimed"
    refunds = [(t.debit_account_id, t.credit_account_id, t.amount_fen)
               for t in db.session.execute(select(ledger.T).where(ledger.T.c.code == TransferCode.REFUND)
                                           .order_by(ledger.T.c.id)).all()]
    restricted = db.session.execute(select(Claim.restricted_account_id).where(
        Claim.campaign_id == packet["id"], Claim.user_id == consumer.id)).scalar_one()
    wallet = factory.wallet(consumer).account_id
    shop = world.shop.account_id
    assert refunds == [(shop, wallet, 2_000), (shop, restricted, 200), (shop, restricted, 300), (shop, escrow, 500)]
    # The restored coupon pays again.
    assert legs(pay_order(api, world, consumer, 3_000))[-1] == ("coupon_subsidy", 500)
    assert ledger.verify() == []


def test_a_refund_after_the_deadline_or_settlement_goes_on_to_the_funder(api, world, factory):
    consumer = factory.consumer(balance_fen=10_000)
    (packet,) = red_packets(api, world, consumer, (500, 5))
    escrow = campaign_account(packet["id"])
    paid = pay_order(api, world, consumer, 400)
    assert legs(paid) == [("red_packet_spend", 400)]
    pass_spend_deadline(packet["id"])
    funder_before = balance_of(world.funder_account)
    assert settle_job(packet["id"]) == 600  # 500 never claimed + 100 reclaimed
    assert balance_of(world.funder_account) == funder_before + 600
    ok(refund(api, world.shop.owner, paid["id"]), 201)
    # Back into the red packet, on to the campaign account (reclaim), on to the funder (return).
    assert restricted_balance(consumer.id, packet["id"]) == 0 and balance_of(escrow) == 0
    assert balance_of(world.funder_account) == funder_before + 1_000
    report = ok(api.get(f"/campaigns/{packet['id']}/settlement", world.manager))
    assert (report["red_packets_spent_fen"], report["red_packets_refunded_fen"], report["reclaimed_fen"],
            report["returned_fen"], report["spent_net_fen"]) == (400, 400, 500, 1_000, 0)
    assert report["balanced"] is True
