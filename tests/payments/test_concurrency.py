"""Races over HTTP on the real PostgreSQL: one payment per order, the static cap and the refundable
amount hold however many requests arrive at once, and the ledger stays sound."""

from __future__ import annotations

from collections import Counter

from backend.auth.models import Role
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Account, AccountKind
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant
from backend.payments.models import Order, StaticQrSpend
from tests.payments.helpers import (
    PaycodeClock,
    application,
    charge,
    count_transfers,
    new_order,
    ok,
    outcome,
    paid_order,
    pay,
    race,
    refund,
    register_device,
    review,
    static_payload,
)


def test_twenty_consumers_racing_for_one_order_pay_it_once(pg_app, api, factory, shop):
    order = new_order(api, shop.owner, shop.merchant_id, 6_600)
    consumers = [factory.consumer(balance_fen=10_000) for _ in range(20)]
    # Worker threads only read a person's token, never their ORM user (that belongs to this thread's session).
    results = race(pg_app, 20, lambda i, caller: outcome(pay(caller, consumers[i], order["payload"])))

    assert Counter(results) == {"ok": 1, "order_already_paid": 19}
    winner = consumers[results.index("ok")]
    assert factory.balance(shop.account_id) == 6_600
    assert sorted(factory.balance(c) for c in consumers) == [10_000 - 6_600] + [10_000] * 19
    assert factory.balance(winner) == 3_400
    paid = db.session.get(Order, order["id"])
    assert (paid.status, paid.payer_user_id) == ("paid", winner.id)
    assert count_transfers(TransferCode.PAYMENT) == 1
    assert ledger.verify() == []


def test_racing_static_payments_never_pass_500_yuan_a_day(pg_app, api, factory, shop):
    text = static_payload(api, shop.owner, shop.merchant_id)
    consumer = factory.consumer(balance_fen=100_000)
    results = race(pg_app, 12, lambda i, caller: outcome(pay(caller, consumer, text, amount_fen=5_000)))

    assert Counter(results) == {"ok": 10, "static_qr_daily_cap": 2}
    assert factory.balance(consumer) == 100_000 - 50_000
    assert factory.balance(shop.account_id) == 50_000
    assert db.session.query(StaticQrSpend.spent_fen).scalar() == 50_000
    assert ledger.verify() == []


def test_racing_refunds_never_return_more_than_was_paid(pg_app, api, factory, shop):
    consumer = factory.consumer(balance_fen=20_000)
    order = paid_order(api, shop, consumer, 10_000)
    results = race(pg_app, 10, lambda i, caller: outcome(refund(caller, shop.owner, order["id"], 1_500)))

    assert Counter(results) == {"ok": 6, "refund_exceeds_paid": 4}
    db.session.expire_all()
    refunded = db.session.get(Order, order["id"])
    assert (refunded.refunded_fen, refunded.status) == (9_000, "partially_refunded")
    assert factory.balance(consumer) == 20_000 - 10_000 + 9_000
    assert factory.balance(shop.account_id) == 1_000
    assert count_transfers(TransferCode.REFUND) == 6
    assert ledger.verify() == []


def test_racing_full_refunds_refund_once(pg_app, api, factory, shop):
    consumer = factory.consumer(balance_fen=20_000)
    order = paid_order(api, shop, consumer, 7_700)
    results = race(pg_app, 8, lambda i, caller: outcome(refund(caller, shop.owner, order["id"])))

    assert results.count("ok") == 1
    assert set(results) - {"ok"} <= {"refund_exceeds_paid", "order_not_refundable"}
    assert factory.balance(consumer) == 20_000
    assert factory.balance(shop.account_id) == 0
    assert count_transfers(TransferCode.REFUND) == 1
    assert ledger.verify() == []


def test_one_payment_code_at_five_tills_at_once_pays_once(pg_app, api, factory, shop, monkeypatch):
    consumer = factory.consumer(balance_fen=10_000)
    device_id, secret = register_device(api, consumer)
    code = PaycodeClock(monkeypatch).code(device_id, secret)
    results = race(pg_app, 5, lambda i, caller: outcome(charge(caller, shop.owner, shop.merchant_id, code, 700)))

    assert Counter(results) == {"ok": 1, "paycode_used": 4}
    assert factory.balance(consumer) == 10_000 - 700
    assert count_transfers(TransferCode.PAYMENT) == 1
    assert ledger.verify() == []


def test_racing_offline_payments_never_pass_ten_before_a_sync(pg_app, api, factory, shop, monkeypatch):
    consumer = factory.consumer(balance_fen=10_000)
    device_id, secret = register_device(api, consumer)
    clock = PaycodeClock(monkeypatch)
    for _ in range(7):
        ok(charge(api, shop.owner, shop.merchant_id, clock.code(device_id, secret), 100), 201)
        clock.tick()
    clock.tick(4)  # past the steps already spent
    # Five codes of the five time steps the server accepts right now (one ahead, three behind).
    codes = [clock.code(device_id, secret, age_s=15 * k) for k in (-1, 0, 1, 2, 3)]
    results = race(pg_app, 5, lambda i, caller: outcome(charge(caller, shop.owner, shop.merchant_id, codes[i], 100)))

    assert Counter(results) == {"ok": 3, "offline_count_cap": 2}
    assert factory.balance(consumer) == 10_000 - 10 * 100
    assert ledger.verify() == []


def test_reviewers_deciding_at_once_make_one_decision_and_open_one_wallet(pg_app, api, factory):
    owner = factory.user(Role.MERCHANT_OWNER)
    merchant_id = ok(api.post("/merchants", owner, json=application()), 201)["id"]
    reviewers = [factory.user(Role.BANK_REVIEWER, bank_code="ICBC") for _ in range(4)]
    results = race(pg_app, 4, lambda i, caller: outcome(review(caller, reviewers[i], merchant_id)))

    assert Counter(results) == {"ok": 1, "illegal_transition": 3}
    merchant = db.session.get(Merchant, merchant_id)
    assert merchant.status == "approved"
    assert db.session.query(Account.id).filter_by(kind=AccountKind.MERCHANT).all() == [(merchant.account_id,)]
