"""Both apps driven by touch on one offscreen window, against the real backend.

The merchant app shows a dynamic QR; a screenshot of the window is decoded
(zxing-cpp) and the consumer app "scans" that picture and pays; the merchant
app shows paid. Then the other way round with the consumer's payment code.
A tampered code shows the warning and moves no money. Every screen is
captured at 360×640 (``SUIYUAN_SCREENSHOTS=docs/screenshots`` writes the
committed ones) and checked for text that does not fit.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import qrcode
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from backend.extensions import db
from backend.ledger.models import Transfer
from payclient.api import ApiClient
from suiyuan_protocol import codec
from tests.apps import harness as h
from tests.payclient.live import settle

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]  # real windows


def payments() -> int:
    n = db.session.execute(select(func.count()).select_from(Transfer).where(Transfer.code == "payment")).scalar_one()
    settle()
    return n


def balance(factory, person) -> int:
    b = factory.balance(person)
    settle()
    return b


class Shots:
    """Screenshots of the window, checked for text that overflows its widget."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.taken: list[Path] = []

    def __call__(self, name: str, shell=None) -> Path:
        if shell is not None:
            from kivy.uix.scrollview import ScrollView

            for w in shell.sm.current_screen.walk(restrict=True):
                if isinstance(w, ScrollView) and w.do_scroll_y:
                    w.scroll_y = 1  # screenshots show a screen from its top
        h.clear_toasts()  # transient, and here possibly the other app's (both share one window in tests)
        path = h.shoot(self.folder / f"{name}.png")
        self.taken.append(path)
        image = Image.open(path)
        assert image.size == tuple(int(v) for v in h._frame.size)
        assert len(image.getcolors(1 << 16) or range(1000)) > 4, f"{name} looks blank"
        if shell is not None:
            bad = overflowing(shell.sm.current_screen)
            assert not bad, f"{name}: text does not fit: {bad}"
        return path


def overflowing(root) -> list[str]:
    """Return the visible labels whose text is wider or taller than the label (cut off or overlapping)."""
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    out = []
    for w in root.walk(restrict=True):
        if not isinstance(w, Label) or isinstance(w, TextInput) or not w.text or w.opacity == 0:
            continue
        if w.width <= 1 or w.height <= 1 or w.shorten:
            continue
        parent_hidden = False
        for anc in w.walk_reverse():
            if getattr(anc, "opacity", 1) == 0:
                parent_hidden = True
                break
        if parent_hidden:
            continue
        tw, th = w.texture_size
        if tw > w.width + 2 or th > w.height + 2:
            out.append(f"{w.text[:30]!r} {tw}x{th} in {w.width:.0f}x{w.height:.0f}")
    return out


def log_in(shell, phone: str, password: str, expect: str) -> None:
    screen = shell.screen("login")
    screen.ids.phone.text = phone
    screen.ids.password.text = password
    h.tap(screen.ids.login_button)
    h.wait_until(lambda: shell.sm.current == expect and not shell.busy, what=f"{expect} after log-in")
    h.idle(shell)


def pick_file(shell, screen_button, path: Path) -> None:
    """Tap the picture button, choose ``path`` in the file chooser, tap Open."""
    from kivy.core.window import Window

    from payclient.ui.scanner import ImagePicker

    h.tap(screen_button)
    h.pump(3)
    [picker] = [w for w in Window.children if isinstance(w, ImagePicker)]
    chooser = picker.ids.chooser
    chooser.path = str(path.parent)
    h.pump(3)
    chooser.selection = [str(path)]
    h.pump(2)
    h.tap(picker.ids.open_button)
    h.wait_until(lambda: picker not in Window.children, what="the file chooser to close")
    h.idle(shell)


def decode(path: Path) -> list[tuple[str, str]]:
    return [(r.format.name, r.text) for r in zxingcpp.read_barcodes(Image.open(path).convert("RGB"))]


