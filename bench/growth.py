"""How zone KPI queries and merchant statement jobs grow from 10k to 1M payments.

Grows one scratch ledger (``bench.harness.Stack``: a migrated PostgreSQL
database of its own) in steps — by default to 10k, 100k and 1M paid orders —
and at each size times, in process and wall clock, what a zone dashboard, the
pilot office and the nightly jobs run:

- ``zones.queries.totals_by_zone``, ``ranking``, ``daily`` (the busiest zone) and
  ``zone_kpis`` over the 30 days, all read from the daily aggregates;
- ``zones.rebuild.rebuild`` of the 30 days, and of one day, from the ledger;
- ``backend.payments.statements.build_statement`` for the busiest
  merchant-day, and for a *probe* merchant-day whose size never changes while
  that merchant's history grows with the ledger (it tells "grows with the
  day" from "grows with all payments");
- ``build_daily_statements`` for one day: it enqueues one statement job per
  merchant on Redis, and an in-process RQ worker (``backend.jobs.AppWorker``,
  burst mode) runs them, as production's worker would.

The ledger is grown by bulk SQL (``INSERT … SELECT generate_series``), never
the ORM: dynamic-QR orders, paid, each with its ``payment`` transfer (wallet
→ merchant, ``batch_id`` = order reference), weekly top-ups from the operator
bank's issuance account that cover each wallet's spending, and one aggregate
``UPDATE`` of the merchant and issuance balances, so ``flask ledger verify``
holds after every step (checked, and reported). Payments are spread over the
30 local days before today, over several hundred merchants (a skewed few are
busy; one in ten stands outside every zone) and thousands of wallets. The
zone aggregates are then brought up to date by the project's own
``zones.rebuild.rebuild``.

The machine is shared and noisy, so each size also measures two baselines in
the same run: a ``SELECT 1`` round trip and a CPU-bound PostgreSQL query
(``sum`` over ``generate_series``); growth is judged on times divided by the
latter. The last run of each operation is replayed under ``EXPLAIN (ANALYZE,
BUFFERS)`` (in a transaction that is rolled back): pages touched and rows
read do not depend on the noise, and the plans say why a figure grows.

Writes docs/growth.json and docs/GROWTH.md (``--quick``: growth-quick.json
and GROWTH-quick.md, a few seconds, only to check that everything runs).

Usage: python -m bench.growth [--quick] [--sizes 10000,100000,1000000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, select, text, update

from bench.harness import ROOT, Stack

DOCS = ROOT / "docs"
#: The growth bench's own Redis database: the harness default (12) is ``make bench``'s, which may run meanwhile
#: and flushes it, and the tests use 8-15.
REDIS_URL = "redis://127.0.0.1:6379/6"

DAYS = 30
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 3_000)


@dataclass(frozen=True)
class Shape:
    """The population the ledger grows over, and how often each figure is measured."""

    merchants: int
    wallets: int
    probe_payments: int  # the probe merchant-day's fixed size
    read_repeats: int
    job_repeats: int


FULL = Shape(merchants=400, wallets=20_000, probe_payments=50, read_repeats=7, job_repeats=3)
QUICK = Shape(merchants=40, wallets=300, probe_payments=10, read_repeats=3, job_repeats=2)

#: Merchant ``i`` is drawn with weight ~ i^(1/SKEW - 1): with 1.5, the busiest of 400 takes ~1.8 % of payments.
SKEW = 1.5
#: Every OUTSIDE_EVERY-th merchant stands outside every zone (in Fangcun), so it counts in no zone's figures.
OUTSIDE_EVERY = 10
OUTSIDE = (23.0830, 113.2300)
#: Merchant index (in creation order, busiest first) of the probe: a busy merchant, so its history is large.
PROBE_INDEX = 1

#: Each operation: its label, what it does (from its code), and the size (a key of ``counts``) of the payments
#: it is about, if any; the figures and plans say how its work grows.
OPERATIONS = {
    "totals_by_zone": ("`zones.queries.totals_by_zone`, every zone, 30 days",
                       "sums `zone_kpi_daily` (zones × days rows) and counts distinct wallets in "
                       "`zone_daily_payers` and distinct merchants in `zone_merchant_daily` over the period", None),
    "ranking": ("`zones.queries.ranking` by payment_fen, 30 days",
                "runs `totals_by_zone` for every zone, then sorts in Python", None),
    "daily": ("`zones.queries.daily`, busiest zone, 30 days",
              "reads one zone's `zone_kpi_daily` rows and counts scenarios per day in `zone_merchant_daily`", None),
    "zone_kpis": ("`zones.queries.zone_kpis`, busiest zone, 30 days",
                  "runs `daily` and `totals_by_zone` for one zone", None),
    "rebuild_30d": ("`zones.rebuild.rebuild`, 30 days",
                    "recomputes the aggregates from orders ⋈ transfers (with a subsidy sub-query per payment and "
                    "each wallet's first payment ever), deletes the old ones and inserts the new", "payments"),
    "rebuild_1d": ("`zones.rebuild.rebuild`, one day", "does the same for one day", "payments_probe_day"),
    "statement_busy": ("`build_statement`, busiest merchant-day",
                       "loads the merchant-day's orders and refunds, and sums the merchant's ledger credits and "
                       "debits of the day to check them", "busiest_merchant_day_payments"),
    "statement_probe": ("`build_statement`, probe merchant-day (fixed size)",
                        "does the same for a merchant-day whose size is fixed while that merchant's history grows",
                        "probe_merchant_day_payments"),
    "daily_statements": ("`build_daily_statements`, one day, all merchants (RQ)",
                         "enqueues one `build_statement` job per approved merchant on Redis; an in-process RQ "
                         "worker runs them", "payments_probe_day"),
}


# ---------------------------------------------------------------- population


@dataclass
class Population:
    """Who pays whom: merchants busiest first, their accounts and a signed payload, and the wallets."""

    merchant_ids: list[int]
    merchant_accounts: list[int]
    owner_ids: list[int]
    payloads: list[str]
    key_id: str
    payer_ids: list[int]
    wallet_accounts: list[int]
    issuance_account_id: int

    @property
    def probe_merchant_id(self) -> int:
        return self.merchant_ids[PROBE_INDEX]


def _point_in(outline, rng: random.Random) -> tuple[float, float]:
    """Return a random (lat, lon) inside a shapely outline (rejection sampling in its bounding box)."""
    from zones import geometry

    min_lon, min_lat, max_lon, max_lat = outline.bounds
    while True:
        lat, lon = rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)
        if outline.contains(geometry.point(lat, lon)):
            return round(lat, 6), round(lon, 6)


def place_in_zones(merchant_ids: list[int], rng: random.Random) -> None:
    """Move the merchants into the zones' outlines (round robin; every ``OUTSIDE_EVERY``-th outside them all),
    give them the scenarios in turn, and place them with the registry; commit."""
    from backend.extensions import db
    from backend.merchants.models import SCENARIOS, Merchant
    from zones import geometry, placement, registry

    outlines = [geometry.load(z.boundary_geojson) for z in registry.all_zones() if z.boundary_geojson]
    scenarios = list(SCENARIOS)
    rows = []
    for i, merchant_id in enumerate(merchant_ids):
        if i % OUTSIDE_EVERY == OUTSIDE_EVERY - 1:
            lat, lon = OUTSIDE[0] + rng.uniform(-0.002, 0.002), OUTSIDE[1] + rng.uniform(-0.002, 0.002)
        else:
            lat, lon = _point_in(outlines[i % len(outlines)], rng)
        rows.append({"id": merchant_id, "latitude": lat, "longitude": lon, "scenario": scenarios[i % len(scenarios)]})
    db.session.execute(update(Merchant), rows)
    placement.place_unplaced()
    db.session.commit()


def populate(shape: Shape) -> Population:
    """Create the merchants (``bench.fixtures.merchants``), place them in zones, and the wallets
    (``bench.fixtures.bulk_consumers``); return who they are."""
    from backend.banks.models import OperatorBank
    from backend.extensions import db
    from backend.payments import service as payments
    from backend.wallets.models import Wallet
    from bench import fixtures

    merchants = [m for m, _ in fixtures.merchants(shape.merchants)]
    place_in_zones([m.id for m in merchants], random.Random(8))
    # One genuinely signed payload per merchant, stored on each of its orders: a real order's width.
    expires = datetime.now(UTC).replace(microsecond=0)
    signed = [payments.sign_payload(payments._payload(m, amount_fen=3850, reference="SY" + "0" * 16,
                                                      expires_at=expires)) for m in merchants]
    payer_ids = fixtures.bulk_consumers(shape.wallets)
    accounts = dict(db.session.execute(select(Wallet.user_id, Wallet.account_id)
                                       .where(Wallet.user_id.in_(payer_ids))).all())
    issuance = db.session.execute(select(OperatorBank.issuance_account_id)
                                  .where(OperatorBank.code == "ICBC")).scalar_one()  # the fixtures' bank
    pop = Population([m.id for m in merchants], [m.account_id for m in merchants],
                     [m.owner_user_id for m in merchants], [t for t, _ in signed], signed[0][1], payer_ids,
                     [accounts[u] for u in payer_ids], issuance)
    db.session.commit()
    return pop


# ---------------------------------------------------------------- growing the ledger


@dataclass(frozen=True)
class Window:
    """The local days payments are spread over, and the day the statements and one-day rebuild look at."""

    day_from: date
    day_to: date  # yesterday: statements are built for finished days only

    @classmethod
    def ending_yesterday(cls) -> Window:
        from backend.clock import local_today

        day_to = local_today() - timedelta(days=1)
        return cls(day_to - timedelta(days=DAYS - 1), day_to)

    @property
    def probe_day(self) -> date:
        return self.day_to

    @staticmethod
    def bounds(day_from: date, day_to: date) -> tuple[datetime, datetime]:
        """Return the UTC instants where local ``day_from`` starts and local ``day_to`` ends."""
        from backend.payments.service import local_day_bounds

        return local_day_bounds(day_from)[0], local_day_bounds(day_to)[1]


_TEMP_MERCHANTS = text("""
CREATE TEMP TABLE growth_merchants ON COMMIT DROP AS
SELECT (ord - 1)::int AS idx, merchant_id, account_id, owner_user_id, payload
FROM unnest(CAST(:ids AS bigint[]), CAST(:accounts AS bigint[]), CAST(:owners AS bigint[]), CAST(:payloads AS text[]))
     WITH ORDINALITY AS m(merchant_id, account_id, owner_user_id, payload, ord)
