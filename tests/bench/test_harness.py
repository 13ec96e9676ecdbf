"""The benchmark harness works end to end (a tiny run; no timing assertions)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import unavailable


@pytest.mark.redis
def test_quick_bench_run_measures_every_figure(tmp_path):
    if not shutil.which("wrk") or not shutil.which("pgbench"):
        unavailable("wrk/pgbench", "install Debian's wrk and postgresql-client (.ci/run does)")
    from bench.run import main

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "benchmarks-quick.json").read_text())
    assert r["pgbench"]["tps"] > 0 and r["noop"]["requests_per_s"] > 0
    for run in ("payments_spread", "payments_hot", "payments_at_80pct"):
        assert r[run]["payments"] > 0, run  # payments really settled over HTTP
        assert r[run]["non_2xx"] == 0, run
    assert r["orders_at_100rps"]["requests_per_s"] > 0
    assert r["claims"]["exact"], r["claims"]  # the rush pays exactly its packets, to the fen
    assert r["ledger_verify"] == "ok"
    assert set(r["ratios"]) >= {"payments_vs_pgbench", "hot_vs_spread"}
