"""``make faults``: a steady mix of payments, refunds and red-packet claims while one fault is
injected, then a checker that proves no money was lost or doubled.

Faults: kill -9 of a gunicorn worker; kill -9 of an RQ worker in the middle of
a job; Redis restarts during a claim rush, with claims in flight (see
``fault_redis_restart``); a PostgreSQL immediate restart; dropped database
connections. Before each run a live red-packet (grab) campaign is launched
with more packets than the run should claim, and fresh consumers wait to
claim from it (once each). After each run:

- every acknowledged (2xx) payment, refund and claim exists exactly once (a
  claim: its ``campaign_claims`` row for that consumer and campaign, and one
  ``red_packet_claim`` transfer of that packet's amount from the campaign's
  escrow into that consumer's restricted account);
- ``flask ledger verify`` passes;
- no campaign is over budget: claims never exceed the packets or the budget,
  the escrow holds the budget minus what was claimed, and no campaign or
  restricted account is below zero;
- the claim gate in Redis agrees with PostgreSQL (after ``Gate.reconcile``),
  and it can still hand out every packet: fresh consumers claim until the
  campaign is sold out, which must pay exactly every packet, to the fen;
- no job is left stuck (the queue and the started-job registry drain);
- throughput is back to ≥ 90 % of its pre-fault level within 10 s.

Clients retry like the apps' outbox (``payclient``): a request that got no
answer from the app (a network error, 502/503/504) is sent again with the same
Idempotency-Key, at most three times. Failed requests during the fault are
allowed (and "sold out" is a correct answer); wrong money is not. The Redis and
PostgreSQL restarts touch the machine's shared servers, so they run only with
``--shared-services`` (``make faults`` passes it) — or, for Redis, with
``--private-redis``, which gives each run a redis-server of its own (a free
port, a temp dir) and restarts that one.

Usage: python -m bench.faults [--only NAME,...] [--seconds N] [--private-redis] [--shared-services] [--out PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

from bench import fixtures
from bench.harness import ROOT, Stack, free_port

DOCS = ROOT / "docs"
#: Partial runs (not every fault) are written here unless ``--out`` says otherwise, never over docs/FAULTS.md.
SCRATCH = ROOT / "instance" / "faults"

#: What the app's outbox retries with the same Idempotency-Key: no answer from the app, so nothing was recorded.
RETRY_STATUSES = frozenset({502, 503, 504})
CLAIM_SHARE = 0.3  # of the requests, in the steady mix
REFUND_SHARE = 0.1
RUSH_SHARE = 0.75  # claims during the rush around a Redis restart (then 10 % refunds, 15 % payments)
RUSH_LEAD_S = 1.0  # the rush starts this long before Redis goes down
RUSH_AFTER_S = 3.0  # … and lasts this long after it is back
PACKETS_PER_S = 80  # packets per second of run: more than the steady mix claims (about 60/s here), so no early sell-out
PACKET_FEN = 888  # the mean packet

ALIASES = {"gunicorn_kill": "gunicorn_worker_kill9", "rq_kill": "rq_worker_kill9_mid_job",
           "db_connections": "dropped_db_connections", "pg_restart": "postgresql_immediate_restart"}


@dataclass
class Ack:
    kind: str  # payment | refund | claim
    key: str
    ref: str  # payment: its reference; refund: the payment's reference; claim: the claim id
    body: dict
    user_id: int | None = None  # claim: the claimant


def _code(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


@dataclass
class Load:
    """Threads sending payments, refunds of acknowledged payments and red-packet claims until stopped.

    Each claimant claims once. A request the app did not answer is sent again with its Idempotency-Key
    (``retries`` times, ``backoff_s`` doubling), as the apps' outbox does; a retry that finds the first
    attempt committed gets its recorded answer back, so every 2xx here is one money movement.
    """

    base_url: str
    tokens: list[str]
    owner_tokens: dict[int, str]
    payloads: list[str]
    threads: int = 8
    claim_path: str = ""  # /api/v1/campaigns/{id}/claims; empty: no claims in the mix
    claimants: list[tuple[int, str]] = field(default_factory=list)  # (user id, token), popped as they claim
    claim_share: float = CLAIM_SHARE
    retries: int = 3
    backoff_s: float = 0.3
    acks: list[Ack] = field(default_factory=list)
    per_second: Counter = field(default_factory=Counter)  # answers served: 2xx, and sold-out claims
    errors: Counter = field(default_factory=Counter)  # failed attempts, by kind and status or exception
    refusals: Counter = field(default_factory=Counter)  # correct refusals (a claim after the sell-out)
    retried: Counter = field(default_factory=Counter)  # attempts sent again with the same key, by kind
    unanswered: Counter = field(default_factory=Counter)  # requests given up after every retry, by kind
    told_already: list[int] = field(default_factory=list)  # claimants answered "already_claimed"
    unsure: list[tuple[str, str]] = field(default_factory=list)  # (kind, key) answered 5xx or never: moved money?
    claims_in_flight: int = 0
    connection_errors: list = field(default_factory=list)  # (seconds into the run, kind, exception): lost connections
    fault_span_s: tuple = ()  # (start, end) of the injected fault, seconds into the run
    rush: threading.Event = field(default_factory=threading.Event)
    sold_out: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    t0: float = 0.0

    def _count(self, counter: Counter, key: str) -> None:
        with self.lock:
            counter[key] += 1

    def _send(self, session, kind: str, path: str, token: str, body: dict) -> tuple[str, requests.Response | None]:
        """POST with a new Idempotency-Key, again with the same key while the app gives no answer;
        return the key and the answer (None if there never was one)."""
        key = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        for attempt in range(self.retries + 1):
            if attempt:
                self._count(self.retried, kind)
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = session.post(self.base_url + path, json=body, timeout=10, headers=headers)
            except requests.RequestException as exc:
                self._count(self.errors, f"{kind} {type(exc).__name__}")
                if isinstance(exc, requests.ConnectionError):  # no answer: refused, reset or closed under it
                    with self.lock:
                        self.connection_errors.append((round(time.monotonic() - self.t0, 2), kind,
                                                       type(exc).__name__))
                continue
            if resp.status_code in RETRY_STATUSES:
                self._count(self.errors, f"{kind} {resp.status_code} {_code(resp)}".rstrip())
                continue
            if resp.status_code == 429 and _code(resp) == "claim_busy":
                # Admission control turned it away before it did anything: as the apps do, wait Retry-After and
                # send it again with the same key.
                self._count(self.errors, f"{kind} 429 claim_busy")
                time.sleep(float(resp.headers.get("Retry-After") or 0))
                continue
            return key, resp
        with self.lock:
            self.unanswered[kind] += 1
            self.unsure.append((kind, key))
        return key, None

    def _record(self, kind: str, key: str, resp: requests.Response, ref: str = "", user_id: int | None = None) -> str:
        """Record an answer; return "ok", "sold_out" or "failed"."""
        second = int(time.monotonic() - self.t0)
        if 200 <= resp.status_code < 300:
            body = resp.json()
            ref = ref or str(body.get("reference") or body.get("claim_id") or "")
            with self.lock:
                self.acks.append(Ack(kind, key, ref, body, user_id))
                self.per_second[second] += 1
            return "ok"
        code = _code(resp)
        if kind == "claim" and resp.status_code == 409 and code == "sold_out":
            with self.lock:
                self.refusals["claim sold_out"] += 1
                self.per_second[second] += 1
            self.sold_out.set()
            return "sold_out"
        if kind == "claim" and code == "already_claimed":
            with self.lock:
                self.told_already.append(user_id)
        if resp.status_code >= 500:
            with self.lock:
                self.unsure.append((kind, key))
        self._count(self.errors, f"{kind} {resp.status_code} {code}".rstrip())
        return "failed"

    def claim(self, session) -> str | None:
        """One claimant claims once; return how it went, or None when no claimant is left."""
        with self.lock:
            if not self.claimants:
                return None
            user_id, token = self.claimants.pop()
            self.claims_in_flight += 1
        try:
            key, resp = self._send(session, "claim", self.claim_path, token, {})
        finally:
            with self.lock:
                self.claims_in_flight -= 1
        return self._record("claim", key, resp, user_id=user_id) if resp is not None else "failed"

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self.stop.is_set():
            share = (RUSH_SHARE if self.rush.is_set() else self.claim_share) if self.claim_path else 0.0
            r = rng.random()
            if r < share and self.claim(session) is not None:
                continue
            with self.lock:
                paid = [a for a in self.acks[-200:] if a.kind == "payment"]
            if paid and share <= r < share + REFUND_SHARE:
                a = rng.choice(paid)
                key, resp = self._send(session, "refund", f"/api/v1/orders/{a.body['id']}/refunds",
                                       self.owner_tokens[a.body["merchant"]["id"]], {"amount_fen": 1})
                if resp is not None:
                    self._record("refund", key, resp, ref=a.ref)
                continue
            with self.lock:
                payload = self.payloads.pop() if self.payloads else None
            if payload is None:
                time.sleep(0.05)
                continue
            key, resp = self._send(session, "payment", "/api/v1/payments", rng.choice(self.tokens),
                                   {"payload": payload})
            if resp is not None:
                self._record("payment", key, resp)

    def run(self, seconds: float, fault_at: float, fault) -> dict:
        self.t0 = time.monotonic()
        pool = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(self.threads)]
        for t in pool:
            t.start()
        time.sleep(fault_at)
        struck = time.monotonic() - self.t0
        fault_info = fault()
        self.fault_span_s = (struck, time.monotonic() - self.t0)
        time.sleep(max(0.0, seconds - fault_at))
        self.stop.set()
        for t in pool:
            t.join(15)
        return fault_info or {}


def recovery(per_second: Counter, fault_at: int, seconds: int, struck_at: float | None = None) -> dict:
    """Return the rate in the 6 s before ``fault_at`` and how many seconds after the fault struck
    (``struck_at``, default ``fault_at``) it was back to ≥ 90 % of it."""
    before = [per_second.get(s, 0) for s in range(max(1, fault_at - 6), fault_at)]
    baseline = sum(before) / max(1, len(before))
    start = int(struck_at) if struck_at is not None else fault_at
    back_after = None
    for s in range(start, seconds):
        if per_second.get(s, 0) >= 0.9 * baseline:
            back_after = s - start
            break
    return {"baseline_per_s": round(baseline, 1), "back_to_90pct_after_s": back_after,
            "timeline": [per_second.get(s, 0) for s in range(seconds)]}


# ---------------------------------------------------------------- red-packet claims


@dataclass
class ClaimSetup:
    campaign_id: int
    packets: int
    budget_fen: int
    claimants: list[tuple[int, str]]


def claimants(n: int, prefix: str = "166") -> list[tuple[int, str]]:
    """``fixtures.bulk_consumers_with_tokens`` with each token's user id (app context)."""
    return fixtures.bulk_consumers_with_ids_and_tokens(n, prefix)


