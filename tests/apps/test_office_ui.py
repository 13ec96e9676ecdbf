"""The merchant app's back office on the offscreen window against the real backend (issue #20 item 7): the owner
adds a cashier with a refund limit (which the server then enforces), looks at a past day and saves the day's
statement, saves the poster as PNG and as a PDF for printing, sees the bank by name, and the refund's reason
field is labelled. Captured at 360×640 (``SUIYUAN_SCREENSHOTS=docs/screenshots`` writes the committed ones)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from payclient.api import ApiClient
from payclient.errors import ApiError
from tests.apps import harness as h
from tests.apps.test_ui import Shots, log_in
from tests.payclient.live import settle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def shots(tmp_path):
    return Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))


def test_cashiers_past_days_statement_poster_files_and_bank_name(ui, world, live_url, shots, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # files go to ~/Suiyuan, the default folder
    owner, payer = ApiClient(live_url), ApiClient(live_url)
    owner.login(world.owner.phone, world.password)
    payer.login(world.consumer.phone, world.password)
    for amount in (3_850, 1_200):
        payer.pay(owner.create_order(world.merchant_id, amount, description="凤凰单丛").payload)
    settle()
    folder = tmp_path / "Suiyuan"

    shop = ui("merchant")
    h.mount(shop)
    log_in(shop, world.owner.phone, world.password, "collect")
    shop.go("more")
    h.idle(shop)
    more = shop.screen("more")
    h.wait_until(lambda: more.bank == "中国工商银行", what="the bank by name")

    # A cashier with a ¥20 refund limit.
    h.tap(more.ids.cashiers_row)
    h.idle(shop)
    cashiers = shop.screen("cashiers")
    assert cashiers.empty
    ids = cashiers.ids
    ids.name.text, ids.phone.text, ids.password.text, ids.limit.text = "小王", "13700001234", "Cashier2026", "20"
    h.tap(ids.submit)
    h.idle(shop)
    assert cashiers.added_text == "已为 小王 开通收银员账号，退款额度 ¥20.00"
    [row] = cashiers.ids.rows.children
    assert row.title == "小王" and "¥20.00" in row.subtitle
    shots("merchant-cashiers", shop)
    clerk = ApiClient(live_url)
    clerk.login("13700001234", "Cashier2026")  # the new login works, and the server holds it to its limit
    order = clerk.create_order(world.merchant_id, 3_000)
    payer.pay(order.payload)
    with pytest.raises(ApiError) as refused:
        clerk.refund(order.id, 2_100)
    assert refused.value.code == "refund_over_cashier_limit"
    # The owner raises it to ¥25 in the app; now the clerk may.
    h.tap(row)
    h.pump(3)
    cashiers.dialog.ids.amount.text = "25"
    shots("merchant-cashier-limit", shop)
    h.tap(cashiers.dialog.ids.save_button)
    h.idle(shop)
    assert cashiers.added_text == "小王 的退款额度已改为 ¥25.00"
    clerk.refund(order.id, 2_100)
    shop.back()
    h.idle(shop)

    # Today's and the day before; today's statement saved as a file.
    h.tap(more.ids.history_row)
    h.idle(shop)
    day = shop.screen("day")
    assert len(day.ids.rows.children) == 3 and not day.can_go_next
    assert day.ids.folder.text == "~/Suiyuan"
    h.tap(day.ids.statement)
    h.idle(shop)
    [saved] = list(folder.glob("statement-*.csv"))
    assert day.saved_text == f"对账单已保存到：\n~/Suiyuan/{saved.name}"
    text = saved.read_text(encoding="utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) > 2
    shots("merchant-history", shop)
    h.tap(day.ids.prev_day)
    h.idle(shop)
    assert day.empty and day.can_go_next
    shop.back()
    h.idle(shop)

    # The poster: PNG and a PDF for printing, in the chosen folder.
    h.tap(more.ids.poster_row)
    h.idle(shop)
    poster = shop.screen("poster")
    poster.ids.folder.text = "~/posters"  # another folder, chosen here, is remembered

    h.tap(poster.ids.save_png)
    h.idle(shop)
    h.tap(poster.ids.save_pdf)
    h.idle(shop)
    [pdf] = (tmp_path / "posters").glob("poster-*.pdf")
    [png] = (tmp_path / "posters").glob("poster-*.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    assert poster.saved_text == f"已保存到：\n~/posters/{pdf.name}"
    assert shop.screen("day").presenter.s.settings.load()["exports_dir"] == str(tmp_path / "posters")
    from kivy.uix.scrollview import ScrollView

    scroll = next(w for w in poster.walk(restrict=True) if isinstance(w, ScrollView))
    scroll.scroll_y = 0
    h.pump(3)
    h.shoot(Path(shots.folder) / "merchant-poster-files.png")
    shop.back()
    h.idle(shop)

    # The refund's reason field has a label.
    shop.go("today")
    h.idle(shop)
    today = shop.screen("today")
    h.tap(today.ids.rows.children[-1])
    h.idle(shop)
    assert shop.sm.current == "order"
    labels = [w.text for w in shop.screen("order").walk(restrict=True) if getattr(w, "text", None)]
    assert "退款原因（选填，记入订单）" in labels
    shots("merchant-refund-form", shop)
