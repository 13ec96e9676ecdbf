"""Admission control at the claim endpoint (#17 item 5): in a rush, turn the excess away at once.

When claimants arrive faster than the server answers, each claim waits behind the others and every
answer gets slow (docs/BENCHMARKS.md: p99 140 ms in a rush at six times capacity). This WSGI
middleware sits in front of Flask, before authentication, the database and Redis, and answers
``429 claim_busy`` with ``Retry-After`` when the worker is already busy with enough claims; the app
(``payclient``) waits that long plus jitter and sends the same request with the same Idempotency-Key.
A refused attempt has touched nothing: no packet is taken, no Idempotency-Key is recorded.

Where a claim waits in the README's shape (gunicorn ``gthread``, 4 workers × 8 threads):

1. the kernel's listen queue (new connections only; the apps keep theirs alive),
2. gthread's work queue: a worker's main thread hands every connection with a request ready to a pool
   of ``threads`` threads through an unbounded queue,
3. inside the app: the threads of a process share one GIL, the database pool and the CPU with
   PostgreSQL.

What grows in a rush is (2) and (3). The bound counts (3) directly: ``CLAIM_MAX_IN_FLIGHT`` claims per
worker process are being worked on at once; a thread that picks up one more turns it away in a few
hundred microseconds of CPU. Because refusing is so much cheaper than claiming, the spare threads drain
the work queue (2) faster than claimants can fill it, so the wait ahead of the app stays short too —
as long as the bound is below the thread count. A sync worker has one request in flight at a time, so
the bound never trips there and the queue is the kernel's (1), which the app cannot see: that is why
the production shape is threaded. Behind a proxy that stamps each request (HAProxy
``http-request set-header X-Request-Start t=%[date(0,us)]``, nginx ``X-Request-Start "t=${msec}"``),
``CLAIM_MAX_QUEUE_MS`` also refuses a claim that has already waited that long anywhere between the
proxy and the app, whatever the worker class: its claimant is better served by a quick retry than by
a late answer. (A client can forge the header; it can only get itself refused sooner: the in-flight
bound still holds.)

Measured by ``python -m bench.shed`` (docs/BENCHMARKS.md, "The claim rush at 2 × capacity"). What it does not
bound: winning claims of one campaign still queue for the campaign's escrow row (the ledger transfer holds its
lock until COMMIT), up to ``CLAIM_MAX_IN_FLIGHT`` × workers of them; a bound per campaign shared by the
workers would be the next step.

Configuration: ``CLAIM_MAX_IN_FLIGHT`` (per worker process; default 2; 0 turns the bound off),
``CLAIM_MAX_QUEUE_MS`` (default 0: off), ``CLAIM_BUSY_RETRY_AFTER_S`` (default 1).
"""

from __future__ import annotations

import json
import re
import threading
import time

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from backend.errors import PROBLEM_MIME
from backend.problem_text import localise, wants_chinese

#: ``POST /api/v1/campaigns/<id>/claims`` (the consumer's claim; staff grants are another endpoint).
CLAIM_PATH = re.compile(r"/api/v1/campaigns/\d{1,10}/claims/?")
DETAIL = "Too many claims are being handled right now; retry the same request after Retry-After seconds."
DEFAULT_MAX_IN_FLIGHT = 2
DEFAULT_RETRY_AFTER_S = 1


class Admission:
    """How many claims this process is working on, against its bound (thread-safe)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_flight = 0
        self.refused = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        """Take a place if there is one (always, without a bound); return whether one was taken."""
        with self._lock:
            if self.limit and self.in_flight >= self.limit:
                self.refused += 1
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def queued_ms(environ: dict, now_s: float) -> float | None:
    """How long ago the proxy stamped the request (``X-Request-Start``: ``t=`` seconds, milliseconds or
    microseconds since the epoch, as HAProxy and nginx write it); None without a readable stamp."""
    raw = environ.get("HTTP_X_REQUEST_START")
    if not raw:
        return None
    try:
        value = float(raw.strip().removeprefix("t="))
    except ValueError:
        return None
    # Seconds (nginx's ${msec}: 1700000000.123), milliseconds or microseconds since the epoch.
    start_s = value / 1e6 if value > 1e14 else value / 1e3 if value > 1e11 else value
    return max(0.0, (now_s - start_s) * 1000)


class ClaimAdmission:
    """WSGI middleware: refuse a claim with 429 ``claim_busy`` when this process is busy with
    ``admission.limit`` claims, or the claim has queued longer than ``max_queue_ms``."""

    def __init__(self, wsgi_app, admission: Admission, *, max_queue_ms: float = 0,
                 retry_after_s: int = DEFAULT_RETRY_AFTER_S, clock=time.time):
        self.wsgi_app = wsgi_app
        self.admission = admission
        self.max_queue_ms = max_queue_ms
        self.retry_after_s = retry_after_s
        self.clock = clock

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or not CLAIM_PATH.fullmatch(environ.get("PATH_INFO", "")):
            return self.wsgi_app(environ, start_response)
        if self.max_queue_ms and (waited := queued_ms(environ, self.clock())) is not None \
                and waited > self.max_queue_ms:
            return self.refuse(environ, start_response)
        if not self.admission.try_enter():
            return self.refuse(environ, start_response)
        try:
            # The claim's answer is a buffered body: when Flask returns it, the work is done and only the
            # sending is left, so the place is free for the next claim.
            return self.wsgi_app(environ, start_response)
        finally:
            self.admission.leave()

    def refuse(self, environ, start_response):
        problem = dict(type="about:blank", title="Too many requests", status=429, detail=DETAIL,
                       code="claim_busy", retry_after_seconds=self.retry_after_s)
        chinese = wants_chinese(parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept))
        data = json.dumps(localise(problem, chinese), ensure_ascii=False).encode()
        start_response("429 TOO MANY REQUESTS", [
            ("Content-Type", PROBLEM_MIME), ("Content-Length", str(len(data))),
            ("Content-Language", "zh-CN" if chinese else "en"), ("Vary", "Accept-Language"),
            ("Retry-After", str(self.retry_after_s))])
        return [data]


def install(app) -> Admission:
    """Wrap ``app.wsgi_app`` with the claim endpoint's admission control from the app's configuration;
    return this process's ``Admission`` (also ``app.extensions["claim_admission"]``)."""
    admission = Admission(int(app.config.get("CLAIM_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)))
    app.wsgi_app = ClaimAdmission(app.wsgi_app, admission,
                                  max_queue_ms=float(app.config.get("CLAIM_MAX_QUEUE_MS", 0)),
                                  retry_after_s=int(app.config.get("CLAIM_BUSY_RETRY_AFTER_S",
                                                                   DEFAULT_RETRY_AFTER_S)))
    app.extensions["claim_admission"] = admission
    return admission
