"""Hard wallets through the API: issue, load (圈存), tap offline, settle, unload, lose; fraud caught."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.clock import utcnow
from suiyuan_protocol.transit.records import PaymentRecord
from tests.payclient.transit.test_fares import at
from tests.transit.helpers import Transit, key_header
from transit import service


@pytest.fixture
def world(client, factory, tmp_path):
    return Transit(client, factory, tmp_path)


def test_issue_load_tap_settle_unload(world, client, factory):
    alice = factory.consumer(balance_fen=200_000)
    card = world.issue(alice, ytc_number="3101234567")
    assert world.load(alice, card, 50_000).status_code == 201
    assert factory.balance(alice) == 150_000 and card.balance_fen == 50_000
    bus = world.terminal("BUS-B1-01")
    gate_in = world.terminal("M-TYXL-IN", "metro_in", "L3-TYXL", "广州地铁", "metro")
    gate_out = world.terminal("M-KC-OUT", "metro_out", "L3-KC", "广州地铁", "metro")
    assert bus.tap(card, at("2026-03-02", "08:00")).charge_fen == 200
    assert gate_in.tap(card, at("2026-03-02", "08:30")).code == "entered"
    assert gate_out.tap(card, at("2026-03-02", "08:50")).charge_fen == 300
    for t in (gate_out, bus):  # out of order
        r = world.upload(t.pending_batch())
        assert r.status_code == 201 and r.json["accepted"] == 1 and not r.json["rejected"], r.json
    s = world.server_card(alice, card)
    assert (s["balance_fen"], s["spent_fen"], s["last_counter"], s["ytc_number"]) == (49_500, 500, 2, "3101234567")
    assert s["balance_fen"] == card.balance_fen
    journeys = client.get(f"/api/v1/transit/cards/{card.card_id}/records", headers=alice.auth).json["items"]
    assert [(j["counter"], j["amount_fen"], j["trip"]) for j in journeys] == [
        (2, 300, "metro:L3-TYXL>L3-KC"), (1, 200, "bus:B1")]
    metro = world.operators["广州地铁"]
    assert factory.balance(metro["account_id"]) == 300
    # Unload ¥100 back to the soft wallet: the card signs an unload record to the issuer.
    record = card.unload(10_000, at("2026-03-02", "20:00"))
    r = client.post(f"/api/v1/transit/cards/{card.card_id}/unloads", json={"record": record.to_json()},
                    headers=key_header(alice))
    assert r.status_code == 201 and r.json["card"]["balance_fen"] == 39_500 == card.balance_fen, r.json
    assert factory.balance(alice) == 160_000
    assert world.verify_ledger() == []


def test_load_limits_and_refusals(world, factory):
    bob = factory.consumer(balance_fen=300_000)
    card = world.issue(bob)
    assert world.load(bob, card, 90_000).status_code == 201
    r = world.load(bob, card, 20_000)  # ¥900 + ¥200 > the ¥1,000 card cap
    assert r.status_code == 422 and r.json["code"] == "payee_limit_exceeded"
    poor = factory.consumer(balance_fen=100)
    c2 = world.issue(poor)
    r = world.load(poor, c2, 500)
    assert r.status_code == 422 and r.json["code"] == "insufficient_funds"
    assert factory.balance(bob) == 210_000 and factory.balance(poor) == 100


def test_bad_input_names_the_field(world, client, factory):
    carol = factory.consumer()
    r = client.post("/api/v1/transit/cards", json={"card_id": "HW0000000000000001", "public_key": "short"},
                    headers=carol.auth)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert "public_key" in str(r.json)
    bus = world.terminal("BUS-X")
    bad = {"terminal_id": "BUS-X", "batch_id": "b1", "records": [{"card_id": "HW1", "counter": "one"}]}
    r = world.upload(bad)
    assert r.status_code == 422 and r.json["errors"][0]["field"].startswith("records.0.")
    r = world.upload({"terminal_id": "BUS-X", "batch_id": "b1", "records": [{}]}, key="nope")
    assert r.status_code == 401 and r.json["code"] == "terminal_key_invalid"
    other = world.terminal("BUS-Y")
    r = world.upload({"terminal_id": "BUS-X", "batch_id": "b1", "records": [{}]}, key=world.keys["BUS-Y"])
    assert r.status_code == 403 and r.json["code"] == "terminal_mismatch"
    bus.close(), other.close()


def test_same_batch_twice_overlapping_and_reused_ids(world, factory):
    dan = factory.consumer(balance_fen=100_000)
    card = world.issue(dan)
    world.load(dan, card, 10_000)
    bus = world.terminal("BUS-1")
    for i in range(6):
        bus.tap(card, at("2026-03-02", f"08:{i:02d}"))
    first = bus.pending_batch(limit=4)
    r1 = world.upload(first)
    r2 = world.upload(first)  # the answer was lost: sent again
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r2.json == {**r1.json, "replayed": True}
    everything = bus.all_batches(size=6)[0]  # overlaps the first batch
    r3 = world.upload(everything)
    assert (r3.json["accepted"], r3.json["duplicates"]) == (2, 4)
    reused = {**first, "records": everything["records"]}
    r4 = world.upload(reused)
    assert r4.status_code == 409 and r4.json["code"] == "batch_id_reused"
    assert world.server_card(dan, card)["balance_fen"] == card.balance_fen == 10_000 - 6 * 200
    assert world.verify_ledger() == []


def _blacklisted(world, person, card) -> bool:
    return world.server_card(person, card)["status"] == "blacklisted"


def test_cloned_card_caught_and_nothing_paid_twice(world, factory, client):
    eve = factory.consumer(balance_fen=100_000)
    card = world.issue(eve)
    world.load(eve, card, 1_000)
    twin = card.clone()
    a, b = world.terminal("BUS-A"), world.terminal("BUS-B")
    assert a.tap(card, at("2026-03-02", "08:00")).accepted
    assert b.tap(twin, at("2026-03-02", "08:01")).accepted  # same counter 1, other terminal
    assert world.upload(a.pending_batch()).json["accepted"] == 1
    r = world.upload(b.pending_batch())
    assert r.json["accepted"] == 0 and r.json["rejected"][0]["reason"] == "double_spend"
    assert _blacklisted(world, eve, card)
    s = world.server_card(eve, card)
    assert (s["spent_fen"], s["loss_fen"], s["balance_fen"]) == (200, 200, 800)
    bl = client.get("/api/v1/transit/blacklist", headers={"X-Terminal-Key": world.keys["BUS-A"]}).json
    assert card.card_id in bl["card_ids"] and r.json["blacklist_version"] == bl["version"] >= 1
    a.apply_blacklist(bl)
    assert a.tap(card, at("2026-03-02", "09:00")).code == "blacklisted"
    incidents = client.get("/api/v1/transit/incidents", headers=world.admin.auth).json["items"]
    assert [(i["kind"], i["card_id"], i["loss_fen"]) for i in incidents] == [("double_spend", card.card_id, 200)]
    assert world.verify_ledger() == []


def test_clone_spending_beyond_what_was_loaded(world, factory):
    # Two copies each spend the whole ¥10 on different counters-aligned chains: the second chain's
    # records collide (same counters) — and a copy that skips ahead to dodge that leaves a gap.
    fay = factory.consumer(balance_fen=100_000)
    card = world.issue(fay)
    world.load(fay, card, 1_000)
    twin = card.clone()
    twin.counter += 5  # the clone skips counters so that its records never collide
    a, b = world.terminal("BUS-A"), world.terminal("BUS-B")
    for i in range(5):
        a.tap(card, at("2026-03-02", f"08:0{i}"))
        b.tap(twin, at("2026-03-02", f"09:0{i}"))
    world.upload(b.pending_batch())  # the clone's records arrive first
    world.upload(a.pending_batch())
    s = world.server_card(fay, card)
    assert s["status"] == "blacklisted"
    assert s["spent_fen"] <= 1_000 and s["balance_fen"] >= 0
    assert s["spent_fen"] + s["loss_fen"] == 2_000  # every accepted-offline fen is paid or a recorded loss
    assert world.verify_ledger() == []


def test_replayed_record_and_forged_signature(world, factory):
    gus = factory.consumer(balance_fen=100_000)
    card = world.issue(gus)
    world.load(gus, card, 5_000)
    a, b = world.terminal("BUS-A"), world.terminal("BUS-B")
    res = a.tap(card, at("2026-03-02", "08:00"))
    assert world.upload(a.pending_batch()).json["accepted"] == 1
    # Terminal B uploads A's record (a replay): refused, the card blacklisted, nothing paid twice.
    replay = {"terminal_id": "BUS-B", "batch_id": "replay", "records": [res.record.to_json()]}
    r = world.upload(replay)
    assert r.json["rejected"] == [{"card_id": card.card_id, "counter": 1, "reason": "replayed_record"}]
    assert world.server_card(gus, card)["spent_fen"] == 200
    # A record with counter 2 signed by another key.
    hal = factory.consumer(balance_fen=100_000)
    c2 = world.issue(hal)
    world.load(hal, c2, 5_000)
    fake = PaymentRecord(c2.card_id, 1, 4_000, "BUS-B", at("2026-03-02"), c2.head_hash, 0, 5_000) \
        .signed(Ed25519PrivateKey.generate())
    r = world.upload({"terminal_id": "BUS-B", "batch_id": "forged", "records": [fake.to_json()]})
    assert r.json["rejected"][0]["reason"] == "forged_signature"
    assert _blacklisted(world, hal, c2) and world.server_card(hal, c2)["balance_fen"] == 5_000
    b.close()
    assert world.verify_ledger() == []


def test_counter_gap_caught_in_either_order(world, factory):
    for order in ("in", "reversed"):
        ivy = factory.consumer(balance_fen=100_000)
        card = world.issue(ivy)
        world.load(ivy, card, 5_000)
        t = world.terminal(f"BUS-{order}")
        t.tap(card, at("2026-03-02", "08:00"))
        t.tap(card, at("2026-03-02", "08:10"))
        card.counter += 1  # a tampered card skips counter 3, hiding whatever it signed there
        t.tap(card, at("2026-03-02", "08:20"))
        batches = t.all_batches(size=1)  # records 1, 2, 4
        if order == "reversed":
            batches.reverse()
        reasons = [r for b in batches for r in world.upload(b).json["rejected"]]
        assert [r["reason"] for r in reasons] == ["counter_gap"], order
        assert _blacklisted(world, ivy, card)
    assert world.verify_ledger() == []


def test_lost_card_refunds_what_the_server_can_prove(world, factory, app):
    jo = factory.consumer(balance_fen=100_000)
    card = world.issue(jo)
    world.load(jo, card, 10_000)
    bus = world.terminal("BUS-1")
    bus.tap(card, at("2026-03-02", "08:00"))
    bus.tap(card, at("2026-03-02", "09:00"))
    world.upload(bus.pending_batch())
    r = world.client.post(f"/api/v1/transit/cards/{card.card_id}/lost", headers=jo.auth)
    assert r.status_code == 200 and r.json["status"] == "lost"
    assert world.client.post(f"/api/v1/transit/cards/{card.card_id}/lost", headers=jo.auth).status_code == 200
    assert service.refund_lost_cards() == 0  # the hold for offline records is not over
    # A tap the finder made before the blacklist reached the bus arrives during the hold: it is paid.
    bus.tap(card, at("2026-03-02", "10:00"))
    world.upload(bus.pending_batch())
    assert service.refund_lost_cards(utcnow() + timedelta(days=8)) == 1
    assert service.refund_lost_cards(utcnow() + timedelta(days=9)) == 0  # safe to run twice
    assert factory.balance(jo) == 90_000 + 10_000 - 600
    s = world.server_card(jo, card)
    assert (s["balance_fen"], s["refunded_fen"]) == (0, 9_400)
    assert world.verify_ledger() == []


def test_openapi_documents_every_transit_endpoint(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/v1/transit")}
    assert len(paths) >= 10
    for path, ops in paths.items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (path, method)
            if path not in ("/api/v1/transit/fares", "/api/v1/transit/issuer-keys", "/api/v1/transit/cards"):
                assert any(c[0] in "45" for c in codes), (path, method, codes)


def test_spending_beyond_what_was_loaded(world, factory):
    # Someone who extracted the card's key signs records as if ¥100 more had been loaded: refused as
    # beyond what was loaded, the card blacklisted, the loss recorded; the genuine record is paid.
    kim = factory.consumer(balance_fen=100_000)
    card = world.issue(kim)
    world.load(kim, card, 1_000)
    t = world.terminal("BUS-1")
    t.tap(card, at("2026-03-02", "08:00"))
    card.balance_fen += 10_000
    card.loaded_fen += 10_000  # a load the issuer never signed
    t.tap(card, at("2026-03-02", "08:30"))
    r = world.upload(t.pending_batch())
    assert r.json["accepted"] == 1
    assert [x["reason"] for x in r.json["rejected"]] == ["beyond_loaded"]
    s = world.server_card(kim, card)
    assert (s["status"], s["spent_fen"], s["loss_fen"], s["balance_fen"]) == ("blacklisted", 200, 200, 800)
    assert world.verify_ledger() == []
