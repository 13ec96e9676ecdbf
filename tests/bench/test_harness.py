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
    # The production shape drops no connection, under wrk or under pausing keep-alive clients (bench/rush.py).
    assert r["stack"]["gunicorn_config"] == "gunicorn.conf.py"
    assert r["keepalive_rush"]["exact"] and r["keepalive_rush"]["connection_errors"] == 0, r["keepalive_rush"]
    assert all(r[run]["connection_errors"] == 0 for run in ("noop", "payments_spread", "claims")), r


WRK_WITH_ERRORS = """Running 2s test @ http://127.0.0.1:1/
  2 threads and 16 connections
  Latency   1.00ms
  1000 requests in 2.00s, 100.00KB read
  Socket errors: connect 1, read 12, write 3, timeout 7
Requests/sec:    500.00
"""


def test_wrk_socket_errors_are_counted_and_fail_the_bench():
    from bench.run import connection_errors, socket_errors

    counted = socket_errors(WRK_WITH_ERRORS)
    assert counted == {"socket_errors": {"connect": 1, "read": 12, "write": 3, "timeout": 7}, "connection_errors": 16}
    assert socket_errors("Requests/sec: 1.0\n")["connection_errors"] == 0  # wrk prints the line only with errors
    results = {"noop": {"connection_errors": 0}, "claims": counted, "keepalive_rush": {"connection_errors": 2},
               "ratios": {"x": 1}}
    assert connection_errors(results) == {"claims": 16, "keepalive_rush": 2}


def test_fault_runs_fail_on_connection_errors_the_fault_does_not_explain():
    from bench.faults import EXPLAINED_AFTER_S, Load, unexplained_connection_errors

    load, sell_out = Load("http://x", [], {}, []), Load("http://x", [], {}, [])
    load.fault_span_s = (6.0, 7.5)
    load.connection_errors = [(5.9, "claim", "ConnectionError"), (6.0, "claim", "ConnectionError"),
                              (7.5 + EXPLAINED_AFTER_S, "payment", "ConnectionError"),
                              (7.6 + EXPLAINED_AFTER_S, "payment", "ConnectionError")]
    sell_out.connection_errors = [(1.0, "claim", "ConnectionError")]
    assert unexplained_connection_errors(load, sell_out) == [
        (5.9, "claim", "ConnectionError"), (7.6 + EXPLAINED_AFTER_S, "payment", "ConnectionError"),
        ("after the run", "claim", "ConnectionError")]
