"""The growth bench works end to end (quick sizes; no timing assertions)."""

from __future__ import annotations

import json

import pytest
import redis
import sqlalchemy as sa

from tests.conftest import unavailable

#: Not the growth bench's own Redis database, so a real run going on meanwhile keeps its queue.
TEST_REDIS_URL = "redis://127.0.0.1:6379/5"


@pytest.mark.postgres
@pytest.mark.redis
def test_quick_growth_run_measures_every_figure(tmp_path, monkeypatch):
    from bench.growth import OPERATIONS, QUICK, QUICK_SIZES, main
    from bench.harness import Stack

    try:
        sa.create_engine(Stack.pg_admin_url).connect().close()
        redis.Redis.from_url(TEST_REDIS_URL).ping()
    except (sa.exc.OperationalError, redis.RedisError) as exc:
        unavailable("PostgreSQL/Redis", str(exc).splitlines()[0])
    monkeypatch.setenv("BENCH_GROWTH_REDIS_URL", TEST_REDIS_URL)

    assert main(["--quick", "--out", str(tmp_path)]) == 0

    r = json.loads((tmp_path / "growth-quick.json").read_text())
    assert [s["size"] for s in r["steps"]] == list(QUICK_SIZES)
    for step in r["steps"]:
        sizes = step["sizes"]
        assert step["ledger_verify"] == "ok"  # the bulk load kept every balance equal to its postings
        assert sizes["payments"] == step["size"]
        assert sizes["transfers"] > sizes["payments"]  # each payment's transfer, plus the top-ups
        assert sizes["zone_kpi_applied_rows"] == sizes["payments_in_zones"]  # the rebuild counted each one
        assert sizes["probe_merchant_day_payments"] == QUICK.probe_payments
        assert sizes["daily_statements_jobs"] == QUICK.merchants
        assert step["baseline"]["select1_ms"] > 0 and step["baseline"]["pg_cpu_ms"] > 0
        for name in OPERATIONS:
            assert step["figures"][name]["ms"] > 0, name
            assert step["plans"][name]["statements"] > 0, name  # its SQL was replayed under EXPLAIN
    assert set(r["growth"]) == set(OPERATIONS)
    report = (tmp_path / "GROWTH-quick.md").read_text()
    for label, _, _ in OPERATIONS.values():
        assert label in report