""")
_TEMP_WALLETS = text("""
CREATE TEMP TABLE growth_wallets ON COMMIT DROP AS
SELECT (ord - 1)::int AS idx, user_id, account_id
FROM unnest(CAST(:users AS bigint[]), CAST(:accounts AS bigint[])) WITH ORDINALITY AS w(user_id, account_id, ord)
""")
# The step's payments. Merchant index u^SKEW × n (busiest first), any wallet, tickets mostly small (¥2 to ¥502),
# instants uniform over the window. The probe merchant-day keeps its fixed size: that merchant's payments drawn
# on the probe day move a day earlier, and the first step adds the fixed ones.
_TEMP_BATCH = text("""
CREATE TEMP TABLE growth_batch ON COMMIT DROP AS
WITH drawn AS (
    SELECT i, floor(:merchants * power(random(), :skew))::int AS m_idx, floor(:wallets * random())::int AS w_idx,
           (200 + floor(power(random(), 3) * 50000))::bigint AS amount_fen,
           CAST(:start AS timestamptz) + random() * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz)) AS at
    FROM generate_series(1, :n) AS i
), placed AS (
    SELECT i, m_idx, w_idx, amount_fen,
           CASE WHEN m_idx = :probe_idx AND at >= :probe_start AND at < :probe_end
                THEN at - interval '1 day' ELSE at END AS at
    FROM drawn
    UNION ALL
    SELECT :n + k, :probe_idx, floor(:wallets * random())::int, (200 + floor(power(random(), 3) * 50000))::bigint,
           CAST(:probe_start AS timestamptz) + ((k - 0.5) / :probe_n)::float8 * interval '1 day'
    FROM generate_series(1, :probe_n) AS k
)
SELECT p.i, m.merchant_id, m.account_id AS merchant_account_id, m.owner_user_id, m.payload,
       w.user_id AS payer_user_id, w.account_id AS wallet_account_id, p.amount_fen, p.at AS paid_at,
       'SY' || upper(left(md5(:salt || p.i), 16)) AS reference