def setup_claims(merchant, packets: int, claimant_count: int) -> ClaimSetup:
    """Launch a live grab campaign of ``packets`` packets (888 fen on average) at ``merchant`` and
    create ``claimant_count`` consumers to claim from it (app context)."""
    budget = packets * PACKET_FEN
    campaign_id = fixtures.live_red_packet_campaign(merchant, packets, budget)
    return ClaimSetup(campaign_id, packets, budget, claimants(claimant_count))


def gate_state(campaign_id: int) -> dict:
    """Compare the campaign's claim gate in Redis with PostgreSQL, the truth (app context; call it only
    while no claim is in flight). Counts:

    ``unpaid_not_listed`` packets PostgreSQL has not paid that the gate will not hand out (``held`` of
    them sit in orphan entries: a worker died between TAKE and COMMIT); ``orphans`` gate entries
    PostgreSQL does not know; ``stale`` listed packets PostgreSQL has paid (a rebuild raced a commit:
    the unique index refuses them when taken); ``missing_entries`` claims the gate does not know (same
    cause); ``duplicated`` packets listed twice; ``wrong_amount`` listed packets that do not exist or
    with another amount; ``mismatched`` entries naming another packet than the consumer's claim.
    """
    from backend.extensions import db
    from campaigns.gate import Gate
    from campaigns.models import Claim, Packet

    gate = Gate(campaign_id)
    r = gate.redis
    ready = bool(r.exists(gate.ready))
    listed = [x.decode() for x in r.lrange(gate.packets, 0, -1)]
    entries = {int(u): e.decode() for u, e in r.hgetall(gate.claims).items()}
    packets = dict(db.session.execute(sa.select(Packet.seq, Packet.amount_fen)
                                      .where(Packet.campaign_id == campaign_id)).all())
    claims = {u: (s, a) for u, s, a in db.session.execute(
        sa.select(Claim.user_id, Claim.packet_seq, Claim.amount_fen).where(Claim.campaign_id == campaign_id)).all()}
    db.session.rollback()
    paid = {s for s, _ in claims.values()}
    seqs: Counter = Counter()
    wrong = 0
    for item in listed:
        seq, amount = (int(x) for x in item.split(":"))
        seqs[seq] += 1
        wrong += packets.get(seq) != amount
    orphans = {u: e for u, e in entries.items() if u not in claims}
    held = {int(e.split(":")[0]) for e in orphans.values()}
    unpaid = set(packets) - paid
    return {
        "ready": ready, "listed": len(listed), "unpaid": len(unpaid), "claims": len(claims), "entries": len(entries),
        "unpaid_not_listed": len(unpaid - set(seqs)), "held": len(unpaid & held - set(seqs)),
        "orphans": len(orphans), "stale": sum(n for s, n in seqs.items() if s in paid),
        "missing_entries": sum(1 for u in claims if u not in entries),
        "duplicated": sum(n - 1 for n in seqs.values() if n > 1), "wrong_amount": wrong,
        "mismatched": sum(1 for u, e in entries.items()
                          if u in claims and tuple(int(x) for x in e.split(":")[:2]) != claims[u]),
    }


