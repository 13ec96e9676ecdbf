"""The money gate holds for the plug-ins that move money too: prepaid purchases, releases and refunds, and
payouts (top-ups, batch approvals, lines to a frozen payee, public-fund transfers) are refused while a party is
frozen or the platform is read-only, and go through again once the freeze is lifted or the switch is off."""

from __future__ import annotations

import pytest

from backend.ledger import service as ledger
from tests.payments.helpers import ledger_untouched, ok, refused
from tests.payouts.helpers import csv_bytes
from tests.payouts.helpers import make_world as payouts_world
from tests.prepaid.helpers import buy, make_world, publish, release
from tests.protection.test_emergency import freeze, lift


@pytest.fixture(autouse=True)
def _ledger_stays_sound(app):
    yield
    assert ledger.verify() == []


def read_only(api, pilot, on: bool):
    return ok(api.call("PUT", "/protection/read-only", pilot, json={"read_only": on, "reason": "演练：暂停资金变动"}))


def test_a_frozen_wallet_cannot_buy_use_or_take_back_a_prepaid_contract_until_it_is_lifted(app, factory):
    w = make_world(app, factory)
    plan = publish(w, w.gym_owner, w.gym)  # 20 × ¥150
    consumer = factory.consumer(balance_fen=900_000, wallet_class=3)
    contract = ok(buy(w, consumer, plan["id"]), 201)
    frozen = ok(freeze(w.api, w.pilot, "wallet", factory.wallet(consumer).id), 201)
    request = ok(w.api.post(f"/prepaid/contracts/{contract['id']}/release-requests", w.gym_owner,
                            json={"units": 1}), 201)
    with ledger_untouched():
        refused(buy(w, consumer, plan["id"]), 423, "wallet_frozen")
        refused(release(w, w.gym_owner, contract["code"]), 423, "wallet_frozen")  # the shop scans the code
        refused(w.api.post(f"/prepaid/release-requests/{request['id']}/confirm", consumer, json={}, money=True),
                423, "wallet_frozen")  # the consumer confirms the shop's request
        refused(w.api.post(f"/prepaid/contracts/{contract['id']}/refund", consumer, money=True), 423,
                "wallet_frozen")  # the escrow may not flow back into a frozen wallet either
    ok(lift(w.api, w.pilot, frozen["id"]))
    assert ok(release(w, w.gym_owner, contract["code"]), 201)["amount_fen"] == 15_000
    ok(w.api.post(f"/prepaid/contracts/{contract['id']}/refund", consumer, money=True), 201)
    assert factory.balance(consumer) == 900_000 - 15_000


def test_a_frozen_merchant_sells_and_releases_nothing_but_consumers_still_get_their_escrow_back(app, factory):
    w = make_world(app, factory)
    plan = publish(w, w.gym_owner, w.gym)
    consumer = factory.consumer(balance_fen=900_000, wallet_class=3)
    contract = ok(buy(w, consumer, plan["id"]), 201)
    frozen = ok(freeze(w.api, w.pilot, "merchant", w.gym_merchant_id), 201)
    with ledger_untouched():
        refused(buy(w, consumer, plan["id"]), 423, "merchant_frozen")
        refused(release(w, w.gym_owner, contract["code"]), 423, "merchant_frozen")
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 0
    ok(w.api.post(f"/prepaid/contracts/{contract['id']}/refund", consumer, money=True), 201)  # consumer protection
    assert factory.balance(consumer) == 900_000
    ok(lift(w.api, w.pilot, frozen["id"]))
    ok(buy(w, consumer, plan["id"]), 201)


def test_read_only_stops_prepaid_and_payouts_money_and_a_retry_goes_through_after(app, client, factory):
    w = make_world(app, factory)
    plan = publish(w, w.gym_owner, w.gym)
    consumer = factory.consumer(balance_fen=900_000, wallet_class=3)
    contract = ok(buy(w, consumer, plan["id"]), 201)
    p = payouts_world(app, client, factory)
    p.topup(100_000)
    payee = p.payee("李小明")
    batch = p.upload(csv_bytes([[payee.phone, "李小明", "10", "salary", ""]])).get_json()
    read_only(w.api, w.pilot, True)
    with ledger_untouched():
        refused(buy(w, consumer, plan["id"], key="after-the-switch"), 503, "platform_read_only")
        refused(release(w, w.gym_owner, contract["code"]), 503, "platform_read_only")
        refused(p.post(f"/organisations/{p.org_id}/topup", p.officer, {"amount_fen": 100}), 503,
                "platform_read_only")
        refused(p.approve(batch), 503, "platform_read_only")
    read_only(w.api, w.pilot, False)
    ok(buy(w, consumer, plan["id"], key="after-the-switch"), 201)  # not recorded as refused under its key
    assert p.approve(batch).status_code == 200
    assert factory.balance(payee) == 1_000


def test_a_payout_line_to_a_frozen_wallet_fails_alone_and_is_paid_on_retry_once_lifted(app, client, factory):
    p = payouts_world(app, client, factory)
    p.topup(100_000)
    frozen_payee, other = p.payee("李小明"), p.payee("王芳")
    frozen = ok(freeze(p_api(app), p.pilot, "wallet", factory.wallet(frozen_payee).id), 201)
    batch = p.upload(csv_bytes([[frozen_payee.phone, "李小明", "10", "salary", ""],
                                [other.phone, "王芳", "20", "salary", ""]])).get_json()
    assert p.approve(batch).status_code == 200
    state = p.get(f"/batches/{batch['id']}", p.officer).get_json()
    assert state["status"] == "review" and state["progress"]["lines"]["failed"] == 1
    lines = {ln["phone_masked"][-4:]: ln for ln in
             p.get(f"/batches/{batch['id']}/lines", p.officer).get_json()["items"]}
    assert lines[frozen_payee.phone[-4:]]["issue"] == "wallet_frozen"
    assert factory.balance(frozen_payee) == 0 and factory.balance(other) == 2_000
    ok(lift(p_api(app), p.pilot, frozen["id"]))
    resp = p.post(f"/batches/{batch['id']}/retry", p.officer, {}, key=None)
    assert resp.status_code == 200 and resp.get_json()["batch"]["status"] == "closed"
    assert factory.balance(frozen_payee) == 1_000


def p_api(app):
    from tests.payments.helpers import Api

    return Api(app)