FROM placed p JOIN growth_merchants m ON m.idx = p.m_idx JOIN growth_wallets w ON w.idx = p.w_idx
""")
# A top-up per wallet and week of the window, just before that week's first payment, covering the week's spending
# (as the wallet's own top-up would: issuance → wallet, no batch). Wallets end where they started.
_TOPUPS = text("""
INSERT INTO transfers (code, debit_account_id, credit_account_id, amount_fen, batch_id, memo, actor_user_id,
                       reverses_id, reversed_fen, created_at)
SELECT :topup, :issuance, wallet_account_id, sum(amount_fen), NULL, NULL, payer_user_id, NULL, 0,
       min(paid_at) - interval '1 minute'
FROM growth_batch
GROUP BY wallet_account_id, payer_user_id, floor(extract(epoch FROM paid_at - CAST(:start AS timestamptz)) / 604800)
ORDER BY min(paid_at)
""")
# What ``payments.service._settle`` writes for a dynamic order paid from the main balance: the payment transfer
# (batch and memo = the order reference, the payer as actor) and the order marked paid at the transfer's instant.
_PAYMENTS = text("""
WITH posted AS (
    INSERT INTO transfers (code, debit_account_id, credit_account_id, amount_fen, batch_id, memo, actor_user_id,
                           reverses_id, reversed_fen, created_at)
    SELECT :payment, wallet_account_id, merchant_account_id, amount_fen, reference, reference, payer_user_id,
           NULL, 0, paid_at
    FROM growth_batch ORDER BY paid_at
    RETURNING id, batch_id
)
INSERT INTO orders (reference, merchant_id, kind, amount_fen, description, status, payload, key_id,
                    created_by_user_id, created_at, expires_at, paid_at, payer_user_id, payment_transfer_id,
                    refunded_fen)
