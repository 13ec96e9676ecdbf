"""The periodic scenario report (场景定期报送) and the demonstration-zone application summary.

A report covers one zone and one period — an ISO week (Monday to Sunday) or a
calendar month — and is stored as a PDF (figures, charts of the volume trend,
scenario coverage and campaign results, top merchants, definitions) and a CSV
of the same figures, both in Chinese with English labels. The schedule builds
last week's and last month's reports for every zone (``backend/cron.py``);
managers and the pilot office ask for one on demand. Building is a job, keyed
by (zone, period, start): running it again replaces the report.

The application summary puts each zone's figures over a window beside the
thresholds the pilot office sets (e.g. all seven scenarios covered) and says
what is still missing before the zone can be put forward (选送申报示范区).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from sqlalchemy import func, select

from backend.auth.models import User
from backend.clock import as_utc, local_today, utcnow
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.extensions import db
from backend.jobs import enqueue, with_app
from backend.merchants.models import SCENARIOS, Merchant
from backend.readdb import read_heavy
from backend.sql import fen_sum, insert_for
from suiyuan_protocol.money import fen_to_yuan_str, format_fen
from zones import kpis, queries, registry
from zones.models import (
    ZONE_KIND_NAMES,
    ReportPeriod,
    ReportStatus,
    Zone,
    ZoneMerchantDaily,
    ZoneReport,
    ZoneThreshold,
)
from zones.wording import DAILY_KEYS, LABELS, PERIOD_NAMES, SCENARIO_EN, SUMMARY_KEYS, summary_value

CSV_COLUMNS = ("section", "day", "scenario", "merchant", "key", "指标", "metric", "value", "unit")


# ---------------------------------------------------------------- periods


def period_bounds(period: str, start: date) -> tuple[date, date]:
    """Return the first and last day of the period starting on ``start``.

    Raises ``ValidationFailed`` (``bad_period``) unless a weekly period starts
    on a Monday and a monthly one on the 1st, and the period has begun.
    """
    if period == ReportPeriod.WEEKLY:
        if start.weekday() != 0:
            monday = start - timedelta(days=start.weekday())
            raise ValidationFailed(f"A weekly report starts on a Monday; the week of {start} starts on {monday}.",
                                   field="start", code="bad_period")
        end = start + timedelta(days=6)
    elif period == ReportPeriod.MONTHLY:
        if start.day != 1:
            raise ValidationFailed(f"A monthly report starts on the 1st; try {start.replace(day=1)}.",
                                   field="start", code="bad_period")
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    else:
        raise ValidationFailed("period is weekly or monthly.", field="period", code="bad_period")
    if start > local_today():
        raise ValidationFailed("This period has not begun.", field="start", code="bad_period")
    return start, end


def last_finished(period: str, today: date | None = None) -> date:
    """Return the start of the last finished week (Monday) or month (1st) before ``today``."""
    today = today or local_today()
    if period == ReportPeriod.WEEKLY:
        return today - timedelta(days=today.weekday() + 7)
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def previous_start(period: str, start: date) -> date:
    if period == ReportPeriod.WEEKLY:
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


# ---------------------------------------------------------------- figures


def top_merchants(zone_id: int, day_from: date, day_to: date, limit: int = 10) -> list[dict]:
    """Return the zone's merchants with the highest volume over the period."""
    md = ZoneMerchantDaily
    rows = db.session.execute(
        select(Merchant.id, Merchant.name_zh, Merchant.name_en, Merchant.scenario, fen_sum(md.payment_count),
               fen_sum(md.payment_fen), fen_sum(md.refund_fen))
        .join(Merchant, Merchant.id == md.merchant_id)
        .where(md.zone_id == zone_id, md.day >= day_from, md.day <= day_to, md.payment_count > 0)
        .group_by(Merchant.id, Merchant.name_zh, Merchant.name_en, Merchant.scenario)
        .order_by(func.sum(md.payment_fen).desc(), Merchant.id).limit(limit)).all()
    return [{"merchant_id": r[0], "name_zh": r[1], "name_en": r[2], "scenario": r[3], "payment_count": r[4],
             "payment_fen": r[5], "refund_fen": r[6]} for r in rows]