def gate_problems(state: dict, after_reconcile: bool) -> list[str]:
    """Return the gate states that are wrong. Before ``reconcile``, orphans and the packets they hold
    are expected after a worker died mid-claim, and stale packets and missing entries after a rebuild
    raced a commit (the unique indexes make both harmless); a lost packet is not. After ``reconcile``
    (with no grace: nothing is in flight) every unpaid packet must be listed again."""
    if not state["ready"]:
        return ["gate: not ready after reconcile"] if after_reconcile else []
    when = "after reconcile" if after_reconcile else "after the run"
    problems = [f"gate {when}: {state[k]} {k.replace('_', ' ')} packets" for k in ("duplicated", "wrong_amount")
                if state[k]]
    if state["mismatched"]:
        problems.append(f"gate {when}: {state['mismatched']} entries name another packet than the claim")
    lost = state["unpaid_not_listed"] - (0 if after_reconcile else state["held"])
    if lost:
        problems.append(f"gate {when}: {lost} unpaid packets are neither listed nor held")
    return problems


def reconcile(campaign_id: int) -> str:
    """Run the gate's own reconcile with no grace period (nothing is in flight after the run)."""
    from backend.extensions import db
    from campaigns import service as campaigns
    from campaigns.gate import Gate
    from campaigns.models import Campaign

    closes_at = db.session.get(Campaign, campaign_id).closes_at
    try:
        return Gate(campaign_id).reconcile(campaigns.gate_expiry(closes_at), grace_ms=0)
    finally:
        db.session.rollback()


def unpaid_packets(campaign_id: int) -> int:
    from backend.extensions import db

    n = db.session.execute(sa.text(
        "SELECT count(*) FROM campaign_packets p WHERE p.campaign_id = :c AND NOT EXISTS "
        "(SELECT 1 FROM campaign_claims k WHERE k.campaign_id = :c AND k.packet_seq = p.seq)"),
        {"c": campaign_id}).scalar_one()
    db.session.rollback()
    return n


def drain(app, load: Load, campaign_id: int, threads: int = 16, timeout_s: float = 60) -> Load:
    """After the run: the claimants left claim until the campaign is sold out; return their load.

    A "sold out" answered while PostgreSQL still has unpaid packets (the gate asks it at most every
    2 s) is waited out and claimed again, until ``timeout_s``."""
    d = Load(load.base_url, [], {}, [], threads=threads, claim_path=load.claim_path, claimants=load.claimants,
             claim_share=1.0)
    d.t0 = time.monotonic()
    deadline = d.t0 + timeout_s

    def worker():
        session = requests.Session()
        while not d.sold_out.is_set() and time.monotonic() < deadline:
            if d.claim(session) is None:
                return

    while True:
        d.sold_out.clear()
        pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout_s + 15)
        with app.app_context():
            left = unpaid_packets(campaign_id)
        if left == 0 or not d.claimants or time.monotonic() > deadline:
            return d
        time.sleep(2.5)


def check_claims(campaign_id: int, acks: list[Ack], told_already: list[int]) -> tuple[list[str], dict]:
    """Return the claim violations and figures (app context): every acknowledged claim exists once, with
    its one transfer; claims never exceed the packets or the budget; the escrow holds the rest."""
    from backend.extensions import db

    q = lambda sql, **p: db.session.execute(sa.text(sql), {"c": campaign_id, **p})  # noqa: E731
    problems: list[str] = []
    packet_count, budget, escrow = q("SELECT packet_count, budget_fen, account_id FROM campaigns WHERE id = :c").one()
    packets = dict(q("SELECT seq, amount_fen FROM campaign_packets WHERE campaign_id = :c").all())
    rows = q("SELECT id, user_id, packet_seq, amount_fen, restricted_account_id FROM campaign_claims "
             "WHERE campaign_id = :c").all()
    by_user: dict[int, list] = {}
    for r in rows:
        by_user.setdefault(r.user_id, []).append(r)
    transfers: dict[int, list] = {}
    for t in q("SELECT id, debit_account_id, credit_account_id, amount_fen, memo FROM transfers "
               "WHERE code = 'red_packet_claim' AND reverses_id IS NULL AND "
               "(debit_account_id = :e OR credit_account_id IN "
               " (SELECT restricted_account_id FROM campaign_claims WHERE campaign_id = :c))", e=escrow).all():
        transfers.setdefault(t.credit_account_id, []).append(t)
    balances = dict(q("SELECT id, balance_fen FROM accounts WHERE id = :e OR id IN "
                      "(SELECT restricted_account_id FROM campaign_claims WHERE campaign_id = :c)", e=escrow).all())
    db.session.rollback()

    if len(packets) != packet_count or sum(packets.values()) != budget:
        problems.append(f"campaign {campaign_id}: {len(packets)} packets of {sum(packets.values())} fen, "
                        f"not {packet_count} of {budget} fen")
    claimed_fen = sum(r.amount_fen for r in rows)
    if len(rows) > packet_count or claimed_fen > budget:
        problems.append(f"campaign {campaign_id} over budget: {len(rows)} claims of {claimed_fen} fen "
                        f"for {packet_count} packets of {budget} fen")
    if len({r.packet_seq for r in rows}) != len(rows):
        problems.append("a packet was claimed twice")
    # Every claim (acknowledged or not) is paid once, from the escrow, the packet's amount, into its account.
    bad = 0
    for r in rows:
        legs = transfers.get(r.restricted_account_id, [])
        if (len(legs) != 1 or legs[0].amount_fen != r.amount_fen or legs[0].debit_account_id != escrow
                or legs[0].memo != f"campaign:{campaign_id}:claim:{r.id}" or packets.get(r.packet_seq) != r.amount_fen
                or balances.get(r.restricted_account_id) != r.amount_fen):
            bad += 1
            if bad <= 5:
                problems.append(f"claim {r.id} (packet {r.packet_seq}, {r.amount_fen} fen): transfers "
                                f"{[(t.id, t.amount_fen, t.debit_account_id) for t in legs]}, restricted balance "
                                f"{balances.get(r.restricted_account_id)}, packet {packets.get(r.packet_seq)} fen")
    if bad > 5:
        problems.append(f"… {bad - 5} more claims not paid exactly once")
    paid_legs = sum(len(v) for v in transfers.values())
    if paid_legs != len(rows):
        problems.append(f"{paid_legs} red_packet_claim transfers for {len(rows)} claims")
    if balances.get(escrow) != budget - claimed_fen:
        problems.append(f"escrow holds {balances.get(escrow)} fen, not budget − claimed = {budget - claimed_fen} fen")
    # Every acknowledged claim: that consumer's one claim, as the answer said.
    seen: dict[int, int] = {}
    missing = 0
    for a in acks:
        if a.kind != "claim":
            continue
        mine = by_user.get(a.user_id, [])
        if len(mine) != 1 or mine[0].id != a.body["claim_id"] or mine[0].packet_seq != a.body["packet_seq"] \
                or mine[0].amount_fen != a.body["amount_fen"] or a.body["campaign_id"] != campaign_id:
            missing += 1
            if missing <= 5:
                problems.append(f"acknowledged claim {a.body.get('claim_id')} of user {a.user_id}: "
                                f"found {[tuple(m) for m in mine]}")
        if seen.setdefault(a.body["claim_id"], a.user_id) != a.user_id:
            problems.append(f"claim {a.body['claim_id']} acknowledged to two consumers")
    if missing > 5:
        problems.append(f"… {missing - 5} more acknowledged claims not found exactly once")
    acked = {a.user_id for a in acks if a.kind == "claim"}
    figures = {"packets": packet_count, "budget_fen": budget, "claims": len(rows), "claimed_fen": claimed_fen,
               "escrow_fen": balances.get(escrow), "acknowledged": len(acked),
               "committed_unacknowledged": len(set(by_user) - acked),
               # Told "already claimed" with no claim: a worker died between the gate and the commit, and the
               # gate's entry outlives it until a rebuild (not money, but a wrong answer; see the report).
               "told_already_without_claim": sorted(u for u in set(told_already) if u not in by_user)}
    return problems, figures


