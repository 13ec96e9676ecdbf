"""bench.shed's open-loop client (#17 item 5): it tells answered claims from refused ones and retries a refused
claimant the way payclient does — same Idempotency-Key, after Retry-After — against a tiny local server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter

from werkzeug.serving import make_server

from bench.shed import open_loop, run_async, summary


def test_refused_claimants_come_back_with_their_key_and_the_answers_are_told_apart():
    seen: Counter = Counter()
    lock = threading.Lock()

    def app(environ, start_response):
        key = environ["HTTP_IDEMPOTENCY_KEY"]
        with lock:
            seen[key] += 1
            first = seen[key] == 1
        if first and key.startswith("busy"):
            body = json.dumps({"status": 429, "code": "claim_busy"}).encode()
            start_response("429 TOO MANY REQUESTS", [("Content-Type", "application/problem+json"),
                                                     ("Retry-After", "0"), ("Content-Length", str(len(body)))])
            return [body]
        body = json.dumps({"amount_fen": 7}).encode()
        start_response("201 CREATED", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        items = [("/api/v1/campaigns/1/claims", "tok", f"{'busy' if i % 2 else 'ok'}-{i}") for i in range(10)]
        res = run_async(open_loop(server.server_port, 200, items))
    finally:
        server.shutdown()
    assert res["statuses"] == {"201": 10, "429": 5} and res["outcome"] == {"201": 10}
    assert res["answered"]["n"] == 10 and res["refused"]["n"] == 5 and res["refused_share"] == 0.333
    assert res["won"] == 10 and res["won_fen"] == 70 and res["connection_errors"] == 0
    assert all(seen[k] == (2 if k.startswith("busy") else 1) for _, _, k in items)  # same key, sent again


def test_summary_percentiles():
    s = summary([float(i) for i in range(1, 101)])
    assert (s["n"], s["p50_ms"], s["p99_ms"], s["max_ms"]) == (100, 51.0, 100.0, 100.0)
    assert summary([])["p99_ms"] is None


def test_the_client_runs_where_an_event_loop_is_already_running():
    """In a test session an earlier test's library may leave an event loop running in this thread (CI saw
    "asyncio.run() cannot be called from a running event loop"): the step's client then runs on its own thread."""

    async def inside():
        return run_async(asyncio.sleep(0, result=5))

    # run_async both outside (whatever this session's thread runs) and inside a running loop of its own.
    assert run_async(inside()) == 5 and run_async(asyncio.sleep(0, result=6)) == 6
