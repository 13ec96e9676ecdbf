"""The hard-wallet presenters (issue #15 item 5) against the real backend: what they refuse before anything is
sent (only what is not an amount), and how the card's and the server's refusals are worded, in both languages."""

from __future__ import annotations

from consumer_app import transit as ct
from consumer_app.strings import STRINGS as CONSUMER
from payclient.transit import wallet
from tests.apps.conftest import FakeView
from tests.payclient.live import settle


def _signed_in(services, person):
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(person.phone, "Passw0rd!")
    return sv


def test_amounts_card_refusals_and_the_cap_are_worded(services, factory):
    person = factory.consumer(balance_fen=200_000)
    settle()
    sv = _signed_in(services, person)
    card_id = wallet.issue(sv.api, sv.cards).card_id
    view = FakeView()
    one = ct.HardWalletPresenter(sv, view)
    sv.state["hardwallet_id"] = card_id
    one.load_value("0")
    assert view.calls == [("show_error", ("金额必须大于 0",))]  # nothing sent: not even busy
    one.load_value("abc")
    assert view.calls[-1] == ("show_error", ("请输入正确的金额（最多两位小数）",)) and len(view.calls) == 2
    one.load_value("1200")  # above the card's ¥1,000 cap: the server refuses, the app words it
    assert view.last("show_error") == ("卡内余额不能超过 ¥1,000.00",)
    one.unload_value("5")  # the card holds nothing: the card itself refuses, nothing is sent
    assert view.last("show_error") == ("卡内余额不足",) and sv.cards.pending_unloads() == {}
    one.load_value("20")
    assert view.last("show_message") == ("已圈存 ¥20.00，卡内余额 ¥20.00",)
    card, days = view.last("show_card")[0], view.last("show_days")[0]
    assert (card.balance, card.near, card.active, days) == ("¥20.00", True, True, [])
    assert card.lines[-1] == "卡内余额上限 ¥1,000.00，单笔离线支付上限 ¥500.00"
    assert factory.balance(person) == 198_000

    away = services()  # the same account on another phone: the card is not within its reach
    away.tr.add(CONSUMER)
    away.tr.set_lang("en")
    away.api.tokens = sv.api.tokens
    elsewhere = ct.HardWalletPresenter(away, FakeView())
    away.state["hardwallet_id"] = card_id
    elsewhere.unload_value("5")
    assert elsewhere.view.last("show_error") == ("Hold the hard wallet to the phone and try again",)
    listing = ct.HardWalletsPresenter(away, FakeView())
    listing.load()
    [row] = listing.view.last("show_cards")[0]
    assert (row.balance, row.active) == ("¥20.00", True) and "Card not tapped" in row.subtitle
    assert ct.trip_text(away.tr, "metro:L3-TYXL>?") == "Metro L3-TYXL → unknown"
    assert ct.trip_text(sv.tr, "metro:?>L3-KC") == "地铁 未知 → 客村"
