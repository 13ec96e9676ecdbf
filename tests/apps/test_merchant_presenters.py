"""The merchant app's presenters against the real backend, without a window."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from backend.auth.models import Role
from backend.merchants.models import MerchantStatus
from merchant_app import presenters as p
from merchant_app.strings import STRINGS
from payclient.api import ApiClient
from payclient.barcode import code128c_modules
from payclient.device import DeviceStore
from suiyuan_protocol import codec
from tests.apps.conftest import FakeView
from tests.payclient.live import settle


@pytest.fixture
def sv(services):
    s = services()
    s.tr.add(STRINGS)
    return s


@pytest.fixture
def owner(sv, view, world):
    """The owner signed in through the log-in presenter."""
    p.LoginPresenter(sv, view).login(world.owner.phone, world.password)
    assert view.last("go") == ("collect",)
    return sv


@pytest.fixture
def consumer_api(world, live_url):
    api = ApiClient(live_url)
    api.login(world.consumer.phone, world.password)
    return api


def device_code(api: ApiClient) -> str:
    reg = api.register_device("test phone")
    return DeviceStore().save("me", reg.device.id, reg.secret_b32).code()


def test_login_picks_the_approved_shop_and_refuses_others(sv, view, world, factory):
    login = p.LoginPresenter(sv, view)
    login.login(world.consumer.phone, world.password)
    assert view.last("show_error") == ("这不是商户账号，消费者请使用穗元钱包",) and not sv.api.signed_in
    pending_owner = factory.user(Role.MERCHANT_OWNER)
    factory.merchant(owner=pending_owner, status=MerchantStatus.PENDING, account_id=None)
    settle()
    login.login(pending_owner.phone, world.password)
    assert view.last("show_error") == ("该账号还没有审核通过的店铺",)
    login.login(world.owner.phone, world.password)
    assert view.last("go") == ("collect",)
    assert sv.state["merchant"].id == world.merchant_id and sv.state["role"] == "merchant_owner"


def test_a_cashier_logs_in_to_the_shop(sv, view, world, live_url):
    boss = ApiClient(live_url)
    boss.login(world.owner.phone, world.password)
    boss.add_cashier(world.merchant_id, "13712345601", "Cash2026ok", display_name="小周", refund_limit_fen=1_000)
    p.LoginPresenter(sv, view).login("13712345601", "Cash2026ok")
    assert view.last("go") == ("collect",) and sv.state["role"] == "cashier"


def listening(collect, timeout: float = 10.0) -> None:
    """Wait until the order's watcher has heard its first status: its event stream is open."""
    deadline = time.monotonic() + timeout
    while (collect.order.id, "created") not in collect.heard_at:
        assert time.monotonic() < deadline, "the order watcher never connected"
        time.sleep(0.01)


def test_collect_keypad_qr_and_paid_from_the_event_stream(owner, consumer_api):
    view = FakeView()
    collect = p.CollectPresenter(owner, view)
    collect.create()
    assert view.last("show_error") == ("金额必须大于 0",)
    for key in ("3", "8", ".", "5", "0", "9"):
        collect.press(key)
    assert view.last("show_amount") == ("¥38.50", True)
    collect.create("凤凰单丛")
    vm = view.last("show_order")[0]
    assert vm.amount == "¥38.50" and vm.merchant == "永庆坊茶居"
    assert codec.parse(vm.payload).amount_fen == 3_850
    assert view.last("show_countdown")[0] in ("5:00", "4:59")
    listening(collect)
    paid_at = time.monotonic()
    consumer_api.pay(vm.payload)
    amount, _when = view.wait_for("show_paid")
    assert amount == "¥38.50" and time.monotonic() - paid_at < 1.0
    assert collect.entry.text == ""
    assert collect.stop_watching(wait=10)


def test_collect_cancel_and_expiry(owner):
    view = FakeView()
    collect = p.CollectPresenter(owner, view)
    collect.press("5")
    collect.create()
    collect.cancel()
    view.wait_for("show_cancelled")
    collect.new()
    collect.press("6")
    collect.create()
    order = collect.order
    collect.tick(order.expires_at.timestamp() + 1)
    assert view.named("show_expired")
    assert collect.stop_watching(wait=10)  # the server's order is still open: the watcher must be told


