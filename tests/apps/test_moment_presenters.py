"""The moments where money moves (issue #23), in both apps' presenters, against the real backend, no window:
a refund is always confirmed (the owner's password above the owner's limit) and an empty amount refunds
nothing; the split is shown before paying and on every result; a cancelled order's genuine code is not
called fake; too little balance is said before the tap; a charged payment code gets a result screen;
money not received is not styled as income."""

from __future__ import annotations

import dataclasses

import pytest

from consumer_app import presenters as c
from consumer_app.strings import STRINGS as CONSUMER
from merchant_app import presenters as m
from merchant_app.strings import STRINGS as MERCHANT
from payclient.api import ApiClient
from tests.apps.conftest import FakeView
from tests.factories import PASSWORD


@pytest.fixture
def consumer(services, world):
    s = services()
    s.tr.add(CONSUMER)
    s.api.login(world.consumer.phone, world.password)
    return s


@pytest.fixture
def owner(services, world):
    s = services()
    s.tr.add(MERCHANT)
    m.LoginPresenter(s, FakeView()).login(world.owner.phone, world.password)
    return s


@pytest.fixture
def owner_api(world, live_url):
    api = ApiClient(live_url)
    api.login(world.owner.phone, world.password)
    return api


def test_a_cancelled_or_expired_genuine_code_says_so_and_keeps_its_verified_badge(consumer, owner_api, world):
    view = FakeView()
    pay = c.PayPresenter(consumer, view)
    order = owner_api.create_order(world.merchant_id, 3_850)
    owner_api.cancel_order(order.id)
    pay.submit_text(order.payload)
    vm = view.last("show_preview")[0]
    assert (vm.verified, vm.suspicious, vm.order_label, vm.warning_title) == (True, False, "商户已取消", "商户已取消")
    assert not vm.can_pay and "假码" not in vm.warning_title and "不可信" not in vm.warning
    # A forged code is still called one.
    forged = order.payload[:-30] + "0" * 26 + order.payload[-4:]
    pay.submit_text(forged)
    vm = view.last("show_preview")[0]
    assert vm.suspicious and not vm.verified and not vm.order_label


def test_the_split_is_shown_before_paying_and_on_the_result(services, world, campaigns, owner_api):
    campaigns.make("coupon")  # 满30减5
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(world.consumer.phone, world.password)
    [coupon] = [x for x in sv.api.campaigns(zone_id=campaigns.zone.id) if x.kind == "coupon"]
    sv.api.claim(coupon.id, sv.api.device_id)  # the installation's id, as the app sends (X-Device-Id)
    view = FakeView()
    pay = c.PayPresenter(sv, view)
    order = owner_api.create_order(world.merchant_id, 6_800)
    pay.submit_text(order.payload)
    vm = view.last("show_preview")[0]
    assert vm.rows == [("商品金额", "¥68.00"), ("消费券优惠", "-¥5.00"), ("钱包实付", "¥63.00")]
    assert vm.pay_label == "付款 ¥63.00" and vm.can_pay and not vm.needs_topup
    pay.pay()
    paid = view.last("show_paid")[0]
    assert paid.amount == "¥63.00" and paid.subsidy == "¥5.00" and paid.balance_after == "¥937.00"
    assert paid.rows == (("商品金额", "¥68.00"), ("消费券优惠", "-¥5.00"), ("钱包已付", "¥63.00"))
    # The shop: it was subsidised and received the full price.
    merchant = services()
    merchant.tr.add(MERCHANT)
    m.LoginPresenter(merchant, FakeView()).login(world.owner.phone, world.password)
    note, rows = m.merchant_split(merchant.tr, merchant.api.order(order.id).breakdown)
    assert note == "含红包/消费券补贴 ¥5.00，本店按原价全额到账"
    assert rows == (("顾客钱包支付", "¥63.00"), ("消费券补贴", "¥5.00"), ("本店实收", "¥68.00"))
    # The collect screen, told "paid" by the event stream, fetches the order and shows the same.
    shown = FakeView()
    collect = m.CollectPresenter(merchant, shown)
    collect.order, collect.status = merchant.api.order(order.id), "created"
    collect._status(order.id, "paid")
    assert shown.last("show_paid")[0] == "¥68.00"
    assert shown.last("show_split") == ("含红包/消费券补贴 ¥5.00，本店按原价全额到账\n"
                                        "顾客钱包支付 ¥63.00 · 消费券补贴 ¥5.00 · 本店实收 ¥68.00",)