def report_figures(zone: Zone, period: str, start: date) -> dict:
    """Return everything a report shows, computed from the daily aggregates."""
    start, end = period_bounds(period, start)
    figures = queries.zone_kpis(zone, start, end, with_sections=True)
    prev_start = previous_start(period, start)
    prev_end = start - timedelta(days=1)
    figures["zone"].update(kind=zone.kind, district=zone.district)
    figures.update(
        period=period,
        partial=end >= local_today(),
        previous={"from": prev_start.isoformat(), "to": prev_end.isoformat(),
                  "totals": queries.totals_by_zone(prev_start, prev_end, [zone.id])[zone.id]},
        top_merchants=top_merchants(zone.id, start, end),
        sections=figures.pop("plugin_sections") + extra_sections(zone.id, start, end),
    )
    return figures


def extra_sections(zone_id: int, day_from: date, day_to: date) -> list[dict]:
    """The sections plug-ins add to the report (``backend.hooks.register_report_section``), e.g. the
    payouts plug-in's member units of the leading group."""
    from flask import current_app

    from backend.hooks import report_sections

    return [func(zone_id, day_from, day_to) for func in report_sections(current_app).values()]


def for_people(key: str, value, unit: str) -> tuple[str, object, str]:
    """A CSV cell for people: money (``unit`` "fen") in yuan with two decimals, its key and unit saying so
    (``payment_fen`` → ``payment_yuan``, "yuan"); any other figure as it is."""
    if unit == "fen" and isinstance(value, int) and not isinstance(value, bool):
        return key.removesuffix("_fen") + "_yuan", fen_to_yuan_str(value), "yuan"
    return key, "" if value is None else value, unit


