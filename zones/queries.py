"""Zone KPIs read: totals, days and rankings from the daily aggregates (never from transactions).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import distinct, func, select

from backend.clock import local_today, local_zone, utcnow
from backend.extensions import db
from backend.merchants.models import SCENARIOS
from backend.sql import fen_sum
from zones import registry
from zones.kpis import ADDITIVE, DAILY_COLUMNS, KD, MAX_SPAN_DAYS, MD, PAYERS, average_ticket, leverage
from zones.models import Zone


def check_span(day_from: date, day_to: date) -> None:
    """Raise ``ValidationFailed`` unless ``day_from <= day_to`` and the span is at most a year."""
    from backend.errors import ValidationFailed

    if day_from > day_to:
        raise ValidationFailed("'from' must not be after 'to'.", field="from", code="bad_period")
    if (day_to - day_from).days + 1 > MAX_SPAN_DAYS:
        raise ValidationFailed(f"At most {MAX_SPAN_DAYS} days at a time.", field="to", code="bad_period")


def default_span(day_from: date | None, day_to: date | None, days: int = 30) -> tuple[date, date]:
    """Return the requested span, defaulting to the ``days`` days ending today."""
    day_to = day_to or local_today()
    return day_from or (day_to - timedelta(days=days - 1)), day_to


def _daterange(day_from: date, day_to: date):
    d = day_from
    while d <= day_to:
        yield d
        d += timedelta(days=1)


def totals_by_zone(day_from: date, day_to: date, zone_ids: list[int] | None = None) -> dict[int, dict]:
    """Return ``{zone_id: totals}`` over the period for the zones given (default all), read from the
    daily aggregates: sums of the additive columns, distinct wallets and merchants over the period,
    merchants enrolled now, and scenario coverage."""
    if zone_ids is None:
        zone_ids = list(db.session.execute(select(Zone.id).order_by(Zone.id)).scalars())

    def in_period(table):
        return (table.c.zone_id.in_(zone_ids), table.c.day >= day_from, table.c.day <= day_to)

    out = {z: {c: 0 for c in ADDITIVE} | {"active_wallets": 0, "merchants_accepting": 0} for z in zone_ids}
    for row in db.session.execute(
        select(KD.c.zone_id, *[fen_sum(KD.c[c]).label(c) for c in ADDITIVE])
        .where(*in_period(KD)).group_by(KD.c.zone_id)
    ).mappings():
        out[row["zone_id"]].update({c: row[c] for c in ADDITIVE})
    for zone_id, n in db.session.execute(
        select(PAYERS.c.zone_id, func.count(distinct(PAYERS.c.user_id))).where(*in_period(PAYERS))
        .group_by(PAYERS.c.zone_id)
    ):
        out[zone_id]["active_wallets"] = n
    accepting = (MD.c.payment_count > 0,)
    for zone_id, n in db.session.execute(
        select(MD.c.zone_id, func.count(distinct(MD.c.merchant_id))).where(*in_period(MD), *accepting)
        .group_by(MD.c.zone_id)
    ):
        out[zone_id]["merchants_accepting"] = n
    by_scenario: dict[int, dict[str, dict]] = defaultdict(dict)
    for zone_id, scenario, merchants, count, fen in db.session.execute(
        select(MD.c.zone_id, MD.c.scenario, func.count(distinct(MD.c.merchant_id)), fen_sum(MD.c.payment_count),
               fen_sum(MD.c.payment_fen)).where(*in_period(MD), *accepting)
        .group_by(MD.c.zone_id, MD.c.scenario)
    ):
        by_scenario[zone_id][scenario] = {"merchants_accepting": merchants, "payment_count": count,
                                          "payment_fen": fen}
    enrolled = registry.scenarios_enrolled(zone_ids)
    for zone_id, t in out.items():
        t["net_fen"] = t["payment_fen"] - t["refund_fen"]
        t["average_ticket_fen"] = average_ticket(t["payment_fen"], t["payment_count"])
        t["campaign_leverage"] = leverage(t["subsidy_driven_fen"], t["subsidy_fen"])
        zone_enrolled = enrolled.get(zone_id, {})
        t["merchants_enrolled"] = sum(zone_enrolled.values())
        used = by_scenario.get(zone_id, {})
        covered = [s for s in SCENARIOS if s in used]
        t["scenario_coverage"] = {
            "covered_count": len(covered),
            "of": len(SCENARIOS),
            "covered": covered,
            "missing": [s for s in SCENARIOS if s not in used],
            "enrolled": [s for s in SCENARIOS if s in zone_enrolled],
            "by_scenario": [
                {"scenario": s, "name_zh": SCENARIOS[s], "merchants_enrolled": zone_enrolled.get(s, 0),
                 **used.get(s, {"merchants_accepting": 0, "payment_count": 0, "payment_fen": 0})}
                for s in SCENARIOS
            ],
        }
    return out


def daily(zone_id: int, day_from: date, day_to: date) -> list[dict]:
    """Return one row per day of the period (days without activity as zeros), oldest first."""
    rows = {r["day"]: dict(r) for r in db.session.execute(
        select(KD).where(KD.c.zone_id == zone_id, KD.c.day >= day_from, KD.c.day <= day_to)).mappings()}
    scenarios = dict(db.session.execute(
        select(MD.c.day, func.count(distinct(MD.c.scenario)))
        .where(MD.c.zone_id == zone_id, MD.c.day >= day_from, MD.c.day <= day_to, MD.c.payment_count > 0)
        .group_by(MD.c.day)).all())
    out = []
    for d in _daterange(day_from, day_to):
        r = rows.get(d) or {c: 0 for c in DAILY_COLUMNS}
        item = {"day": d.isoformat(), **{c: int(r[c]) for c in DAILY_COLUMNS}}
        item["net_fen"] = item["payment_fen"] - item["refund_fen"]
        item["average_ticket_fen"] = average_ticket(item["payment_fen"], item["payment_count"])
        item["scenarios_covered"] = int(scenarios.get(d, 0))
        out.append(item)
    return out


def plugin_figures(zone_id: int, day_from: date, day_to: date, totals: dict) -> dict[str, dict]:
    """Each plug-in's figures for the zone (``backend.hooks.register_zone_figures``), by name: ``figures`` for
    the KPIs and ``section`` for the report (e.g. transit's taps at the stops in the zone)."""
    from flask import current_app

    from backend.hooks import zone_figures

    return {name: func(zone_id, day_from, day_to, totals) for name, func in zone_figures(current_app).items()}


def zone_kpis(zone: Zone, day_from: date, day_to: date, *, with_sections: bool = False) -> dict:
    """Return a zone's KPIs over the period: every day, the period's totals and the plug-ins' figures
    (``plugins``; with ``with_sections`` also their report tables, under ``plugin_sections``)."""
    check_span(day_from, day_to)
    totals = totals_by_zone(day_from, day_to, [zone.id])[zone.id]
    contributed = plugin_figures(zone.id, day_from, day_to, totals)
    extra = {"plugin_sections": [c["section"] for c in contributed.values()]} if with_sections else {}
    return {
        "zone": {"id": zone.id, "code": zone.code, "name_zh": zone.name_zh, "name_en": zone.name_en},
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "timezone": str(local_zone()),
        "days": daily(zone.id, day_from, day_to),
        "totals": totals,
        "plugins": {name: c["figures"] for name, c in contributed.items()},
        "as_of": utcnow().isoformat(),
        **extra,
    }


RANKING_METRICS = ("payment_fen", "net_fen", "payment_count", "active_wallets", "wallets_opened",
                   "merchants_accepting", "merchants_enrolled", "scenarios_covered", "average_ticket_fen",
                   "subsidy_driven_fen")


def ranking(day_from: date, day_to: date, by: str = "payment_fen") -> dict:
    """Return every zone's totals over the period, ranked by ``by`` (highest first; ties share a rank)."""
    check_span(day_from, day_to)
    zones = registry.all_zones()
    totals = totals_by_zone(day_from, day_to, [z.id for z in zones])

    def metric(zone_id):
        t = totals[zone_id]
        return t["scenario_coverage"]["covered_count"] if by == "scenarios_covered" else t[by]

    ordered = sorted(zones, key=lambda z: (-metric(z.id), z.id))
    items, rank, previous = [], 0, None
    for i, z in enumerate(ordered, start=1):
        if metric(z.id) != previous:
            rank, previous = i, metric(z.id)
        items.append({"rank": rank, "zone": {"id": z.id, "code": z.code, "name_zh": z.name_zh, "name_en": z.name_en,
                                             "kind": z.kind}, "value": metric(z.id), "totals": totals[z.id]})
    return {"from": day_from.isoformat(), "to": day_to.isoformat(), "by": by, "items": items}