SELECT b.reference, b.merchant_id, 'dynamic', b.amount_fen, NULL, 'paid', b.payload, :key_id, b.owner_user_id,
       b.paid_at - interval '20 seconds', b.paid_at - interval '20 seconds' + CAST(:ttl AS interval), b.paid_at,
       b.payer_user_id, posted.id, 0
FROM growth_batch b JOIN posted ON posted.batch_id = b.reference
ORDER BY posted.id
""")
# One aggregate UPDATE per account: merchants receive what they were paid, the issuance account goes down by the
# top-ups (= the payments), wallets are unchanged.
_BALANCES = text("""
UPDATE accounts a SET balance_fen = a.balance_fen + d.fen
FROM (SELECT merchant_account_id AS id, sum(amount_fen) AS fen FROM growth_batch GROUP BY merchant_account_id
      UNION ALL SELECT :issuance, -sum(amount_fen) FROM growth_batch) d
WHERE a.id = d.id
""")


def grow(pop: Population, shape: Shape, window: Window, n: int, step: int) -> dict:
    """Add ``n`` paid orders (the first step also the probe merchant-day's fixed ones, within ``n``) with their
    transfers and balances, in one transaction; then VACUUM ANALYZE as autovacuum would. Return what was written."""
    from backend.extensions import db
    from backend.ledger.service import TransferCode

    probe_n = shape.probe_payments if step == 0 else 0
    start, end = window.bounds(window.day_from, window.day_to)
    probe_start, probe_end = window.bounds(window.probe_day, window.probe_day)
    t0 = time.monotonic()
    db.session.execute(text("SELECT setseed(:s)"), {"s": 0.1 + step / 10})
    db.session.execute(_TEMP_MERCHANTS, {"ids": pop.merchant_ids, "accounts": pop.merchant_accounts,
                                         "owners": pop.owner_ids, "payloads": pop.payloads})
    db.session.execute(_TEMP_WALLETS, {"users": pop.payer_ids, "accounts": pop.wallet_accounts})
    db.session.execute(_TEMP_BATCH, {
        "merchants": len(pop.merchant_ids), "wallets": len(pop.payer_ids), "skew": SKEW, "n": n - probe_n,
        "start": start, "end": end, "probe_idx": PROBE_INDEX, "probe_start": probe_start, "probe_end": probe_end,
        "probe_n": probe_n, "salt": f"growth-{step}-"})
    topups = db.session.execute(_TOPUPS, {"topup": TransferCode.TOPUP, "issuance": pop.issuance_account_id,
                                          "start": start}).rowcount
    paid = db.session.execute(_PAYMENTS, {"payment": TransferCode.PAYMENT, "key_id": pop.key_id,
                                          "ttl": timedelta(minutes=5)}).rowcount
    db.session.execute(_BALANCES, {"issuance": pop.issuance_account_id})
    db.session.commit()
    inserted_s = time.monotonic() - t0
    vacuum("orders", "transfers", "accounts")
    return {"orders": paid, "topups": topups, "insert_s": round(inserted_s, 2),
            "with_vacuum_s": round(time.monotonic() - t0, 2)}


def vacuum(*tables: str) -> None:
    """VACUUM ANALYZE the tables (what autovacuum would do after a bulk write; plans need the statistics)."""
    from backend.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}"))


# ---------------------------------------------------------------- measuring


class Recorder:
    """Record the SQL statements the app runs (``with Recorder(engine) as rec:``), to EXPLAIN them afterwards."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.statements: list[tuple[str, object]] = []

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not executemany:
            self.statements.append((statement, parameters))

    def __enter__(self) -> Recorder:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


def _scans(node: dict, out: dict[str, int]) -> None:
    """Add the rows each table scan of a plan read (returned + filtered out, over all loops) to ``out``."""
    if "Relation Name" in node and node["Node Type"] != "ModifyTable":
        label = f"{node['Node Type']} on {node['Relation Name']}"
        if node.get("Index Name"):
            label += f" using {node['Index Name']}"
        per_loop = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                    + node.get("Rows Removed by Index Recheck", 0))
        out[label] += round(per_loop * node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        _scans(child, out)


def explain(engine: sa.Engine, statements: list[tuple[str, object]], top: int = 3) -> dict:
    """Replay ``statements`` under EXPLAIN (ANALYZE, BUFFERS) in one transaction, then roll it back.

    Returns the pages touched (shared buffers hit + read), rows read by table scans, the executor's time,
    and the ``top`` statement shapes by time with their scans.
    """
    shapes: dict[str, dict] = {}
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for sql, params in statements:
            if sql.lstrip().split(None, 1)[0].upper() not in ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE"):
                continue  # LOCK TABLE and the like
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            result = cur.fetchone()[0][0]
            plan = result["Plan"]
            key = re.sub(r"\s+", " ", sql).strip()
            s = shapes.setdefault(key, {"sql": key[:220], "calls": 0, "ms": 0.0, "buffers": 0,
                                        "scans": defaultdict(int)})
            s["calls"] += 1
            s["ms"] += result.get("Execution Time", 0.0)
            s["buffers"] += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
            _scans(plan, s["scans"])
    finally:
        raw.rollback()
        raw.close()
    for s in shapes.values():
        s["ms"] = round(s["ms"], 2)
        s["rows_read"] = sum(s["scans"].values())
        s["scans"] = dict(sorted(s["scans"].items(), key=lambda kv: -kv[1]))
    ranked = sorted(shapes.values(), key=lambda s: -s["ms"])
    return {"statements": sum(s["calls"] for s in ranked), "ms": round(sum(s["ms"] for s in ranked), 2),
            "buffers": sum(s["buffers"] for s in ranked), "rows_read": sum(s["rows_read"] for s in ranked),
            "top": ranked[:top]}


def timed(fn: Callable[[], object], repeats: int, budget_s: float = 120) -> tuple[dict, list]:
    """Run ``fn`` ``repeats`` times (fewer once the runs took ``budget_s``), each in its own transaction;
    return ({ms: median, runs_ms}, the SQL of the last run)."""
    from backend.extensions import db

    runs: list[float] = []
    while len(runs) < repeats and sum(runs) < budget_s * 1000:
        with Recorder(db.engine) as rec:
            t0 = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - t0) * 1000)
        db.session.rollback()
    return {"ms": round(statistics.median(runs), 3), "runs_ms": [round(r, 3) for r in runs]}, rec.statements