def to_csv(figures: dict) -> str:
    """Return the report's figures as CSV (UTF-8 with BOM so spreadsheet programs read the Chinese); money in
    yuan (``for_people``), each row's unit in the ``unit`` column."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)

    def row(section, key, value, day="", scenario="", merchant=""):
        zh, en, unit = LABELS[key]
        if section == "scenario":
            zh, en = f"{SCENARIOS[scenario]} {zh}", f"{SCENARIO_EN[scenario]}: {en}"
        key, value, unit = for_people(key, value, unit)
        w.writerow((section, day, scenario, merchant, key, zh, en, value, unit))

    for section, totals in (("summary", figures["totals"]), ("previous_period", figures["previous"]["totals"])):
        for key in SUMMARY_KEYS:
            row(section, key, summary_value(totals, key))
    coverage = figures["totals"]["scenario_coverage"]
    for s in coverage["by_scenario"]:
        for key in ("merchants_enrolled", "merchants_accepting", "payment_count", "payment_fen"):
            row("scenario", key, s[key], scenario=s["scenario"])
        w.writerow(("scenario", "", s["scenario"], "", "covered", f"{SCENARIOS[s['scenario']]} 是否覆盖",
                    f"{SCENARIO_EN[s['scenario']]}: covered", int(s["scenario"] in coverage["covered"]), "yes=1"))
    for d in figures["days"]:
        for key in DAILY_KEYS:
            row("daily", key, d[key], day=d["day"])
    for m in figures["top_merchants"]:
        name = f"{m['name_zh']} {m['name_en']}"
        for key in ("payment_count", "payment_fen"):
            row("top_merchant", key, m[key], scenario=m["scenario"], merchant=name)
    for sec in figures.get("sections", ()):  # a plug-in's section: its row's name goes in the merchant column
        first, *rest = sec["columns"]
        for values in sec["rows"]:
            for col, value in zip(rest, values[1:], strict=True):
                key, value, unit = for_people(col["key"], value, col.get("unit", ""))
                w.writerow((sec["key"], "", "", values[0], key, col["zh"], col["en"], value, unit))
    return "\ufeff" + out.getvalue()


# ---------------------------------------------------------------- report rows and jobs


def report_json(r: ZoneReport) -> dict:
    zh, en = PERIOD_NAMES[r.period]
    base = f"/api/v1/zones/{r.zone_id}/reports/{r.id}"
    return {
        "id": r.id, "zone_id": r.zone_id, "period": r.period, "period_name": f"{zh} {en}",
        "start": r.start.isoformat(), "end": r.end.isoformat(), "status": r.status, "error": r.error,
        "requested_by_user_id": r.requested_by_user_id, "scheduled": r.requested_by_user_id is None,
        "requested_at": as_utc(r.requested_at).isoformat(),
        "built_at": as_utc(r.built_at).isoformat() if r.built_at else None,
        "downloads": {"pdf": f"{base}?format=pdf", "csv": f"{base}?format=csv"} if r.status == ReportStatus.READY
        else None,
    }


def _claim_row(zone_id: int, period: str, start: date, end: date, requested_by: int | None) -> int:
    """Insert the report row as pending, or set an existing one back to pending; return its id."""
    values = {"status": ReportStatus.PENDING, "end": end, "requested_by_user_id": requested_by,
              "requested_at": utcnow(), "error": None}
    stmt = insert_for(ZoneReport.__table__).values(zone_id=zone_id, period=period, start=start, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["zone_id", "period", "start"], set_=values)
    db.session.execute(stmt)
    return db.session.execute(select(ZoneReport.id).where(
        ZoneReport.zone_id == zone_id, ZoneReport.period == period, ZoneReport.start == start)).scalar_one()


def request_report(user: User, zone: Zone, period: str, start: date) -> ZoneReport:
    """Ask for a zone's report of a period (a job builds it; inline on the embedded default); return the row."""
    start, end = period_bounds(period, start)
    report_id = _claim_row(zone.id, period, start, end, user.id)
    db.session.commit()
    enqueue(build_report, zone.id, period, start.isoformat(), user.id)
    db.session.expire_all()
    return db.session.get(ZoneReport, report_id)


@with_app
def build_report(zone_id: int, period: str, start_iso: str, requested_by_user_id: int | None = None) -> int:
    """Job: build (or rebuild) the zone's report for the period starting ``start_iso``; return its id.

    Safe to run twice: the report of (zone, period, start) is replaced. A
    failure is recorded on the row (status ``failed``) and raised.
    """
    from zones import pdf

    zone = db.session.get(Zone, zone_id)
    start, end = period_bounds(period, date.fromisoformat(start_iso))
    report_id = _claim_row(zone_id, period, start, end, requested_by_user_id)
    db.session.commit()
    try:
        # Heavy and read-only: the replica while it is fresh (backend/readdb.py); the row is written on the primary.
        figures = read_heavy(report_figures, zone, period, start)
        body_pdf = pdf.render(figures)
        body_csv = to_csv(figures)
    except Exception as exc:
        db.session.rollback()
        report = db.session.get(ZoneReport, report_id)
        report.status, report.error = ReportStatus.FAILED, f"{type(exc).__name__}: {exc}"[:1000]
        db.session.commit()
        raise
    report = db.session.get(ZoneReport, report_id)
    report.pdf, report.csv = body_pdf, body_csv
    report.figures_json = json.dumps(figures, ensure_ascii=False)
    report.status, report.built_at = ReportStatus.READY, utcnow()
    db.session.commit()
    return report_id


