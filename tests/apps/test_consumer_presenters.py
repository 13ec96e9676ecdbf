"""The consumer app's presenters against the real backend, without a window (SyncRunner, fake view)."""

from __future__ import annotations

import time

import pytest
import qrcode
from sqlalchemy import func, select

from backend.auth.models import Role
from backend.extensions import db
from backend.ledger.models import Transfer
from consumer_app import presenters as p
from consumer_app.strings import STRINGS
from payclient.api import ApiClient
from payclient.scan import inspect_merchant_code
from suiyuan_protocol import codec
from tests.apps.conftest import FakeView
from tests.payclient.live import settle


def payments() -> int:
    n = db.session.execute(select(func.count()).select_from(Transfer).where(Transfer.code == "payment")).scalar_one()
    settle()
    return n


@pytest.fixture
def sv(services):
    s = services()
    s.tr.add(STRINGS)
    return s


def signed_in(sv, person, password):
    sv.api.login(person.phone, password)
    return sv


@pytest.fixture
def owner_api(world, live_url):
    api = ApiClient(live_url)
    api.login(world.owner.phone, world.password)
    return api


def qr_png(tmp_path, text: str, name: str = "code.png"):
    qr = qrcode.QRCode(border=4, box_size=6)
    qr.add_data(text.encode("utf-8"))
    qr.make(fit=True)
    path = tmp_path / name
    qr.make_image().save(path)
    return str(path)


# ---------------------------------------------------------------- signing in


def test_login_goes_home_or_to_open_a_wallet(sv, view, world, factory):
    login = p.LoginPresenter(sv, view)
    login.login("", "")
    assert view.last("show_error") == ("请填写完整",)
    login.login(world.consumer.phone, "wrong-password-1")
    assert view.last("show_error") == ("手机号或密码不正确",)
    login.login(world.consumer.phone, world.password)
    assert view.last("go") == ("home",) and sv.api.signed_in

    fresh = factory.user(Role.CONSUMER)
    settle()
    other = FakeView()
    p.LoginPresenter(sv, other).login(fresh.phone, world.password)
    assert other.last("go") == ("open_wallet",)


def test_a_merchant_account_is_told_to_use_the_merchant_app(sv, view, world):
    p.LoginPresenter(sv, view).login(world.owner.phone, world.password)
    assert "商户端" in view.last("show_error")[0] and not sv.api.signed_in
    assert not view.named("go")


def test_register_and_open_a_wallet(sv, view):
    p.LoginPresenter(sv, view).register("13912345670", "Tea2026ok", "阿明")
    assert view.last("go") == ("open_wallet",)
    opener = p.OpenWalletPresenter(sv, view)
    opener.load()
    banks = view.last("show_banks")[0]
    assert len(banks) == 10 and ("ICBC", "中国工商银行") in banks
    opener.open(None)
    assert view.last("show_error") == ("请选择一家运营机构",)
    opener.open("CCB", "4111 1111 1111 1111", "13579", "13579")
    assert view.last("show_error") == ("支付密码为 6 位数字",)
    opener.open("CCB", "4111 1111 1111 1111", "135790", "135709")
    assert view.last("show_error") == ("两次输入的支付密码不一致",)
    opener.open("CCB", "4111 1111 1111 1111", "123456", "123456")  # the server refuses a run
    assert "连续数字" in view.last("show_error")[0] and not view.named("go")[1:]
    opener.open("CCB", "4111 1111 1111 1111", "135790", "135790")
    assert view.last("go") == ("home",)
    wallet = sv.api.wallet()
    assert wallet.bank.code == "CCB" and wallet.payment_password_set


# ---------------------------------------------------------------- home


def test_home_shows_balance_class_and_limits(sv, view, world):
    signed_in(sv, world.consumer, world.password)
    p.HomePresenter(sv, view).load()
    vm = view.last("show_wallet")[0]
    assert (vm.balance, vm.class_label, vm.wallet_class, vm.bank) == ("¥1,000.00", "四类钱包", 4, "中国工商银行")
    assert vm.limits == [("单笔", "¥2,000.00"), ("日累计", "¥5,000.00"), ("余额上限", "¥10,000.00")]
    assert vm.today_left == "¥5,000.00" and vm.can_upgrade and vm.owner == "李小明"
    sv.tr.set_lang("en")
    p.HomePresenter(sv, view).load()
    vm = view.last("show_wallet")[0]
    assert vm.class_label == "Class 4 wallet" and vm.limits[0][0] == "per payment"


