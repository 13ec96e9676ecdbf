"""The consumer app's payment-password, transfer, redeem and bill-list presenters against the real backend, without
a window (issue #20 item 6): the server asks for the password, the view is asked, the request goes again with it;
the outbox on disk never holds it."""

from __future__ import annotations

import json

import pytest

from backend.extensions import db
from backend.wallets import paypass
from consumer_app import presenters as p
from consumer_app import security, transfer
from consumer_app.strings import STRINGS
from tests.apps.conftest import FakeView
from tests.factories import PASSWORD
from tests.payclient.live import settle

PW = "135790"


@pytest.fixture
def sv(services):
    s = services()
    s.tr.add(STRINGS)
    return s


@pytest.fixture
def payer(factory):
    person = factory.consumer(balance_fen=50_000)
    paypass.set_initial(factory.wallet(person), PW)
    db.session.commit()
    settle()
    return person


def test_a_transfer_asks_the_password_the_server_wants_and_counts_down_wrong_ones(sv, payer, world, factory):
    sv.api.login(payer.phone, PASSWORD)
    view = FakeView()
    presenter = transfer.TransferPresenter(sv, view)
    presenter.send(world.consumer.phone, "12.5", "午饭")
    text, retry = view.last("ask_password")
    assert text == "请输入 6 位支付密码" and not view.named("show_done")
    retry("000111")
    text, retry = view.last("ask_password")
    assert text == "支付密码不正确，还可以试 4 次"
    retry(PW)
    [(done,)] = view.named("show_done")
    assert done.startswith("已向 ") and "¥12.50" in done
    assert factory.balance(world.consumer) == 100_000 + 1_250
    stored = [json.dumps(e.body) for e in sv.api.outbox.all()]
    assert stored and not any(PW in b or "payment_password" in b for b in stored)


def test_redeem_and_the_password_free_limit(sv, payer, factory):
    sv.api.login(payer.phone, PASSWORD)
    view = FakeView()
    redeem = transfer.RedeemPresenter(sv, view)
    redeem.load()
    card, balance, _fen = view.last("show_wallet")
    assert balance == "¥500.00" and "银行卡" in card
    redeem.redeem("100")
    _text, retry = view.last("ask_password")
    retry(PW)
    assert view.last("show_done")[0] == "已兑回 ¥100.00，余额 ¥400.00"

    sec_view = FakeView()
    sec = security.SecurityPresenter(sv, sec_view)
    sec.load()
    password_set, limit, choices = sec_view.last("show_state")
    assert password_set and limit == 100_000 and (0, "每次都输入") in choices
    sec.choose_limit(20_000)
    _text, retry = sec_view.last("ask_password")
    retry(PW)
    assert sec_view.last("show_done")[0] == "免密额度已改为 ¥200"
    sec.save_password("", "24681", "24681")
    assert sec_view.last("show_error")[0] == "支付密码为 6 位数字"
    sec.save_password(PW, "246813", "246831")
    assert sec_view.last("show_error")[0] == "两次输入的支付密码不一致"
    sec.save_password(PW, "246813", "246813")
    assert sec_view.last("show_done")[0] == "支付密码已保存"


def test_the_bill_list_names_shops_and_steps_through_months(sv, payer, world, live_url):
    from payclient.api import ApiClient

    owner = ApiClient(live_url)
    owner.login(world.owner.phone, world.password)
    sv.api.login(payer.phone, PASSWORD)
    sv.api.pay(owner.create_order(world.merchant_id, 1_200).payload)
    settle()
    view = FakeView()
    history = p.HistoryPresenter(sv, view)
    history.load()
    month_text, can_next = view.last("show_month")
    assert month_text.endswith("月") and can_next is False
    items, _more, _append = view.last("show_items")
    paid = next(i for i in items if i.amount == "-¥12.00")
    assert paid.title == "永庆坊茶居" and "付款" in paid.subtitle and paid.reference
    history.step_month(1)  # no future months
    assert view.last("show_month") == (month_text, False)
    history.step_month(-1)
    assert view.last("show_items")[0] == [] and view.last("show_month")[1] is True


def test_a_payment_above_the_password_free_limit_asks_the_password_first(sv, world, factory, live_url, tmp_path):
    from payclient.api import ApiClient
    from tests.apps.test_consumer_presenters import qr_png

    payer = factory.consumer(balance_fen=300_000)
    paypass.set_initial(factory.wallet(payer), PW)
    db.session.commit()
    settle()

    owner = ApiClient(live_url)
    owner.login(world.owner.phone, world.password)
    sv.api.login(payer.phone, PASSWORD)
    small = owner.create_order(world.merchant_id, 20_000)  # ¥200 ≤ ¥1,000: no password
    view = FakeView()
    pay = p.PayPresenter(sv, view)
    pay.submit_image(qr_png(tmp_path, small.payload, "small.png"))
    assert view.last("show_preview")[0].password_needed is False
    pay.pay()
    assert view.last("show_paid")[0].amount == "¥200.00" and not view.named("ask_password")
    big = owner.create_order(world.merchant_id, 150_000)  # ¥1,500: the password first, before any request
    pay.submit_image(qr_png(tmp_path, big.payload, "big.png"))
    assert view.last("show_preview")[0].password_needed is True
    pay.pay()
    text, retry = view.last("ask_password")
    assert text == "请输入 6 位支付密码" and view.last("show_paid")[0].amount == "¥200.00"
    retry("000111")
    text, retry = view.last("ask_password")
    assert text == "支付密码不正确，还可以试 4 次"
    retry(PW)
    assert view.last("show_paid")[0].amount == "¥1,500.00"


def test_a_wallet_without_a_payment_password_is_asked_to_set_one(sv, world, payer):
    sv.api.login(world.consumer.phone, world.password)  # opened before payment passwords: none set
    view = FakeView()
    p.HomePresenter(sv, view).load()
    assert view.named("show_notice") == [(STRINGS["zh"]["c.home.set_password"], "warning")]
    sv.api.logout()
    sv.api.login(payer.phone, PASSWORD)
    view = FakeView()
    p.HomePresenter(sv, view).load()
    assert not view.named("show_notice")