def test_too_little_balance_is_said_before_the_tap_with_top_up(services, factory, world, owner_api):
    poor = factory.consumer(balance_fen=2_000)
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(poor.phone, PASSWORD)
    view = FakeView()
    pay = c.PayPresenter(sv, view)
    pay.submit_text(owner_api.create_order(world.merchant_id, 6_800).payload)
    vm = view.last("show_preview")[0]
    assert vm.needs_topup and not vm.can_pay
    assert vm.balance_note == "钱包余额 ¥20.00，还差 ¥48.00。请先充值再付款。"
    pay.pay()
    assert not view.named("show_paid")
    pay.topup()
    assert view.last("go") == ("topup",)


def test_a_charged_payment_code_shows_the_full_result(consumer, world, owner_api):
    view = FakeView()
    code = c.PaycodePresenter(consumer, view)
    code.start()
    owner_api.charge(world.merchant_id, code.device.code(), 2_000)
    code.poll()
    assert view.last("show_paid_notice") == ("已付款 ¥20.00",)
    vm = view.last("show_receipt")[0]
    assert (vm.title, vm.merchant, vm.amount, vm.balance_after) == ("商户已扣款", "永庆坊茶居", "¥20.00", "¥980.00")
    assert vm.rows[0] == ("商品金额", "¥20.00") and vm.reference.startswith("SY")


def test_a_refund_is_confirmed_and_an_empty_amount_refunds_nothing(owner, consumer, world):
    view = FakeView()
    order = owner.api.create_order(world.merchant_id, 3_000, description="凤凰单丛")
    consumer.api.pay(order.payload)
    refund = m.RefundPresenter(owner, view)
    refund.open(owner.api.order(order.id))
    refund.ask("")
    assert view.last("show_error") == ("请输入退款金额",) and not view.named("show_confirm")
    refund.confirm()  # nothing asked, nothing pending: nothing happens
    refund.ask("5", "少一杯")
    vm = view.last("show_confirm")[0]
    assert (vm.amount, vm.button, vm.needs_password) == ("¥5.00", "确认退款 ¥5.00", False)
    assert vm.order_line.startswith("凤凰单丛 · 订单 …" + order.reference[-6:])
    assert vm.paid_line == "顾客实付 ¥30.00，尚可退 ¥30.00"
    refund.cancel()
    refund.confirm()
    assert not view.named("show_refunded") and owner.api.order(order.id).refunded_fen == 0
    refund.ask("5")
    refund.confirm()
    refund.confirm()  # a second tap finds nothing pending
    assert len(view.named("show_refunded")) == 1 and owner.api.order(order.id).refunded_fen == 500


def test_above_the_owners_limit_the_owners_password_is_asked(owner, consumer, world):
    owner.api.set_refund_policy(world.merchant_id, 1_000, PASSWORD)
    owner.state["merchant"] = next(x for x in owner.api.merchants() if x.id == world.merchant_id)
    view = FakeView()
    order = owner.api.create_order(world.merchant_id, 3_000)
    consumer.api.pay(order.payload)
    refund = m.RefundPresenter(owner, view)
    refund.open(owner.api.order(order.id))
    refund.ask("10")
    assert view.last("show_confirm")[0].needs_password is False
    refund.cancel()
    refund.ask("15")
    assert view.last("show_confirm")[0].needs_password is True
    refund.confirm("")
    assert view.last("show_error") == ("请让店主输入密码",)
    refund.confirm("wrong-password-1")
    assert owner.api.order(order.id).refunded_fen == 0
    assert view.last("show_confirm")[0].needs_password is True  # asked again after the refusal
    refund.confirm(PASSWORD)
    assert view.last("show_refunded") == ("已退款 ¥15.00，款项已原路退回顾客钱包",)
    assert owner.api.order(order.id).refunded_fen == 1_500
    # The limit changed after log-in (the app still thinks there is none): the server asks, the app follows.
    owner.api.set_refund_policy(world.merchant_id, 0, PASSWORD)
    owner.state["merchant"] = dataclasses.replace(owner.state["merchant"], refund_approval_above_fen=None)
    refund.ask("1")
    refund.confirm()
    assert view.last("show_confirm")[0].needs_password is True and owner.api.order(order.id).refunded_fen == 1_500


