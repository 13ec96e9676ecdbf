"""Console truths (issue #23 item 7): every page's "last 30 days" is the same window and says whether today
is in it; the average ticket of no payments is "—", not ¥0.00."""

from __future__ import annotations

from datetime import timedelta

from backend.auth.models import Role
from backend.clock import local_today
from tests.console.test_console import manager_of, text_of, zone_id
from tests.factories import PASSWORD


def test_last_30_days_is_one_window_that_says_today_is_in_it(console, factory):
    today = local_today()
    window = f"{today - timedelta(days=29)} 至 {today}（北京时间，含今天"
    manager = manager_of(factory, "baiyunshan", name="白云山管理员 Baiyun manager")
    page = console.page("desktop")
    console.login(page, manager.phone, PASSWORD)
    console.open(page, f"/zones/{zone_id('baiyunshan')}")
    page.wait_for_selector("#kpi-tiles")
    assert page.locator("#kpi-period option:checked").inner_text() == "最近 30 天（含今天）"
    assert window in text_of(page, "#kpi-period-range")
    # No payments: no average ticket (not ¥0.00).
    assert text_of(page, "[data-kpi=average_ticket_fen] .tile-value") == "—"

    admin = factory.user(Role.PILOT_ADMIN, display_name="试点工作办公室")
    office = console.page("desktop")
    console.login(office, admin.phone, PASSWORD)
    office.wait_for_selector("#ranking-period-range")
    assert window in text_of(office, "#ranking-period-range")
    office.click("#nav a[data-nav=summary]")
    office.wait_for_selector("#summary-period-range")
    assert window in text_of(office, "#summary-period-range")  # the thresholds' 30 days, ending today too