def test_home_finishes_a_payment_left_in_the_outbox(sv, view, world, owner_api):
    signed_in(sv, world.consumer, world.password)
    order = owner_api.create_order(world.merchant_id, 1_800)
    sv.api.outbox.add("POST", "/payments", {"payload": order.payload}, owner=str(sv.api.user.id))
    p.HomePresenter(sv, view).load()
    assert view.last("show_notice") == ("网络恢复后已确认付款 ¥18.00",)
    assert view.last("show_wallet")[0].balance == "¥982.00"
    assert payments() == 1


# ---------------------------------------------------------------- scan and pay


def test_a_genuine_dynamic_code_is_previewed_then_paid(sv, view, world, owner_api, tmp_path):
    signed_in(sv, world.consumer, world.password)
    order = owner_api.create_order(world.merchant_id, 3_850)
    pay = p.PayPresenter(sv, view)
    pay.submit_image(qr_png(tmp_path, order.payload))
    vm = view.last("show_preview")[0]
    assert (vm.merchant_zh, vm.merchant_en, vm.verified, vm.amount, vm.dynamic) == (
        "永庆坊茶居", "Yongqingfang Tea House", True, "¥38.50", True)
    assert vm.can_pay and not vm.warning and vm.expires_at and vm.scenario == "食"
    assert vm.zone in ("", "永庆坊")  # the zone once the zones plug-in has placed the shop
    pay.pay()
    paid = view.last("show_paid")[0]
    assert (paid.amount, paid.merchant, paid.balance_after) == ("¥38.50", "永庆坊茶居", "¥961.50")
    assert paid.reference == order.reference and payments() == 1


@pytest.mark.parametrize("forge", ["amount", "unsigned", "crc"])
def test_a_forged_code_is_flagged_and_cannot_be_paid(sv, view, world, owner_api, forge):
    signed_in(sv, world.consumer, world.password)
    order = owner_api.create_order(world.merchant_id, 3_850)
    parsed = codec.parse(order.payload)
    if forge == "amount":
        parsed.amount_fen, parsed.raw_amounts = 1, {}
        text, problem, words = codec.build(parsed), "qr_amount_tampered", "金额被篡改"
    elif forge == "unsigned":
        parsed.signature, parsed.order = None, None
        text, problem, words = codec.build(parsed), "qr_unsigned", "没有穗元签名"
    else:
        text, problem, words = order.payload[:-4] + "0000", "qr_crc_mismatch", "已损坏"
    pay = p.PayPresenter(sv, view)
    pay.submit_text(text)
    vm = view.last("show_preview")[0]
    assert vm.problem == problem and words in vm.warning and not vm.can_pay and not vm.verified
    pay.pay()  # the button is disabled; even a direct call moves nothing
    assert not view.named("show_paid") and payments() == 0


def test_an_expired_or_paid_code_is_refused_before_paying(sv, view, world, owner_api):
    signed_in(sv, world.consumer, world.password)
    order = owner_api.create_order(world.merchant_id, 500, ttl_seconds=30)
    pay = p.PayPresenter(sv, view)
    keys = sv.keyring.refresh(sv.api)
    later = inspect_merchant_code(order.payload, keys, now=time.time() + 31)
    vm = pay.preview_vm(order.payload, later, None, None)
    assert vm.problem == "order_expired" and "已过期" in vm.warning and not vm.can_pay

    pay.submit_text(order.payload)
    pay.pay()
    pay.submit_text(order.payload)  # scanned again after paying
    vm = view.last("show_preview")[0]
    assert vm.problem == "order_already_paid" and not vm.can_pay and payments() == 1


def test_a_static_code_asks_for_the_amount(sv, view, world, owner_api):
    signed_in(sv, world.consumer, world.password)
    static = owner_api.static_qr(world.merchant_id).payload
    pay = p.PayPresenter(sv, view)
    pay.submit_text(static)
    vm = view.last("show_preview")[0]
    assert vm.needs_amount and vm.amount == "" and vm.can_pay
    pay.pay("abc")
    assert view.last("show_error") == ("请输入正确的金额（最多两位小数）",)
    pay.pay("0")
    assert view.last("show_error") == ("金额必须大于 0",)
    pay.pay("15")  # first the split of ¥15.00 and a button naming it; the next tap pays
    priced = view.last("show_preview")[0]
    assert (priced.pay_label, priced.priced_fen) == ("付款 ¥15.00", 1_500) and not view.named("show_paid")
    pay.pay("15")
    assert view.last("show_paid")[0].amount == "¥15.00"


