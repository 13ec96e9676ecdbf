"""The two payment paths of PostgreSQL against each other (#17 item 2).

A plain dynamic-QR payment settles on PostgreSQL in one call of ``pay_dynamic_order`` (the express lane,
backend/payments/express.py, whose SQL lives in migration h_sqlpay_0001); everything else, and SQLite always,
goes through the general Python path (``service.pay_scanned`` in ``idempotency.run``). Generated payments —
amounts near the wallet tiers' limits, balances near the amount, spending already counted today and this year,
a payee near its balance cap, orders created, paid, expired or cancelled, a wallet, merchant or the platform
frozen, and a second request with the same Idempotency-Key and the same or another body, or a new key — run
once with the general path alone and once with the express lane on, each from its own equal starting state
under a frozen clock. Both must give the same answers (status and body), balances, ledger rows, order state
and recorded Idempotency-Key rows. Ids differ between the two runs and are compared by role.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.auth.models import Role
from backend.clock import local_today, utcnow
from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.idempotency import IdempotencyKey
from backend.ledger import service as ledger
from backend.ledger.models import Account, Transfer
from backend.payments import express
from backend.payments.models import Order
from tests.payments.helpers import new_order, open_shop, pay

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
T0 = "2026-06-15T02:00:00+00:00"  # 10:00 in Guangzhou: "today" is the same day in UTC and local time


def near(draw, value: int, spread: int = 2) -> int:
    """A number at, just below or just above ``value`` (never below 0)."""
    return max(0, value + draw(st.integers(-spread, spread)))


@st.composite
def scenarios(draw):
    wallet_class = draw(st.sampled_from([1, 2, 3, 4]))
    tier = WALLET_TIERS[wallet_class]
    at_cap = min(tier.single_cap_fen or 60_000, 5_000_000)
    amount = max(1, min(5_000_000, near(draw, at_cap) if draw(st.booleans()) else draw(st.integers(1, 50_000))))
    day_spent = year_spent = 0
    if tier.day_cap_fen is not None and draw(st.booleans()):
        day_spent = max(0, near(draw, tier.day_cap_fen - amount))
    if tier.year_cap_fen is not None and draw(st.booleans()):
        year_spent = max(day_spent, near(draw, tier.year_cap_fen - amount))
    return {
        "wallet_class": wallet_class,
        "amount": amount,
        "balance": near(draw, amount) if draw(st.booleans()) else amount + draw(st.integers(0, 10_000)),
        "day_spent": day_spent,
        "spent_yesterday": draw(st.booleans()),  # the day's count is yesterday's: it starts again
        "year_spent": year_spent,
        "payee_cap": draw(st.sampled_from([None, None, "at", "below"])),
        "order": draw(st.sampled_from(["created", "created", "created", "paid", "expired", "cancelled"])),
        "frozen": draw(st.sampled_from([None] * 6 + ["wallet", "merchant", "read_only"])),
        "second": draw(st.sampled_from([None, "replay", "other_body", "new_key"])),
    }


def _freeze(api, pilot, kind: str, wallet_id: int, merchant_id: int) -> None:
    if kind == "read_only":
        resp = api.call("PUT", "/protection/read-only", pilot, json={"read_only": True, "reason": "差分测试只读"})
    else:
        resp = api.post("/protection/freezes", pilot, json={
            "target_kind": kind, "target_id": wallet_id if kind == "wallet" else merchant_id, "reason": "差分测试冻结"})
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)


def _unfreeze_platform(api, pilot) -> None:
    resp = api.call("PUT", "/protection/read-only", pilot, json={"read_only": False, "reason": "差分测试结束"})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def run(api, factory, case: dict) -> dict:
    """Set up the case from scratch, make its requests, and return everything observable, ids by role."""
    pilot = factory.user(Role.PILOT_ADMIN)
    shop = open_shop(factory)
    consumer = factory.consumer(wallet_class=case["wallet_class"])
    wallet = factory.wallet(consumer)
    today = local_today()
    if case["balance"]:
        factory.fund(consumer, case["balance"])  # a top-up: not counted against the limits
    values = {"day_spent_fen": case["day_spent"],
              "spend_day": today - timedelta(days=1) if case["spent_yesterday"] else today,
              "year_spent_fen": case["year_spent"], "spend_year": today.year}
    db.session.execute(sa.update(Account).where(Account.id == wallet.account_id).values(**values))
    db.session.commit()
    order = new_order(api, shop.owner, shop.merchant_id, case["amount"])
    other = new_order(api, shop.owner, shop.merchant_id, case["amount"])
    rich = None
    if case["order"] == "paid":
        rich = factory.consumer(wallet_class=1, balance_fen=case["amount"])
        assert pay(api, rich, order["payload"]).status_code == 201
    elif case["order"] == "cancelled":
        assert api.post(f"/orders/{order['id']}/cancel", shop.owner).status_code == 200
    if case["payee_cap"]:  # the payee's balance cap at or just below what this payment needs
        cap = ledger.balance(shop.account_id) + case["amount"] + (0 if case["payee_cap"] == "at" else -1)
        db.session.execute(sa.update(Account).where(Account.id == shop.account_id).values(balance_cap_fen=cap))
        db.session.commit()
    if case["frozen"]:
        _freeze(api, pilot, case["frozen"], wallet.id, shop.merchant_id)
    answers = []
    try:
        # An order lives 5 minutes; the access tokens 10 (past that both paths would only say token_expired).
        with time_machine.travel(utcnow() + timedelta(minutes=5 if case["order"] == "expired" else 0, seconds=5),
                                 tick=False):
            answers.append(pay(api, consumer, order["payload"], key="first"))
            if case["second"] == "replay":
                answers.append(pay(api, consumer, order["payload"], key="first"))
            elif case["second"] == "other_body":
                answers.append(pay(api, consumer, other["payload"], key="first"))
            elif case["second"] == "new_key":
                answers.append(pay(api, consumer, order["payload"], key="second"))
    finally:
        if case["frozen"] == "read_only":
            _unfreeze_platform(api, pilot)
    db.session.rollback()
    accounts = {wallet.account_id: "wallet", shop.account_id: "merchant"}
    people = {consumer.id: "PAYER"}
    if rich is not None:
        accounts[factory.wallet(rich).account_id] = "first_payer"
        people[rich.id] = "FIRST_PAYER"
    transfers = db.session.execute(
        sa.select(Transfer).where(sa.or_(Transfer.debit_account_id.in_(accounts),
                                         Transfer.credit_account_id.in_(accounts)),
                                  Transfer.code != "topup").order_by(Transfer.id)).scalars().all()
    # Ids by role, by the field that holds them (an id and an amount may be the same number).
    strings = {order["reference"]: "REF", other["reference"]: "OTHER_REF", order["payload"]: "PAYLOAD",
               other["payload"]: "OTHER_PAYLOAD", order["merchant"]["merchant_number"]: "MERCHANT_NUMBER"}
    order_ids = {order["id"]: "ORDER", other["id"]: "OTHER"}
    transfer_ids = {t.id: f"T{i}" for i, t in enumerate(transfers)}
    ids = {"id": order_ids, "order_id": order_ids, "transfer_id": transfer_ids,
           "payment_transfer_id": transfer_ids, "merchant_id": {shop.merchant_id: "MERCHANT"},
           "target_id": {wallet.id: "WALLET", shop.merchant_id: "MERCHANT"}, "payer_user_id": people,
           "actor_user_id": people}

    def by_role(value, key=None):
        if isinstance(value, dict):
            if key == "merchant":
                return {k: ({shop.merchant_id: "MERCHANT"}.get(v, v) if k == "id" else by_role(v, k))
                        for k, v in value.items()}
            return {k: by_role(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [by_role(v, key) for v in value]
        if isinstance(value, str):
            return strings.get(value, value)
        if isinstance(value, int) and not isinstance(value, bool) and key in ids:
            return ids[key].get(value, ("UNKNOWN", value))
        return value

    def account_role(aid):
        return accounts.get(aid, "other")

    orders = {order_ids[o.id]: (o.status, o.paid_at, by_role(o.payer_user_id, "payer_user_id"),
                                by_role(o.payment_transfer_id, "transfer_id"))
              for o in db.session.execute(sa.select(Order).where(Order.id.in_([order["id"], other["id"]])))
              .scalars()}
    keys = [(k.key, k.status_code, by_role(json.loads(k.response_json)) if k.response_json else None)
            for k in db.session.execute(sa.select(IdempotencyKey).where(IdempotencyKey.user_id == consumer.id)
                                        .order_by(IdempotencyKey.key)).scalars()]
    wallet_row = db.session.get(Account, wallet.account_id)
    db.session.refresh(wallet_row)
    return {
        "answers": [(r.status_code, r.mimetype, list(r.get_json()), by_role(r.get_json())) for r in answers],
        "balances": (wallet_row.balance_fen, wallet_row.day_spent_fen, wallet_row.spend_day,
                     wallet_row.year_spent_fen, wallet_row.spend_year, ledger.balance(shop.account_id)),
        "transfers": [(t.code, account_role(t.debit_account_id), account_role(t.credit_account_id), t.amount_fen,
                       by_role(t.batch_id), by_role(t.memo), by_role(t.actor_user_id, "actor_user_id"), t.created_at)
                      for t in transfers],
        "orders": orders,
        "keys": keys,
    }


@pytest.mark.slow
@SETTINGS
@given(case=scenarios())
def test_the_one_call_payment_and_the_general_path_agree(pg_app, api, factory, monkeypatch, case):
    with time_machine.travel(T0, tick=False):
        with monkeypatch.context() as m:
            m.setattr(express, "pay", lambda *a, **k: None)  # the general path alone
            general = run(api, factory, case)
        taken = []
        real_pay = express.pay

        def express_pay(*args, **kwargs):
            body = real_pay(*args, **kwargs)
            taken.append(body is not None)
            return body

        with monkeypatch.context() as m:
            m.setattr(express, "pay", express_pay)
            fast = run(api, factory, case)
    assert fast == general, case
    assert general["answers"][0][3].get("code") != "token_expired", "the case must reach the payment"
    # Not vacuous: whenever the general path paid at the first request, the one-call path paid it itself.
    if general["answers"][0][0] == 201:
        assert taken and taken[0], (case, taken)
    assert ledger.verify() == []
