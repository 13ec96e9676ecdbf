"""The hard card and the validator, offline, without Kivy or Flask."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from suiyuan_protocol.transit.card import CardLimits, CardRefused, HardCard
from suiyuan_protocol.transit.records import CardCertificate, LoadAuthorisation, PaymentRecord, b64, genesis_hash
from suiyuan_protocol.transit.terminal import Terminal
from tests.payclient.transit.test_fares import at

ISSUER = Ed25519PrivateKey.generate()
KEYS = {"k1": ISSUER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)}


def issued(balance_fen: int = 0, **kw) -> HardCard:
    card = HardCard.create(**kw)
    card.install(CardCertificate(card.card_id, b64(card.public_key), "k1").signed(ISSUER), KEYS)
    if balance_fen:
        card.apply_load(LoadAuthorisation(card.card_id, card.load_seq + 1, balance_fen, "k1").signed(ISSUER))
    return card


def terminal(tmp_path, mode="bus", place="B1", tid="BUS-001"):
    return Terminal(tid, mode, place, tmp_path / f"{tid}.sqlite", issuer_keys=KEYS)


def test_pure_python_no_kivy_no_flask():
    code = ("import sys, suiyuan_protocol.transit.card, suiyuan_protocol.transit.terminal, "
            "suiyuan_protocol.transit.fares;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('kivy', 'flask')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loads_need_the_issuers_signature_in_order_and_under_the_cap():
    card = issued()
    good = LoadAuthorisation(card.card_id, 1, 60_000, "k1").signed(ISSUER)
    forged = LoadAuthorisation(card.card_id, 1, 60_000, "k1").signed(Ed25519PrivateKey.generate())
    with pytest.raises(CardRefused) as e:
        card.apply_load(forged)
    assert e.value.code == "bad_authorisation"
    assert card.apply_load(good) == 60_000
    with pytest.raises(CardRefused) as e:
        card.apply_load(good)  # the same load again
    assert e.value.code == "load_out_of_order"
    with pytest.raises(CardRefused) as e:  # ¥600 + ¥500 > the ¥1,000 balance cap
        card.apply_load(LoadAuthorisation(card.card_id, 2, 50_000, "k1").signed(ISSUER))
    assert e.value.code == "over_balance_cap"
    assert (card.balance_fen, card.loaded_fen) == (60_000, 60_000)


def test_payments_are_signed_chained_and_limited():
    card = issued(80_000)
    r1 = card.pay(300, "BUS-001", at("2026-03-02"))
    r2 = card.pay(200, "BUS-002", at("2026-03-02", "09:00"))
    assert (r1.counter, r2.counter) == (1, 2)
    assert r1.prev_hash == genesis_hash(card.card_id) and r2.prev_hash == r1.hash
    assert (r2.spent_before_fen, r2.loaded_fen) == (300, 80_000)
    assert r1.verify(card.public_key) and r2.verify(card.public_key)
    assert not replace(r2, amount_fen=20).verify(card.public_key)  # any change breaks the signature
    assert PaymentRecord.from_json(r2.to_json()) == r2
    with pytest.raises(CardRefused) as e:  # ¥500.01 in one offline payment
        card.pay(50_001, "BUS-001", at("2026-03-02"))
    assert e.value.code == "over_single_cap"
    card.pay(50_000, "BUS-001", at("2026-03-02"))  # ¥795 - ¥500 leaves ¥295
    with pytest.raises(CardRefused) as e:
        card.pay(30_000, "BUS-001", at("2026-03-02"))
    assert e.value.code == "insufficient_balance"
    assert card.balance_fen == 80_000 - 500 - 50_000 and card.counter == 3


def test_limits_are_data():
    card = issued(limits=CardLimits(balance_cap_fen=5_000, single_payment_cap_fen=1_000))
    with pytest.raises(CardRefused):
        card.apply_load(LoadAuthorisation(card.card_id, 1, 5_001, "k1").signed(ISSUER))
    card.apply_load(LoadAuthorisation(card.card_id, 1, 5_000, "k1").signed(ISSUER))
    with pytest.raises(CardRefused):
        card.pay(1_001, "T", 1)


def test_bus_tap_charges_stores_durably_and_reopens(tmp_path):
    card = issued(10_000)
    t = terminal(tmp_path)
    res = t.tap(card, at("2026-03-02"))
    assert (res.accepted, res.code, res.charge_fen, res.balance_fen) == (True, "ok", 200, 9_800)
    assert res.message_zh == "扣款成功" and res.elapsed_ms < 300
    t.close()
    again = terminal(tmp_path)  # power cut: the record is still there
    batch = again.pending_batch()
    assert [PaymentRecord.from_json(r) for r in batch["records"]] == [res.record]


def test_metro_in_out_and_missing_tap_out(tmp_path):
    card = issued(10_000)
    gate_in = terminal(tmp_path, "metro_in", "L3-TYXL", "M-TYXL-IN")
    gate_out = terminal(tmp_path, "metro_out", "L3-KC", "M-KC-OUT")
    gate_in_kc = terminal(tmp_path, "metro_in", "L3-KC", "M-KC-IN")
    assert gate_in.tap(card, at("2026-03-02", "08:00")).code == "entered"
    out = gate_out.tap(card, at("2026-03-02", "08:20"))
    assert (out.charge_fen, out.record.trip) == (300, "metro:L3-TYXL>L3-KC")  # 5.6 km: ¥3
    # Enter at 客村, never tap out; entering again the next day charges the ¥11 maximum first.
    assert gate_in_kc.tap(card, at("2026-03-02", "18:00")).code == "entered"
    res = gate_in_kc.tap(card, at("2026-03-03", "08:00"))
    assert (res.code, res.charge_fen, res.record.trip) == ("ok", 1100, "metro:L3-KC>?")
    assert card.fare_state.entry_station == "L3-KC"
    assert card.balance_fen == 10_000 - 300 - 1100


def test_blacklisted_uncertified_and_replayed_cards_are_refused(tmp_path):
    t = terminal(tmp_path)
    card = issued(10_000)
    first = t.tap(card, at("2026-03-02"))
    # A replayed answer: the same signed record presented again.
    assert t.accept(first.record, card.public_key, 200) == "replayed"
    # A forged answer: a record signed by another key.
    fake = replace(first.record, counter=9).signed(Ed25519PrivateKey.generate())
    assert t.accept(fake, card.public_key, 200) == "bad_signature"
    # A card whose key the issuer never certified.
    rogue = HardCard.create()
    rogue.balance_fen = 10_000
    assert t.tap(rogue, at("2026-03-02")).code == "not_genuine"
    t.apply_blacklist({"version": 3, "card_ids": [card.card_id]})
    res = t.tap(card, at("2026-03-02", "09:00"))
    assert (res.accepted, res.code, res.message_zh) == (False, "blacklisted", "此卡已挂失或停用")
    t.apply_blacklist({"version": 2, "card_ids": []})  # an older list never replaces a newer one
    assert t.blacklist == {card.card_id}
    assert t.record_count() == 1 and card.balance_fen == 9_800


def test_a_clone_signs_the_same_counter_twice(tmp_path):
    # Offline, two terminals cannot tell; the server can (same counter, different contents).
    card = issued(10_000)
    twin = card.clone()
    a = terminal(tmp_path, tid="BUS-A").tap(card, at("2026-03-02"))
    b = terminal(tmp_path, tid="BUS-B").tap(twin, at("2026-03-02", "08:01"))
    assert a.accepted and b.accepted
    assert a.record.counter == b.record.counter and a.record.hash != b.record.hash


def test_batches_are_deterministic_and_acknowledged(tmp_path):
    t = terminal(tmp_path)
    cards = [issued(10_000) for _ in range(5)]
    for i in range(12):
        assert t.tap(cards[i % 5], at("2026-03-02", f"08:{i:02d}")).accepted
    b1 = t.pending_batch(limit=5)
    assert b1["batch_id"] == "BUS-001:1-5" and len(b1["records"]) == 5
    assert t.pending_batch(limit=5) == b1  # not acknowledged: the same batch again
    t.ack(b1)
    assert t.pending_batch(limit=100)["batch_id"] == "BUS-001:6-12"
    assert [b["batch_id"] for b in t.all_batches(size=5)] == ["BUS-001:1-5", "BUS-001:6-10", "BUS-001:11-12"]


def test_card_file_round_trip(tmp_path):
    card = issued(10_000)
    card.pay(200, "BUS-001", 1)
    card.to_file(tmp_path / "card.json")
    back = HardCard.from_file(tmp_path / "card.json")
    assert back.to_json() == card.to_json()
    assert back.pay(200, "BUS-001", 2).prev_hash == card.head_hash