def baseline(round_trips: int = 200, cpu_runs: int = 5) -> dict:
    """Return the machine's pace now: median ``SELECT 1`` round trip, and a CPU-bound query in PostgreSQL."""
    from backend.extensions import db

    trips = []
    for _ in range(round_trips):
        t0 = time.perf_counter()
        db.session.execute(text("SELECT 1")).scalar_one()
        trips.append((time.perf_counter() - t0) * 1000)
    cpu = []
    for _ in range(cpu_runs):
        t0 = time.perf_counter()
        db.session.execute(text("SELECT sum(g) FROM generate_series(1, 1000000) g")).scalar_one()
        cpu.append((time.perf_counter() - t0) * 1000)
    db.session.rollback()
    return {"select1_ms": round(statistics.median(trips), 4), "pg_cpu_ms": round(statistics.median(cpu), 2)}


def drain_statements(day_iso: str) -> int:
    """``build_daily_statements`` for ``day_iso``, then run the jobs it enqueued with an in-process RQ worker
    (burst); return how many statements it asked for. Raises if a job failed."""
    from rq.registry import FailedJobRegistry

    from backend.extensions import get_redis
    from backend.jobs import AppWorker, queue
    from backend.payments.statements import build_daily_statements

    n = build_daily_statements(day_iso)
    q = queue()
    AppWorker([q], connection=get_redis()).work(burst=True, logging_level="WARNING", with_scheduler=False)
    failed = FailedJobRegistry(queue=q)
    if len(failed):
        raise RuntimeError(f"{len(failed)} statement jobs failed: {failed.get_job_ids()[:3]}")
    return n


