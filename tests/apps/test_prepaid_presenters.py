"""Prepaid cards in both apps' presenters, against the real backend: buy, the card's terms and code, release
by the shop, today's releases, refund."""

from __future__ import annotations

import pytest

from consumer_app import prepaid as cp
from consumer_app.strings import STRINGS as CONSUMER
from merchant_app import prepaid as mp
from merchant_app.strings import STRINGS as MERCHANT
from tests.apps.conftest import FakeView
from tests.payclient.live import settle
from tests.prepaid.helpers import make_world, publish


@pytest.fixture
def gym(app, factory):
    w = make_world(app, factory)
    plan = publish(w, w.gym_owner, w.gym, name="私教10节", units=10, unit_price_fen=9_000, refund_fee_bp=1_000)
    publish(w, w.gym_owner, w.gym, kind="stored_value", name="储值300送30", units=None, unit_price_fen=None,
            price_fen=30_000, bonus_fen=3_000)
    consumer = factory.consumer(balance_fen=100_000)
    settle()
    return w, plan, consumer


def test_buy_a_card_show_its_code_and_terms_release_it_at_the_shop_and_refund(services, gym):
    w, plan, consumer = gym
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(consumer.phone, "Passw0rd!")
    view = FakeView()
    cards = cp.PrepaidPresenter(sv, view)
    cards.load()
    assert view.last("show_cards") == ([],)
    zones, selected = view.last("show_zones")
    assert selected == 0 and zones[0] == (0, "全部") and (dict(zones).get(zones[1][0]))
    cards.select_zone(zones[-1][0])  # a zone with no prepaid shop placed in it
    assert view.last("show_zones")[1] == zones[-1][0] and view.last("show_plans") == ([],)
    cards.select_zone(0)
    plans = {vm.title: vm for vm in view.last("show_plans")[0]}
    assert plans["私教10节"].detail == "10 次 × ¥90.00 · 冷静期 7 天" and plans["私教10节"].buy == "购买 ¥900.00"
    assert plans["储值300送30"].detail == "付 ¥300.00 得 ¥330.00 · 冷静期 7 天"
    assert plans["私教10节"].grade.startswith("信用 ") and plans["私教10节"].merchant == "越秀健身房"
    cards.buy(plan["id"])
    assert view.last("show_message") == ("已购买「私教10节」，¥900.00 已存入托管账户",)
    [card] = view.last("show_cards")[0]
    assert (card.left, card.escrow, card.status, card.kind_label) == (
        "剩余 10/10 次", "托管中 ¥900.00", "使用中", "次卡")

    cards.open(card.contract_id)
    assert view.last("go") == ("prepaid_card",)
    detail_view = FakeView()
    detail = cp.PrepaidCardPresenter(sv, detail_view)
    detail.load()
    vm = detail_view.last("show_card")[0]
    assert vm.code.startswith("PPC") and len(vm.terms_sha256) == 64 and vm.can_refund
    assert dict(vm.terms)["购买金额"] == "¥900.00" and dict(vm.terms)["冷静期后退款手续费"] == "10%"
    assert vm.refund_note == "冷静期内：剩余 ¥900.00 全额退回钱包"

    shop = services()
    shop.tr.add(MERCHANT)
    shop.api.login(w.gym_owner.phone, "Passw0rd!")
    shop_view = FakeView()
    release = mp.ReleasePresenter(shop, shop_view)
    release.release("not-a-code", "1")
    assert shop_view.last("show_error") == ("这不是预付卡码",)
    release.release(vm.code, "0")
    assert shop_view.last("show_error") == ("核销数量须为正整数",)
    release.release(vm.code, "11")
    assert shop_view.last("show_error") == ("剩余次数不足",)
    release.release(vm.code, "2")
    assert shop_view.last("show_result")[0].startswith("已核销 2，划入 ¥180.00（PP")
    total, rows = shop_view.last("show_today")
    assert total == "今日核销 1 笔，共 ¥180.00" and rows[0].amount == "¥180.00"

    detail.load()
    vm = detail_view.last("show_card")[0]
    assert vm.left == "剩余 8/10 次" and len(vm.history) == 1
    assert vm.history[0][0].endswith("核销 2 次") and vm.history[0][1] == "¥180.00"
    detail.refund()
    assert detail_view.last("show_message") == ("已退回 ¥720.00 到钱包",)
    after = detail_view.last("show_card")[0]
    assert (after.status, after.code, after.can_refund) == ("已退款", "", False)
    assert sv.api.wallet().balance_fen == 100_000 - 18_000


def test_parse_units():
    assert [mp.parse_units(t) for t in ("1", " 12 ", "0", "-1", "1.5", "", "x")] == [1, 12, None, None, None, None,
                                                                                    None]


def test_the_owner_publishes_plans_within_the_rules(services, gym, factory):
    w, _, _ = gym
    shop = services()
    shop.tr.add(MERCHANT)
    shop.api.login(w.gym_owner.phone, "Passw0rd!")
    shop.state.update(merchant=shop.api.merchant(w.gym_merchant_id), role="merchant_owner")
    view = FakeView()
    sell = mp.SellPresenter(shop, view)
    sell.publish("", "10", "90")
    assert view.last("show_error") == ("请填写名称",)
    sell.publish("私教", "10", "90", "abc")
    assert view.last("show_error") == ("手续费须为 0–100 的百分数",)
    sell.publish("私教40节", "40", "150")  # ¥6,000: above the ¥5,000 a card may cost
    assert view.last("show_error") == ("超出预付卡规则：单张售价不超过 ¥5,000（上限 ¥5,000.00）",)
    sell.publish("私教12节", "12", "150", "5")
    assert view.last("show_published") == ("已发布「私教12节」，售价 ¥1,800.00",)
    sell.choose("stored_value")
    assert view.last("show_kind") == ("stored_value",)
    sell.publish("储值500送50", "500", "50")
    sell.choose("time_pass")
    sell.publish("月卡", "300", "1")
    plans = {p.name: p for p in shop.api.prepaid_plans()}
    assert plans["私教12节"].refund_fee_bp == 500 and plans["储值500送50"].units == 55_000
    assert plans["月卡"].units == 30

    other = services()
    other.tr.add(MERCHANT)
    stranger = factory.user("merchant_owner")
    shop_without_prepaid = factory.merchant(owner=stranger)
    settle()
    other.api.login(stranger.phone, "Passw0rd!")
    other.state.update(merchant=other.api.merchant(shop_without_prepaid.id), role="merchant_owner")
    other_view = FakeView()
    mp.SellPresenter(other, other_view).publish("洗衣10次", "10", "20")
    assert other_view.last("show_error") == ("本店尚未获准开展预付费经营",)


def test_percent_to_basis_points():
    assert [mp.parse_percent_bp(t) for t in ("0", "10", "2.5", "12.34", "100", "", "101", "1.234", "x", "-1")] == [
        0, 1000, 250, 1234, 10000, 0, None, None, None, None]
