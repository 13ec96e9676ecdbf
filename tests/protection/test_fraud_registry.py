"""The fraud registry: reports, review, the money gate's check, the published list, scans online and offline."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.auth.models import Role
from backend.ledger import service as ledger
from payclient.fraud import FraudListCache, assess
from payclient.models import PublicKey
from payclient.scan import KeyRing
from suiyuan_protocol import codec
from tests.payments.helpers import ledger_untouched, new_order, ok, open_shop, pay, refused, static_payload


@pytest.fixture(autouse=True)
def _ledger_stays_sound(app):
    yield
    assert ledger.verify() == []


def report(api, who, kind: str, value: str, note: str = "扫码后被骗"):
    return api.post("/protection/reports", who, json={"kind": kind, "value": value, "note": note})


def review(api, who, entry_id: int, decision: str = "confirm", reason: str = "多人举报，核实为诈骗"):
    return api.post(f"/protection/reports/{entry_id}/review", who, json={"decision": decision, "reason": reason})


class AppSide:
    """What the consumer app calls, answered by the real server (through the test client)."""

    def __init__(self, api):
        self.api = api

    def keys(self):
        return [PublicKey.from_json(k) for k in ok(self.api.get("/keys"))["keys"]]

    def fraud_list(self, etag=None):
        resp = self.api.get("/protection/registry", headers={"If-None-Match": etag} if etag else {})
        return None if resp.status_code == 304 else (ok(resp), resp.headers["ETag"])


def test_a_confirmed_merchant_is_refused_as_a_payee_and_published(api, factory, shop):
    consumers = [factory.consumer(balance_fen=10_000) for _ in range(2)]
    number = f"M{shop.merchant_id:09d}"
    first = ok(report(api, consumers[0], "merchant", number), 201)
    assert (first["status"], first["report_count"]) == ("pending", 1)
    assert ok(report(api, consumers[0], "merchant", number), 200)["report_count"] == 1  # once per person
    assert ok(report(api, consumers[1], "merchant", str(shop.merchant_id)), 201)["report_count"] == 2
    refused(report(api, consumers[0], "merchant", "shop"), 422, "invalid_value", field="value")

    ok(pay(api, consumers[0], new_order(api, shop.owner, shop.merchant_id, 100)["payload"]), 201)  # only reported
    refused(review(api, factory.user(Role.BANK_REVIEWER, bank_code="BOC"), first["entry_id"]), 404,
            "entry_not_found")  # another bank's merchant
    refused(review(api, consumers[0], first["entry_id"]), 403, "role_forbidden")
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    listed_before = api.get("/protection/registry")
    entry = ok(review(api, reviewer, first["entry_id"]))
    assert entry["status"] == "confirmed" and entry["merchant_id"] == shop.merchant_id

    with ledger_untouched():
        refused(pay(api, consumers[0], new_order(api, shop.owner, shop.merchant_id, 100)["payload"]), 422,
                "payee_reported_fraud")
        refused(pay(api, consumers[1], static_payload(api, shop.owner, shop.merchant_id), 100), 422,
                "payee_reported_fraud")
    published = api.get("/protection/registry")
    assert published.headers["ETag"] != listed_before.headers["ETag"]
    assert {"kind": "merchant", "hash": entry["hash"]} in ok(published)["entries"]
    assert api.get("/protection/registry", headers={"If-None-Match": published.headers["ETag"]}).status_code == 304

    ok(review(api, reviewer, first["entry_id"], "withdraw", "商户已整改，误报"))
    ok(pay(api, consumers[0], new_order(api, shop.owner, shop.merchant_id, 100)["payload"]), 201)
    refused(review(api, reviewer, first["entry_id"], "reject"), 409, "illegal_transition")
    actions = [e["action"] for e in ok(api.get("/protection/audit", factory.user(Role.PILOT_ADMIN)))["items"]]
    assert actions == ["fraud_withdraw", "fraud_confirm"]


def test_transfers_to_a_confirmed_phone_or_wallet_are_refused(api, factory):
    pilot = factory.user(Role.PILOT_ADMIN)
    payer, mule, other = factory.consumer(balance_fen=10_000), factory.consumer(), factory.consumer()
    by_phone = ok(report(api, payer, "phone", mule.phone), 201)
    by_wallet = ok(report(api, payer, "wallet", factory.wallet(other).wallet_number), 201)
    for entry in (by_phone, by_wallet):
        ok(review(api, pilot, entry["entry_id"]))
    with ledger_untouched():
        for payee in (mule, other):
            refused(api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": 100}, money=True),
                    422, "payee_reported_fraud")
    # Money coming from them is not stopped by the list (freezes do that): only paying them is.
    factory.fund(mule, 500)
    ok(api.post("/transfers", mule, json={"to_phone": payer.phone, "amount_fen": 100}, money=True), 201)


def test_scans_are_flagged_online_and_offline_with_the_cached_list(api, factory, shop):
    pilot, consumer = factory.user(Role.PILOT_ADMIN), factory.consumer(balance_fen=10_000)
    scam_shop = open_shop(factory)
    real_code = static_payload(api, scam_shop.owner, scam_shop.merchant_id)
    ok(review(api, pilot, ok(report(api, consumer, "merchant", f"M{scam_shop.merchant_id:09d}"), 201)["entry_id"]))
    ok(review(api, pilot, ok(report(api, consumer, "url", "https://pay-refund.example.net/x"), 201)["entry_id"]))
    genuine = new_order(api, shop.owner, shop.merchant_id, 2_000)["payload"]
    rogue = codec.sign(dataclasses.replace(codec.parse(genuine), signature=None), "k-rogue",
                       Ed25519PrivateKey.generate())
    cases = {
        "https://ecny-subsidy.example.com/claim": "phishing_url",
        "http://m.pay-refund.example.net/login": "phishing_url",  # reported host
        rogue: "unknown_key",
        real_code: "reported_payee",
        genuine: "genuine",
    }
    for text, kind in cases.items():  # online: the API
        assert ok(api.post("/protection/scan-checks", consumer, json={"text": text}))["kind"] == kind, text

    side = AppSide(api)
    ring, cache = KeyRing(), FraudListCache()
    ring.refresh(side)
    cache.refresh(side)
    etag = cache.store.load()["etag"]
    assert cache.refresh(side) and cache.store.load()["etag"] == etag  # 304: kept
    for text, kind in cases.items():  # offline: the device's cached keys and list, no server
        assert assess(text, ring.public_keys(), cache.fraud_list()).kind == kind, text
    with ledger_untouched():
        refused(pay(api, consumer, real_code, 100), 422, "payee_reported_fraud")
        refused(pay(api, consumer, rogue), 422, "qr_unknown_key")
