"""Fares against worked examples (Guangzhou's rules as the default table)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from suiyuan_protocol.transit.fares import GUANGZHOU, FareRules, FareState, missing_exit_correction_fen, price


def at(day: str, hhmm: str = "08:00") -> int:
    """Unix time of a Guangzhou local day and time (UTC+8)."""
    return int(datetime.fromisoformat(f"{day}T{hhmm}:00+08:00").astimezone(UTC).timestamp())


@pytest.mark.parametrize(("km_tenths", "yuan"), [
    (30, 2), (40, 2),          # ¥2 for the first 4 km
    (41, 3), (80, 3),          # +¥1 for each started 4 km up to 12 km
    (81, 4), (120, 4),
    (121, 5), (180, 5),        # +¥1 for each started 6 km up to 24 km
    (181, 6), (240, 6),
    (241, 7), (320, 7),        # +¥1 for each started 8 km beyond
    (321, 8), (600, 11),       # 60 km: 6 + ceil(36 / 8) = 11
])
def test_metro_fare_by_distance(km_tenths, yuan):
    assert GUANGZHOU.metro_fare_fen(km_tenths * 100) == yuan * 100


def test_metro_fares_between_stations():
    # 体育西路 → 客村 5.6 km: ¥3; → 市桥 23.6 km: ¥6; → 番禺广场 28.3 km: ¥7; either direction.
    assert GUANGZHOU.metro_fare_fen(GUANGZHOU.distance_m("L3-TYXL", "L3-KC")) == 300
    assert GUANGZHOU.metro_fare_fen(GUANGZHOU.distance_m("L3-SQ", "L3-TYXL")) == 600
    assert GUANGZHOU.metro_fare_fen(GUANGZHOU.distance_m("L3-TYXL", "L3-PYGC")) == 700
    assert GUANGZHOU.metro_max_fen == 1100


def test_bus_flat_fares():
    assert GUANGZHOU.bus_fare_fen("B1") == 200
    assert GUANGZHOU.bus_fare_fen("airport-express") == 2000
    assert GUANGZHOU.bus_fare_fen("any other route") == 200


def test_monthly_discount_from_the_16th_ride():
    # One ¥3 ride a day for 17 days of March: rides 1–15 full price (15 × ¥3 = ¥45), rides 16 and
    # 17 at 60 %: ¥1.80 each. Total ¥48.60. April starts counting again at full price.
    rules = FareRules(day_cap_fen=None, month_cap_fen=None)
    state, charges = FareState(), []
    for d in range(1, 18):
        q = price(rules, state, 300, at(f"2026-03-{d:02d}"))
        charges.append(q.charge_fen)
        state = q.state
    assert charges[:15] == [300] * 15
    assert charges[15:] == [180, 180]
    assert sum(charges) == 4860 and state.month_rides == 17 and state.month_spent_fen == 4860
    q = price(rules, state, 300, at("2026-04-01"))
    assert (q.charge_fen, q.discounted, q.state.month_rides) == (300, False, 1)


def test_daily_cap():
    # Day cap ¥25: four ¥6 rides = ¥24, the fifth costs the ¥1 left (capped), the sixth is free.
    # Just after local midnight (16:00 UTC) a new day starts from zero.
    state, charges = FareState(), []
    for hhmm in ("07:00", "09:00", "12:00", "17:00", "19:00", "22:00"):
        q = price(GUANGZHOU, state, 600, at("2026-03-02", hhmm))
        charges.append((q.charge_fen, q.capped))
        state = q.state
    assert charges == [(600, None)] * 4 + [(100, "day"), (0, "day")]
    q = price(GUANGZHOU, state, 600, at("2026-03-03", "00:05"))
    assert (q.charge_fen, q.capped, q.state.day_spent_fen) == (600, None, 600)


def test_monthly_cap_after_discount():
    # ¥299 spent this month over 20 rides: the next ¥3 ride is discounted to ¥1.80, then capped at
    # the ¥1 left of the ¥300 month cap; the ride after is free.
    state = FareState(day="2026-03-20", day_spent_fen=0, month="2026-03", month_rides=20, month_spent_fen=29900)
    q = price(GUANGZHOU, state, 300, at("2026-03-20"))
    assert (q.charge_fen, q.discounted, q.capped) == (100, True, "month")
    q2 = price(GUANGZHOU, q.state, 300, at("2026-03-21"))
    assert (q2.charge_fen, q2.capped) == (0, "month")


def test_missing_tap_out_charged_the_maximum_and_corrected():
    # Charged ¥11 (the 60 km maximum) for a journey from 体育西路 whose tap-out was missed; it is
    # later worked out to have ended at 客村 (¥3): ¥8 comes back.
    assert missing_exit_correction_fen(GUANGZHOU, 1100, "L3-TYXL", "L3-KC") == 800
    assert missing_exit_correction_fen(GUANGZHOU, 180, "L3-TYXL", "L3-PYGC") == 0  # never negative


def test_fare_table_round_trips_as_json():
    assert FareRules.from_json(GUANGZHOU.to_json()) == GUANGZHOU