def counts(pop: Population, window: Window) -> dict:
    """Return the sizes the figures depend on: payments overall, in the probe day, per merchant-day, and the
    aggregate tables; plus the busiest merchant of the probe day and the busiest zone."""
    from backend.extensions import db

    start, end = window.bounds(window.probe_day, window.probe_day)

    def q(sql: str, **params):
        return db.session.execute(text(sql), params)

    busiest_merchant, busiest_n = q(
        "SELECT merchant_id, count(*) FROM orders WHERE paid_at >= :s AND paid_at < :e AND merchant_id <> :probe "
        "GROUP BY merchant_id ORDER BY count(*) DESC, merchant_id LIMIT 1",
        s=start, e=end, probe=pop.probe_merchant_id).one()
    busiest_zone = q("SELECT zone_id FROM zone_kpi_daily GROUP BY zone_id ORDER BY sum(payment_count) DESC, zone_id "
                     "LIMIT 1").scalar_one()
    out = {
        "payments": q("SELECT count(*) FROM orders WHERE status = 'paid'").scalar_one(),
        "transfers": q("SELECT count(*) FROM transfers").scalar_one(),
        "payments_in_zones": q("SELECT count(*) FROM orders o JOIN zone_merchants zm ON zm.merchant_id = o.merchant_id "
                               "WHERE o.status = 'paid' AND zm.zone_id IS NOT NULL").scalar_one(),
        "payments_probe_day": q("SELECT count(*) FROM orders WHERE paid_at >= :s AND paid_at < :e",
                                s=start, e=end).scalar_one(),
        "busiest_merchant_id": busiest_merchant,
        "busiest_merchant_day_payments": busiest_n,
        "probe_merchant_day_payments": q(
            "SELECT count(*) FROM orders WHERE merchant_id = :m AND paid_at >= :s AND paid_at < :e",
            m=pop.probe_merchant_id, s=start, e=end).scalar_one(),
        "probe_merchant_payments": q("SELECT count(*) FROM orders WHERE merchant_id = :m",
                                     m=pop.probe_merchant_id).scalar_one(),
        "busiest_zone_id": busiest_zone,
    }
    for table in ("zone_kpi_daily", "zone_merchant_daily", "zone_daily_payers", "zone_kpi_applied"):
        out[f"{table}_rows"] = q(f"SELECT count(*) FROM {table}").scalar_one()
    db.session.rollback()
    return out


def measure(pop: Population, shape: Shape, window: Window) -> dict:
    """Time every operation at the ledger's current size (rebuilding the aggregates first); return the figures."""
    from backend.extensions import db
    from backend.ledger.service import verify
    from backend.payments.statements import build_statement
    from zones import queries, rebuild
    from zones.models import Zone

    figures: dict[str, dict] = {}
    plans: dict[str, dict] = {}

    def run(name: str, fn: Callable[[], object], repeats: int) -> None:
        figures[name], statements = timed(fn, repeats)
        plans[name] = explain(db.engine, statements)
        print(f"  {name}: {figures[name]['ms']:.1f} ms (runs {figures[name]['runs_ms']})", flush=True)

    d_from, d_to, d_probe = window.day_from, window.day_to, window.probe_day
    run("rebuild_30d", lambda: rebuild.rebuild(d_from, d_to), shape.job_repeats)
    run("rebuild_1d", lambda: rebuild.rebuild(d_probe, d_probe), shape.job_repeats)
    vacuum("zone_kpi_applied", "zone_merchant_daily", "zone_daily_payers", "zone_kpi_daily")
    sizes = counts(pop, window)
    base = baseline()
    zone_id = sizes["busiest_zone_id"]
    run("totals_by_zone", lambda: queries.totals_by_zone(d_from, d_to), shape.read_repeats)
    run("ranking", lambda: queries.ranking(d_from, d_to), shape.read_repeats)
    run("daily", lambda: queries.daily(zone_id, d_from, d_to), shape.read_repeats)
    run("zone_kpis", lambda: queries.zone_kpis(db.session.get(Zone, zone_id), d_from, d_to), shape.read_repeats)
    day_iso = d_probe.isoformat()
    run("statement_busy", lambda: build_statement(sizes["busiest_merchant_id"], day_iso), shape.job_repeats)
    run("statement_probe", lambda: build_statement(pop.probe_merchant_id, day_iso), shape.job_repeats)
    statements = {}
    run("daily_statements", lambda: statements.update(n=drain_statements(day_iso)), shape.job_repeats)
    sizes["daily_statements_jobs"] = statements["n"]
    problems = verify()
    db.session.rollback()
    return {"sizes": sizes, "baseline": base, "figures": figures, "plans": plans,
            "ledger_verify": problems or "ok"}


# ---------------------------------------------------------------- the run


