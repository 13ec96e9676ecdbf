"""``make faults``: a steady mix of payments, refunds (and red-packet claims) while one fault is
injected, then a checker that proves no money was lost or doubled.

Faults: kill -9 of a gunicorn worker; kill -9 of an RQ worker in the middle of
a job; a Redis restart during the run; a PostgreSQL immediate restart;
dropped database connections. After each run:

- every acknowledged (2xx) payment and refund exists exactly once;
- ``flask ledger verify`` passes;
- no campaign is over budget (no campaign or restricted account below zero);
- no job is left stuck (the queue and the started-job registry drain);
- throughput is back to ≥ 90 % of its pre-fault level within 10 s.

Failed requests during the fault are allowed; wrong money is not. The Redis
and PostgreSQL restarts touch the machine's shared servers, so they run only
with ``--shared-services`` (``make faults`` passes it).

Usage: python -m bench.faults [--only NAME,...] [--seconds N] [--shared-services]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
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
from bench.harness import ROOT, Stack

DOCS = ROOT / "docs"


@dataclass
class Ack:
    kind: str  # payment | refund | claim
    key: str
    ref: str
    body: dict


@dataclass
class Load:
    """Threads sending payments (and refunds of acknowledged payments) until stopped."""

    base_url: str
    tokens: list[str]
    owner_tokens: dict[int, str]
    payloads: list[str]
    threads: int = 8
    acks: list[Ack] = field(default_factory=list)
    per_second: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    t0: float = 0.0

    def _post(self, session, path, token, body):
        key = uuid.uuid4().hex
        resp = session.post(self.base_url + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        return key, resp

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self.stop.is_set():
            try:
                with self.lock:
                    paid = [a for a in self.acks[-200:] if a.kind == "payment"]
                    payload = self.payloads.pop() if self.payloads else None
                if paid and rng.random() < 0.1:
                    a = rng.choice(paid)
                    key, resp = self._post(session, f"/api/v1/orders/{a.body['id']}/refunds",
                                           self.owner_tokens[a.body["merchant"]["id"]], {"amount_fen": 1})
                    kind, ref = "refund", a.ref
                elif payload:
                    key, resp = self._post(session, "/api/v1/payments", rng.choice(self.tokens),
                                           {"payload": payload})
                    kind, ref = "payment", ""
                else:
                    time.sleep(0.05)
                    continue
            except requests.RequestException as exc:
                self.errors[type(exc).__name__] += 1
                continue
            second = int(time.monotonic() - self.t0)
            if 200 <= resp.status_code < 300:
                body = resp.json()
                with self.lock:
                    self.acks.append(Ack(kind, key, ref or body.get("reference", ""), body))
                    self.per_second[second] += 1
            else:
                self.errors[str(resp.status_code)] += 1

    def run(self, seconds: float, fault_at: float, fault) -> dict:
        self.t0 = time.monotonic()
        pool = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(self.threads)]
        for t in pool:
            t.start()
        time.sleep(fault_at)
        fault_info = fault()
        time.sleep(max(0.0, seconds - fault_at))
        self.stop.set()
        for t in pool:
            t.join(15)
        return fault_info or {}


def recovery(per_second: Counter, fault_at: int, seconds: int) -> dict:
    """Return the pre-fault rate and how many seconds after the fault it was back to ≥ 90 %."""
    before = [per_second.get(s, 0) for s in range(max(1, fault_at - 6), fault_at)]
    baseline = sum(before) / max(1, len(before))
    back_after = None
    for s in range(fault_at, seconds):
        if per_second.get(s, 0) >= 0.9 * baseline:
            back_after = s - fault_at
            break
    return {"baseline_per_s": round(baseline, 1), "back_to_90pct_after_s": back_after,
            "timeline": [per_second.get(s, 0) for s in range(seconds)]}


def check(stack: Stack, app, load: Load) -> list[str]:
    """Return the invariant violations after a run (empty = sound)."""
    from backend.extensions import db
    from backend.ledger.service import verify

    problems: list[str] = []
    with app.app_context():
        for a in load.acks:
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
        keys = [a.key for a in load.acks]
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
        del keys
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
                q.enqueue(build_statement, m, day, retry=DEFAULT_RETRY, job_timeout=20)
                self.enqueued += 1
            time.sleep(0.5)


def _gunicorn_worker_pids(stack: Stack) -> list[int]:
    master = stack.procs[0].pid
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def fault_gunicorn_kill(stack: Stack):
    victim = random.choice(_gunicorn_worker_pids(stack))
    os.kill(victim, signal.SIGKILL)
    return {"killed_pid": victim}


def fault_rq_kill(stack: Stack):
    """Kill -9 an RQ worker while it is executing a job, then start a replacement (as a supervisor would)."""
    import redis
    from rq import Worker

    conn = redis.Redis.from_url(stack.redis_url)
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


def fault_db_connections(stack: Stack):
    admin = sa.create_engine(sa.make_url(stack.pg_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        n = c.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": stack.db_name}).scalar_one()
    admin.dispose()
    return {"terminated_connections": n}


def fault_pg_restart(stack: Stack):
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    t = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "immediate"],
                   check=True, capture_output=True)
    return {"restart_s": round(time.monotonic() - t, 2)}


def fault_redis_restart(stack: Stack):
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
    return {"restart_s": round(time.monotonic() - t, 2)}


FAULTS = {
    "gunicorn_worker_kill9": fault_gunicorn_kill,
    "rq_worker_kill9_mid_job": fault_rq_kill,
    "dropped_db_connections": fault_db_connections,
    "redis_restart": fault_redis_restart,
    "postgresql_immediate_restart": fault_pg_restart,
}
SHARED = {"redis_restart", "postgresql_immediate_restart"}


def run_one(name: str, seconds: int, fault_at: int) -> dict:
    with Stack(rq_workers=2) as stack:
        app = stack.app()
        with app.app_context():
            consumers = fixtures.consumers(100, 40_000_000)
            merchant_rows = fixtures.merchants(10)
            merchant_list = [m for m, _ in merchant_rows]
            owner_tokens = {m.id: t for m, t in merchant_rows}
            payloads = fixtures.orders(merchant_list, 600 * seconds)
            merchant_ids = [m.id for m in merchant_list]
        stack.start_server()
        load = Load(stack.base_url, [t for _, t in consumers], owner_tokens, payloads)
        feeder = JobFeeder(stack, merchant_ids)
        feeder.start()
        info = load.run(seconds, fault_at, lambda: FAULTS[name](stack))
        feeder.stop.set()
        feeder.join(5)
        try:
            stack.wait_healthy(30)
        except RuntimeError:
            pass
        jobs = jobs_drained(stack)
        problems = check(stack, app, load)
        if jobs["queued"] or jobs["started"] or jobs["scheduled"]:
            problems.append(f"jobs left stuck: {jobs}")
        rec = recovery(load.per_second, fault_at, seconds)
        if rec["back_to_90pct_after_s"] is None or rec["back_to_90pct_after_s"] > 10:
            problems.append(f"throughput not back to 90 % within 10 s: {rec}")
        return {
            "fault": name, "fault_info": info, "seconds": seconds, "fault_at_s": fault_at,
            "acknowledged": Counter(a.kind for a in load.acks), "errors_during_run": dict(load.errors),
            "jobs_enqueued": feeder.enqueued, "jobs": jobs, "recovery": rec,
            "violations": problems, "passed": not problems,
        }


def write_report(results: list[dict], path: Path) -> None:
    lines = ["# Fault runs", "",
             f"Run {datetime.now(UTC).isoformat(timespec='seconds')} by `make faults` on this machine "
             "(gunicorn + PostgreSQL + Redis + 2 RQ workers on loopback; 8 client threads paying prepared dynamic "
             "QR orders and refunding some; three statement jobs enqueued every 0.5 s). One fault per run; failed "
             "requests are allowed, wrong money is not.", "",
             "| fault | acknowledged | failed requests | back to 90 % after | jobs left | violations | result |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        ack = ", ".join(f"{v} {k}s" for k, v in r["acknowledged"].items())
        errs = sum(r["errors_during_run"].values())
        back = r["recovery"]["back_to_90pct_after_s"]
        left = r["jobs"]["queued"] + r["jobs"]["started"] + r["jobs"]["scheduled"]
        lines.append(f"| {r['fault']} | {ack} | {errs} | {back if back is not None else 'never'} s | {left} | "
                     f"{len(r['violations'])} | {'PASS' if r['passed'] else 'FAIL'} |")
    lines += ["", "Checked after each run: every 2xx payment has exactly its legs in the ledger and its order is "
              "paid; every 2xx refund exists once; no order paid twice; `flask ledger verify`; no campaign or "
              "restricted account below zero; the job queue and started registry drain (abandoned jobs are "
              "retried); throughput per second is back to ≥ 90 % of the 6 s before the fault within 10 s.", ""]
    for r in results:
        lines += [f"## {r['fault']}", "", f"- fault: `{json.dumps(r['fault_info'])}`",
                  f"- errors during the run: `{json.dumps(r['errors_during_run'])}`",
                  f"- payments+refunds per second: `{r['recovery']['timeline']}` (fault at {r['fault_at_s']} s)",
                  f"- jobs: `{json.dumps(r['jobs'])}` of {r['jobs_enqueued']} enqueued",
                  f"- violations: {r['violations'] or 'none'}", ""]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--seconds", type=int, default=24)
    parser.add_argument("--fault-at", type=int, default=10)
    parser.add_argument("--shared-services", action="store_true",
                        help="also restart the machine's Redis and PostgreSQL")
    parser.add_argument("--out", default=str(DOCS / "FAULTS.md"))
    args = parser.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else FAULTS) if n]
    if not args.shared_services:
        names = [n for n in names if n not in SHARED]
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        r = run_one(name, args.seconds, args.fault_at)
        print(json.dumps({k: r[k] for k in ("passed", "violations", "acknowledged", "errors_during_run", "jobs")},
                         default=str), flush=True)
        print("timeline", r["recovery"]["timeline"], flush=True)
        results.append(r)
    write_report(results, Path(args.out))
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
