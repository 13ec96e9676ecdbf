"""A red-packet rush of keep-alive clients that pause between requests, counting dropped connections.

wrk keeps every connection busy, so it never sees what a crowd of phones does: send a request, wait a
moment, send the next on the same kept-alive connection. If the server closes an idle connection just as
the next request goes out, that request is lost ("Remote end closed connection without response", a broken
pipe, "Connection reset by peer") before the app sees it. Each client here reuses one ``http.client``
connection without probing it first (as a client does when the server's close crosses its request on the
wire) and pauses 0..``pause_s`` seconds between requests, so every idle time up to ``pause_s`` is tried.

Usage: python -m bench.rush [--claimants N] [--payments N] [--clients N] [--pause-s S] [-- extra gunicorn args]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
from collections import Counter

import sqlalchemy as sa

from bench.harness import Stack

#: What a lost connection looks like to a client (no answer at all, so nothing was committed).
CONNECTION_ERRORS = (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine, TimeoutError)


def rush(stack: Stack, requests: list[tuple[str, str, dict]], clients: int, pause_s: float, seed: int = 1) -> dict:
    """Let ``clients`` keep-alive clients POST each of ``requests`` (path, token, body) once, each with its own
    Idempotency-Key; return the answers and the connection errors."""
    todo = [(path, token, json.dumps(body).encode(), f"rush-{i}-{token[-12:]}")
            for i, (path, token, body) in enumerate(requests)]
    lock = threading.Lock()
    answers: Counter = Counter()
    errors: Counter = Counter()

    def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    path, token, body, key = todo.pop()
                try:
                    conn.request("POST", path, body=body, headers={
                        "Authorization": f"Bearer {token}", "Idempotency-Key": key, "Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    with lock:
                        answers[resp.status] += 1
                except CONNECTION_ERRORS as exc:
                    conn.close()  # the next request opens a new connection
                    with lock:
                        errors[type(exc).__name__] += 1
                time.sleep(rng.uniform(0, pause_s))
        finally:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"requests": len(requests), "clients": clients, "pause_s_max": pause_s,
            "seconds": round(time.monotonic() - t0, 1), "answers": {str(k): v for k, v in sorted(answers.items())},
            "connection_errors": sum(errors.values()), "connection_errors_by_kind": dict(errors)}


def run(stack: Stack, app, merchant, claimants: int = 1_000, clients: int = 200, pause_s: float = 3.0,
        packets: int | None = None) -> dict:
    """Launch a campaign of ``packets`` (default half the claimants), rush it, check the money; return figures."""
    from backend.extensions import db
    from bench import fixtures

    packets = packets or claimants // 2
    with app.app_context():
        tokens = fixtures.bulk_consumers_with_tokens(claimants, prefix="167")
        campaign_id = fixtures.live_red_packet_campaign(db.session.merge(merchant), packets, packets * 888)
    res = rush(stack, [(f"/api/v1/campaigns/{campaign_id}/claims", t, {}) for t in tokens], clients, pause_s)
    res["claimants"] = claimants
    with app.app_context():
        paid, total = db.session.execute(sa.text(
            "SELECT count(*), coalesce(sum(t.amount_fen), 0) FROM transfers t JOIN campaigns c "
            "ON c.account_id = t.debit_account_id WHERE t.code = 'red_packet_claim' AND c.id = :c"),
            {"c": campaign_id}).one()
        db.session.rollback()
    res.update(packets=packets, packets_paid=paid, exact=paid == packets and int(total) == packets * 888)
    return res


def pay(stack: Stack, app, tokens: list[str], merchant_list, payments: int = 1_000, clients: int = 200,
        pause_s: float = 3.0) -> dict:
    """Pay ``payments`` prepared dynamic orders through pausing keep-alive clients; count settled payments."""
    from backend.extensions import db
    from bench import fixtures

    with app.app_context():
        payloads = fixtures.orders(merchant_list, payments)
        db.session.rollback()
    before = _paid(app)
    res = rush(stack, [("/api/v1/payments", tokens[i % len(tokens)], {"payload": p}) for i, p in enumerate(payloads)],
               clients, pause_s)
    res["payments"] = _paid(app) - before
    res["exact"] = res["payments"] == res["answers"].get("201", 0)  # every 201 is one payment, and only those
    return res


def _paid(app) -> int:
    from backend.extensions import db

    with app.app_context():
        n = db.session.execute(sa.text("SELECT count(*) FROM orders WHERE status = 'paid'")).scalar_one()
        db.session.rollback()
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claimants", type=int, default=1_000)
    parser.add_argument("--payments", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--pause-s", type=float, default=3.0)
    parser.add_argument("gunicorn_args", nargs="*", help="extra gunicorn arguments, after --")
    args = parser.parse_args(argv)
    from backend.extensions import db
    from bench import fixtures

    with Stack(gunicorn_args=args.gunicorn_args) as stack:
        app = stack.app()
        with app.app_context():
            merchants = [m for m, _ in fixtures.merchants(10, prefix="168")]
            tokens = [t for _, t in fixtures.consumers(200, 50_000_000, prefix="169")]
            for m in merchants:
                db.session.refresh(m)
            db.session.expunge_all()
        stack.start_server()
        res = {"gunicorn_args": args.gunicorn_args,
               "claims": run(stack, app, merchants[0], args.claimants, args.clients, args.pause_s),
               "payments": pay(stack, app, tokens, merchants, args.payments, args.clients, args.pause_s)}
    print(json.dumps(res))
    bad = [k for k in ("claims", "payments") if res[k]["connection_errors"] or not res[k]["exact"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