def committed_unacknowledged(unsure: list[tuple[str, str]]) -> dict:
    """Of the requests answered 5xx (or never), return how many per kind had in fact committed: their
    Idempotency-Key holds a 2xx (app context). Not wrong money, but the client was told it failed; only a
    retry with the same key learns the truth."""
    from backend.extensions import db

    keys = {key: kind for kind, key in unsure}
    if not keys:
        return {}
    rows = db.session.execute(sa.text("SELECT key FROM idempotency_keys WHERE key = ANY(:k) "
                                      "AND status_code BETWEEN 200 AND 299"), {"k": list(keys)}).scalars().all()
    db.session.rollback()
    return dict(Counter(keys[k] for k in rows))


def check(stack: Stack, app, load: Load, claim_setup: ClaimSetup | None = None,
          extra_acks: list[Ack] | None = None, told_already: list[int] | None = None,
          figures: dict | None = None) -> list[str]:
    """Return the invariant violations after a run (empty = sound); with ``claim_setup``, fill
    ``figures`` with the campaign's (see ``check_claims``)."""
    from backend.extensions import db
    from backend.ledger.service import verify

    acks = load.acks + (extra_acks or [])
    problems: list[str] = []
    with app.app_context():
        for a in acks:
            if a.kind == "payment":
                ref = a.body["reference"]
                legs = db.session.execute(sa.text(
                    "SELECT count(*) FROM transfers WHERE batch_id = :r AND reverses_id IS NULL"), {"r": ref}
                ).scalar_one()
                status = db.session.execute(sa.text("SELECT status FROM orders WHERE reference = :r"),
                                            {"r": ref}).scalar_one_or_none()
                if legs != len(a.body.get("legs", [1])) or status not in ("paid", "partially_refunded", "refunded"):
                    problems.append(f"acknowledged payment {ref}: {legs} legs, status {status}")
            elif a.kind == "refund":
                rid = a.body["refund"]["id"]
                n = db.session.execute(sa.text("SELECT count(*) FROM refunds WHERE id = :i"), {"i": rid}).scalar_one()
                if n != 1:
                    problems.append(f"acknowledged refund {rid} found {n} times")
        twice = [k for k, n in Counter(a.key for a in acks).items() if n > 1]
        if twice:
            problems.append(f"{len(twice)} Idempotency-Keys acknowledged twice")
        dup = db.session.execute(sa.text(
            "SELECT count(*) FROM (SELECT batch_id FROM transfers WHERE code = 'payment' AND reverses_id IS NULL "
            "GROUP BY batch_id HAVING count(*) > 1) d")).scalar_one()
        if dup:
            problems.append(f"{dup} orders were paid more than once")
        problems += [f"ledger: {p}" for p in verify()]
        negative = db.session.execute(sa.text(
            "SELECT count(*) FROM accounts WHERE kind IN ('campaign', 'restricted') AND balance_fen < 0")).scalar_one()
        if negative:
            problems.append(f"{negative} campaign/restricted accounts below zero (over budget)")
        db.session.rollback()
        if claim_setup is not None:
            claim_problems, claim_figures = check_claims(claim_setup.campaign_id, acks,
                                                         load.told_already + (told_already or []))
            problems += claim_problems
            if figures is not None:
                figures.update(claim_figures)
        if figures is not None:
            figures["committed_but_answered_5xx_or_never"] = committed_unacknowledged(load.unsure)
    return problems


def jobs_drained(stack: Stack, timeout_s: float = 260) -> dict:
    """Wait until the queue and started registry are empty; return what remains."""
    import redis
    from rq import Queue
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    conn = redis.Redis.from_url(stack.redis_url)
    q = Queue("default", connection=conn)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        started = StartedJobRegistry(queue=q)
        started.cleanup()
        if len(q) == 0 and started.count == 0 and q.scheduled_job_registry.count == 0:
            break
        time.sleep(1)
    started = StartedJobRegistry(queue=q)
    return {"queued": len(q), "started": started.count, "scheduled": q.scheduled_job_registry.count,
            "failed": FailedJobRegistry(queue=q).count}


