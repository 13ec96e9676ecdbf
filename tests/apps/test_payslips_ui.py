"""The consumer app's pay-slip screen (工资/补贴到账, issue #14) on the offscreen window, against the real backend:
an organisation pays a salary and an allowance, then a reimbursement the class-4 wallet's balance cap refuses;
the screen shows each slip (organisation, category, memo, amount, time), the "arrived" notice, and for the
refused one what to do. Captured at 360×640 (``SUIYUAN_SCREENSHOTS=docs/screenshots`` writes the committed one)
and checked for text that does not fit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.apps import harness as h
from tests.apps.test_ui import Shots, log_in
from tests.factories import PASSWORD
from tests.payclient.live import settle
from tests.payouts.helpers import csv_bytes, make_world

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def shots(tmp_path):
    return Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))


def _pay(w, rows, reference):
    resp = w.upload(csv_bytes(rows), reference=reference)
    assert resp.status_code == 201, resp.get_json()
    batch = resp.get_json()
    assert w.approve(batch).status_code == 200  # the job runs inline in the tests


def test_the_payslips_show_what_arrived_and_what_the_wallet_cap_refused(ui, app, client, factory, shots):
    w = make_world(app, client, factory)
    w.topup(2_000_000)
    li = w.payee("李小明")
    _pay(w, [[li.phone, "李小明", "3850.50", "工资", "三月工资"], [li.phone, "李小明", "680", "allowance", "交通补贴"]],
         "2026-03")
    _pay(w, [[li.phone, "李小明", "7000", "reimbursement", "差旅报销"]], "2026-03-R")  # ¥11,530.50 > ¥10,000
    settle()

    phone = ui("consumer")
    h.mount(phone)
    log_in(phone, li.phone, PASSWORD, "home")
    h.tap(phone.screen("home").ids.tile_payslips)
    h.idle(phone)
    screen = phone.screen("payslips")
    cards = list(reversed(screen.ids.slips.children))
    assert [(c.category, c.amount, c.status, c.paid) for c in cards] == [
        ("报销", "¥7,000.00", "未到账", False), ("津贴", "¥680.00", "已到账", True),
        ("工资", "¥3,850.50", "已到账", True)]
    assert all(c.organisation == "越秀区财政局" and c.when for c in cards[1:])
    assert cards[2].memo == "三月工资" and cards[1].title == "三月工资"
    assert "升级钱包" in cards[0].notice and not cards[1].notice
    assert screen.notice == "越秀区财政局 的津贴已到账 ¥680.00"
    shots("consumer-payslips", phone)

    phone.back()  # the history marks the payouts too
    h.idle(phone)
    h.tap(phone.screen("home").ids.tile_history)
    h.idle(phone)
    rows = list(reversed(phone.screen("history").ids.rows.children))
    assert [(r.title, r.value) for r in rows[:2]] == [("工资/补贴到账", "+¥680.00"), ("工资/补贴到账", "+¥3,850.50")]
