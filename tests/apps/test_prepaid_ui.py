"""The prepaid screens of both apps on the offscreen window, against the real backend: the consumer buys a card
and shows its code; the picture of that code, decoded, is what the shop releases; then the consumer refunds.
Screens are captured at 360×640 (``SUIYUAN_SCREENSHOTS=docs/screenshots`` writes the committed ones) and checked
for text that does not fit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.apps import harness as h
from tests.apps.test_ui import Shots, _tab, decode, log_in
from tests.factories import PASSWORD
from tests.payclient.live import settle
from tests.prepaid.helpers import make_world, publish

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def shots(tmp_path):
    return Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))


def test_a_prepaid_card_is_bought_shown_released_by_scanning_and_refunded(ui, app, factory, shots):
    w = make_world(app, factory)
    publish(w, w.gym_owner, w.gym, name="私教10节 Personal training", units=10, unit_price_fen=9_000,
            refund_fee_bp=1_000)
    publish(w, w.gym_owner, w.gym, kind="stored_value", name="储值300送30", units=None, unit_price_fen=None,
            price_fen=30_000, bonus_fen=3_000)
    consumer = factory.consumer(balance_fen=100_000, display_name="李小明")
    settle()

    phone = ui("consumer")
    h.mount(phone)
    log_in(phone, consumer.phone, PASSWORD, "home")
    h.tap(phone.screen("home").ids.tile_prepaid)
    h.idle(phone)
    screen = phone.screen("prepaid")
    plans = list(reversed(screen.ids.plans.children))
    assert len(plans) == 2 and screen.no_cards
    h.tap(plans[1].ids.buy)  # the session pack (the newest plan is listed first)
    h.idle(phone)
    [row] = screen.ids.cards.children
    assert row.value == "剩余 10/10 次"
    h.clear_toasts()
    shots("consumer-prepaid", phone)
    h.tap(row)
    h.idle(phone)
    card = phone.screen("prepaid_card")
    assert card.left == "剩余 10/10 次" and len(card.terms_hash) == 64
    picture = shots("consumer-prepaid-card", phone)
    [(fmt, code)] = [d for d in decode(picture) if d[1].startswith("PPC")]
    assert code == card.code

    shop = ui("merchant")
    h.mount(shop)
    log_in(shop, w.gym_owner.phone, PASSWORD, "collect")
    h.tap(_tab(shop.screen("collect"), "tab_more"))
    h.idle(shop)
    h.tap(shop.screen("more").ids.prepaid_row)
    h.idle(shop)
    release = shop.screen("prepaid")
    release.ids.code.text = code
    release.ids.units.text = "2"
    h.tap(release.ids.release)
    h.idle(shop)
    assert release.result.startswith("已核销 2，划入 ¥180.00") and release.today == "今日核销 1 笔，共 ¥180.00"
    h.clear_toasts()
    shots("merchant-prepaid", shop)
    shop.back()
    h.idle(shop)
    h.tap(shop.screen("more").ids.sell_row)
    h.idle(shop)
    sell = shop.screen("prepaid_sell")
    h.tap(sell.ids.kind_stored_value)
    h.idle(shop)
    sell.ids.name.text, sell.ids.first.text, sell.ids.second.text, sell.ids.fee.text = "储值800送80", "800", "80", "5"
    h.tap(sell.ids.publish)
    h.idle(shop)
    assert sell.result == "已发布「储值800送80」，售价 ¥800.00"
    h.clear_toasts()
    shots("merchant-prepaid-sell", shop)

    h.mount(phone)
    phone.back()
    h.idle(phone)
    h.tap(list(phone.screen("prepaid").ids.cards.children)[0])
    h.idle(phone)
    assert card.left == "剩余 8/10 次" and card.can_refund and len(card.ids.history.children) == 1
    h.tap(card.ids.refund)
    h.idle(phone)
    assert card.status == "已退款" and not card.can_refund
    assert any("已退回 ¥720.00" in t for t in h.toasts())
