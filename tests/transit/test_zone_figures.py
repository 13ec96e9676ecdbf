"""Transit's pilot figures (issue #15, item 6): taps at the stops in a zone, offline share and settlement delay
in the zone KPIs and in the periodic report, against a worked week.

The week of Monday 2 March 2026 (Guangzhou time). Yongqingfang has a bus validator at the tea house's corner;
another stands outside every zone, a third has no location.

    Mon 08:00, 08:10, 08:20  three ¥2 taps at the zone's validator (cards A, B, C); uploaded Mon 08:30
                             → delays 1,800 s, 1,200 s, 600 s
    Mon 08:05                a ¥2 tap outside every zone (card B), and one at the unlocated validator (C)
    Tue 07:00                a ¥2 tap in the zone (card A); uploaded Wed 07:00 → delay 86,400 s
    Mon 07:30                a ¥10 taxi fare paid online (QR) to a transport merchant in the zone

    zone: 4 taps, ¥8.00 offline; ¥10.00 online; offline share 800 / 1,800 = 44.4 %
    delays sorted 600, 1,200, 1,800, 86,400: median (nearest rank, 2nd of 4) 1,200 s, p95 (4th) 86,400 s
    Monday: median (2nd of 3) 1,200 s, p95 (3rd of 3) 1,800 s; Tuesday: 86,400 s both
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
import time_machine
from pypdf import PdfReader
from sqlalchemy import select

from backend.extensions import db
from tests.backend.helpers import url
from tests.payclient.transit.test_fares import at
from tests.transit.helpers import Transit
from tests.zones.helpers import OUTSIDE, TEA_HOUSE, onboard, pay_over_http
from transit import figures as transit_figures

MONDAY = date(2026, 3, 2)


def local(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+08:00")


@pytest.fixture
def world(client, factory, tmp_path):
    return Transit(client, factory, tmp_path)


def zone_id(code: str) -> int:
    from zones.models import Zone

    return db.session.execute(select(Zone.id).where(Zone.code == code)).scalar_one()


def test_a_worked_week_of_taps_in_a_zone_kpis_and_report(world, client, factory):
    from zones import pdf, reports
    from zones.models import Zone

    with time_machine.travel(local("2026-03-02", "07:30"), tick=False):
        taxi = onboard(client, factory, *TEA_HOUSE, scenario="transport", name="Taxi Rank")
        pay_over_http(client, factory, taxi, 1_000)
        people = [factory.consumer(balance_fen=10_000) for _ in range(3)]
        a, b, c = cards = [world.issue(p) for p in people]
        for person, card in zip(people, cards, strict=True):
            assert world.load(person, card, 5_000).status_code == 201
        admin = world.admin
    in_zone = world.terminal("BUS-YQF-01", location=TEA_HOUSE)
    outside = world.terminal("BUS-FC-01", place="B2", location=OUTSIDE)
    nowhere = world.terminal("BUS-XX-01", place="B3")
    for card, hhmm in ((a, "08:00"), (b, "08:10"), (c, "08:20")):
        assert in_zone.tap(card, at("2026-03-02", hhmm)).charge_fen == 200
    assert outside.tap(b, at("2026-03-02", "08:05")).charge_fen == 200
    assert nowhere.tap(c, at("2026-03-02", "08:05")).charge_fen == 200
    with time_machine.travel(local("2026-03-02", "08:30"), tick=False):
        monday_batch = in_zone.pending_batch()
        for t, taps in ((in_zone, 3), (outside, 1), (nowhere, 1)):
            r = world.upload(t.pending_batch())
            assert r.status_code == 201 and r.json["accepted"] == taps, r.json
            t.ack(r.json)
    assert in_zone.tap(a, at("2026-03-03", "07:00")).charge_fen == 200
    with time_machine.travel(local("2026-03-04", "07:00"), tick=False):
        assert world.upload(in_zone.pending_batch()).json["accepted"] == 1
        assert world.upload(monday_batch).json["replayed"] is True  # sent twice: counted once

    yqf = zone_id("yongqingfang")
    assert transit_figures.terminals_in_zone(yqf) == ["BUS-YQF-01"]
    kpis = client.get(url(f"/zones/{yqf}/kpis"), headers=admin.auth,
                      query_string={"from": "2026-03-02", "to": "2026-03-08"}).get_json()
    transit = kpis["plugins"]["transit"]
    assert transit["terminals"] == 1
    assert transit["totals"] == {"payment_count": 4, "payment_fen": 800, "online_fen": 1_000,
                                 "offline_share_percent": 44.4, "delay_median_s": 1_200, "delay_p95_s": 86_400,
                                 "delay_max_s": 86_400}
    days = {d["day"]: d for d in transit["days"]}
    assert len(days) == 7
    assert days["2026-03-02"] == {"day": "2026-03-02", "payment_count": 3, "payment_fen": 600,
                                  "delay_median_s": 1_200, "delay_p95_s": 1_800}
    assert days["2026-03-03"] == {"day": "2026-03-03", "payment_count": 1, "payment_fen": 200,
                                  "delay_median_s": 86_400, "delay_p95_s": 86_400}
    assert days["2026-03-05"] == {"day": "2026-03-05", "payment_count": 0, "payment_fen": 0,
                                  "delay_median_s": None, "delay_p95_s": None}
    # Online transport counted by the zone itself: the figure transit's share is made of.
    assert kpis["totals"]["payment_fen"] == 1_000

    # A zone without validators: nothing offline, its share of nothing is none.
    other = client.get(url(f"/zones/{zone_id('tianhelu')}/kpis"), headers=admin.auth,
                       query_string={"from": "2026-03-02", "to": "2026-03-08"}).get_json()["plugins"]["transit"]
    assert other["terminals"] == 0
    assert other["totals"] == {"payment_count": 0, "payment_fen": 0, "online_fen": 0, "offline_share_percent": None,
                               "delay_median_s": None, "delay_p95_s": None, "delay_max_s": None}

    # The periodic report: its table, in the CSV and the PDF.
    zone = db.session.get(Zone, yqf)
    figures = reports.report_figures(zone, "weekly", MONDAY)
    [section] = [s for s in figures["sections"] if s["key"] == "transit"]
    keys = [col["key"] for col in section["columns"]]
    assert section["rows"][0] == ["合计 2026-03-02–2026-03-08", 4, 800, 1_000, 44.4, 1_200, 86_400]
    assert [dict(zip(keys, r, strict=True))["period"] for r in section["rows"]] == [
        "合计 2026-03-02–2026-03-08", "2026-03-02", "2026-03-03"]
    table = [r for r in csv.DictReader(io.StringIO(reports.to_csv(figures).lstrip("\ufeff")))
             if r["section"] == "transit"]
    total = {r["key"]: r["value"] for r in table if r["merchant"].startswith("合计")}
    # Money for people in the CSV: yuan, the key saying so (zones.reports.for_people).
    assert total == {"payment_count": "4", "payment_yuan": "8.00", "online_yuan": "10.00",
                     "offline_share_percent": "44.4", "delay_median_s": "1200", "delay_p95_s": "86400"}
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.render(figures))).pages)
    flat = text.replace("\n", "")
    assert "交通出行" in text and "离线占比 44.4%" in flat and "¥8.00" in text and "86,400" in text


def test_percentiles_are_nearest_rank_and_shares_round_half_up():
    p = transit_figures.percentile
    assert p([], 0.5) is None
    assert [p([7], q) for q in (0.5, 0.95)] == [7, 7]
    values = list(range(1, 21))  # 1..20: the median is the 10th, p95 the 19th
    assert (p(values, 0.5), p(values, 0.95)) == (10, 19)
    s = transit_figures.share_percent
    assert (s(0, 0), s(1, 0), s(0, 5), s(1, 7), s(1, 2)) == (None, 100.0, 0.0, 12.5, 33.3)
    assert s(2, 3) == 40.0 and s(1, 1999) == 0.1 and s(1, 2001) == 0.0  # 0.04995 % rounds down


def test_a_terminal_location_is_both_coordinates_or_none(world, client):
    op = world.operator("广州公交", "bus")
    path = f"/api/v1/transit/operators/{op['id']}/terminals"
    r = client.post(path, json={"terminal_id": "BUS-HALF", "mode": "bus", "place": "B1", "latitude": 23.1},
                    headers=world.admin.auth)
    assert r.status_code == 422 and "longitude" in str(r.json), r.json
    r = client.post(path, json={"terminal_id": "BUS-FAR", "mode": "bus", "place": "B1", "latitude": 91,
                                "longitude": 113.2}, headers=world.admin.auth)
    assert r.status_code == 422 and "latitude" in str(r.json), r.json
    r = client.post(path, json={"terminal_id": "BUS-OK", "mode": "bus", "place": "B1", "latitude": 23.1184,
                                "longitude": 113.2446}, headers=world.admin.auth)
    assert r.status_code == 201 and (r.json["latitude"], r.json["longitude"]) == (23.1184, 113.2446)


def test_a_terminal_placed_later_counts_in_its_zone_from_then_on_past_taps_too(world, client, factory):
    person = factory.consumer(balance_fen=10_000)
    card = world.issue(person)
    assert world.load(person, card, 1_000).status_code == 201
    bus = world.terminal("BUS-LATE-01")  # registered without a place
    assert bus.tap(card, at("2026-03-02", "08:00")).charge_fen == 200
    assert world.upload(bus.pending_batch()).status_code == 201
    yqf = zone_id("yongqingfang")
    week = {"from": "2026-03-02", "to": "2026-03-08"}
    path = url(f"/zones/{yqf}/kpis")
    assert client.get(path, headers=world.admin.auth, query_string=week).json["plugins"]["transit"]["terminals"] == 0

    where = "/api/v1/transit/terminals/BUS-LATE-01/location"
    r = client.put(where, json={"latitude": TEA_HOUSE[0], "longitude": TEA_HOUSE[1]}, headers=world.admin.auth)
    assert r.status_code == 200 and (r.json["latitude"], r.json["longitude"]) == TEA_HOUSE, r.json
    totals = client.get(path, headers=world.admin.auth, query_string=week).json["plugins"]["transit"]["totals"]
    assert (totals["payment_count"], totals["payment_fen"]) == (1, 200)
    r = client.put(where, json={"latitude": None, "longitude": None}, headers=world.admin.auth)  # nowhere again
    assert r.status_code == 200 and r.json["latitude"] is None and transit_figures.terminals_in_zone(yqf) == []

    r = client.put("/api/v1/transit/terminals/NO-SUCH/location", json={"latitude": 23.1, "longitude": 113.2},
                   headers=world.admin.auth)
    assert r.status_code == 404 and r.json["code"] == "terminal_not_found"
    r = client.put(where, json={"longitude": 113.2}, headers=world.admin.auth)
    assert r.status_code == 422 and "latitude" in str(r.json)
    r = client.put(where, json={"latitude": 23.1, "longitude": 113.2}, headers=person.auth)
    assert r.status_code == 403
