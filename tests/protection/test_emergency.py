"""Emergency response: freezes of wallets, merchants and devices; the read-only switch; incidents.

A frozen party moves no money by any endpoint (payments on both paths,
pay-code charges, transfers in and out, top-ups, redemptions, refunds, red
packet claims, campaign escrow) while its balance stays readable; lifting the
freeze restores it. Each refusal leaves the ledger untouched.
"""

from __future__ import annotations

import pytest

from backend.auth.models import Role
from backend.ledger import service as ledger
from suiyuan_protocol import paycode
from tests.campaigns.helpers import create, grab, launch, live, make_world
from tests.payments.helpers import (
    charge,
    ledger_untouched,
    new_order,
    ok,
    paid_order,
    pay,
    refund,
    refused,
    register_device,
    static_payload,
)

REASON = "可疑交易，客户来电报失"


@pytest.fixture(autouse=True)
def _ledger_stays_sound(app):
    yield
    assert ledger.verify() == []


def freeze(api, who, kind: str, target_id: int, reason: str = REASON):
    return api.post("/protection/freezes", who, json={"target_kind": kind, "target_id": target_id,
                                                      "reason": reason})


def lift(api, who, freeze_id: int, reason: str = "核实无误，解除冻结"):
    return api.post(f"/protection/freezes/{freeze_id}/lift", who, json={"reason": reason})


def transfer(api, payer, payee, amount_fen: int):
    return api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": amount_fen}, money=True)


def balance_seen(api, person) -> int:
    return ok(api.get("/wallets/me", person))["balance_fen"]


def test_a_frozen_wallet_moves_no_money_by_any_endpoint_and_unfreezing_restores_it(api, factory, shop):
    pilot = factory.user(Role.PILOT_ADMIN)
    consumer, friend = factory.consumer(balance_fen=50_000), factory.consumer(balance_fen=10_000)
    wallet = factory.wallet(consumer)
    order = paid_order(api, shop, consumer, 1_000)  # paid before the freeze: refunded later
    device_id, secret = register_device(api, consumer)
    frozen = ok(freeze(api, pilot, "wallet", wallet.id), 201)
    assert frozen["active"] and frozen["reason"] == REASON and frozen["frozen_by_user_id"] == pilot.id

    fresh = new_order(api, shop.owner, shop.merchant_id, 500)
    with ledger_untouched():
        refused(pay(api, consumer, fresh["payload"]), 423, "wallet_frozen")  # the express lane's order
        refused(pay(api, consumer, static_payload(api, shop.owner, shop.merchant_id), 300), 423, "wallet_frozen")
        # The cashier is not told why (as with balance and limits): the consumer's app is.
        refused(charge(api, shop.owner, shop.merchant_id, paycode.generate(device_id, secret), 200), 422,
                "payer_cannot_pay")
        refused(transfer(api, consumer, friend, 100), 423, "wallet_frozen")  # out
        refused(transfer(api, friend, consumer, 100), 423, "wallet_frozen")  # in
        refused(api.post("/wallets/me/topup", consumer, json={"amount_fen": 100}, money=True), 423, "wallet_frozen")
        refused(api.post("/wallets/me/redeem", consumer, json={"amount_fen": 100}, money=True), 423, "wallet_frozen")
        refused(refund(api, shop.owner, order["id"], 100), 423, "wallet_frozen")  # back into a frozen wallet
    assert balance_seen(api, consumer) == 49_000  # readable all along
    assert ok(api.get("/wallets/me/transactions", consumer))["items"]

    ok(lift(api, pilot, frozen["id"]))
    ok(pay(api, consumer, fresh["payload"]), 201)
    ok(transfer(api, consumer, friend, 100), 201)
    assert balance_seen(api, consumer) == 48_400


def test_a_frozen_merchant_cannot_collect_or_refund_but_sees_its_balance(api, factory, shop):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")  # the shop's bank
    consumer = factory.consumer(balance_fen=10_000)
    order = paid_order(api, shop, consumer, 2_000)
    fresh = new_order(api, shop.owner, shop.merchant_id, 700)
    frozen = ok(freeze(api, reviewer, "merchant", shop.merchant_id), 201)
    with ledger_untouched():
        refused(pay(api, consumer, fresh["payload"]), 423, "merchant_frozen")
        refused(refund(api, shop.owner, order["id"], 500), 423, "merchant_frozen")
    assert ledger.balance(shop.account_id) == 2_000
    ok(api.get(f"/merchants/{shop.merchant_id}", shop.owner))
    ok(api.get("/orders", shop.owner, query_string={"merchant_id": shop.merchant_id}))
    ok(lift(api, reviewer, frozen["id"]))
    ok(pay(api, consumer, fresh["payload"]), 201)
    ok(refund(api, shop.owner, order["id"], 500), 201)


