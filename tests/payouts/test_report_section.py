"""The member units of the leading group in the periodic scenario report (issue #14, item 7): the payouts
plug-in adds its section through ``backend.hooks.register_report_section``; the report's CSV and PDF carry
each member unit, whether it has landed a scenario and how many of its payees have opened a wallet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import select

from backend.clock import local_today
from backend.extensions import db
from tests.payouts.helpers import csv_bytes, make_org


def test_the_periodic_report_lists_member_units_with_scenarios_and_wallets(world, client, factory):
    from zones import pdf, reports
    from zones.models import Zone

    world.topup(1_000_000)
    li, chen = world.payee("李小明"), world.payee("陈静")
    rows = [[li.phone, "李小明", "100", "salary", ""], [chen.phone, "陈静", "50", "subsidy", ""],
            ["13999999999", "赵六", "10", "subsidy", ""]]  # no wallet: a payee who has not opened one
    batch = world.upload(csv_bytes(rows)).get_json()
    assert world.approve(batch).status_code == 200
    make_org(client, factory, world.pilot, "南沙区教育局")  # a member unit that has paid nothing yet
    make_org(client, factory, world.pilot, "广州地铁集团", member_unit=False)  # not a member unit: not listed

    zone = db.session.execute(select(Zone).order_by(Zone.id)).scalars().first()
    monday = local_today() - timedelta(days=local_today().weekday())
    figures = reports.report_figures(zone, "weekly", monday)
    [section] = [s for s in figures["sections"] if s["key"] == "member_units"]  # other plug-ins add theirs
    assert section["key"] == "member_units"
    by_name = {r[0]: dict(zip([c["key"] for c in section["columns"]], r, strict=True)) for r in section["rows"]}
    assert set(by_name) == {"越秀区财政局", "南沙区教育局"}
    assert (by_name["越秀区财政局"]["scenarios_landed"], by_name["越秀区财政局"]["target_met"]) == (2, True)
    assert (by_name["越秀区财政局"]["payees"], by_name["越秀区财政局"]["payee_wallets_opened"]) == (3, 2)
    assert by_name["越秀区财政局"]["paid_fen"] == 15_000
    assert (by_name["南沙区教育局"]["scenarios_landed"], by_name["南沙区教育局"]["target_met"]) == (0, False)

    table = [r for r in csv.DictReader(io.StringIO(reports.to_csv(figures).lstrip("\ufeff")))
             if r["section"] == "member_units"]
    wallets = {r["merchant"]: r["value"] for r in table if r["key"] == "payee_wallets_opened"}
    assert wallets == {"越秀区财政局": "2", "南沙区教育局": "0"}
    assert {r["指标"] for r in table} >= {"已落地场景", "已开钱包", "已发金额"}

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.render(figures))).pages)
    assert "领导小组成员单位落地情况" in text and "Leading-group member units" in text
    assert "南沙区教育局" in text and "¥150.00" in text
    assert "1 / 2 个成员单位已落地" in text.replace("\n", "")
