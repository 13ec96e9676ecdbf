"""One maximum amount on every money field: max accepted where the wallet allows, more refused with a 422.

The maximum is ``suiyuan_protocol.money.MAX_AMOUNT_FEN`` (the class-2 wallet's single-payment cap, ¥50,000),
configurable on the server as ``AMOUNT_MAX_FEN``. Each field is tried with the maximum, one fen more,
10^12 (once a 500: the QR amount field overflowed) and 2^63 (past a BigInteger column).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import pytest

from backend.config import amount_max_fen
from suiyuan_protocol import paycode
from suiyuan_protocol.money import MAX_AMOUNT_FEN, QR_AMOUNT_CEILING_FEN, format_fen
from tests.campaigns.helpers import campaign_body, make_world
from tests.payments.helpers import (
    Api,
    charge,
    ledger_untouched,
    new_order,
    ok,
    pay,
    refund,
    register_device,
    static_payload,
)

MAX = MAX_AMOUNT_FEN
OVER = [pytest.param(MAX + 1, id="max+1"), pytest.param(10**12, id="1e12"), pytest.param(2**63, id="2^63")]


@dataclass
class Scene:
    """What the money fields need, made on first use: a class-2 payer holding 3 × the maximum, a payee,
    an approved shop (and its owner), a campaign world."""

    api: Api
    factory: object
    made: dict = field(default_factory=dict)

    @cached_property
    def world(self):
        return make_world(self.factory)

    @cached_property
    def shop(self):
        return self.world.shop

    @cached_property
    def payer(self):
        return self.factory.consumer(wallet_class=2, balance_fen=3 * MAX)

    @cached_property
    def payee(self):
        return self.factory.consumer(wallet_class=2)

    @cached_property
    def paid_order_id(self) -> int:
        order = new_order(self.api, self.shop.owner, self.shop.merchant_id, MAX)
        ok(pay(self.api, self.payer, order["payload"]), 201)
        return order["id"]

    def paycode(self) -> str:
        device_id, secret = register_device(self.api, self.payer)
        return paycode.generate(device_id, secret)


def _post(scene: Scene, path: str, who, body: dict, money: bool = True):
    return scene.api.post(path, who, json=body, money=money)


# (field name, request maker, what the maximum gets where the wallet allows it: (status, code or None))
CASES: dict[str, tuple[str, Callable, tuple[int, str | None]]] = {
    "topup": ("amount_fen", lambda s, a: _post(s, "/wallets/me/topup", s.payer, {"amount_fen": a}), (201, None)),
    "redeem": ("amount_fen", lambda s, a: _post(s, "/wallets/me/redeem", s.payer, {"amount_fen": a}), (201, None)),
    "transfer": ("amount_fen", lambda s, a: _post(s, "/transfers", s.payer,
                                                  {"to_phone": s.payee.phone, "amount_fen": a}), (201, None)),
    "order": ("amount_fen", lambda s, a: _post(s, "/orders", s.shop.owner,
                                               {"merchant_id": s.shop.merchant_id, "amount_fen": a}, money=False),
              (201, None)),
    # A static code's payments are capped at ¥500 a day per consumer (PBOC), whatever the field allows.
    "static_qr_payment": ("amount_fen", lambda s, a: pay(s.api, s.payer, static_payload(s.api, s.shop.owner,
                                                                                          s.shop.merchant_id), a),
                          (422, "static_qr_daily_cap")),
    # A payment code is an offline payment: ¥500 at most.
    "charge": ("amount_fen", lambda s, a: charge(s.api, s.shop.owner, s.shop.merchant_id, s.paycode(), a),
               (422, "offline_amount_cap")),
    "refund": ("amount_fen", lambda s, a: refund(s.api, s.shop.owner, s.paid_order_id, a), (201, None)),
    "campaign_budget": ("budget_fen", lambda s, a: _post(s, "/campaigns", s.world.pilot,
                                                         campaign_body(s.world, budget_fen=a), money=False),
                        (201, None)),
    "coupon_discount": ("discount_fen", lambda s, a: _post(s, "/campaigns", s.world.pilot, campaign_body(
        s.world, kind="coupon", discount_fen=a, min_spend_fen=MAX), money=False), (201, None)),
    "coupon_min_spend": ("min_spend_fen", lambda s, a: _post(s, "/campaigns", s.world.pilot, campaign_body(
        s.world, kind="coupon", discount_fen=100, min_spend_fen=a), money=False), (201, None)),
    "simulated_budget": ("budget_fen", lambda s, a: _post(s, "/campaigns/simulate", s.world.pilot, {
        "kind": "grab", "split": "fixed", "zone_ids": [s.world.zone_id], "packet_count": 10, "budget_fen": a,
        "trials": 1}, money=False), (200, None)),
    "cashier_refund_limit": ("refund_limit_fen", lambda s, a: _post(s, f"/merchants/{s.shop.merchant_id}/cashiers",
                                                                    s.shop.owner, {
        "phone": f"137{uuid.uuid4().int % 10**8:08d}", "password": "Passw0rd!", "refund_limit_fen": a},
        money=False), (201, None)),
}


@pytest.fixture
def scene(app, factory):
    return Scene(Api(app), factory)


def _prepare(scene: Scene, name: str) -> None:
    """Make what a case needs before the ledger snapshot (the paid order of a refund, the shop, the world)."""
    scene.payer, scene.payee, scene.world  # noqa: B018 - cached on first use
    if name == "refund":
        scene.paid_order_id  # noqa: B018


@pytest.mark.parametrize("amount", OVER)
@pytest.mark.parametrize("name", list(CASES))
def test_an_amount_over_the_maximum_is_a_422_naming_the_field_and_moves_nothing(scene, name, amount):
    field_name, send, _ = CASES[name]
    _prepare(scene, name)
    with ledger_untouched():
        resp = send(scene, amount)
        assert resp.status_code == 422, resp.get_data(as_text=True)
        assert resp.mimetype == "application/problem+json"
        body = resp.get_json()
    assert body["code"] == "validation_failed", body
    assert [e["field"] for e in body["errors"]] == [field_name], body
    assert format_fen(MAX) in body["errors"][0]["reason"]


@pytest.mark.parametrize("name", list(CASES))
def test_the_maximum_itself_passes_the_field_and_is_accepted_where_the_wallet_allows(scene, name):
    _, send, (status, code) = CASES[name]
    _prepare(scene, name)
    resp = send(scene, MAX)
    assert resp.status_code == status, resp.get_data(as_text=True)
    if code is not None:
        assert resp.get_json()["code"] == code
    if name == "order":
        assert "540850000.00" in resp.get_json()["payload"]  # tag 54, 8 characters: "50000.00"


def test_the_openapi_document_states_the_maximum_on_every_money_field(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    seen = 0
    for schema_name, schema in spec["components"]["schemas"].items():
        if schema_name == "ZoneThresholds":
            continue  # zone-wide KPI volumes to compare against, not an amount a request moves
        if schema_name in ("Topup", "FundTransferCreate", "Approve"):
            continue  # payouts: an organisation's corporate wallet (top-ups, fund transfers, a batch's total)
        for name, prop in schema.get("properties", {}).items():
            if name.endswith("_fen") and "maximum" in prop:
                assert prop["maximum"] == MAX and prop["minimum"] in (0, 1), (name, prop)
                seen += 1
    assert seen >= 12


def test_a_deployment_may_configure_a_lower_maximum(app, scene, monkeypatch):
    monkeypatch.setitem(app.config, "AMOUNT_MAX_FEN", 10_000)
    resp = CASES["transfer"][1](scene, 10_001)
    assert resp.status_code == 422 and "¥100.00" in resp.get_json()["errors"][0]["reason"]
    assert CASES["transfer"][1](scene, 10_000).status_code == 201


def test_the_configured_maximum_must_fit_a_qr_code():
    assert amount_max_fen(None) == amount_max_fen("") == MAX
    assert amount_max_fen(str(QR_AMOUNT_CEILING_FEN)) == QR_AMOUNT_CEILING_FEN
    for bad in (str(QR_AMOUNT_CEILING_FEN + 1), "0", "-5"):
        with pytest.raises(ValueError, match="AMOUNT_MAX_FEN"):
            amount_max_fen(bad)