class JobFeeder(threading.Thread):
    """Enqueues statement jobs steadily so a worker is mid-job when it is killed."""

    def __init__(self, stack: Stack, merchant_ids: list[int]):
        super().__init__(daemon=True)
        self.stack, self.merchant_ids, self.stop = stack, merchant_ids, threading.Event()
        self.enqueued = 0
        self.errors = 0

    def run(self):
        import redis
        from rq import Queue

        from backend.jobs import DEFAULT_RETRY
        from backend.payments.statements import build_statement

        q = Queue("default", connection=redis.Redis.from_url(self.stack.redis_url))
        day = (datetime.now(timezone(timedelta(hours=8))) - timedelta(days=1)).date().isoformat()
        while not self.stop.is_set():
            for m in self.merchant_ids[:3]:
                # A short timeout: RQ finds a job abandoned 60 s after its timeout runs out.
                try:
                    q.enqueue(build_statement, m, day, retry=DEFAULT_RETRY, job_timeout=20)
                    self.enqueued += 1
                except redis.RedisError:  # Redis is restarting: the feeder is a client like any other
                    self.errors += 1
            time.sleep(0.5)


class Supervisor(threading.Thread):
    """Starts a new RQ worker when one exits, as systemd or supervisord would in production (an RQ worker
    quits when Redis vanishes while it finishes a job). The RQ kill fault replaces its victim itself,
    under ``lock``."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        self.stack, self.lock, self.stop = stack, threading.Lock(), threading.Event()
        self.t0 = time.monotonic()
        self.restarted: list[dict] = []

    def run(self):
        while not self.stop.wait(0.5):
            with self.lock:
                for i, proc in enumerate(list(self.stack.procs[1:])):
                    if proc.poll() is not None and not self.stop.is_set():
                        self.stack.procs.remove(proc)
                        new = self.stack.start_rq_worker(i)
                        self.restarted.append({"pid": proc.pid, "exit_code": proc.returncode, "replacement": new.pid,
                                               "at_s": round(time.monotonic() - self.t0, 1)})


class PrivateRedis:
    """A redis-server of the run's own on a free port, without persistence: restarting it disturbs nobody."""

    def __init__(self, log_dir: Path = ROOT / "instance" / "bench-logs"):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="suiyuan-faults-redis-"))
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"redis-{self.port}.log", "a") as log:
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: without save points Redis exits without saving (as SHUTDOWN NOSAVE, which the shared
        fault sends); every key is gone when it comes back."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> float:
        """Shut down and start again on the same port; return how long Redis was away (s)."""
        t = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - t

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Run:
    """What a fault may touch."""

    stack: Stack
    app: object
    load: Load
    campaign_id: int
    private_redis: PrivateRedis | None = None
    supervisor: Supervisor | None = None


def _gunicorn_worker_pids(stack: Stack) -> list[int]:
    master = stack.procs[0].pid
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def fault_gunicorn_kill(run: Run):
    victim = random.choice(_gunicorn_worker_pids(run.stack))
    os.kill(victim, signal.SIGKILL)
    return {"killed_pid": victim}


def fault_rq_kill(run: Run):
    """Kill -9 an RQ worker while it is executing a job, then start a replacement (as a supervisor would)."""
    import redis
    from rq import Worker

    stack = run.stack
    conn = redis.Redis.from_url(stack.redis_url)
    with run.supervisor.lock if run.supervisor is not None else contextlib.nullcontext():
        return _rq_kill(stack, conn, Worker)


def _rq_kill(stack: Stack, conn, Worker) -> dict:
    worker_proc = stack.procs[1]
    job_id = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and job_id is None:
        for w in Worker.all(connection=conn):
            if w.pid == worker_proc.pid and w.get_current_job_id():
                job_id = w.get_current_job_id()
        if job_id is None:
            time.sleep(0.005)
    os.killpg(worker_proc.pid, signal.SIGKILL)
    stack.procs.remove(worker_proc)
    replacement = stack.start_rq_worker(1)
    return {"killed_worker": worker_proc.pid, "mid_job": job_id, "replacement": replacement.pid}


def fault_db_connections(run: Run):
    stack = run.stack
    admin = sa.create_engine(sa.make_url(stack.pg_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        n = c.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": stack.db_name}).scalar_one()
    admin.dispose()
    return {"terminated_connections": n}


def fault_pg_restart(run: Run):
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    t = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "immediate"],
                   check=True, capture_output=True)
    return {"restart_s": round(time.monotonic() - t, 2)}


def _restart_shared_redis() -> float:
    t = time.monotonic()
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True)
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
                    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile",
                    "/var/log/redis/ci.log"], check=True, capture_output=True)
    for _ in range(50):
        if subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
            break
        time.sleep(0.1)
    return time.monotonic() - t


def claims_in_flight(run: Run, at_least: int = 1, timeout_s: float = 5.0) -> list[int]:
    """Wait until the gate has handed packets to ``at_least`` consumers whose claims have not committed
    yet (entries PostgreSQL does not know, made in the last 2 s); return those consumers (on timeout,
    the most seen at once)."""
    import redis

    from backend.extensions import db
    from campaigns.gate import Gate
    from campaigns.models import Claim

    client = redis.Redis.from_url(run.stack.redis_url)
    claims_key = Gate(run.campaign_id, client).claims
    deadline = time.monotonic() + timeout_s
    best: list[int] = []
    try:
        with run.app.app_context():
            while time.monotonic() < deadline:
                recent_ms = int(time.time() * 1000) - 2000
                recent = [int(u) for u, e in client.hgetall(claims_key).items() if int(e.split(b":")[2]) > recent_ms]
                if recent:
                    known = set(db.session.execute(sa.select(Claim.user_id).where(
                        Claim.campaign_id == run.campaign_id, Claim.user_id.in_(recent))).scalars())
                    db.session.rollback()
                    pending = [u for u in recent if u not in known]
                    if len(pending) >= at_least:
                        return pending
                    best = max(best, pending, key=len)
                time.sleep(0.002)
    finally:
        client.close()
    return best


def _restart_redis(run: Run) -> float:
    return run.private_redis.restart() if run.private_redis is not None else _restart_shared_redis()


def _gate_rebuilt_by_app(run: Run, timeout_s: float) -> bool:
    """Wait until the gate is ready again (a claim found it gone and rebuilt it); return whether it was."""
    import redis

    from campaigns.gate import Gate

    client = redis.Redis.from_url(run.stack.redis_url)
    ready = Gate(run.campaign_id, client).ready
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                if client.exists(ready):
                    return True
            except redis.RedisError:
                pass
            time.sleep(0.005)
        return False
    finally:
        client.close()


