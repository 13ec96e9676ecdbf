"""Fares as data: Guangzhou's rules by default (metro by distance, bus flat fares, the monthly
discount after the 15th ride, daily and monthly caps, a missing tap-out charged the maximum).

Everything here is integer fen and integer metres. A card carries its :class:`FareState` (rides and
spending this day and month, an open metro entry), as Yangchengtong cards do, so an offline
validator can price a tap from the card alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

#: Guangzhou local time (China keeps no daylight saving time).
CST = timedelta(hours=8)


def local_day(at: int) -> str:
    """Return the Guangzhou calendar day of Unix time ``at`` as YYYY-MM-DD."""
    return (datetime.fromtimestamp(at, UTC) + CST).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class DistanceBand:
    """Above ``from_m`` and up to ``to_m`` (None: no end), each started ``step_m`` costs ``step_fen`` more."""

    from_m: int
    to_m: int | None
    step_m: int
    step_fen: int


@dataclass(frozen=True)
class FareRules:
    """One city's fare table (all amounts in fen, distances in metres)."""

    metro_base_fen: int = 200
    metro_base_m: int = 4000
    metro_bands: tuple[DistanceBand, ...] = (
        DistanceBand(4000, 12000, 4000, 100),
        DistanceBand(12000, 24000, 6000, 100),
        DistanceBand(24000, None, 8000, 100),
    )
    #: Station code → (name, line, chainage in metres along a straight-line model of the network).
    stations: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    #: Shortest travelled distance between two stations (either order), metres; overrides chainage.
    distances_m: dict[tuple[str, str], int] = field(default_factory=dict)
    #: The longest journey the network allows (a missing tap-out is charged this).
    metro_max_m: int = 60000
    bus_flat_fen: dict[str, int] = field(default_factory=dict)
    bus_default_fen: int = 200
    #: From this ride of a calendar month on (rides counted before it, so 15 = the 16th ride), pay
    #: ``discount_percent`` per cent of the fare.
    discount_after_rides: int = 15
    discount_percent: int = 60
    day_cap_fen: int | None = 2500
    month_cap_fen: int | None = 30000
    version: str = "gz-2026-1"

    # ------------------------------------------------------------------ metro

    def metro_fare_fen(self, distance_m: int) -> int:
        """Return the full metro fare for a journey of ``distance_m`` metres."""
        if distance_m < 0:
            raise ValueError("a distance is never negative")
        fare = self.metro_base_fen
        for band in self.metro_bands:
            if distance_m > band.from_m:
                end = distance_m if band.to_m is None else min(distance_m, band.to_m)
                fare += -(-(end - band.from_m) // band.step_m) * band.step_fen
        return fare

    def distance_m(self, a: str, b: str) -> int:
        """Return the distance between stations ``a`` and ``b``; raise ``KeyError`` for an unknown station."""
        if (a, b) in self.distances_m:
            return self.distances_m[(a, b)]
        if (b, a) in self.distances_m:
            return self.distances_m[(b, a)]
        return abs(self.stations[a][2] - self.stations[b][2])

    @property
    def metro_max_fen(self) -> int:
        """The fare of the longest journey: charged for a missing tap-out (or tap-in)."""
        return self.metro_fare_fen(self.metro_max_m)

    def bus_fare_fen(self, route: str) -> int:
        return self.bus_flat_fen.get(route, self.bus_default_fen)

    # ------------------------------------------------------------------ wire form

    def to_json(self) -> dict:
        """Return the table as terminals download it."""
        data = asdict(self)
        data["stations"] = {k: list(v) for k, v in self.stations.items()}
        data["distances_m"] = [[a, b, m] for (a, b), m in self.distances_m.items()]
        data["metro_max_fen"] = self.metro_max_fen
        return data

    @classmethod
    def from_json(cls, data: dict) -> FareRules:
        data = dict(data)
        data.pop("metro_max_fen", None)
        data["metro_bands"] = tuple(DistanceBand(**b) for b in data["metro_bands"])
        data["stations"] = {k: tuple(v) for k, v in data["stations"].items()}
        data["distances_m"] = {(a, b): m for a, b, m in data["distances_m"]}
        return cls(**data)


@dataclass(frozen=True)
class FareState:
    """What the card remembers for pricing: this day's and month's rides and spending, an open entry."""

    day: str = ""
    day_spent_fen: int = 0
    month: str = ""
    month_rides: int = 0
    month_spent_fen: int = 0
    entry_station: str | None = None
    entry_at: int | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FareState:
        return cls(**data)


@dataclass(frozen=True)
class Quote:
    """The price of one ride: ``charge_fen`` after discount and caps; ``full_fen`` before."""

    full_fen: int
    charge_fen: int
    state: FareState
    discounted: bool
    capped: str | None  # "day", "month" or None


def price(rules: FareRules, state: FareState, full_fen: int, at: int) -> Quote:
    """Return the charge for a ride of full fare ``full_fen`` at ``at`` given the card's ``state``.

    Order: the monthly discount (from ride ``discount_after_rides + 1`` of the calendar month), then
    the daily cap, then the monthly cap; every ride counts towards the month's rides.
    """
    day = local_day(at)
    month = day[:7]
    if state.month != month:
        state = replace(state, month=month, month_rides=0, month_spent_fen=0)
    if state.day != day:
        state = replace(state, day=day, day_spent_fen=0)
    discounted = state.month_rides >= rules.discount_after_rides
    charge = (full_fen * rules.discount_percent + 50) // 100 if discounted else full_fen
    capped = None
    if rules.day_cap_fen is not None and state.day_spent_fen + charge > rules.day_cap_fen:
        charge, capped = max(0, rules.day_cap_fen - state.day_spent_fen), "day"
    if rules.month_cap_fen is not None and state.month_spent_fen + charge > rules.month_cap_fen:
        charge, capped = max(0, rules.month_cap_fen - state.month_spent_fen), "month"
    state = replace(state, month_rides=state.month_rides + 1, month_spent_fen=state.month_spent_fen + charge,
                    day_spent_fen=state.day_spent_fen + charge)
    return Quote(full_fen, charge, state, discounted, capped)


def missing_exit_correction_fen(rules: FareRules, charged_fen: int, entry: str, exit_station: str) -> int:
    """Return what to give back for a journey charged ``charged_fen`` (the maximum, its tap-out missing)
    once it is known to have ended at ``exit_station``: the charge less the journey's full fare, never
    below zero."""
    return max(0, charged_fen - rules.metro_fare_fen(rules.distance_m(entry, exit_station)))


#: A few Guangzhou Metro Line 3 stations (chainage in metres from Tiyu Xilu, approximate) and bus routes.
GUANGZHOU = FareRules(
    stations={
        "L3-TYXL": ("体育西路", "3", 0),
        "L3-ZJXC": ("珠江新城", "3", 1200),
        "L3-CGQ": ("广州塔", "3", 3700),
        "L3-KC": ("客村", "3", 5600),
        "L3-DTL": ("大塘", "3", 7100),
        "L3-LX": ("沥滘", "3", 8900),
        "L3-HJ": ("汉溪长隆", "3", 19300),
        "L3-SQ": ("市桥", "3", 23600),
        "L3-PYGC": ("番禺广场", "3", 28300),
    },
    bus_flat_fen={"B1": 200, "10": 200, "airport-express": 2000},
)
DEFAULT_RULES = GUANGZHOU