def test_a_frozen_device_refuses_its_codes_but_not_the_wallets_other_payments(api, factory, shop):
    pilot = factory.user(Role.PILOT_ADMIN)
    consumer = factory.consumer(balance_fen=10_000)
    device_id, secret = register_device(api, consumer)
    ok(freeze(api, pilot, "device", device_id), 201)
    with ledger_untouched():
        refused(charge(api, shop.owner, shop.merchant_id, paycode.generate(device_id, secret), 300), 422,
                "payer_cannot_pay")
    ok(pay(api, consumer, new_order(api, shop.owner, shop.merchant_id, 300)["payload"]), 201)


def test_frozen_wallets_cannot_claim_red_packets_nor_fund_a_campaign(api, factory):
    world = make_world(factory)
    consumer = factory.consumer()
    campaign = live(api, world)
    ok(freeze(api, world.pilot, "wallet", factory.wallet(consumer).id), 201)
    with ledger_untouched():
        refused(grab(api, consumer, campaign["id"]), 423, "wallet_frozen")
    ok(freeze(api, world.pilot, "wallet", factory.wallet(world.funder).id), 201)
    draft = create(api, world.manager, world)
    with ledger_untouched():
        refused(launch(api, world.manager, draft["id"]), 423, "wallet_frozen")


def test_a_bank_reviewer_freezes_only_their_own_banks_customers(api, factory):
    icbc, boc = factory.user(Role.BANK_REVIEWER, bank_code="ICBC"), factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    consumer = factory.consumer(bank_code="ICBC")
    wallet_id = factory.wallet(consumer).id
    refused(freeze(api, boc, "wallet", wallet_id), 404, "target_not_found", field="target_id")
    refused(freeze(api, consumer, "wallet", wallet_id), 403, "role_forbidden")
    refused(freeze(api, factory.user(Role.ZONE_MANAGER), "wallet", wallet_id), 403, "role_forbidden")
    first = ok(freeze(api, icbc, "wallet", wallet_id), 201)
    refused(freeze(api, icbc, "wallet", wallet_id), 409, "already_frozen")
    refused(lift(api, boc, first["id"]), 404, "freeze_not_found")
    assert [f["id"] for f in ok(api.get("/protection/freezes", icbc))["items"]] == [first["id"]]
    assert ok(api.get("/protection/freezes", boc))["items"] == []
    ok(lift(api, icbc, first["id"]))
    refused(lift(api, icbc, first["id"]), 409, "already_lifted")


@pytest.mark.parametrize("reason", ["", "   ", "why"])
def test_a_freeze_needs_a_reason(api, factory, reason):
    pilot = factory.user(Role.PILOT_ADMIN)
    consumer = factory.consumer()
    resp = freeze(api, pilot, "wallet", factory.wallet(consumer).id, reason=reason)
    assert resp.status_code == 422 and "reason" in {e["field"] for e in resp.get_json()["errors"]}


def test_the_read_only_switch_refuses_money_keeps_balances_and_is_retryable(api, factory, shop):
    pilot = factory.user(Role.PILOT_ADMIN)
    consumer, friend = factory.consumer(balance_fen=10_000), factory.consumer()
    order = new_order(api, shop.owner, shop.merchant_id, 800)
    assert ok(api.get("/protection/status"))["read_only"] is False
    refused(api.call("PUT", "/protection/read-only", factory.user(Role.BANK_REVIEWER),
                     json={"read_only": True, "reason": "演练只读模式"}), 403, "role_forbidden")
    state = ok(api.call("PUT", "/protection/read-only", pilot,
                        json={"read_only": True, "reason": "账务核对异常，暂停"}))
    assert state["read_only"] and state["since"]
    with ledger_untouched():
        resp = pay(api, consumer, order["payload"], key="retry-me")
        body = refused(resp, 503, "platform_read_only")
        assert resp.headers["Retry-After"] and "balances" in body["detail"]
        refused(transfer(api, consumer, friend, 100), 503, "platform_read_only")
        refused(api.post("/wallets/me/topup", consumer, json={"amount_fen": 100}, money=True), 503,
                "platform_read_only")
    assert balance_seen(api, consumer) == 10_000
    assert ok(api.get("/protection/status"))["read_only"] is True
    ok(api.call("PUT", "/protection/read-only", pilot, json={"read_only": False, "reason": "核对完毕，恢复"}))
    # The refusal was not recorded under the key: the same request now pays.
    ok(pay(api, consumer, order["payload"], key="retry-me"), 201)
    assert balance_seen(api, consumer) == 9_200