@with_app
def build_periodic_reports(period: str, start_iso: str | None = None) -> int:
    """Job (scheduled weekly and monthly): enqueue every zone's report for the last finished period
    (or the one starting ``start_iso``); return how many were enqueued."""
    start = date.fromisoformat(start_iso) if start_iso else last_finished(period)
    zone_ids = db.session.execute(select(Zone.id).order_by(Zone.id)).scalars().all()
    for zone_id in zone_ids:
        enqueue(build_report, zone_id, period, start.isoformat())
    return len(zone_ids)


@with_app
def build_weekly_reports() -> int:
    """Job (scheduled, Mondays): every zone's report of last week."""
    return build_periodic_reports(ReportPeriod.WEEKLY)


@with_app
def build_monthly_reports() -> int:
    """Job (scheduled, the 1st): every zone's report of last month."""
    return build_periodic_reports(ReportPeriod.MONTHLY)


def list_reports(zone_id: int, *, period: str | None, limit: int, before: int | None) -> list[ZoneReport]:
    """Return the zone's reports, newest period first (files not loaded)."""
    from sqlalchemy.orm import defer

    q = (select(ZoneReport).options(defer(ZoneReport.pdf), defer(ZoneReport.csv), defer(ZoneReport.figures_json))
         .where(ZoneReport.zone_id == zone_id))
    if period:
        q = q.where(ZoneReport.period == period)
    if before:
        q = q.where(ZoneReport.id < before)
    return list(db.session.execute(q.order_by(ZoneReport.start.desc(), ZoneReport.id.desc()).limit(limit)).scalars())


def get_report(zone_id: int, report_id: int) -> ZoneReport:
    """Return one of the zone's reports; raise ``NotFound`` (``report_not_found``)."""
    report = db.session.get(ZoneReport, report_id)
    if report is None or report.zone_id != zone_id:
        raise NotFound("No such report for this zone.", code="report_not_found")
    return report


def download(zone: Zone, report_id: int, fmt: str) -> tuple[bytes, str, str]:
    """Return (body, mimetype, filename) of a ready report.

    Raises ``NotFound`` (``report_not_found``) or ``Conflict`` (``report_not_ready``).
    """
    report = get_report(zone.id, report_id)
    if report.status != ReportStatus.READY:
        raise Conflict(f"This report is {report.status}; try again when it is ready.", code="report_not_ready",
                       status_of_report=report.status)
    stamp = report.start.strftime("%Y-%m") if report.period == ReportPeriod.MONTHLY else report.start.isoformat()
    name = f"zone-{zone.code}-{report.period}-{stamp}.{fmt}"
    if fmt == "csv":
        return report.csv.encode("utf-8"), "text/csv; charset=utf-8", name
    return report.pdf, "application/pdf", name


# ---------------------------------------------------------------- application summary


#: threshold key → (default, Chinese, English). All are minimums over the window, except window_days.
THRESHOLDS = {
    "window_days": (30, "评估期（天）", "Window (days)"),
    "scenarios_covered": (7, "覆盖场景数", "Scenarios covered (of 7)"),
    "merchants_enrolled": (50, "入驻商户数", "Merchants enrolled"),
    "merchants_accepting": (30, "受理商户数", "Merchants accepting"),
    "active_wallets": (500, "活跃钱包数", "Active wallets"),
    "wallets_opened": (100, "新开钱包数", "Wallets opened (first payment)"),
    "payment_count": (2_000, "支付笔数", "Payments"),
    "payment_fen": (10_000_000, "交易金额", "Payment volume"),  # in fen; shown in yuan
}


def thresholds() -> dict[str, int]:
    """Return the pilot office's thresholds (defaults for any not set)."""
    stored = dict(db.session.execute(select(ZoneThreshold.key, ZoneThreshold.value)).all())
    return {k: int(stored.get(k, default)) for k, (default, _, _) in THRESHOLDS.items()}


