"""Periodic scenario reports (PDF with charts, CSV), their jobs and schedule, and the application summary."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import warnings
from datetime import timedelta

import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFont
from sqlalchemy import func, select

from backend.clock import local_today, utcnow
from backend.extensions import db
from backend.jobs import enqueue
from suiyuan_protocol.money import fen_to_yuan_str, format_fen
from tests.backend.helpers import assert_problem, url
from tests.conftest import unavailable
from tests.zones.test_kpis import ZONE_PLAN, month_before_last
from tests.zones.traffic import generate, sqlite_without_fsync
from zones import pdf, reports
from zones.models import ZoneReport


def small_month_of(factory, monkeypatch, payments: int):
    """A month of traffic at the same merchants as the KPI test, with fewer payments."""
    with sqlite_without_fsync():
        traffic = generate(factory, monkeypatch, month_start=month_before_last(), zone_plan=ZONE_PLAN,
                           payments=payments, consumers=40, refund_share=0.1)
    monkeypatch.undo()
    return traffic


@pytest.fixture
def small_month(app, factory, monkeypatch):
    return small_month_of(factory, monkeypatch, 250)


@pytest.fixture
def tiny_month(app, factory, monkeypatch):
    return small_month_of(factory, monkeypatch, 100)


def pdf_fonts(reader: PdfReader) -> set[str]:
    """Return the base names of every font the pages use; assert each one is embedded."""
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]  # embedded TrueType
            names.add(str(font["/BaseFont"]))
    return names


def test_a_report_pdf_opens_has_its_charts_and_renders_chinese(client, small_month, manager_of, zone_ids,
                                                                tmp_path):
    manager = manager_of("yongqingfang")
    zid = zone_ids["yongqingfang"]
    start = small_month.month_start
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resp = client.post(url(f"/zones/{zid}/reports"), headers=manager.auth,
                           json={"period": "monthly", "start": start.isoformat()})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    report = resp.get_json()
    assert (report["status"], report["start"], report["end"]) == ("ready", start.isoformat(),
                                                                   small_month.month_end.isoformat())
    # matplotlib warns "Glyph … missing from font(s)" for any character its font cannot draw.
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]
    listed = client.get(url(f"/zones/{zid}/reports"), headers=manager.auth).get_json()["items"]
    assert [(r["id"], r["scheduled"]) for r in listed] == [(report["id"], False)]

    resp = client.get(url(f"/zones/{zid}/reports/{report['id']}"), headers=manager.auth)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert f'filename="zone-yongqingfang-monthly-{start:%Y-%m}.pdf"' in resp.headers["Content-Disposition"]
    (tmp_path / "report.pdf").write_bytes(resp.data)
    reader = PdfReader(io.BytesIO(resp.data))
    # Three pages of the zone's own figures; the plug-ins' sections (member units, transit, complaints) follow.
    pages = len(reader.pages)
    assert pages >= 3
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert f"第 {pages} 页" in text
    for phrase in ("永庆坊 Yongqingfang", "场景定期报送", "Periodic Scenario Report", "月报 Monthly",
                   "支付笔数 Payments", "交易趋势 Volume trend", "场景覆盖 Scenario coverage", "食 Food",
                   "行 Transport", "活动效果 Campaign results", "交易额前十商户", "口径说明 Definitions", "第 3 页"):
        assert phrase in text, phrase
    # The figures printed are the zone's KPIs for the month.
    totals = client.get(url(f"/zones/{zid}/kpis"), headers=manager.auth, query_string={
        "from": start.isoformat(), "to": small_month.month_end.isoformat()}).get_json()["totals"]
    assert totals["payment_count"] > 30
    assert format_fen(totals["payment_fen"]) in text and format_fen(totals["subsidy_fen"]) in text
    assert "未覆盖 missing: 行 Transport、医 Medical" in text

    # The three charts are there, as real pictures.
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 3
    for img in images:
        assert img.image.width > 1000 and img.image.height > 300
    # Chinese renders: one font, embedded, and it has a glyph for every character in the document.
    assert {re.sub(r"^/[A-Z]{6}\+", "/", f) for f in pdf_fonts(reader)} == {"/WenQuanYiMicroHei-0"}
    cmap = TTFont("check", str(pdf.FONT_PATH), subfontIndex=0).face.charToGlyph
    assert {ch for ch in text if not ch.isspace() and cmap.get(ord(ch), 0) == 0} == set()
    assert len({ch for ch in text if "\u4e00" <= ch <= "\u9fff"}) > 100

    # Page 1 renders to a picture with the red volume bars on it (the image under docs/screenshots is one).
    if not shutil.which("pdftoppm"):
        unavailable("pdftoppm (poppler-utils)", "not installed")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    assert abs(page.size[0] - 496) <= 1 and abs(page.size[1] - 702) <= 1  # A4 at 60 dpi
    pixels = list(page.get_flattened_data())
    assert sum(1 for p in pixels if p != (255, 255, 255)) > len(pixels) * 0.05  # not a blank page
    assert sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90) > 200  # the e-CNY red of the bars

    # The CSV carries the same figures with Chinese and English labels.
    resp = client.get(url(f"/zones/{zid}/reports/{report['id']}"), headers=manager.auth,
                      query_string={"format": "csv"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    body = resp.data.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    summary = {r["key"]: r for r in rows if r["section"] == "summary"}
    assert int(summary["payment_count"]["value"]) == totals["payment_count"]
    # Money for people: yuan with two decimals, the key and the unit saying so.
    assert summary["payment_yuan"]["value"] == fen_to_yuan_str(totals["payment_fen"])
    assert summary["payment_yuan"]["unit"] == "yuan" and "payment_fen" not in summary
    assert (summary["payment_yuan"]["指标"], summary["payment_yuan"]["metric"]) == ("交易金额", "Payment volume")
    covered = {r["scenario"]: r["value"] for r in rows if r["section"] == "scenario" and r["key"] == "covered"}
    assert covered == {s: str(int(s in ZONE_PLAN["yongqingfang"])) for s in covered} and len(covered) == 7
    daily = [r for r in rows if r["section"] == "daily" and r["key"] == "payment_count"]
    assert len(daily) == (small_month.month_end - start).days + 1
    assert sum(int(r["value"]) for r in daily) == totals["payment_count"]

    # Asking again replaces the report: still one, same id.
    again = client.post(url(f"/zones/{zid}/reports"), headers=manager.auth,
                        json={"period": "monthly", "start": start.isoformat()})
    assert again.status_code == 201 and again.get_json()["id"] == report["id"]
    assert db.session.execute(select(func.count()).select_from(ZoneReport)).scalar_one() == 1


def test_report_requests_and_downloads_are_refused_with_reasons(client, manager_of, zone_ids):
    manager = manager_of("yongqingfang", "beijinglu")
    zid = zone_ids["yongqingfang"]
    today = local_today()
    not_monday = today - timedelta(days=(today.weekday() + 1) % 7 or 1)
    for body, field in [({"period": "weekly", "start": not_monday.isoformat()}, "start"),
                        ({"period": "monthly", "start": today.replace(day=2).isoformat()}, "start"),
                        ({"period": "monthly", "start": (today.replace(day=28) + timedelta(days=4)).replace(
                            day=1).isoformat()}, "start")]:
        assert_problem(client.post(url(f"/zones/{zid}/reports"), headers=manager.auth, json=body),
                       422, "bad_period", field=field)
    assert_problem(client.post(url(f"/zones/{zid}/reports"), headers=manager.auth,
                               json={"period": "daily", "start": today.isoformat()}), 422, "validation_failed")
    pending = ZoneReport(zone_id=zid, period="weekly", start=today - timedelta(days=today.weekday()),
                         end=today, status="pending", requested_at=utcnow())
    db.session.add(pending)
    db.session.commit()
    assert_problem(client.get(url(f"/zones/{zid}/reports/{pending.id}"), headers=manager.auth),
                   409, "report_not_ready")
    other = zone_ids["beijinglu"]
    assert_problem(client.get(url(f"/zones/{other}/reports/{pending.id}"), headers=manager.auth),
                   404, "report_not_found")
    assert_problem(client.get(url(f"/zones/{zid}/reports/{pending.id}"), headers=manager.auth,
                              query_string={"format": "docx"}), 422, "validation_failed", field="format")


def test_the_schedule_builds_every_zones_weekly_and_monthly_report_and_a_second_run_replaces_them(
        app, zone_ids, monkeypatch):
    from rq.utils import import_attribute

    from backend.hooks import periodic_jobs

    # The periodic jobs zones registers, which `rq cron backend.cron` schedules (tests/test_hooks.py).
    scheduled = {(j.func.__name__, j.cron) for j in periodic_jobs(app)}
    assert {("build_weekly_reports", "0 1 * * 1"), ("build_monthly_reports", "0 1 1 * *")} <= scheduled
    for j in periodic_jobs(app):  # a worker finds each job by its dotted name
        assert import_attribute(j.name) is j.func

    # Rendering is tested above; here a stand-in keeps nine zones × two periods × two runs quick.
    monkeypatch.setattr(pdf, "render", lambda figures: b"%PDF-1.4 " + figures["zone"]["code"].encode())
    assert enqueue(reports.build_weekly_reports).return_value() == len(zone_ids)
    assert enqueue(reports.build_monthly_reports).return_value() == len(zone_ids)

    def built():
        db.session.rollback()
        return sorted((r.zone_id, r.period, r.start, r.status, r.requested_by_user_id, r.id)
                      for r in db.session.execute(select(ZoneReport)).scalars())

    first = built()
    today = local_today()
    last_monday = today - timedelta(days=today.weekday() + 7)
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    assert len(first) == 2 * len(zone_ids)
    assert {(p, s) for _, p, s, *_ in first} == {("weekly", last_monday), ("monthly", last_month)}
    assert {r[3] for r in first} == {"ready"}
    assert {r[4] for r in first} == {None}  # scheduled, not asked for by anyone
    enqueue(reports.build_periodic_reports, "weekly", last_monday.isoformat())
    assert built() == first  # safe to run twice: replaced in place, same rows


def test_the_application_summary_puts_each_zone_beside_the_thresholds(client, tiny_month, admin, zone_ids):
    small_month = tiny_month
    defaults = client.get(url("/zones/application-thresholds"), headers=admin.auth).get_json()
    assert defaults == {k: d for k, (d, _, _) in reports.THRESHOLDS.items()}
    limits = {"window_days": 31, "scenarios_covered": 7, "merchants_enrolled": 6, "merchants_accepting": 2,
              "active_wallets": 5, "wallets_opened": 1, "payment_count": 10, "payment_fen": 10_000}
    resp = client.put(url("/zones/application-thresholds"), headers=admin.auth, json=limits)
    assert resp.status_code == 200 and resp.get_json() == limits
    assert_problem(client.put(url("/zones/application-thresholds"), headers=admin.auth,
                              json={**limits, "scenarios_covered": 8}), 422, field="scenarios_covered")
    partial = dict(limits)
    partial.pop("payment_fen")
    assert_problem(client.put(url("/zones/application-thresholds"), headers=admin.auth, json=partial),
                   422, "validation_failed", field="payment_fen")

    q = {"from": small_month.month_start.isoformat(), "to": small_month.month_end.isoformat()}
    summary = client.get(url("/zones/application-summary"), headers=admin.auth, query_string=q).get_json()
    assert summary["thresholds"] == limits and len(summary["zones"]) == len(zone_ids)
    by_code = {z["zone"]["code"]: z for z in summary["zones"]}
    for code, item in by_code.items():
        totals = client.get(url(f"/zones/{item['zone']['id']}/kpis"), headers=admin.auth,
                            query_string=q).get_json()["totals"]
        for check in item["checks"]:
            value = reports.summary_value(totals, check["key"])
            assert check["value"] == value and check["met"] == (value >= limits[check["key"]]), (code, check)
        assert item["ready"] == all(c["met"] for c in item["checks"])
    yqf = by_code["yongqingfang"]
    assert not yqf["ready"] and yqf["missing_scenarios"] == ["transport", "medical"]
    assert "场景未覆盖 行 Transport: no merchant enrolled" in yqf["missing"]
    assert "场景未覆盖 医 Medical: no merchant enrolled" in yqf["missing"]
    quiet = by_code["baiyunshan"]
    assert not quiet["ready"] and len(quiet["missing_scenarios"]) == 7
    assert any(m.startswith("入驻商户数 Merchants enrolled: 0 of 6") for m in quiet["missing"])
    assert summary["ready_count"] == sum(1 for z in summary["zones"] if z["ready"])

    resp = client.get(url("/zones/application-summary"), headers=admin.auth, query_string={**q, "format": "csv"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8").lstrip("\ufeff"))))
    assert len(rows) == len(zone_ids) * (len(reports.THRESHOLDS) - 1)
    assert {r["示范区"] for r in rows} >= {"永庆坊", "天河路商圈"}
    money = [r for r in rows if r["key"] == "payment_yuan"]
    assert money and all(r["unit"] == "yuan" and re.fullmatch(r"\d+\.\d\d", r["threshold"]) for r in money)
    assert {r["unit"] for r in rows if r["key"] == "payment_count"} == {"count"}


def test_a_report_without_payments_prints_no_average_and_asks_no_command_of_the_pilot_office(app, zone_ids):
    """Issue #23 item 7: "—" for the average ticket of no payments; the PDF tells its readers (the pilot
    office) where the figures come from, not to run an operator's command."""
    from zones.models import Zone

    zone = db.session.get(Zone, zone_ids["baiyunshan"])
    monday = local_today() - timedelta(days=local_today().weekday() + 14)
    figures = reports.report_figures(zone, "weekly", monday)
    assert figures["totals"]["payment_count"] == 0
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.render(figures))).pages)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "Average ticket" in line)
    assert lines[at: at + 3] == ["客单价 Average ticket", "—", "—"]  # this period, the previous one
    assert "flask" not in text and "rebuild" not in text and "运营方" in text