def test_charge_a_typed_or_pictured_payment_code(owner, consumer_api, tmp_path):
    view = FakeView()
    charge = p.ChargePresenter(owner, view)
    code = device_code(consumer_api)
    charge.charge(code)
    assert view.last("show_error") == ("金额必须大于 0",)
    charge.charge("12345")
    assert view.last("show_error") == ("付款码应为 69 开头的 18 位数字",)
    for key in "20":
        charge.press(key)
    spaced = " ".join(code[i:i + 4] for i in range(0, 18, 4))
    charge.charge(spaced)
    vm = view.last("show_charged")[0]
    assert vm.amount == "¥20.00" and view.last("show_code") == (code,)
    charge.set_amount("12.5")
    charge.charge(code)
    assert view.last("show_error") == ("该付款码已使用，请让顾客刷新",)
    charge.set_amount("600")
    charge.charge(device_code(consumer_api))
    assert view.last("show_error") == ("付款码单笔最多 ¥500，请使用收款码",)

    # The same code as a barcode picture (a photo of the customer's phone).
    bars = code128c_modules(device_code(consumer_api))
    img = Image.new("L", (len(bars) * 3, 90), 255)
    for i, m in enumerate(bars):
        if m == "1":
            img.paste(0, (i * 3, 0, i * 3 + 3, 90))
    path = tmp_path / "paycode.png"
    img.save(path)
    charge.set_amount("8.8")
    charge.scan_image(str(path))
    assert view.last("show_charged")[0].amount == "¥8.80"


def test_today_totals_and_refunds(owner, consumer_api, sv):
    view = FakeView()
    mid = owner.state["merchant"].id
    order = owner.api.create_order(mid, 3_850, description="凤凰单丛")
    consumer_api.pay(order.payload)
    owner.api.create_order(mid, 999)  # unpaid
    today = p.TodayPresenter(owner, view)
    today.load()
    totals = view.last("show_totals")[0]
    assert (totals.net, totals.paid, totals.refunded, totals.count) == ("¥38.50", "¥38.50", "¥0.00",
                                                                          "1 笔已付 / 共 2 笔")
    rows = view.last("show_orders")[0]
    assert [r.amount for r in rows] == ["¥9.99", "+¥38.50"] and rows[1].title == "凤凰单丛"
    assert [r.income for r in rows] == [False, True]
    assert "已支付" in rows[1].subtitle and rows[1].refundable_fen == 3_850

    refund = p.RefundPresenter(owner, view)
    refund.open(rows[1].order)
    assert view.last("show_order")[1] is True
    refund.ask("40")
    assert view.last("show_error") == ("退款金额超过可退金额",)
    refund.ask("8.5", "少上一壶")
    refund.confirm()
    assert view.last("show_refunded") == ("已退款 ¥8.50，款项已原路退回顾客钱包",)
    assert refund.order.refundable_fen == 3_000
    refund.ask("30")
    refund.confirm()
    assert view.last("show_order")[1] is False
    today.load()
    assert view.last("show_totals")[0].net == "¥0.00"


def test_a_cashier_refund_above_the_limit_is_refused(sv, view, world, live_url, consumer_api):
    boss = ApiClient(live_url)
    boss.login(world.owner.phone, world.password)
    boss.add_cashier(world.merchant_id, "13712345602", "Cash2026ok", refund_limit_fen=1_000)
    p.LoginPresenter(sv, view).login("13712345602", "Cash2026ok")
    order = sv.api.create_order(world.merchant_id, 5_000)
    consumer_api.pay(order.payload)
    refund = p.RefundPresenter(sv, view)
    refund.open(sv.api.order(order.id))
    refund.ask("50")
    refund.confirm()
    assert view.last("show_error") == ("超出收银员退款权限，请店主操作",)
    refund.ask("10")
    refund.confirm()
    assert view.last("show_refunded") == ("已退款 ¥10.00，款项已原路退回顾客钱包",)


def test_the_static_poster(owner):
    view = FakeView()
    p.PosterPresenter(owner, view).load()
    payload, name_zh, name_en, number, cap = view.last("show_poster")
    assert codec.parse(payload).initiation == "11" and name_zh == "永庆坊茶居" and number.startswith("M")
    assert "¥500.00" in cap


def test_logout(owner):
    view = FakeView()
    p.LoginPresenter(owner, view).logout()
    assert view.last("go") == ("login",) and not owner.api.signed_in and owner.state == {}


