"""The consumer app's hard wallets (硬钱包, issue #15 item 5) on the offscreen window, against the real backend:
李小明 gets a hard wallet from the app, loads ¥50 onto it (圈存), rides a day to its cap and the metro the next
day with the card alone (validators offline, uploading later), sees the journeys with their fares and the cap
reached, unloads ¥10 back to the wallet (圈提) and reports the card lost. Captured at 360×640
(``SUIYUAN_SCREENSHOTS=docs/screenshots`` writes the committed ones) and checked for text that does not fit."""

from __future__ import annotations

import pytest

from tests.apps import harness as h
from tests.apps.test_ui import log_in
from tests.payclient.live import settle
from tests.payclient.transit.test_fares import at
from tests.transit.helpers import Transit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_hard_wallet_loaded_ridden_unloaded_and_lost_in_the_app(ui, app, client, factory, world, shots, tmp_path):
    phone = ui("consumer")
    h.mount(phone)
    log_in(phone, world.consumer.phone, world.password, "home")
    h.tap(phone.screen("home").ids.tile_hardwallets)
    h.idle(phone)
    listing = phone.screen("hardwallets")
    assert listing.no_cards
    listing.ids.ytc.text = "3101234567"  # bind a Yangchengtong number (optional)
    h.tap(listing.ids.issue)  # get a hard wallet: the chip makes its key, the server certifies it
    h.wait_until(lambda: phone.sm.current == "hardwallet", what="the new hard wallet")
    h.idle(phone)
    screen = phone.screen("hardwallet")
    [card_id] = phone.services.cards.card_ids()
    assert screen.active and screen.near and screen.balance == "¥0.00" and screen.lines[0] == "羊城通 3101234567"

    screen.ids.amount.text = "50"
    h.tap(screen.ids.load)  # 圈存: the wallet pays, the card applies the signed load
    h.idle(phone)
    assert screen.balance == "¥50.00" and factory.balance(world.consumer) == 95_000

    # Riding with the card alone: validators price the taps from the card, upload when they are back online.
    transit = Transit(client, factory, tmp_path)
    bus = transit.terminal("BUS-B1-01")
    airport = transit.terminal("BUS-AE-01", place="airport-express")
    gate_in = transit.terminal("M-TYXL-IN", "metro_in", "L3-TYXL", "广州地铁", "metro")
    gate_out = transit.terminal("M-KC-OUT", "metro_out", "L3-KC", "广州地铁", "metro")
    chip = phone.services.cards.card(card_id)
    charges = [airport.tap(chip, at("2026-03-02", "07:40")).charge_fen,
               bus.tap(chip, at("2026-03-02", "09:05")).charge_fen,
               bus.tap(chip, at("2026-03-02", "12:30")).charge_fen,
               bus.tap(chip, at("2026-03-02", "18:10")).charge_fen,
               gate_in.tap(chip, at("2026-03-03", "08:30")).charge_fen,
               gate_out.tap(chip, at("2026-03-03", "08:52")).charge_fen]
    assert charges == [2_000, 200, 200, 100, 0, 300]  # the 4th ride only the rest of the ¥25 daily cap
    phone.services.cards.save(chip)
    for t in (gate_out, bus, airport):
        assert transit.upload(t.pending_batch()).json["accepted"] >= 1
    settle()

    phone.back()
    h.idle(phone)
    h.tap(listing.ids.cards.children[0])
    h.idle(phone)
    assert screen.balance == "¥22.00" and screen.balance_label == "卡内余额（碰卡读取）"
    assert "服务器已同步余额 ¥22.00，已乘车 ¥28.00" in screen.lines
    days = list(reversed(screen.ids.days.children))
    assert [(d.day, d.summary, d.capped) for d in days] == [
        ("2026-03-03", "1 次 · ¥3.00", ""), ("2026-03-02", "4 次 · ¥25.00", "已达日封顶")]
    rows = list(reversed(days[0].ids.rows.children))
    assert [(r.trip, r.when, r.fare) for r in rows] == [("地铁 体育西路 → 客村", "08:52", "¥3.00")]
    assert [r.trip for r in reversed(days[1].ids.rows.children)] == [
        "公交 B1", "公交 B1", "公交 B1", "公交 airport-express"]
    shots("consumer-hardwallet", phone)

    screen.ids.amount.text = "10"
    h.tap(screen.ids.unload)  # 圈提: the card signs an unload record, the server returns the money
    h.idle(phone)
    assert screen.balance == "¥12.00" and factory.balance(world.consumer) == 96_000
    assert phone.services.cards.pending_unloads() == {}

    h.tap(screen.ids.lost)  # the first tap only asks for a second one
    h.idle(phone)
    assert screen.confirm_lost and screen.status == "正常"
    h.tap(screen.ids.lost)
    h.idle(phone)
    assert screen.status == "已挂失" and not screen.active and screen.balance_label == "已同步余额"
    assert "退回钱包" in screen.notice
    phone.back()
    h.idle(phone)
    [row] = listing.ids.cards.children
    assert row.value == "¥12.00" and row.subtitle.startswith("已挂失 · 最后同步")
    assert row.title.endswith("羊城通 3101234567")
    shots("consumer-hardwallets", phone)
