"""QR images decode to exactly the payload that pays; signing keys are published and rotate."""

from __future__ import annotations

import base64
import io

import zxingcpp
from PIL import Image

from backend.extensions import db
from backend.payments import keys
from backend.payments.models import SigningKey
from tests.payments.helpers import ledger_untouched, new_order, ok, pay, static_payload


def decode_png(resp) -> str:
    """Return the text of the one QR code in the PNG response."""
    assert resp.status_code == 200 and resp.mimetype == "image/png", resp.get_data(as_text=True)[:300]
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(resp.data)))
    assert [r.format for r in found] == [zxingcpp.BarcodeFormat.QRCode]
    return found[0].text


def test_the_order_png_decodes_to_the_payload_and_pays(api, factory, shop):
    consumer = factory.consumer(balance_fen=10_000)
    order = new_order(api, shop.owner, shop.merchant_id, 2_380)
    scanned = decode_png(api.get(f"/orders/{order['id']}/qr.png", shop.owner))
    assert scanned == order["payload"]
    assert ok(pay(api, consumer, scanned), 201)["status"] == "paid"
    assert factory.balance(shop.account_id) == 2_380


def test_the_static_poster_decodes_to_the_static_payload_and_pays(api, factory, shop):
    consumer = factory.consumer(balance_fen=10_000)
    text = static_payload(api, shop.owner, shop.merchant_id)
    assert text.startswith("000201010211") and "5406" not in text[:40]
    scanned = decode_png(api.get(f"/merchants/{shop.merchant_id}/static-qr?format=png", shop.owner))
    assert scanned == text
    paid = ok(pay(api, consumer, scanned, amount_fen=1_550), 201)
    assert (paid["kind"], paid["amount_fen"], paid["status"]) == ("static", 1_550, "paid")
    assert factory.balance(consumer) == 10_000 - 1_550


def test_the_first_static_code_on_a_fresh_database_pays(api, factory, shop):
    """The first code ever signed may be a static poster: its key must outlive the GET that made it."""
    consumer = factory.consumer(balance_fen=10_000)
    text = static_payload(api, shop.owner, shop.merchant_id)
    ok(pay(api, consumer, text, amount_fen=500), 201)
    assert db.session.query(SigningKey).filter_by(use=keys.QR).count() == 1  # (access tokens have their own)


def test_keys_lists_the_signing_key(api, shop):
    order = new_order(api, shop.owner, shop.merchant_id, 100)
    published = ok(api.get("/keys"))["keys"]  # public: no token
    assert [k["kid"] for k in published] == [order["key_id"]]
    key = published[0]
    assert (key["kty"], key["crv"], key["status"], key["retired_at"]) == ("OKP", "Ed25519", "active", None)
    raw = base64.urlsafe_b64decode(key["x"] + "=")
    assert raw == db.session.get(SigningKey, order["key_id"]).public_key and len(raw) == 32


def test_after_rotation_old_orders_still_pay_and_new_orders_use_the_new_key(api, factory, shop):
    consumer = factory.consumer(balance_fen=10_000)
    before = new_order(api, shop.owner, shop.merchant_id, 1_100)
    new_kid = keys.rotate().kid
    assert new_kid != before["key_id"]

    published = {k["kid"]: k["status"] for k in ok(api.get("/keys"))["keys"]}
    assert published == {before["key_id"]: "retired", new_kid: "active"}

    after = new_order(api, shop.owner, shop.merchant_id, 2_200)
    assert after["key_id"] == new_kid
    assert f"01{len(new_kid):02d}{new_kid}" in after["payload"]
    assert ok(pay(api, consumer, before["payload"]), 201)["status"] == "paid"
    assert ok(pay(api, consumer, after["payload"]), 201)["status"] == "paid"
    assert factory.balance(shop.account_id) == 3_300


def test_a_key_retired_past_retention_no_longer_verifies(api, factory, shop, app, monkeypatch):
    consumer = factory.consumer(balance_fen=10_000)
    old = new_order(api, shop.owner, shop.merchant_id, 1_100)
    keys.rotate()
    monkeypatch.setitem(app.config, "QR_KEY_RETENTION", app.config["QR_KEY_RETENTION"] * 0)
    assert old["key_id"] not in {k["kid"] for k in ok(api.get("/keys"))["keys"]}
    with ledger_untouched():
        resp = pay(api, consumer, old["payload"])
    assert resp.status_code == 422 and resp.get_json()["code"] == "qr_unknown_key"
