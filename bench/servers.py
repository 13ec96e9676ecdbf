"""Which WSGI server, and PostgreSQL's group commit (#17 item 4): measured in one run, on one database.

Servers, each on the same stack (scratch PostgreSQL database, Redis, 1 RQ worker) and the same wrk loads:

- ``gunicorn sync``: ``gunicorn -c gunicorn.conf.py -k sync`` (4 processes, one request at a time each, no
  keep-alive: wrk reconnects for every request);
- ``gunicorn gthread``: ``gunicorn -c gunicorn.conf.py`` (the README's production command: 4 × 8 threads);
- ``granian``: ``granian --interface wsgi --workers 4 --blocking-threads 8 --backlog 2048`` (a Rust HTTP
  server; the Python app runs in its blocking threads), if the ``granian`` package can be imported (it is not in
  requirements: ``--granian-path`` names a folder it was installed into with ``pip install --target``).

Loads, in this order for each server: the no-op ``GET /api/v1/health``, payments spread over 20 merchants,
and a red-packet rush (claimants at 0.8 × that server's no-op rate, a quarter of them win). Admission control
is off here (``CLAIM_MAX_IN_FLIGHT=0``): this compares the servers' raw capacity, and the bound never trips on
a sync worker anyway.

Group commit: the gthread server's payments again with ``commit_delay`` / ``commit_siblings`` set on the
scratch database only (``ALTER DATABASE … SET``: the machine's PostgreSQL and other databases are untouched).

The machine is shared: the figures that mean something are the ratios within this run.
Writes docs/servers.json and a section of docs/BENCHMARKS.md.

Usage: python -m bench.servers [--seconds S] [--granian-path DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.harness import ROOT, VENV_BIN, Stack, put_section

BEGIN, END = "<!-- servers-bench:begin -->", "<!-- servers-bench:end -->"


def start(stack: Stack, kind: str, granian_path: str | None) -> None:
    """Start ``kind`` on the stack's port (with the stack's RQ worker); return when /health answers."""
    env = stack.env()
    env["CLAIM_MAX_IN_FLIGHT"] = "0"
    bind = f"127.0.0.1:{stack.port}"
    if kind == "granian":
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{granian_path}"
        args = [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", "4", "--blocking-threads",
                "8", "--backlog", "2048", "--host", "127.0.0.1", "--port", str(stack.port), "--no-ws",
                "--log-level", "warning", "wsgi:app"]
    else:
        args = [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "-b", bind, "wsgi:app"]
        if kind == "gunicorn sync":
            args[3:3] = ["-k", "sync", "--threads", "1"]  # threads > 1 would make gunicorn pick gthread
    log = open(stack.log_dir / f"server-{kind.replace(' ', '-')}.log", "w")
    stack.procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True))
    stack.start_rq_worker(0)
    stack.wait_healthy()


def rush(stack: Stack, app, merchant, claimants: int, rate: int, prefix: str) -> dict:
    """A red-packet rush through wrk (as ``make bench``), checked per campaign."""
    from backend.extensions import db
    from bench import fixtures
    from bench.run import SCRIPT, _write_lines, wrk

    packets = claimants // 4
    with app.app_context():
        tokens = fixtures.bulk_consumers_with_tokens(claimants, prefix=prefix)
        cid = fixtures.live_red_packet_campaign(db.session.merge(merchant), packets, packets * 888)
        db.session.rollback()
    path = _write_lines([fixtures.request_line("POST", f"/api/v1/campaigns/{cid}/claims", t, {}, True)
                         for t in tokens])
    done = path.with_suffix(".done")
    res = wrk(stack.base_url, 90, threads=2, connections=32, script=SCRIPT,
              env={"REQUESTS_FILE": str(path), "RATE": str(rate), "DONE_FILE": str(done)})
    path.unlink()
    done.unlink(missing_ok=True)
    with app.app_context():
        paid, total = db.session.execute(sa.text(
            "SELECT count(*), coalesce(sum(t.amount_fen), 0) FROM transfers t JOIN campaigns c "
            "ON c.account_id = t.debit_account_id WHERE t.code = 'red_packet_claim' AND c.id = :c"),
            {"c": cid}).one()
        db.session.rollback()
    res.update(claimants=claimants, packets=packets, arrival_rate=rate, packets_paid=paid,
               exact=paid == packets and int(total) == packets * 888,
               claims_per_s=round(claimants / res["answered_in_s"], 1) if res.get("answered_in_s") else None)
    return res


def set_commit_delay(stack: Stack, delay_us: int, siblings: int) -> None:
    admin = sa.create_engine(sa.make_url(stack.pg_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'ALTER DATABASE "{stack.db_name}" SET commit_delay = {int(delay_us)}'))
        c.execute(sa.text(f'ALTER DATABASE "{stack.db_name}" SET commit_siblings = {int(siblings)}'))
    admin.dispose()


def main(argv=None) -> int:
    from backend.extensions import db
    from bench import fixtures
    from bench.run import payments_run, wrk

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--claimants", type=int, default=3_000)
    parser.add_argument("--granian-path", default=os.environ.get("GRANIAN_PATH"))
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--render", action="store_true", help="only rewrite the section from docs/servers.json")
    args = parser.parse_args(argv)
    if args.render:
        write_section(json.loads((Path(args.out) / "servers.json").read_text()), Path(args.out) / "BENCHMARKS.md")
        return 0
    kinds = ["gunicorn sync", "gunicorn gthread"]
    probe = subprocess.run([sys.executable, "-c", "import granian"], capture_output=True,
                           env=dict(os.environ, PYTHONPATH=args.granian_path or ""))
    if probe.returncode == 0:
        kinds.append("granian")
    r: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "servers": {}, "commit_delay": {},
               "load_average_before": os.getloadavg()}
    with Stack() as stack:
        app = stack.app()
        with app.app_context():
            merchants = [m for m, _ in fixtures.merchants(20, prefix="181")]
            tokens = [t for _, t in fixtures.consumers(100, 50_000_000, prefix="182")]
            for m in merchants:
                db.session.refresh(m)
            db.session.expunge_all()
        for i, kind in enumerate(kinds):
            start(stack, kind, args.granian_path)
            res = {"noop": wrk(stack.base_url + "/api/v1/health", args.seconds)}
            res["payments"] = payments_run(stack, app, tokens, merchants, args.seconds, expected_rps=400)
            res["claims"] = rush(stack, app, merchants[0], args.claimants,
                                 int(0.8 * res["noop"]["requests_per_s"]), prefix=f"19{i}")
            r["servers"][kind] = res
            print(kind, json.dumps({k: (v.get("requests_per_s"), v.get("payments_per_s"), v.get("claims_per_s"))
                                    for k, v in res.items()}), flush=True)
            stack.stop_server()
        for delay, siblings in ((0, 5), (100, 5), (1000, 5), (0, 5)):
            set_commit_delay(stack, delay, siblings)
            start(stack, "gunicorn gthread", None)
            res = payments_run(stack, app, tokens, merchants, args.seconds, expected_rps=400)
            r["commit_delay"].setdefault(f"{delay}/{siblings}", []).append(res)
            print("commit_delay", delay, siblings, res["payments_per_s"], res.get("latency_ms_p99"), flush=True)
            stack.stop_server()
        r["load_average_after"] = os.getloadavg()
        with app.app_context():
            from backend.ledger.service import verify

            r["ledger_verify"] = verify() or "ok"
    out = Path(args.out)
    (out / "servers.json").write_text(json.dumps(r, indent=2, ensure_ascii=False))
    write_section(r, out / "BENCHMARKS.md")
    return 0


def write_section(r: dict, path: Path) -> None:
    base = r["servers"]["gunicorn gthread"]
    rows = []
    for kind, x in r["servers"].items():
        n, p, c = x["noop"], x["payments"], x["claims"]
        errors = sum(v.get("connection_errors", 0) for v in (n, p, c))
        rows.append(
            f"| {kind} | {n['requests_per_s']:,.0f} ({n['requests_per_s'] / base['noop']['requests_per_s']:.2f}) | "
            f"{p['payments_per_s']:,.1f} ({p['payments_per_s'] / base['payments']['payments_per_s']:.2f}) | "
            f"{p.get('latency_ms_p99') or 0:,.1f} ms | "
            f"{c['claims_per_s'] or 0:,.1f} ({(c['claims_per_s'] or 0) / (base['claims']['claims_per_s'] or 1):.2f}) | "
            f"{c.get('latency_ms_p99') or 0:,.1f} ms | {'yes' if c['exact'] else '**no**'} | {errors} |")
    gc_rows = []
    for setting, runs in r["commit_delay"].items():
        for i, x in enumerate(runs):
            delay, siblings = setting.split("/")
            when = "" if len(runs) == 1 else " (run first)" if i == 0 else " (run last)"
            gc_rows.append(f"| `commit_delay = {delay}` µs, `commit_siblings = {siblings}`{when} "
                           f"| {x['payments_per_s']:,.1f} | {x.get('latency_ms_p99') or 0:,.1f} ms |")
    text = "\n".join([
        BEGIN,
        "## Which server, and group commit (#17 item 4)",
        "",
        f"Run {r['when']} by `python -m bench.servers`: one stack (scratch PostgreSQL database, Redis, 1 RQ worker), "
        "each server started in turn on it, the same wrk loads (no-op 16 connections; payments spread over 20 "
        "merchants, 16 connections; a rush of claimants at 0.8 × that server's no-op rate, 32 connections, a quarter "
        "win); admission control off (raw capacity). **Shared, loaded machine** (load average "
        f"{r['load_average_before'][0]:.1f} before, {r['load_average_after'][0]:.1f} after, on 2 cores): ratios "
        "(in brackets, ÷ gunicorn gthread of the same run) are what to read; one pass each, so differences of "
        "10–20 % are within the noise of this machine.",
        "",
        "| server | no-op req/s | payments/s | payments p99 | claims/s | claims p99 | rush exact | connection errors |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Group commit, the gthread server's payments on the same database (`ALTER DATABASE … SET`, new connections "
        "for each setting; the default setting run first and last to show the drift):",
        "",
        "| setting | payments/s | payments p99 |",
        "|---|---|---|",
        *gc_rows,
        "",
        f"`flask ledger verify` after the run: {r['ledger_verify']}. Raw figures: `docs/servers.json`.",
        END,
    ])
    put_section(path, BEGIN, END, text)


if __name__ == "__main__":
    sys.exit(main())