def test_dynamic_qr_from_the_merchant_screen_is_scanned_and_paid(ui, world, factory, shots):
    merchant = ui("merchant")
    h.mount(merchant)
    shots("merchant-login", merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")
    collect = merchant.screen("collect")
    for key in ("3", "8", ".", "5"):
        h.tap(collect.ids.keypad.buttons[key])
    assert collect.amount == "¥38.5" and collect.ready
    shots("merchant-collect", merchant)
    h.tap(collect.ids.create)
    h.idle(merchant)
    qr_screen = merchant.screen("collect_qr")
    assert merchant.sm.current == "collect_qr" and qr_screen.state == "waiting"
    qr_png = shots("merchant-collect-qr", merchant)
    [(fmt, payload)] = decode(qr_png)
    assert fmt == "QRCode" and payload == qr_screen.payload
    assert codec.parse(payload).amount_fen == 3_850

    consumer = ui("consumer")
    h.mount(consumer)
    shots("consumer-login", consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    shots("consumer-home", consumer)
    h.tap(consumer.screen("home").ids.tile_scan)
    shots("consumer-scan", consumer)
    pick_file(consumer, consumer.screen("scan").ids.pick_image, qr_png)
    confirm = consumer.screen("confirm")
    assert consumer.sm.current == "confirm"
    assert (confirm.merchant_zh, confirm.verified, confirm.amount, confirm.can_pay) == (
        "永庆坊茶居", True, "¥38.50", True)
    assert not confirm.warning
    shots("consumer-confirm", consumer)
    answered = []
    api_pay = consumer.services.api.pay
    consumer.services.api.pay = lambda *a: (api_pay(*a), answered.append(time.monotonic()))[0]
    h.tap(confirm.ids.pay_button)
    h.idle(consumer)
    assert consumer.sm.current == "paid" and consumer.screen("paid").amount == "¥38.50"
    shots("consumer-paid", consumer)

    h.mount(merchant)
    h.wait_until(lambda: qr_screen.state == "paid", timeout=5, what="the merchant app to show paid")
    collect_presenter = collect.presenter
    heard = collect_presenter.heard_at[(collect_presenter.order.id, "paid")]
    assert heard - answered[0] < 1.0, "the merchant app heard of the payment more than a second later"
    assert "已收款 ¥38.50" in qr_screen.status_title
    shots("merchant-collect-paid", merchant)
    assert balance(factory, world.consumer) == 100_000 - 3_850 and payments() == 1


def test_payment_code_on_the_consumer_screen_is_scanned_and_charged(ui, world, factory, shots):
    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    h.tap(consumer.screen("home").ids.tile_paycode)
    h.idle(consumer)
    paycode = consumer.screen("paycode")
    assert len(paycode.code) == 18
    png = shots("consumer-paycode", consumer)
    found = dict(decode(png))
    assert found == {"QRCode": paycode.code, "Code128": paycode.code}

    merchant = ui("merchant")
    h.mount(merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")
    h.tap(_tab(merchant.screen("collect"), "tab_charge"))
    charge = merchant.screen("charge")
    assert merchant.sm.current == "charge"
    for key in ("2", "0"):
        h.tap(charge.ids.keypad.buttons[key])
    shots("merchant-charge", merchant)
    pick_file(merchant, charge.ids.pick_image, png)
    assert merchant.sm.current == "charged" and merchant.screen("charged").amount == "¥20.00"
    shots("merchant-charged", merchant)
    assert balance(factory, world.consumer) == 100_000 - 2_000

    h.mount(consumer)
    h.wait_until(lambda: paycode.notice, timeout=8, what="the consumer app to notice the payment")
    assert paycode.notice == "已付款 ¥20.00"

    # Today's receipts, the refund, the shop and its poster, on the merchant side.
    h.mount(merchant)
    h.tap(merchant.screen("charged").ids.again)
    h.tap(_tab(merchant.screen("charge"), "tab_today"))
    h.idle(merchant)
    today = merchant.screen("today")
    assert today.net == "¥20.00"
    shots("merchant-today", merchant)
    h.tap(today.ids.rows.children[-1])
    h.idle(merchant)
    order = merchant.screen("order")
    assert merchant.sm.current == "order" and order.can_refund
    order.ids.refund_amount.text = "5"
    order.ids.reason.text = "少一杯"
    h.tap(order.ids.refund_button)
    h.tap(order.confirm_dialog.ids.confirm_button)  # the refund is confirmed, amount and order shown
    h.idle(merchant)
    assert "已退款 ¥5.00" in order.done_text
    shots("merchant-refund", merchant)
    merchant.back()
    h.idle(merchant)
    h.tap(_tab(merchant.screen("today"), "tab_more"))
    assert merchant.sm.current == "more"
    h.wait_until(lambda: merchant.screen("more").bank == "中国工商银行", what="the bank by name (#20 item 7)")
    shots("merchant-more", merchant)
    h.tap(merchant.screen("more").ids.poster_row)
    h.idle(merchant)
    poster = merchant.screen("poster")
    png = shots("merchant-poster", merchant)
    [(fmt, payload)] = decode(png)
    assert payload == poster.payload and codec.parse(payload).initiation == "11"
    assert balance(factory, world.consumer) == 100_000 - 2_000 + 500 and payments() == 1


def _tab(screen, name):
    """The tab button ``name`` of the tab bar at the bottom of ``screen``."""
    from kivy.factory import Factory

    tabs = [w for w in screen.walk(restrict=True) if isinstance(w, Factory.MTabs)]
    return tabs[0].ids[name]


def test_a_tampered_qr_picture_shows_the_warning_and_moves_no_money(ui, world, factory, live_url, shots, tmp_path):
    owner = ApiClient(live_url)
    owner.login(world.owner.phone, world.password)
    order = owner.create_order(world.merchant_id, 3_850)
    forged = codec.parse(order.payload)
    forged.amount_fen, forged.raw_amounts = 1, {}  # a sticker asking ¥0.01 … for someone else's order
    sticker = tmp_path / "sticker.png"
    qr = qrcode.QRCode(border=4, box_size=5)
    qr.add_data(codec.build(forged).encode("utf-8"))
    qr.make(fit=True)
    qr.make_image().save(sticker)

    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    h.tap(consumer.screen("home").ids.tile_scan)
    pick_file(consumer, consumer.screen("scan").ids.pick_image, sticker)
    confirm = consumer.screen("confirm")
    assert consumer.sm.current == "confirm"
    assert "金额被篡改" in confirm.warning and confirm.warning_title == "警告：这可能是假码"
    assert not confirm.can_pay and confirm.ids.pay_button.disabled and not confirm.verified
    shots("consumer-confirm-warning", consumer)
    with pytest.raises(AssertionError, match="disabled"):
        h.tap(confirm.ids.pay_button)
    confirm.pay()  # not even a direct call gets through
    h.idle(consumer)
    assert consumer.sm.current == "confirm"
    assert balance(factory, world.consumer) == 100_000 and payments() == 0

    # A pasted unsigned code gets its own warning.
    consumer.back()
    scan = consumer.screen("scan")
    unsigned = codec.parse(order.payload)
    unsigned.signature, unsigned.order = None, None
    scan.ids.pasted.text = codec.build(unsigned)
    h.tap(scan.ids.check_pasted)
    h.idle(consumer)
    assert "没有穗元签名" in confirm.warning and not confirm.can_pay
    assert payments() == 0


def test_other_screens_render_at_both_phone_sizes(ui, world, factory, live_url, shots):
    """Screens not reached by the flows above, at 360×640; the main ones again at 412×915."""
    owner, payer = ApiClient(live_url), ApiClient(live_url)
    owner.login(world.owner.phone, world.password)
    payer.login(world.consumer.phone, world.password)
    for amount in (3_850, 1_200):  # a morning at the tea house, for the history screen
        payer.pay(owner.create_order(world.merchant_id, amount, description="凤凰单丛").payload)
    owner.refund(owner.orders(world.merchant_id).items[0].id, 200, reason="少一份点心")
    consumer = ui("consumer")
    h.mount(consumer)
    h.tap(consumer.screen("login").ids.register_button)
    shots("consumer-register", consumer)
    h.tap(consumer.screen("register").children[0].children[-1].children[-1])  # the top bar's back arrow
    assert consumer.sm.current == "login"
    log_in(consumer, world.consumer.phone, world.password, "home")
    for tile, name in (("tile_history", "consumer-history"), ("tile_topup", "consumer-topup")):
        h.tap(consumer.screen("home").ids[tile])
        h.idle(consumer)
        shots(name, consumer)
        consumer.back()
        h.idle(consumer)
    topup = consumer.screen("topup")
    h.tap(consumer.screen("home").ids.tile_topup)
    h.tap(topup.ids.quick.children[-1])
    h.tap(topup.ids.submit)
    h.idle(consumer)
    assert "已充值 ¥100.00" in topup.done_text
    consumer.back()
    h.idle(consumer)
    h.tap(consumer.screen("home").ids.upgrade_button)
    shots("consumer-upgrade", consumer)
    consumer.back()
    h.idle(consumer)
    h.tap(consumer.screen("home").ids.logout_button)
    h.idle(consumer)
    assert consumer.sm.current == "login"

    fresh = ui("consumer", "fresh")
    h.mount(fresh)
    h.tap(fresh.screen("login").ids.register_button)
    reg = fresh.screen("register")
    reg.ids.phone.text, reg.ids.password.text, reg.ids.name.text = "13912340077", "Tea2026ok", "阿珍"
    h.tap(reg.ids.submit)
    h.idle(fresh)
    assert fresh.sm.current == "open_wallet"
    opening = fresh.screen("open_wallet")
    opening.ids.pw.text, opening.ids.pw2.text = "135790", "135709"
    shots("consumer-open-wallet", fresh)
    h.tap(opening.ids.submit)
    h.idle(fresh)
    assert fresh.sm.current == "open_wallet"  # the two payment passwords differ
    opening.ids.pw2.text = "135790"
    h.tap(opening.ids.submit)
    h.idle(fresh)
    assert fresh.sm.current == "home" and fresh.screen("home").balance == "¥0.00"

    # English, then the bigger phone.
    h.tap(fresh.screen("home").ids.lang_button)
    h.idle(fresh)
    assert fresh.screen("home").ids.tile_scan.caption == "Scan"
    shots("consumer-home-en", fresh)
    h.tap(fresh.screen("home").ids.lang_button)
    h.idle(fresh)
    for screen in ("home", "paycode"):
        h.mount(fresh, h.BIG_PHONE)
        fresh.go(screen)
        h.idle(fresh)
        shots(f"consumer-{screen}-412x915", fresh)
    merchant = ui("merchant")
    h.mount(merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")
    h.mount(merchant, h.BIG_PHONE)
    shots("merchant-collect-412x915", merchant)


def test_red_packets_near_me_my_perks_and_the_shops_campaigns(ui, world, campaigns, shots):
    grab, lottery, coupon = campaigns.make("grab"), campaigns.make("lottery"), campaigns.make("coupon")
    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    h.tap(consumer.screen("home").ids.tile_redpackets)
    h.idle(consumer)
    near = consumer.screen("campaigns")
    cards = {card.campaign_id: card for card in near.ids.cards.children}
    assert set(cards) == {grab.id, lottery.id, coupon.id}
    h.tap(cards[grab.id].ids.act)
    h.idle(consumer)
    assert any(t.startswith("抢到 ¥1.00 红包") for t in h.toasts())
    cards = {card.campaign_id: card for card in near.ids.cards.children}
    assert cards[grab.id].action == "已领 ¥1.00" and cards[grab.id].ids.act.disabled
    h.tap(cards[coupon.id].ids.act)
    h.idle(consumer)
    h.clear_toasts()
    shots("consumer-campaigns", consumer)
    consumer.back()
    h.idle(consumer)
    h.tap(consumer.screen("home").ids.tile_perks)
    h.idle(consumer)
    perks = consumer.screen("perks")
    assert perks.summary == "可用红包 ¥1.00 · 可用消费券 1 张" and len(perks.ids.rows.children) == 2
    shots("consumer-perks", consumer)

    merchant = ui("merchant")
    h.mount(merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")
    h.tap(_tab(merchant.screen("collect"), "tab_more"))
    h.idle(merchant)
    h.tap(merchant.screen("more").ids.campaigns_row)
    h.idle(merchant)
    screen = merchant.screen("campaigns")
    assert screen.zone == "本店所在示范区：永庆坊" and len(screen.ids.cards.children) == 3
    shots("merchant-campaigns", merchant)
