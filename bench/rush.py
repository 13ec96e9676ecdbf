"""A red-packet rush of keep-alive clients that pause between requests, counting dropped connections.

wrk keeps every connection busy, so it never sees what a crowd of phones does: send a request, wait a
moment, send the next on the same kept-alive connection. If the server closes an idle connection just as
the next request goes out, that request is lost ("Remote end closed connection without response", a broken
pipe, "Connection reset by peer") before the app sees it. Each client here reuses one ``http.client``
connection without probing it first (as a client does when the server's close crosses its request on the
wire) and pauses 0..``pause_s`` seconds between requests, so every idle time up to ``pause_s`` is tried.

Usage: python -m bench.rush [--claimants N] [--clients N] [--pause-s S] [-- extra gunicorn args]
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


def rush(stack: Stack, campaign_id: int, tokens: list[str], clients: int, pause_s: float, seed: int = 1) -> dict:
    """Let ``clients`` keep-alive clients claim once for each token; return the answers and connection errors."""
    todo = list(tokens)
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
                    token = todo.pop()
                try:
                    conn.request("POST", f"/api/v1/campaigns/{campaign_id}/claims", body=b"{}", headers={
                        "Authorization": f"Bearer {token}", "Idempotency-Key": f"rush-{token[-16:]}",
                        "Content-Type": "application/json"})
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
    return {"claimants": len(tokens), "clients": clients, "pause_s_max": pause_s,
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
    res = rush(stack, campaign_id, tokens, clients, pause_s)
    with app.app_context():
        paid, total = db.session.execute(sa.text(
            "SELECT count(*), coalesce(sum(t.amount_fen), 0) FROM transfers t JOIN campaigns c "
            "ON c.account_id = t.debit_account_id WHERE t.code = 'red_packet_claim' AND c.id = :c"),
            {"c": campaign_id}).one()
        db.session.rollback()
    res.update(packets=packets, packets_paid=paid, exact=paid == packets and int(total) == packets * 888)
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claimants", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--pause-s", type=float, default=3.0)
    parser.add_argument("gunicorn_args", nargs="*", help="extra gunicorn arguments, after --")
    args = parser.parse_args(argv)
    from bench import fixtures

    with Stack(gunicorn_args=args.gunicorn_args) as stack:
        app = stack.app()
        with app.app_context():
            merchant = fixtures.merchants(1, prefix="168")[0][0]
        stack.start_server()
        res = run(stack, app, merchant, args.claimants, args.clients, args.pause_s)
    res["gunicorn_args"] = args.gunicorn_args
    print(json.dumps(res))
    return 1 if res["connection_errors"] or not res["exact"] else 0


if __name__ == "__main__":
    sys.exit(main())