def _restart_with_claims_held(run: Run) -> dict:
    """Restart Redis while claims that took a packet are held in their transaction, and rebuild the gate
    before they commit.

    The campaign's escrow row is locked (as a slow commit would): every claim that has taken a packet
    waits in its transaction for its transfer. Redis goes down once the gate has handed out packets
    PostgreSQL does not know yet. With (nearly) every gunicorn worker then waiting, the harness rebuilds
    the gate — ``Gate.ensure_ready``, as the next claim on another worker would, unless one did — while
    those claims still wait: the rebuild lists their packets as free and knows nothing of their claimants.
    Then the lock goes and they commit; the unique indexes must turn the resurrected packets away."""
    from backend.extensions import db
    from campaigns import service as campaigns
    from campaigns.gate import Gate
    from campaigns.models import Campaign

    with run.app.app_context():
        escrow, closes_at = db.session.execute(sa.select(Campaign.account_id, Campaign.closes_at)
                                               .where(Campaign.id == run.campaign_id)).one()
        db.session.rollback()
    engine = sa.create_engine(run.stack.database_url)
    held_at = time.monotonic()
    with engine.connect() as hold:
        hold.execute(sa.text("SELECT id FROM accounts WHERE id = :e FOR UPDATE"), {"e": escrow})
        serving = min(run.load.threads, run.stack.gunicorn_workers * run.stack.gunicorn_threads)
        caught = claims_in_flight(run, at_least=max(1, serving - 1),
                                  timeout_s=2.0)
        client_side = run.load.claims_in_flight
        at_s = time.monotonic() - run.load.t0
        restart_s = _restart_redis(run)
        with run.app.app_context():
            try:
                # False: ready already, so a claim on a free worker rebuilt it (as well) while they waited.
                rebuilt = "harness" if Gate(run.campaign_id).ensure_ready(campaigns.gate_expiry(closes_at)) \
                    else "a claim"
            except Exception as exc:  # noqa: BLE001 - then the next claimant rebuilds it
                rebuilt = f"nobody ({type(exc).__name__}: {exc})"
            finally:
                db.session.rollback()
        hold.rollback()
    engine.dispose()
    return {"at_s": round(at_s, 2), "restart_s": round(restart_s, 2), "claims_in_flight": len(caught),
            "client_claims_in_flight": client_side, "gate_rebuilt_before_they_committed_by": rebuilt,
            "claims_held_s": round(time.monotonic() - held_at, 2), "users": caught}


def fault_redis_restart(run: Run):
    """Restart Redis twice during a claim rush (claims make most of the mix from ``RUSH_LEAD_S`` before
    the first restart until ``RUSH_AFTER_S`` after the second).

    1. As it comes: Redis goes down the moment the gate has handed out packets whose claims have not
       committed yet; the claims that arrive while it is away get 503 and retry with their key, and
       the first one after it is back rebuilds the gate from PostgreSQL while the others wait for it.
    2. A second later, with claims held in flight across the restart and the gate rebuilt before they
       commit (``_restart_with_claims_held``): the race a rebuild can lose to a slow commit."""
    load = run.load
    load.rush.set()
    time.sleep(RUSH_LEAD_S)
    caught = claims_in_flight(run, timeout_s=2.0)
    first = {"at_s": round(time.monotonic() - load.t0, 2), "claims_in_flight": len(caught),
             "client_claims_in_flight": load.claims_in_flight}
    first["restart_s"] = round(_restart_redis(run), 2)
    first["gate_rebuilt_by_a_claim"] = _gate_rebuilt_by_app(run, timeout_s=3.0)
    time.sleep(1.0)
    second = _restart_with_claims_held(run)
    threading.Timer(RUSH_AFTER_S, load.rush.clear).start()
    return {"redis": "private" if run.private_redis is not None else "shared", "struck_at_s": first["at_s"],
            "claims_in_flight_at_restart": first["claims_in_flight"] + second["claims_in_flight"],
            "in_flight_users": caught + second.pop("users"), "restarts": [first, second]}


FAULTS = {
    "gunicorn_worker_kill9": fault_gunicorn_kill,
    "rq_worker_kill9_mid_job": fault_rq_kill,
    "dropped_db_connections": fault_db_connections,
    "redis_restart": fault_redis_restart,
    "postgresql_immediate_restart": fault_pg_restart,
}
SHARED = {"redis_restart", "postgresql_immediate_restart"}


def _in_flight_outcome(app, campaign_id: int, users: list[int], acks: list[Ack]) -> dict:
    """What became of the claims caught in flight by the Redis restart."""
    from backend.extensions import db

    with app.app_context():
        committed = set(db.session.execute(sa.text(
            "SELECT user_id FROM campaign_claims WHERE campaign_id = :c AND user_id = ANY(:u)"),
            {"c": campaign_id, "u": users}).scalars())
        db.session.rollback()
    acked = {a.user_id for a in acks if a.kind == "claim"}
    return {"committed": len(committed), "acknowledged": len(acked & set(users)),
            "not_committed": len(set(users) - committed)}


def run_one(name: str, seconds: int, fault_at: int, *, private_redis: bool = False, packets: int | None = None,
            claim_share: float = CLAIM_SHARE) -> dict:
    redis_server = PrivateRedis() if private_redis else None
    if redis_server is not None:
        redis_server.start()
    try:
        stack_args = {"redis_url": redis_server.url} if redis_server is not None else {}
        with Stack(rq_workers=2, **stack_args) as stack:
            return _run_one(stack, redis_server, name, seconds, fault_at, packets, claim_share)
    finally:
        if redis_server is not None:
            redis_server.__exit__()