def run(sizes: list[int], shape: Shape, redis_url: str = REDIS_URL) -> dict:
    """Grow a scratch ledger to each of ``sizes`` payments and measure at each; return the JSON-able figures."""
    from bench.run import machine

    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                     "machine": {k: v for k, v in machine().items() if k != "wrk"},
                     "shape": shape.__dict__ | {"days": DAYS, "skew": SKEW, "outside_every": OUTSIDE_EVERY},
                     "steps": []}
    t_start = time.monotonic()
    with Stack(redis_url=redis_url) as stack:
        app = stack.app()
        with app.app_context():
            from backend.extensions import db

            window = Window.ending_yesterday()
            results["window"] = {"from": window.day_from.isoformat(), "to": window.day_to.isoformat(),
                                 "probe_day": window.probe_day.isoformat()}
            t0 = time.monotonic()
            pop = populate(shape)
            results["populate_s"] = round(time.monotonic() - t0, 2)
            results["merchants_by_zone"] = {str(k): v for k, v in place_counts().items()}
            have = 0
            for step, size in enumerate(sizes):
                print(f"growing to {size:,} payments", flush=True)
                load = grow(pop, shape, window, size - have, step)
                have = size
                print(f"  loaded {load}", flush=True)
                m = measure(pop, shape, window)
                results["steps"].append({"size": size, "load": load, **m})
                db.session.remove()
    results["total_s"] = round(time.monotonic() - t_start, 1)
    results["growth"] = growth(results["steps"])
    return results


def place_counts() -> dict:
    """Return {zone code or "none": merchants placed there}."""
    from backend.extensions import db

    rows = db.session.execute(text(
        "SELECT coalesce(z.code, 'none'), count(*) FROM zone_merchants zm LEFT JOIN zones z ON z.id = zm.zone_id "
        "GROUP BY 1 ORDER BY 1")).all()
    return dict(rows)


def growth(steps: list[dict]) -> dict:
    """Return, per operation, how much it grew from the first size to the last: time divided by the CPU
    baseline of the same size, and pages touched, each also as the power of total payments it matches."""
    if len(steps) < 2:
        return {}
    first, last = steps[0], steps[-1]
    log_size = math.log(last["size"] / first["size"])

    def ratio(a: float, b: float) -> dict:
        r = b / a if a and b else None
        return {"ratio": round(r, 2) if r else None, "exponent": round(math.log(r) / log_size, 2) if r else None}

    return {name: {"time": ratio(*(s["figures"][name]["ms"] / s["baseline"]["pg_cpu_ms"] for s in (first, last))),
                   "pages": ratio(*(s["plans"][name]["buffers"] for s in (first, last)))}
            for name in last["figures"]}


# ---------------------------------------------------------------- the report


def _ms(v: float) -> str:
    return f"{v:,.1f}" if v >= 10 else f"{v:,.2f}"