def set_thresholds(user: User, values: dict[str, int]) -> dict[str, int]:
    """Replace the thresholds; commit; return them. Raises ``ValidationFailed`` for impossible values."""
    if not 1 <= values["window_days"] <= kpis.MAX_SPAN_DAYS:
        raise ValidationFailed(f"window_days is 1..{kpis.MAX_SPAN_DAYS}.", field="window_days")
    if values["scenarios_covered"] > len(SCENARIOS):
        raise ValidationFailed(f"There are {len(SCENARIOS)} scenarios.", field="scenarios_covered")
    now = utcnow()
    table = ZoneThreshold.__table__
    for key, value in values.items():
        row = {"value": value, "updated_by_user_id": user.id, "updated_at": now}
        db.session.execute(insert_for(table).values(key=key, **row)
                           .on_conflict_do_update(index_elements=["key"], set_=row))
    db.session.commit()
    return thresholds()


def application_summary(day_from: date | None, day_to: date | None) -> dict:
    """Return each zone's figures over the window against the thresholds, and what is still missing."""
    limits = thresholds()
    day_to = day_to or local_today() - timedelta(days=1)
    day_from = day_from or day_to - timedelta(days=limits["window_days"] - 1)
    queries.check_span(day_from, day_to)
    zones = registry.all_zones()
    totals = queries.totals_by_zone(day_from, day_to, [z.id for z in zones])
    items = []
    for z in zones:
        t = totals[z.id]
        checks, missing = [], []
        for key, (_, zh, en) in THRESHOLDS.items():
            if key == "window_days":
                continue
            value = summary_value(t, key)
            need = limits[key]
            met = value >= need
            checks.append({"key": key, "label_zh": zh, "label_en": en, "threshold": need, "value": value,
                           "met": met, "shortfall": 0 if met else need - value})
            if not met and key != "scenarios_covered":
                missing.append(f"{zh} {en}: {display_threshold(key, value)} of {display_threshold(key, need)}")
        coverage = t["scenario_coverage"]
        if coverage["covered_count"] < limits["scenarios_covered"]:
            for s in coverage["missing"]:
                enrolled = next(b["merchants_enrolled"] for b in coverage["by_scenario"] if b["scenario"] == s)
                why = (f"{enrolled} merchants enrolled, no payment in the window" if enrolled
                       else "no merchant enrolled")
                missing.append(f"场景未覆盖 {SCENARIOS[s]} {SCENARIO_EN[s]}: {why}")
        kind_zh, kind_en = ZONE_KIND_NAMES[z.kind]
        items.append({
            "zone": {"id": z.id, "code": z.code, "name_zh": z.name_zh, "name_en": z.name_en, "kind": z.kind,
                     "kind_name": f"{kind_zh} {kind_en}", "district": z.district},
            "ready": not any(not c["met"] for c in checks),
            "checks": checks,
            "missing": missing,
            "missing_scenarios": coverage["missing"],
            "totals": t,
        })
    return {"from": day_from.isoformat(), "to": day_to.isoformat(), "thresholds": limits,
            "ready_count": sum(1 for i in items if i["ready"]), "zones": items}


def display_threshold(key: str, value: int) -> str:
    if key == "payment_fen":
        return format_fen(value)
    return f"{value:,}"


def summary_csv(summary: dict) -> str:
    """Return the application summary as CSV (one row per zone and threshold)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(("zone_code", "示范区", "zone", "key", "指标", "metric", "threshold", "value", "unit", "met", "ready",
                "still_missing"))
    for item in summary["zones"]:
        z = item["zone"]
        for c in item["checks"]:
            unit = "fen" if c["key"].endswith("_fen") else "count"
            key, threshold, unit_out = for_people(c["key"], c["threshold"], unit)
            _, value, _ = for_people(c["key"], c["value"], unit)
            w.writerow((z["code"], z["name_zh"], z["name_en"], key, c["label_zh"], c["label_en"],
                        threshold, value, unit_out, int(c["met"]), int(item["ready"]), "; ".join(item["missing"])))
    return "\ufeff" + out.getvalue()
