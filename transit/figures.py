"""Transit's pilot figures in the zone KPIs and the periodic report (issue #15, item 6).

A stop or station lies in a zone when its terminal's location (``transit_terminals.latitude/longitude``) does:
the zones plug-in answers where a point lies (``backend.hooks.zone_at``), so a terminal follows the zone's
current outline, as merchants do. A terminal without a location counts in no zone.

Per zone and period of local days (``Asia/Shanghai``), over the fare records settled from the zone's terminals
whose tap (the time the card signed) falls in the period:

- ``payment_count`` / ``payment_fen``: transit payments made by hard-wallet taps (offline: neither the card
  nor, often, the validator was online);
- ``online_fen``: transit paid online in the zone, i.e. the zone's payments to merchants of the ``transport``
  scenario (行: taxis, ferries, parking… paid by QR), from the zone's own totals;
- ``offline_share_percent``: ``payment_fen / (payment_fen + online_fen)`` in percent, one decimal (half up);
  ``None`` when there is neither;
- ``delay_median_s`` / ``delay_p95_s`` / ``delay_max_s``: settlement delay, the whole seconds from the tap to
  the record's settlement on the server (upload of the terminal's batch), nearest-rank percentiles (the
  smallest delay with at least 50 % / 95 % of the taps at or below it, PostgreSQL's ``percentile_disc``);
  a terminal clock ahead of the server's counts as 0; ``None`` without taps.

Every day of the period has its row (count, fen, median and p95 delay); the report prints the period's row
first. Records arrive late by design, so a period's figures grow until its terminals have all synced.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from backend.clock import as_utc, local_zone
from backend.extensions import db
from backend.hooks import zone_at
from transit.models import TransitRecord, TransitTerminal

#: The merchants' scenario whose online payments are transit paid online.
ONLINE_SCENARIO = "transport"

COLUMNS = (
    ("payment_count", "乘车笔数", "Taps", "count"),
    ("payment_fen", "离线金额", "Paid offline", "fen"),
    ("online_fen", "线上金额", "Paid online", "fen"),
    ("offline_share_percent", "离线占比 %", "Offline %", "%"),
    ("delay_median_s", "结算时延中位数（秒）", "Delay p50 (s)", "s"),
    ("delay_p95_s", "结算时延 P95（秒）", "Delay p95 (s)", "s"),
)


def percentile(sorted_values: list[int], p: float) -> int | None:
    """Nearest-rank percentile of ascending ``sorted_values`` (``p`` in 0..1]; ``None`` when empty."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


def share_percent(offline_fen: int, online_fen: int) -> float | None:
    """``offline / (offline + online)`` in percent, one decimal, half up; ``None`` when both are 0."""
    total = offline_fen + online_fen
    if not total:
        return None
    return math.floor(1000 * offline_fen / total + 0.5) / 10


def terminals_in_zone(zone_id: int) -> list[str]:
    """The ids of the terminals whose location lies in the zone."""
    rows = db.session.execute(select(TransitTerminal.terminal_id, TransitTerminal.latitude, TransitTerminal.longitude)
                              .where(TransitTerminal.latitude.is_not(None), TransitTerminal.longitude.is_not(None))
                              .order_by(TransitTerminal.terminal_id)).all()
    return [tid for tid, lat, lon in rows if zone_at(lat, lon) == zone_id]


def _bounds(day_from: date, day_to: date) -> tuple[datetime, datetime]:
    tz = local_zone()
    return (datetime.combine(day_from, time.min, tzinfo=tz),
            datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=tz))


def _delays(values: list[int]) -> dict:
    values = sorted(values)
    return {"delay_median_s": percentile(values, 0.5), "delay_p95_s": percentile(values, 0.95),
            "delay_max_s": values[-1] if values else None}


def zone_figures(zone_id: int, day_from: date, day_to: date, totals: dict) -> dict:
    """The zone's transit figures over the period (``backend.hooks.register_zone_figures``): ``figures`` for
    the KPIs, ``section`` for the periodic report. Definitions: this module's docstring."""
    terminals = terminals_in_zone(zone_id)
    start, end = _bounds(day_from, day_to)
    R = TransitRecord
    rows = db.session.execute(select(R.at, R.settled_at, R.amount_fen).where(
        R.terminal_id.in_(terminals), R.kind == "fare", R.at >= start, R.at < end)).all() if terminals else []
    tz = local_zone()
    by_day: dict[date, dict] = defaultdict(lambda: {"payment_count": 0, "payment_fen": 0, "delays": []})
    for at, settled_at, amount in rows:
        at, settled_at = as_utc(at), as_utc(settled_at)
        d = by_day[at.astimezone(tz).date()]
        d["payment_count"] += 1
        d["payment_fen"] += amount
        d["delays"].append(max(0, int((settled_at - at).total_seconds())))
    days, delays = [], []
    day = day_from
    while day <= day_to:
        d = by_day.get(day) or {"payment_count": 0, "payment_fen": 0, "delays": []}
        delays += d["delays"]
        stats = _delays(d["delays"])
        days.append({"day": day.isoformat(), "payment_count": d["payment_count"], "payment_fen": d["payment_fen"],
                     "delay_median_s": stats["delay_median_s"], "delay_p95_s": stats["delay_p95_s"]})
        day += timedelta(days=1)
    paid = sum(d["payment_fen"] for d in days)
    online = next((s["payment_fen"] for s in totals["scenario_coverage"]["by_scenario"]
                   if s["scenario"] == ONLINE_SCENARIO), 0)
    period = {"payment_count": sum(d["payment_count"] for d in days), "payment_fen": paid, "online_fen": online,
              "offline_share_percent": share_percent(paid, online), **_delays(delays)}
    figures = {"terminals": len(terminals), "totals": period, "days": days}
    return {"figures": figures, "section": section(figures, day_from, day_to)}


def section(figures: dict, day_from: date, day_to: date) -> dict:
    """The report's table: the period first, then each day with taps."""
    t = figures["totals"]
    share = "—" if t["offline_share_percent"] is None else f"{t['offline_share_percent']}%"
    rows = [[f"合计 {day_from.isoformat()}–{day_to.isoformat()}", *(t[k] for k, *_ in COLUMNS)]]
    rows += [[d["day"], d["payment_count"], d["payment_fen"], None, None, d["delay_median_s"], d["delay_p95_s"]]
             for d in figures["days"] if d["payment_count"]]
    return {
        "key": "transit", "title_zh": "交通出行（硬钱包离线支付）", "title_en": "Transit (hard-wallet offline taps)",
        "note_zh": f"区内 {figures['terminals']} 台公交、地铁验票机；离线占比 {share}"
                   "（硬钱包碰一碰金额占区内交通支付金额之比，线上为“行”场景商户扫码收款）；"
                   "结算时延为乘车时刻至记录上传结算的秒数，按乘车日统计，迟到的记录会补入。",
        "note_en": f"{figures['terminals']} bus and metro validators in the zone; offline share {share} (hard-wallet "
                   "taps as a share of transit paid in the zone, online being QR payments to transport merchants); "
                   "settlement delay is the seconds from tap to settlement, by the day of the tap; late records "
                   "are added as they arrive.",
        "columns": [{"key": "period", "zh": "期间 / 日", "en": "Period / day", "unit": ""},
                    *({"key": k, "zh": zh, "en": en, "unit": unit} for k, zh, en, unit in COLUMNS)],
        "rows": rows,
    }