def test_money_not_received_is_not_styled_as_income(owner, consumer, world):
    view = FakeView()
    paid = owner.api.create_order(world.merchant_id, 2_000)
    consumer.api.pay(paid.payload)
    cancelled = owner.api.create_order(world.merchant_id, 3_850)
    owner.api.cancel_order(cancelled.id)
    m.TodayPresenter(owner, view).load()
    rows = {r.order_id: r for r in view.last("show_orders")[0]}
    assert (rows[paid.id].amount, rows[paid.id].income) == ("+¥20.00", True)
    assert (rows[cancelled.id].amount, rows[cancelled.id].income) == ("[s]¥38.50[/s]", False)
    assert "已取消" in rows[cancelled.id].subtitle


def test_the_owner_sets_the_large_refund_limit_and_a_cashier_cannot(owner, services, world, live_url):
    view = FakeView()
    policy = m.RefundPolicyPresenter(owner, view)
    policy.load()
    assert view.last("show_policy") == ("未开启：退款无需店主密码", True)
    policy.save("10", "")
    assert view.last("show_error") == ("请输入店主密码",)
    policy.save("10", "wrong-password-1")
    assert view.named("show_error")[-1] != ("请输入店主密码",) and not view.named("policy_saved")
    policy.save("10", PASSWORD)
    assert view.last("show_policy") == ("超过 ¥10.00 的退款需店主输入密码", True)
    assert view.last("policy_saved") == ("已保存大额退款设置",)
    assert owner.state["merchant"].refund_approval_above_fen == 1_000
    boss = ApiClient(live_url)
    boss.login(world.owner.phone, world.password)
    boss.add_cashier(world.merchant_id, "13712345609", "Cash2026ok", refund_limit_fen=5_000)
    cashier = services()
    cashier.tr.add(MERCHANT)
    m.LoginPresenter(cashier, FakeView()).login("13712345609", "Cash2026ok")
    seen = FakeView()
    m.RefundPolicyPresenter(cashier, seen).load()
    assert seen.last("show_policy") == ("超过 ¥10.00 的退款需店主输入密码", False)
    policy.save("", PASSWORD)
    assert view.last("show_policy") == ("未开启：退款无需店主密码", True)


def test_a_static_code_shows_the_split_of_the_amount_typed_before_paying(services, world, campaigns, owner_api,
                                                                         factory):
    coupon = campaigns.make("coupon")
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(world.consumer.phone, world.password)
    sv.api.claim(coupon.id, sv.api.device_id)  # the installation's id, as the app sends (X-Device-Id)
    view = FakeView()
    pay = c.PayPresenter(sv, view)
    pay.submit_text(owner_api.static_qr(world.merchant_id).payload)
    assert view.last("show_preview")[0].needs_amount
    pay.price("40")
    vm = view.last("show_preview")[0]
    assert vm.rows == [("商品金额", "¥40.00"), ("消费券优惠", "-¥5.00"), ("钱包实付", "¥35.00")]
    assert vm.pay_label == "付款 ¥35.00"
    pay.pay("41")  # changed after pricing: priced again, not paid
    assert view.last("show_preview")[0].pay_label == "付款 ¥36.00" and not view.named("show_paid")
    pay.pay("41")
    assert view.last("show_paid")[0].amount == "¥36.00"
    assert factory.balance(world.consumer) == 100_000 - 3_600