@pytest.mark.parametrize(("top_yuan", "labels"), [
    (0, ["¥0.00", "¥0.01", "¥0.02", "¥0.03", "¥0.04", "¥0.05"]),
    (0.3, ["¥0.00", "¥0.10", "¥0.20", "¥0.30", "¥0.40"]),
    (1.2, ["¥0.00", "¥0.50", "¥1.00", "¥1.50"]),
    (38.5, ["¥0", "¥10", "¥20", "¥30", "¥40", "¥50"]),
    (18_000, ["¥0.0万", "¥0.5万", "¥1.0万", "¥1.5万", "¥2.0万"]),
    (123_456, ["¥0万", "¥5万", "¥10万", "¥15万"]),
])
def test_money_axes_carry_distinct_round_amounts(top_yuan, labels):
    """Small or zero data gets fen on its axis, never "¥1 ¥1 ¥0"; large data counts in 万."""
    from zones import pdf

    fig = pdf._figure(4, 2)
    ax = fig.add_subplot()
    ticks = pdf.money_axis(ax.yaxis, top_yuan)
    shown = [ax.yaxis.get_major_formatter()(v, i) for i, v in enumerate(ticks)]
    assert shown == labels and len(set(shown)) == len(shown)
    assert ticks[-1] >= top_yuan
