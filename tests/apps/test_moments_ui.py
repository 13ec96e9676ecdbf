"""The moments where money moves (issue #23), driven by touch on the offscreen window against the real
backend, each captured (``SUIYUAN_SCREENSHOTS=docs/screenshots`` writes the committed pictures):
refund confirmation (and the owner's password), the discount breakdown before paying and on the results,
a cancelled order's genuine code, the contrast of typed text, the result after a pay-code charge, too
little balance, and a cancelled order in the merchant's day."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from payclient.api import ApiClient
from tests.apps import harness as h
from tests.apps.test_ui import _tab, balance, log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]  # real windows


# ---------------------------------------------------------------- measuring typed text


def _luminance(rgb) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (0-255 channels)."""
    def lin(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def typed_text_colours(png: Path, field) -> tuple[tuple, tuple]:
    """Return (text colour, background colour) of the text typed in ``field``, read from the screenshot.

    The background is the commonest colour inside the field (borders and padding left out); the text is
    the pixel furthest from it in luminance (the core of a glyph, not its anti-aliased edge).
    """
    from kivy.core.window import Window

    image = Image.open(png).convert("RGB")
    sx, sy = image.size[0] / Window.width, image.size[1] / Window.height
    x0, y0 = field.to_window(field.x, field.y)
    x1, y1 = field.to_window(field.right, field.top)
    inset = 6
    box = (int(x0 * sx) + inset, int(image.size[1] - y1 * sy) + inset,
           int(x1 * sx) - inset, int(image.size[1] - y0 * sy) - inset)
    crop = image.crop(box)
    counts = crop.getcolors(crop.width * crop.height)
    background = max(counts)[1]
    lb = _luminance(background)
    text = max((c for _n, c in counts), key=lambda c: abs(_luminance(c) - lb))
    return text, background


def assert_readable(png: Path, field, what: str) -> float:
    """The typed text has WCAG AA contrast (≥ 4.5:1) and is the theme's text colour, not a border's."""
    from payclient.ui.theme import COLORS

    text, background = typed_text_colours(png, field)
    ratio = contrast(text, background)
    assert ratio >= 4.5, f"{what}: typed text {text} on {background} has contrast {ratio:.2f}:1 (< 4.5)"
    theme_text = tuple(round(v * 255) for v in COLORS.text[:3])
    assert max(abs(a - b) for a, b in zip(text, theme_text, strict=True)) <= 24, \
        f"{what}: typed text is {text}, not the theme's text colour {theme_text}"
    return ratio


def test_typed_text_is_readable_while_focused_and_after(ui, world, shots):
    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    h.tap(consumer.screen("home").ids.tile_topup)
    h.idle(consumer)
    field = consumer.screen("topup").ids.amount
    field.text = "268.50"
    field.focus = True
    h.pump(3)
    focused = assert_readable(shots("consumer-typed-text-focused", consumer), field, "focused")
    field.focus = False
    h.pump(3)
    left = assert_readable(shots("consumer-typed-text", consumer), field, "after leaving the field")
    assert focused >= 4.5 and left >= 4.5
    # The hint (no text yet) is readable too.
    field.text = ""
    h.pump(3)
    text, background = typed_text_colours(h.shoot(shots.folder / "_hint.png"), field)
    assert contrast(text, background) >= 4.5
    (shots.folder / "_hint.png").unlink()


# ---------------------------------------------------------------- refunds


def _dialog():
    from kivy.core.window import Window
    from kivy.uix.modalview import ModalView

    found = [w for w in Window.children if isinstance(w, ModalView)]
    return found[0] if found else None


def test_a_refund_is_confirmed_with_its_exact_amount_and_order(ui, world, factory, live_url, shots):
    owner_api, payer = ApiClient(live_url), ApiClient(live_url)
    owner_api.login(world.owner.phone, world.password)
    payer.login(world.consumer.phone, world.password)
    order = owner_api.create_order(world.merchant_id, 3_000, description="凤凰单丛")
    payer.pay(order.payload)
    cancelled = owner_api.create_order(world.merchant_id, 3_850, description="白切鸡")
    owner_api.cancel_order(cancelled.id)

    merchant = ui("merchant")
    h.mount(merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")
    # The owner sets the limit above which refunds need the owner's password: ¥10.00.
    h.tap(_tab(merchant.screen("collect"), "tab_more"))
    more = merchant.screen("more")
    assert more.policy_text == "未开启：退款无需店主密码"
    h.tap(more.ids.policy_row)
    policy = more.policy_dialog
    policy.ids.amount.text, policy.ids.password.text = "10", PASSWORD
    h.pump(2)
    shots("merchant-refund-policy")
    h.tap(policy.ids.save_button)
    h.idle(merchant)
    assert more.policy_text == "超过 ¥10.00 的退款需店主输入密码" and _dialog() is None
    h.tap(_tab(more, "tab_today"))
    h.idle(merchant)
    today = merchant.screen("today")
    rows = {r.item.id: r for r in today.ids.rows.children}
    assert rows[cancelled.id].value == "[s]¥38.50[/s]" and rows[order.id].value == "+¥30.00"
    shots("merchant-today-cancelled", merchant)
    h.tap(rows[order.id])
    h.idle(merchant)
    screen = merchant.screen("order")
    amount, button = screen.ids.refund_amount, screen.ids.refund_button
    assert button.disabled, "an empty amount must not be able to refund anything"
    amount.text = "5"
    h.pump(2)
    h.tap(button)
    dialog = _dialog()
    assert dialog is not None and dialog.amount == "¥5.00" and order.reference[-6:] in dialog.order_line
    assert dialog.ids.confirm_button.text == "确认退款 ¥5.00" and not dialog.needs_password
    shots("merchant-refund-confirm")
    h.tap(dialog.ids.cancel_button)
    assert _dialog() is None and balance(factory, world.consumer) == 100_000 - 3_000

    amount.text = "15"
    h.pump(2)
    h.tap(button)
    dialog = _dialog()
    assert dialog.needs_password and dialog.amount == "¥15.00"
    dialog.ids.password.text = PASSWORD
    h.pump(2)
    shots("merchant-refund-owner-password")
    h.tap(dialog.ids.confirm_button)
    h.idle(merchant)
    assert "已退款 ¥15.00" in screen.done_text and _dialog() is None
    assert amount.text == "" and button.disabled  # a second tap cannot refund the rest
    shots("merchant-refund-done", merchant)
    assert balance(factory, world.consumer) == 100_000 - 3_000 + 1_500


# ---------------------------------------------------------------- paying


def _paste(shell, payload: str) -> None:
    h.tap(shell.screen("home").ids.tile_scan)
    scan = shell.screen("scan")
    scan.ids.pasted.text = payload
    h.tap(scan.ids.check_pasted)
    h.idle(shell)


def test_the_discount_is_shown_before_paying_and_on_both_results(ui, world, factory, live_url, campaigns, shots):
    owner_api, payer = ApiClient(live_url), ApiClient(live_url)
    owner_api.login(world.owner.phone, world.password)
    payer.login(world.consumer.phone, world.password)
    for _ in range(2):  # two 满30减5 coupons: one for the scanned payment, one for the payment code
        payer.claim(campaigns.make("coupon").id, "phone-1")
    order = owner_api.create_order(world.merchant_id, 6_800)

    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    _paste(consumer, order.payload)
    confirm = consumer.screen("confirm")
    assert consumer.sm.current == "confirm" and confirm.can_pay
    shown = [(r.label, r.value) for r in reversed(confirm.ids.split_rows.children)]
    assert shown == [("商品金额", "¥68.00"), ("消费券优惠", "-¥5.00"), ("钱包实付", "¥63.00")]
    assert confirm.ids.pay_button.text == "付款 ¥63.00"
    shots("consumer-confirm-discount", consumer)
    h.tap(confirm.ids.pay_button)
    h.idle(consumer)
    paid = consumer.screen("paid")
    assert consumer.sm.current == "paid" and paid.amount == "¥63.00"
    assert [(r.label, r.value) for r in reversed(paid.ids.split_rows.children)] == [
        ("商品金额", "¥68.00"), ("消费券优惠", "-¥5.00"), ("钱包已付", "¥63.00")]
    shots("consumer-paid-discount", consumer)
    assert balance(factory, world.consumer) == 100_000 - 6_300

    # The payment code, charged by the shop: the shop sees the subsidy and the full price received;
    # the consumer gets the full result screen.
    paid.finish()
    h.idle(consumer)
    h.tap(consumer.screen("home").ids.tile_paycode)
    h.idle(consumer)
    code = consumer.screen("paycode").code
    merchant = ui("merchant")
    h.mount(merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")
    h.tap(_tab(merchant.screen("collect"), "tab_charge"))
    charge = merchant.screen("charge")
    for key in ("6", "8"):
        h.tap(charge.ids.keypad.buttons[key])
    charge.ids.code.text = code
    h.tap(charge.ids.submit)
    h.idle(merchant)
    charged = merchant.screen("charged")
    assert merchant.sm.current == "charged" and charged.amount == "¥68.00"
    assert charged.subsidy == "含红包/消费券补贴 ¥5.00，本店按原价全额到账"
    assert [(r.label, r.value) for r in reversed(charged.ids.split_rows.children)] == [
        ("顾客钱包支付", "¥63.00"), ("消费券补贴", "¥5.00"), ("本店实收", "¥68.00")]
    shots("merchant-charged-subsidised", merchant)

    h.mount(consumer)
    h.wait_until(lambda: consumer.sm.current == "paid", timeout=10, what="the pay-code result screen")
    h.idle(consumer)
    result = consumer.screen("paid")
    assert (result.title, result.merchant, result.amount) == ("商户已扣款", "永庆坊茶居", "¥63.00")
    assert result.balance_after == "¥874.00"
    shots("consumer-paycode-result", consumer)


def test_a_cancelled_orders_genuine_code_is_not_called_fake(ui, world, live_url, shots):
    owner_api = ApiClient(live_url)
    owner_api.login(world.owner.phone, world.password)
    order = owner_api.create_order(world.merchant_id, 3_850)
    owner_api.cancel_order(order.id)
    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    _paste(consumer, order.payload)
    confirm = consumer.screen("confirm")
    assert confirm.verified and confirm.ids.verified_badge.text == "✔ 已认证商户"
    assert confirm.ids.order_badge.text == "商户已取消" and confirm.warning_title == "商户已取消"
    assert "不可信" not in confirm.ids.amount_caption.text and "未通过核验" not in confirm.ids.amount_caption.text
    assert confirm.ids.pay_button.disabled
    shots("consumer-confirm-cancelled", consumer)


def test_too_little_balance_is_said_before_the_tap(ui, world, factory, live_url, shots):
    poor = factory.consumer(balance_fen=2_000, display_name="阿珍")
    owner_api = ApiClient(live_url)
    owner_api.login(world.owner.phone, world.password)
    order = owner_api.create_order(world.merchant_id, 6_800)
    consumer = ui("consumer", "poor")
    h.mount(consumer)
    log_in(consumer, poor.phone, PASSWORD, "home")
    _paste(consumer, order.payload)
    confirm = consumer.screen("confirm")
    assert confirm.balance_note == "钱包余额 ¥20.00，还差 ¥48.00。请先充值再付款。"
    assert confirm.ids.pay_button.disabled and not confirm.ids.topup_button.disabled
    shots("consumer-confirm-low-balance", consumer)
    h.tap(confirm.ids.topup_button)
    h.idle(consumer)
    assert consumer.sm.current == "topup"
