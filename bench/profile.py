"""Where a payment's CPU goes, in the production shape: ``python -m bench.profile``.

Starts the same stack as ``make bench``, pays prepared orders under wrk for a
few seconds, and reports (1) CPU seconds per payment by process group —
gunicorn workers, RQ workers, PostgreSQL backends, Redis, wrk — read from
/proc, and (2) with ``--py-spy``, a sampled profile of the gunicorn workers
folded into the functions that hold the most time (inclusive), written as
collapsed stacks (flamegraph input) beside the summary.

Usage: python -m bench.profile [--seconds 10] [--py-spy] [--kind payments|claims]
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from bench.harness import ROOT, VENV_BIN, Stack, cpu_by_group, snapshot
from bench.run import SCRIPT, _write_lines, wrk


def gunicorn_workers(master_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def fold(collapsed: list[Path], top: int = 40) -> list[tuple[str, float, float]]:
    """Return (function, inclusive share, self share) of the hottest functions in py-spy's collapsed stacks."""
    inclusive: dict[str, int] = collections.Counter()
    own: dict[str, int] = collections.Counter()
    total = 0
    for path in collapsed:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].replace(str(ROOT) + "/", "") + ")"
                      if " (" in f else f for f in stack.split(";")]
            for f in set(frames):
                inclusive[f] += n
            if frames:
                own[frames[-1]] += n
    if not total:
        return []
    return [(f, n / total, own[f] / total) for f, n in inclusive.most_common(top)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--py-spy", action="store_true", help="also sample the gunicorn workers with py-spy")
    parser.add_argument("--kind", choices=["payments", "claims"], default="payments")
    parser.add_argument("--out", default=str(ROOT / "instance" / "profile"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from backend.extensions import db
    from bench import fixtures

    # Admission control off: wrk does not retry a 429, and a refusal would count as a profiled claim.
    with Stack(extra_env={"CLAIM_MAX_IN_FLIGHT": "0"}) as stack:
        app = stack.app()
        with app.app_context():
            if args.kind == "payments":
                tokens = [t for _, t in fixtures.consumers(200, 50_000_000)]
                merchant_list = [m for m, _ in fixtures.merchants(20)]
                payloads = fixtures.orders(merchant_list, 600 * args.seconds)
                lines = [fixtures.request_line("POST", "/api/v1/payments", random.choice(tokens), {"payload": p},
                                               True) for p in payloads]
                count_sql = "SELECT count(*) FROM orders WHERE status = 'paid'"
            else:
                merchant = fixtures.merchants(1)[0][0]
                tokens = fixtures.bulk_consumers_with_tokens(20_000)
                cid = fixtures.live_red_packet_campaign(merchant, 5_000, 5_000 * 888)
                lines = [fixtures.request_line("POST", f"/api/v1/campaigns/{cid}/claims", t, {}, True)
                         for t in tokens]
                count_sql = "SELECT count(*) FROM idempotency_keys"
            db.session.commit()
        requests_file = _write_lines(lines)
        stack.start_server()
        master = stack.procs[0].pid
        spies = []
        if args.py_spy:
            spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
            for pid in gunicorn_workers(master):
                dest = out / f"gunicorn-{pid}.txt"
                spies.append((dest, subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--nonblocking",
                     "--duration", str(args.seconds), "--output", str(dest)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        with app.app_context():
            before_n = db.session.execute(sa.text(count_sql)).scalar_one()
        before = snapshot()
        res = wrk(stack.base_url, args.seconds, script=SCRIPT,
                  env={"REQUESTS_FILE": str(requests_file), "RATE": "0"})
        after = snapshot()
        time.sleep(1)  # let the RQ worker finish what the run enqueued, and count it too
        drained = snapshot()
        with app.app_context():
            n = db.session.execute(sa.text(count_sql)).scalar_one() - before_n
        for _, p in spies:
            p.wait()
        requests_file.unlink()
    cpu = cpu_by_group(before, after)
    cpu["rq"] = cpu_by_group(before, drained).get("rq", 0.0)
    lines = [f"{args.kind}: {n} in {args.seconds} s ({n / args.seconds:.0f}/s), wrk {res['requests_per_s']:.0f} req/s,"
             f" p99 {res.get('latency_ms_p99')} ms, non-2xx {res['non_2xx']}", "CPU ms per request, by process group:"]
    for group, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {group:<11} {1000 * used / max(n, 1):7.2f}")
    lines.append(f"  {'all':<11} {1000 * sum(cpu.values()) / max(n, 1):7.2f}")
    if spies:
        lines.append("gunicorn workers, hottest functions (inclusive %, self %):")
        for f, inc, own in fold([d for d, _ in spies if d.exists()]):
            lines.append(f"  {100 * inc:5.1f} {100 * own:5.1f}  {f}")
    text = "\n".join(lines)
    (out / f"{args.kind}-summary.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