def test_pictures_without_a_merchant_code(sv, view, world, tmp_path):
    signed_in(sv, world.consumer, world.password)
    pay = p.PayPresenter(sv, view)
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (120, 120), "white").save(blank)
    pay.submit_image(str(blank))
    assert view.last("show_error") == ("图片中没有找到二维码或条码",)
    pay.submit_image(qr_png(tmp_path, "690000000112345678", "paycode.png"))
    assert view.last("show_error") == ("这不是商户收款码",)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    pay.submit_image(str(notes))
    assert view.last("show_error") == ("无法读取该图片",)
    pay.submit_text("hello")
    assert view.last("show_error") == ("这不是商户收款码",)


# ---------------------------------------------------------------- payment code


def test_the_payment_code_rotates_offline_and_notices_a_payment(sv, view, world, owner_api):
    signed_in(sv, world.consumer, world.password)
    code = p.PaycodePresenter(sv, view)
    code.start()
    first, grouped = view.last("show_code")
    assert len(first) == 18 and first.startswith("69") and grouped.count(" ") == 4
    assert view.last("show_offline") == (False,)
    t0 = (time.time() // 15) * 15
    code.tick(t0 + 1)
    code.tick(t0 + 14)
    code.tick(t0 + 16)
    codes = [c for c, _ in view.named("show_code")]
    assert len(set(codes)) >= 2 and view.last("show_countdown")[0] == pytest.approx(14)
    # No network needed to make codes: the secret is on the device.
    sv.api.base_url = "http://127.0.0.1:9/api/v1"
    code.tick(t0 + 31)
    assert view.last("show_code")[0] != codes[-1]
    sv.api.base_url = owner_api.base_url
    owner_api.charge(world.merchant_id, code.device.code(), 2_000)
    code.poll()
    assert view.last("show_paid_notice") == ("已付款 ¥20.00",)


# ---------------------------------------------------------------- history, top-up, upgrade


def test_history_lists_signed_amounts_and_pages(sv, view, world, owner_api):
    signed_in(sv, world.consumer, world.password)
    for amount in (100, 200):
        sv.api.pay(owner_api.create_order(world.merchant_id, amount).payload)
    hist = p.HistoryPresenter(sv, view)
    hist.load()
    items, more, append = view.last("show_items")
    # A payment is named by its shop (the kind of move under it); a top-up by what it is, its bank under it.
    assert [(i.title, i.amount, i.incoming) for i in items] == [
        ("永庆坊茶居", "-¥2.00", False), ("永庆坊茶居", "-¥1.00", False), ("充值", "+¥1,000.00", True)]
    assert "付款" in items[0].subtitle and "中国工商银行" in items[2].subtitle
    assert not more and not append


def test_topup_and_upgrade(sv, view, world):
    signed_in(sv, world.consumer, world.password)
    top = p.TopupPresenter(sv, view)
    top.topup("3.456")
    assert view.last("show_error") == ("请输入正确的金额（最多两位小数）",)
    top.topup("200")
    assert view.last("show_done") == ("已充值 ¥200.00，余额 ¥1,200.00",)
    up = p.UpgradePresenter(sv, view)
    up.upgrade(3, real_name="李小明")
    assert view.last("show_error") == ("请填写完整",)
    up.upgrade(3, real_name="李小明", id_number="11010519491231002x")
    assert view.last("show_done") == ("已升级为三类钱包，单笔限额 ¥5,000.00",)


def test_the_first_payment_code_needs_the_network_once(sv, view, world):
    signed_in(sv, world.consumer, world.password)
    online = sv.api.base_url
    sv.api.base_url = "http://127.0.0.1:9/api/v1"
    sv.api.retries = 0
    p.PaycodePresenter(sv, view).start()
    assert view.last("show_error") == ("首次使用付款码需要联网登记本机，之后无网络也能付款",)
    sv.api.base_url = online
    p.PaycodePresenter(sv, view).start()
    assert len(view.last("show_code")[0]) == 18