def test_an_incident_has_a_timeline_from_detected_to_resolved(api, factory):
    pilot, reviewer = factory.user(Role.PILOT_ADMIN), factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    other = factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    inc = ok(api.post("/protection/incidents", reviewer, json={
        "title": "仿冒收款码张贴", "kind": "counterfeit_codes", "severity": "high",
        "note": "永庆坊三家商户门口发现覆盖贴纸"}), 201)
    assert inc["status"] == "detected" and len(inc["timeline"]) == 1
    consumer = factory.consumer()
    ok(api.post("/protection/freezes", reviewer, json={"target_kind": "wallet", "target_id":
                                                       factory.wallet(consumer).id, "reason": REASON,
                                                       "incident_id": inc["id"]}), 201)
    refused(api.post(f"/protection/incidents/{inc['id']}/events", other, json={"note": "看看"}), 404,
            "incident_not_found")
    ok(api.post(f"/protection/incidents/{inc['id']}/events", reviewer,
                json={"status": "contained", "note": "收款钱包已冻结，贴纸已清除"}), 201)
    done = ok(api.post(f"/protection/incidents/{inc['id']}/events", pilot,
                       json={"status": "resolved", "note": "受害人已退款，结案"}), 201)
    assert [e["status"] for e in done["timeline"]] == ["detected", "contained", "resolved"]
    assert done["detected_at"] <= done["contained_at"] <= done["resolved_at"]
    refused(api.post(f"/protection/incidents/{inc['id']}/events", pilot,
                     json={"status": "contained", "note": "再次控制"}), 409, "illegal_transition")
    assert [i["id"] for i in ok(api.get("/protection/incidents", other))["items"]] == []
    assert ok(api.get(f"/protection/incidents/{inc['id']}", pilot))["status"] == "resolved"


def test_every_protection_endpoint_documents_its_responses(api):
    paths = api.get("/openapi.json").get_json()["paths"]
    ops = {(p, m): op for p, item in paths.items() if p.startswith("/api/v1/protection/")
           for m, op in item.items() if m in {"get", "post", "put", "delete"}}
    assert len(ops) >= 10
    for (path, method), op in ops.items():
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), (path, method)
        if path not in ("/api/v1/protection/status", "/api/v1/protection/registry",
                        "/api/v1/protection/complaint-categories"):  # public, no input
            assert any(c.startswith("4") for c in codes), (path, method)


def test_the_read_only_switch_works_from_the_shell_too(app, factory):
    pilot, reviewer = factory.user(Role.PILOT_ADMIN), factory.user(Role.BANK_REVIEWER)
    run = app.test_cli_runner().invoke
    assert "read-only: off" in run(args=["protection", "read-only", "status"]).output
    refused_run = run(args=["protection", "read-only", "on", "--reason", "接口故障", "--as", reviewer.phone])
    assert refused_run.exit_code != 0 and "role_forbidden" in refused_run.output
    assert run(args=["protection", "read-only", "on", "--as", pilot.phone]).exit_code != 0  # no reason
    done = run(args=["protection", "read-only", "on", "--reason", "接口故障，命令行切换", "--as", pilot.phone])
    assert done.exit_code == 0 and "read-only: on" in done.output
    assert "接口故障" in run(args=["protection", "read-only", "status"]).output
    assert run(args=["protection", "read-only", "off", "--reason", "恢复正常", "--as", pilot.phone]).exit_code == 0
    from backend.extensions import db
    from protection.models import AuditEntry

    actions = [a for (a,) in db.session.query(AuditEntry.action).order_by(AuditEntry.id)]
    assert actions == ["read_only_on", "read_only_off"]
