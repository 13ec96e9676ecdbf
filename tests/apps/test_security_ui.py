"""The consumer app's payment password (支付密码), transfer (转账), redeem (兑回) and bill list (账单) on the offscreen
window against the real backend (issue #20 item 6): the server asks for the password, the pad asks the person, a
wrong one says how many tries are left, the right one moves the money; the password-free limit is chosen on its
screen; the bill list names the shop of a payment and of its refund, keeps one month and opens a bill's detail;
the home screen's icons are English in English. Captured at 360×640 (``SUIYUAN_SCREENSHOTS=docs/screenshots``
writes the committed ones) and checked for text that does not fit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend.extensions import db
from backend.wallets import paypass
from payclient.api import ApiClient
from tests.apps import harness as h
from tests.apps.test_ui import Shots, log_in
from tests.factories import PASSWORD
from tests.payclient.live import settle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PW = "135790"


@pytest.fixture
def shots(tmp_path):
    return Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))


def pad():
    """The payment-password pad open on the window."""
    from kivy.core.window import Window

    from consumer_app.security_screens import PayPasswordPad

    h.wait_until(lambda: any(isinstance(w, PayPasswordPad) for w in Window.children), what="the password pad")
    h.pump(3)
    return next(w for w in Window.children if isinstance(w, PayPasswordPad))


def type_password(shell, digits: str) -> None:
    the_pad = pad()
    for d in digits:
        the_pad.press(d)
    h.pump(2)
    h.idle(shell)


def alert():
    from kivy.core.window import Window

    from payclient.ui.shell import AlertView

    return next((w for w in Window.children if isinstance(w, AlertView)), None)


def test_the_payment_password_transfer_redeem_and_bill_list(ui, world, factory, live_url, shots):
    payer = factory.consumer(balance_fen=300_000, display_name="陈美玲")
    paypass.set_initial(factory.wallet(payer), PW)
    db.session.commit()
    # A morning at the tea house: a payment and part of it refunded, for the bill list.
    owner, api = ApiClient(live_url), ApiClient(live_url)
    owner.login(world.owner.phone, world.password)
    api.login(payer.phone, PASSWORD)
    api.pay(owner.create_order(world.merchant_id, 3_850, description="凤凰单丛").payload)
    owner.refund(owner.orders(world.merchant_id).items[0].id, 500, reason="少一份点心")
    settle()

    phone = ui("consumer")
    h.mount(phone)
    log_in(phone, payer.phone, PASSWORD, "home")
    home = phone.screen("home")

    # Top-up: the server asks for the password; a wrong one says how many tries are left.
    h.tap(home.ids.tile_topup)
    topup = phone.screen("topup")
    topup.ids.amount.text = "200"
    h.tap(topup.ids.submit)
    h.idle(phone)
    the_pad = pad()
    assert the_pad.message == "请输入 6 位支付密码"
    the_pad.press("1")
    the_pad.press("3")
    h.pump(2)
    shots("consumer-password-pad", phone)
    for d in "0000":
        the_pad.press(d)
    h.idle(phone)
    assert pad().message == "支付密码不正确，还可以试 4 次"
    shots("consumer-password-wrong", phone)
    type_password(phone, PW)
    assert "已充值 ¥200.00" in topup.done_text
    phone.back()
    h.idle(phone)

    # Transfer to the tea-house regular, with the password.
    h.tap(home.ids.tile_transfer)
    transfer = phone.screen("transfer")
    transfer.ids.phone.text, transfer.ids.amount.text, transfer.ids.memo.text = world.consumer.phone, "66", "奶茶钱"
    h.tap(transfer.ids.submit)
    h.idle(phone)
    type_password(phone, PW)
    assert transfer.done_text.startswith("已向 ") and "¥66.00" in transfer.done_text
    shots("consumer-transfer", phone)
    phone.back()
    h.idle(phone)

    # Redeem back to the card.
    h.tap(home.ids.tile_redeem)
    h.idle(phone)
    redeem = phone.screen("redeem")
    assert "6222" in redeem.card_text or "****" in redeem.card_text or "•" in redeem.card_text
    redeem.ids.amount.text = "100"
    h.tap(redeem.ids.submit)
    h.idle(phone)
    type_password(phone, PW)
    assert "已兑回 ¥100.00" in redeem.done_text
    shots("consumer-redeem", phone)
    phone.back()
    h.idle(phone)

    # The password-free limit: "always ask".
    h.tap(home.ids.tile_security)
    h.idle(phone)
    security = phone.screen("security")
    assert security.password_set and security.limit_text == "当前：¥1,000"
    always = next(b for b in security.ids.limits.children if b.fen == 0)
    h.tap(always)
    type_password(phone, PW)
    assert security.done_text == "免密额度已改为 每次都输入"
    assert api.wallet().password_free_limit_fen == 0
    shots("consumer-security", phone)
    phone.back()
    h.idle(phone)

    # The bill list: the shop names the payment and its refund; a top-up opens its detail.
    h.tap(home.ids.tile_history)
    h.idle(phone)
    history = phone.screen("history")
    rows = list(reversed(history.ids.rows.children))
    titles = [r.title for r in rows]
    assert titles.count("永庆坊茶居") == 2, titles  # the payment and its refund
    assert history.month_text.endswith("月") and history.can_go_next is False
    shots("consumer-bills", phone)
    top = next(r for r in rows if r.item.detail and not r.item.reference and r.value == "+¥200.00")
    h.tap(top)
    h.pump(3)
    assert alert() is not None and "¥200.00" in alert().text
    shots("consumer-bill-detail", phone)
    alert().dismiss(animation=False)
    h.pump(2)
    h.tap(history.ids.prev_month)
    h.idle(phone)
    assert history.empty and history.can_go_next
    phone.back()
    h.idle(phone)

    # English: the icons and labels are English.
    h.tap(home.ids.lang_button)
    h.idle(phone)
    assert home.ids.tile_scan.icon == "Scan" and home.ids.tile_transfer.caption == "Transfer"
    shots("consumer-home-en-tiles", phone)
    h.tap(home.ids.tile_security)
    h.idle(phone)
    shots("consumer-security-en", phone)
    phone.back()
    h.idle(phone)
    h.tap(home.ids.tile_transfer)
    h.idle(phone)
    shots("consumer-transfer-en", phone)
    phone.back()
    h.idle(phone)
    h.tap(home.ids.lang_button)
    h.idle(phone)
    assert home.ids.tile_scan.icon == "扫"