def _run_one(stack: Stack, redis_server: PrivateRedis | None, name: str, seconds: int, fault_at: int,
             packets: int | None, claim_share: float) -> dict:
    packets = packets or PACKETS_PER_S * seconds
    # Enough claimants for every packet plus those who find it sold out or fail; the rush takes more.
    claimant_count = packets + max(500, packets // 2) + (1500 if name == "redis_restart" else 0)
    app = stack.app()
    with app.app_context():
        consumers = fixtures.consumers(100, 40_000_000)
        merchant_rows = fixtures.merchants(10)
        merchant_list = [m for m, _ in merchant_rows]
        owner_tokens = {m.id: t for m, t in merchant_rows}
        payloads = fixtures.orders(merchant_list, 600 * seconds)
        merchant_ids = [m.id for m in merchant_list]
        claims = setup_claims(merchant_list[0], packets, claimant_count)
    stack.start_server()
    load = Load(stack.base_url, [t for _, t in consumers], owner_tokens, payloads,
                claim_path=f"/api/v1/campaigns/{claims.campaign_id}/claims", claimants=list(claims.claimants),
                claim_share=claim_share)
    supervisor = Supervisor(stack)
    supervisor.start()
    try:
        return _load_and_check(stack, app, load, claims, redis_server, supervisor, merchant_ids, name, seconds,
                               fault_at)
    finally:
        supervisor.stop.set()
        supervisor.join(5)


def _load_and_check(stack: Stack, app, load: Load, claims: ClaimSetup, redis_server: PrivateRedis | None,
                    supervisor: Supervisor, merchant_ids: list[int], name: str, seconds: int, fault_at: int) -> dict:
    run = Run(stack, app, load, claims.campaign_id, redis_server, supervisor)
    feeder = JobFeeder(stack, merchant_ids)
    feeder.start()
    info = load.run(seconds, fault_at, lambda: FAULTS[name](run))
    feeder.stop.set()
    feeder.join(5)
    try:
        stack.wait_healthy(30)
    except RuntimeError:
        pass
    problems: list[str] = []
    if info.get("in_flight_users") is not None:
        info["in_flight_outcome"] = _in_flight_outcome(app, claims.campaign_id, info.pop("in_flight_users"),
                                                       load.acks)
    # The gate after the run, as the fault left it; after its own reconcile; after the sell-out.
    with app.app_context():
        gate = {"after_run": gate_state(claims.campaign_id)}
        problems += gate_problems(gate["after_run"], after_reconcile=False)
        gate["reconcile"] = reconcile(claims.campaign_id)
        gate["after_reconcile"] = gate_state(claims.campaign_id)
        problems += gate_problems(gate["after_reconcile"], after_reconcile=True)
    sell_out = drain(app, load, claims.campaign_id)
    sell_out_s = round(time.monotonic() - sell_out.t0, 1)
    with app.app_context():
        gate["after_sell_out"] = gate_state(claims.campaign_id)
        left = unpaid_packets(claims.campaign_id)
    if left:
        problems.append(f"after the run {left} packets could not be claimed (gate: {gate['after_sell_out']})")
    elif gate["after_sell_out"]["listed"] - gate["after_sell_out"]["stale"]:
        problems.append(f"gate lists unpaid packets after the sell-out: {gate['after_sell_out']}")
    jobs = jobs_drained(stack)
    claim_figures: dict = {}
    problems += check(stack, app, load, claims, extra_acks=sell_out.acks, told_already=sell_out.told_already,
                      figures=claim_figures)
    exact = (left == 0 and claim_figures["claims"] == claims.packets
             and claim_figures["claimed_fen"] == claims.budget_fen and claim_figures["escrow_fen"] == 0)
    if not left and not exact:
        problems.append(f"sold out but not exact: {claim_figures}")
    if jobs["queued"] or jobs["started"] or jobs["scheduled"]:
        problems.append(f"jobs left stuck: {jobs}")
    rec = recovery(load.per_second, fault_at, seconds, info.get("struck_at_s"))
    if rec["back_to_90pct_after_s"] is None or rec["back_to_90pct_after_s"] > 10:
        problems.append(f"throughput not back to 90 % within 10 s: {rec}")
    unexplained = unexplained_connection_errors(load, sell_out)
    if unexplained:
        problems.append(f"{len(unexplained)} connection errors not explained by the fault (outside "
                        f"{load.fault_span_s[0]:.1f}..{load.fault_span_s[1] + EXPLAINED_AFTER_S:.1f} s, or after "
                        f"the run): {unexplained[:10]}")
    acked = Counter(a.kind for a in load.acks)
    warnings = []
    committed_5xx = claim_figures.pop("committed_but_answered_5xx_or_never")
    if committed_5xx:
        warnings.append(f"requests answered 5xx (or never) that had committed, by kind: {committed_5xx}")
    if supervisor.restarted:
        warnings.append(f"{len(supervisor.restarted)} RQ workers exited and were restarted by the supervisor: "
                        f"{supervisor.restarted}")
    if claim_figures["told_already_without_claim"]:
        warnings.append(f"{len(claim_figures['told_already_without_claim'])} consumers were told already_claimed "
                        f"but hold no claim (users {claim_figures['told_already_without_claim'][:10]})")
    return {
        "fault": name, "fault_info": info, "seconds": seconds, "fault_at_s": fault_at,
        "redis": "private" if redis_server is not None else "shared",
        "acknowledged": {k: acked.get(k, 0) for k in ("payment", "refund", "claim")},
        "errors_during_run": dict(load.errors), "refusals_during_run": dict(load.refusals),
        "connection_errors": len(load.connection_errors) + len(sell_out.connection_errors),
        "connection_errors_unexplained": len(unexplained),
        "retried": dict(load.retried), "unanswered": dict(load.unanswered),
        "committed_but_answered_5xx_or_never": committed_5xx,
        "claims": {"campaign_id": claims.campaign_id, "packets": claims.packets, "budget_fen": claims.budget_fen,
                   "claimed_during_run": acked.get("claim", 0),
                   "sold_out_during_run": load.refusals.get("claim sold_out", 0),
                   "claimed_after_run": len(sell_out.acks),
                   "sell_out": {"errors": dict(sell_out.errors), "sold_out_answers": sell_out.refusals.get(
                       "claim sold_out", 0), "unpaid_left": left, "seconds": sell_out_s},
                   "exact": exact, **{k: v for k, v in claim_figures.items() if k != "told_already_without_claim"},
                   "gate": gate},
        "jobs_enqueued": feeder.enqueued, "jobs": jobs, "rq_workers_restarted": supervisor.restarted,
        "recovery": rec,
        "violations": problems, "warnings": warnings, "passed": not problems,
    }


#: A lost connection counts as the fault's doing from the moment it is injected until this long after it ends
#: (a killed worker's connections, clients reconnecting); any other is a defect and fails the run.
EXPLAINED_AFTER_S = 10.0


def unexplained_connection_errors(load: Load, sell_out: Load) -> list[tuple]:
    """Return the connection errors outside the fault's span (and every one of the sell-out after the run)."""
    start, end = load.fault_span_s or (float("inf"), float("inf"))
    during = [e for e in load.connection_errors if not start <= e[0] <= end + EXPLAINED_AFTER_S]
    return during + [("after the run", *e[1:]) for e in sell_out.connection_errors]


def write_report(results: list[dict], path: Path) -> None:
    lines = ["# Fault runs", "",
             f"Run {datetime.now(UTC).isoformat(timespec='seconds')} by `python -m bench.faults` (`make faults` runs "
             "every fault) on this machine "
             "(gunicorn + PostgreSQL + Redis + 2 RQ workers on loopback; 8 client threads paying prepared dynamic "
             f"QR orders, refunding some ({REFUND_SHARE:.0%}) and claiming red packets ({CLAIM_SHARE:.0%}) from a "
             f"live grab campaign of {PACKETS_PER_S} packets per second of run, each claimant once; requests without "
             "an answer are retried with the same Idempotency-Key, as the apps do; three statement jobs enqueued "
             "every 0.5 s). One fault per run; failed requests are allowed, wrong money is not.", "",
             "| fault | payments | refunds | claims | failed requests | back to 90 % after | jobs left | "
             "sold out exactly | violations | result |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ack = r["acknowledged"]
        errs = sum(r["errors_during_run"].values())
        back = r["recovery"]["back_to_90pct_after_s"]
        left = r["jobs"]["queued"] + r["jobs"]["started"] + r["jobs"]["scheduled"]
        c = r["claims"]
        lines.append(f"| {r['fault']} | {ack.get('payment', 0)} | {ack.get('refund', 0)} | {ack.get('claim', 0)} | "
                     f"{errs} | {back if back is not None else 'never'} s | {left} | "
                     f"{'yes' if c['exact'] else 'NO'} ({c['claims']}/{c['packets']}) | "
                     f"{len(r['violations'])} | {'PASS' if r['passed'] else 'FAIL'} |")
    lines += ["", "Checked after each run: every 2xx payment has exactly its legs in the ledger and its order is "
              "paid; every 2xx refund exists once; no order paid twice; every 2xx claim is that consumer's one "
              "claim row, paid by exactly one `red_packet_claim` transfer of the packet's amount from the escrow "
              "into the consumer's restricted account; claims never exceed the packets or the budget and the escrow "
              "holds the budget minus the claims; `flask ledger verify`; no campaign or restricted account below "
              "zero; the claim gate in Redis agrees with PostgreSQL after `Gate.reconcile`, and the claimants left "
              "then claim until the campaign is sold out, which must pay exactly every packet to the fen; the job "
              "queue and started registry drain (abandoned jobs are retried); throughput per second (2xx answers "
              "and sold-out claims) is back to ≥ 90 % of the 6 s before the fault within 10 s.", ""]
    for r in results:
        c = r["claims"]
        lines += [f"## {r['fault']}", "",
                  f"- fault: `{json.dumps(r['fault_info'])}` ({r.get('redis', 'shared')} Redis)",
                  f"- acknowledged: `{json.dumps(r['acknowledged'])}`",
                  f"- connection errors: {r.get('connection_errors', 'not counted')} "
                  f"({r.get('connection_errors_unexplained', 'not counted')} not explained by the fault)",
                  f"- errors during the run: `{json.dumps(r['errors_during_run'])}`; retried with the same key: "
                  f"`{json.dumps(r['retried'])}`; never answered: `{json.dumps(r['unanswered'])}`",
                  f"- claims: {c['packets']} packets of {c['budget_fen']} fen; {c['claimed_during_run']} claimed "
                  f"during the run ({c['sold_out_during_run']} sold-out answers), {c['claimed_after_run']} after it "
                  f"until sold out; {c['claims']} claims of {c['claimed_fen']} fen, escrow left {c['escrow_fen']} "
                  f"fen; sold out exactly: {'yes' if c['exact'] else 'NO'}",
                  f"- gate after the run: `{json.dumps(c['gate']['after_run'])}`; reconcile: "
                  f"{c['gate']['reconcile']}; after the sell-out: `{json.dumps(c['gate']['after_sell_out'])}`",
                  f"- answers per second: `{r['recovery']['timeline']}` (fault at {r['fault_at_s']} s)",
                  f"- jobs: `{json.dumps(r['jobs'])}` of {r['jobs_enqueued']} enqueued; RQ workers restarted by "
                  f"the supervisor: {len(r.get('rq_workers_restarted', []))}",
                  f"- violations: {r['violations'] or 'none'}"]
        if r.get("warnings"):
            lines.append(f"- warnings: {r['warnings']}")
        lines.append("")
    path.write_text("\n".join(lines))


def _out_path(out: str | None, complete: bool) -> Path:
    """Where the report goes: ``--out`` (a .md file, or a directory for FAULTS.md); by default
    docs/FAULTS.md for a run of every fault, else ``SCRATCH`` (a partial run never replaces the docs)."""
    if out is None:
        path = DOCS / "FAULTS.md" if complete else SCRATCH / "FAULTS.md"
    else:
        path = Path(out)
        if path.is_dir() or path.suffix != ".md":
            path = path / "FAULTS.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(FAULTS)} "
                        f"(or {', '.join(ALIASES)})")
    parser.add_argument("--seconds", type=int, default=24)
    parser.add_argument("--fault-at", type=int, default=10)
    parser.add_argument("--packets", type=int, default=None,
                        help=f"packets in the run's campaign (default {PACKETS_PER_S} per second of run)")
    parser.add_argument("--claim-share", type=float, default=CLAIM_SHARE)
    parser.add_argument("--shared-services", action="store_true",
                        help="also restart the machine's Redis and PostgreSQL")
    parser.add_argument("--private-redis", action="store_true",
                        help="run each stack on a redis-server of its own (and restart that one: redis_restart "
                             "then needs no --shared-services)")
    parser.add_argument("--out", default=None,
                        help="report path (.md, the .json goes next to it) or directory; default docs/FAULTS.md "
                             f"when every fault runs, else {SCRATCH.relative_to(ROOT)}/")
    args = parser.parse_args(argv)
    names = [ALIASES.get(n.strip(), n.strip()) for n in (args.only.split(",") if args.only else FAULTS) if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown fault {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    shared = SHARED - ({"redis_restart"} if args.private_redis else set())
    if not args.shared_services:
        skipped = [n for n in names if n in shared]
        if skipped:
            print(f"skipping {', '.join(skipped)}: they restart the machine's shared services "
                  "(--shared-services; --private-redis for redis_restart)", flush=True)
        names = [n for n in names if n not in shared]
    out = _out_path(args.out, complete=set(names) == set(FAULTS))
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        r = run_one(name, args.seconds, args.fault_at, private_redis=args.private_redis, packets=args.packets,
                    claim_share=args.claim_share)
        print(json.dumps({k: r[k] for k in ("passed", "violations", "warnings", "acknowledged", "errors_during_run",
                                            "unanswered", "jobs")}, default=str), flush=True)
        c = r["claims"]
        print(f"claims: {c['claimed_during_run']} acknowledged during the run, {c['claimed_after_run']} after; "
              f"{c['claims']}/{c['packets']} packets, {c['claimed_fen']}/{c['budget_fen']} fen, exact={c['exact']}; "
              f"gate after the run {c['gate']['after_run']}", flush=True)
        print("fault", json.dumps(r["fault_info"]), "timeline", r["recovery"]["timeline"], flush=True)
        results.append(r)
    write_report(results, out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out} and {out.with_suffix('.json')}", flush=True)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