def _k(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{n / 1000:g}k" if n >= 1000 else str(n)


def _how(exponent: float) -> str:
    return "flat" if exponent < 0.15 else "sublinearly" if exponent < 0.85 else "linearly"


def _verdict(g: dict | None) -> str:
    if not g or g["time"]["exponent"] is None or g["pages"]["exponent"] is None:
        return "not enough sizes to tell"
    t, p = g["time"], g["pages"]
    figures = f"time ×{t['ratio']} ≈ payments^{t['exponent']}, pages ×{p['ratio']} ≈ payments^{p['exponent']}"
    if _how(t["exponent"]) == "flat" and _how(p["exponent"]) == "flat":
        return f"**stays flat** ({figures})"
    if _how(t["exponent"]) == "flat":
        return (f"**flat in time so far, but its pages grow {_how(p['exponent'])}** ({figures}): a fixed cost per "
                "call still hides the part that grows")
    return f"**grows {_how(max(t['exponent'], p['exponent']))}** ({figures})"


def _reads(plan: dict, sizes: dict, covers: str | None, n: int = 2) -> str:
    """Return what the plans of an operation read most, and how that compares with the payments it covers."""
    scans: dict[str, int] = defaultdict(int)
    for s in plan["top"]:
        for label, rows in s["scans"].items():
            scans[label] += rows
    top = "; ".join(f"{label} ({rows:,} rows)" for label, rows in sorted(scans.items(), key=lambda kv: -kv[1])[:n])
    text = f"its plans read {plan['rows_read']:,} rows"
    if covers and sizes.get(covers):
        text += f" for the {sizes[covers]:,} payments it covers (×{plan['rows_read'] / sizes[covers]:,.1f})"
    return f"{text}, most in {top}" if top else text


def write_markdown(r: dict, path: Path, json_name: str = "growth.json") -> None:
    """Write the growth report for results ``r`` to ``path`` (beside ``json_name``, the raw figures)."""
    steps, m, shape = r["steps"], r["machine"], r["shape"]
    cols = [_k(s["size"]) for s in steps]
    last = steps[-1]
    lines = [
        "# How KPI queries and statement jobs grow with the ledger",
        "",
        f"Run {r['when']} by `python -m bench.growth` ({r['total_s']:.0f} s in all) on {m['cpus']} cores, "
        f"{m['platform']}, Python {m['python']}, {m['postgresql']}. Raw figures, every run and the plans: "
        f"`{json_name}`.",
        "",
        f"One scratch ledger grown by bulk SQL to each size: dynamic-QR orders paid by {shape['wallets']:,} wallets "
        f"at {shape['merchants']} merchants (placed in the zones by the registry; one in {shape['outside_every']} "
        f"outside them all; a few busy), spread over the {shape['days']} local days {r['window']['from']} .. "
        f"{r['window']['to']}, each with its payment transfer, plus weekly top-ups; then `zones.rebuild.rebuild`. "
        "Every figure is the median wall-clock time of a few runs, in process (app context → PostgreSQL on "
        "loopback). Statements and the one-day rebuild look at the last day; the *probe* merchant-day holds "
        f"{shape['probe_payments']} payments at every size while that merchant's history grows with the ledger.",
        "",
        "| ms | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, (label, _, _) in OPERATIONS.items():
        lines.append(f"| {label} | " + " | ".join(_ms(s["figures"][name]["ms"]) for s in steps) + " |")
    lines += [
        "| *baseline: `SELECT 1` round trip* | " + " | ".join(_ms(s["baseline"]["select1_ms"]) for s in steps) + " |",
        "| *baseline: `sum()` over 1M `generate_series` rows* | "
        + " | ".join(_ms(s["baseline"]["pg_cpu_ms"]) for s in steps) + " |",
        "",
        "Pages touched (shared buffers hit + read, from `EXPLAIN (ANALYZE, BUFFERS)` of the last run; "
        "independent of the machine's noise):",
        "",
        "| pages | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, (label, _, _) in OPERATIONS.items():
        lines.append(f"| {label} | " + " | ".join(f"{s['plans'][name]['buffers']:,}" for s in steps) + " |")
    lines += [
        "",
        "What grows with what:",
        "",
        "| size | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for key, label in (("payments", "paid orders"), ("transfers", "transfers"),
                       ("payments_probe_day", "payments on the last day"),
                       ("busiest_merchant_day_payments", "busiest merchant-day"),
                       ("probe_merchant_day_payments", "probe merchant-day"),
                       ("probe_merchant_payments", "probe merchant, all days"),
                       ("zone_merchant_daily_rows", "`zone_merchant_daily` rows"),
                       ("zone_daily_payers_rows", "`zone_daily_payers` rows")):
        lines.append(f"| {label} | " + " | ".join(f"{s['sizes'][key]:,}" for s in steps) + " |")
    lines.append("| bulk load of the step (s) | " + " | ".join(f"{s['load']['with_vacuum_s']:.1f}" for s in steps)
                 + " |")
    lines.append("| `ledger verify` after the step | " + " | ".join(
        "ok" if s["ledger_verify"] == "ok" else "**fails**" for s in steps) + " |")
    lines += ["", f"## Row by row ({cols[0]} → {cols[-1]}, time divided by the CPU baseline)", ""]
    for name, (label, does, covers) in OPERATIONS.items():
        lines.append(f"- {label}: {_verdict(r['growth'].get(name))}. It {does}; at {cols[-1]} "
                     f"{_reads(last['plans'][name], last['sizes'], covers)}.")
    if r.get("analysis"):
        lines += ["", "## What the plans say", "", r["analysis"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes that only check everything runs")
    parser.add_argument("--sizes", help="comma-separated ledger sizes in payments, increasing")
    parser.add_argument("--out", default=str(DOCS), help="directory for growth.json and GROWTH.md")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick else SIZES)
    shape = QUICK if args.quick else FULL
    if any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] <= shape.probe_payments:
        parser.error(f"--sizes must increase and start above {shape.probe_payments}")
    results = run(sizes, shape, os.environ.get("BENCH_GROWTH_REDIS_URL", REDIS_URL))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (out / f"growth{suffix}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    write_markdown(results, out / f"GROWTH{suffix}.md", f"growth{suffix}.json")
    print(json.dumps(results["growth"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
