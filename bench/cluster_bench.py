"""The cluster run of ``make bench``: payments and claims through HAProxy on two nodes ÷ straight to one node.

    python -m bench.cluster_bench [--quick] [--out docs]

Brings up ``bench/cluster.py``'s cluster on free ports, prepares consumers, merchants and orders on its
primary, then runs the same wrk load twice — through HAProxy (both nodes) and straight to node A — once for
payments and once for a red-packet claim rush, alternating so the machine's noise falls on both. On one
machine the two nodes share the same cores with HAProxy, PostgreSQL and Redis, so the ratio measures the load
balancer's tax, not a gain. Writes ``cluster-bench.json`` and the "Cluster" section of BENCHMARKS.md (between
markers, so ``make bench``'s own report and this section do not overwrite each other).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

from bench.cluster import ROOT, Cluster, missing_tools
from bench.harness import cpu_by_group, snapshot

DOCS = ROOT / "docs"
BEGIN, END = "<!-- cluster-bench:begin -->", "<!-- cluster-bench:end -->"


def _claims(target_url: str, app, merchant, claimants: int, packets: int, seconds: int, rate: int,
            prefix: str) -> dict:
    """A red-packet rush of its own (fresh claimants and campaign) against ``target_url``."""
    from backend.extensions import db
    from bench import fixtures
    from bench.run import SCRIPT, _write_lines, per_request, wrk

    with app.app_context():
        tokens = fixtures.bulk_consumers_with_tokens(claimants, prefix=prefix)
        campaign_id = fixtures.live_red_packet_campaign(db.session.merge(merchant), packets, packets * 888)
    lines = [fixtures.request_line("POST", f"/api/v1/campaigns/{campaign_id}/claims", t, {}, True) for t in tokens]
    path = _write_lines(lines)
    done = path.with_suffix(".done")
    before = snapshot()
    res = wrk(target_url, seconds, threads=2, connections=32, script=SCRIPT,
              env={"REQUESTS_FILE": str(path), "RATE": str(rate), "DONE_FILE": str(done)})
    res["cpu_ms_per_claim"] = per_request(cpu_by_group(before, snapshot()), claimants)
    path.unlink()
    done.unlink(missing_ok=True)
    with app.app_context():
        paid, total = db.session.execute(sa.text(
            "SELECT count(*), coalesce(sum(amount_fen), 0) FROM campaign_claims WHERE campaign_id = :c"),
            {"c": campaign_id}).one()
    res.update(claimants=claimants, packets=packets, packets_paid=paid, paid_fen=int(total),
               exact=(paid == packets and int(total) == packets * 888),
               claims_per_s=round(claimants / res["answered_in_s"], 1) if res.get("answered_in_s") else None)
    return res


def run(quick: bool = False) -> dict:
    from backend import create_app
    from backend.extensions import db
    from bench import fixtures
    from bench.run import payments_run

    seconds = 2 if quick else 15
    # Admission control off, as in bench.run: wrk does not retry a 429 claim_busy.
    cluster = Cluster.on_free_ports(ROOT / "instance" / f"cluster-bench-{uuid.uuid4().hex[:6]}", seed_demo=False,
                                    extra_env={"CLAIM_MAX_IN_FLIGHT": "0"})
    out: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
                 "shape": {"nodes": 2, "gunicorn_workers_per_node": cluster.workers,
                           "gunicorn_threads": cluster.threads, "rq_workers_per_node": 1}}
    with cluster as c:
        app = create_app({"DATABASE_URL": c.database_url, "REDIS_URL": c.redis_url, "SECRET_KEY": c.secret_key,
                          "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"})
        with app.app_context():
            tokens = [t for _, t in fixtures.consumers(20 if quick else 400, 50_000_000)]
            merchant_list = [m for m, _ in fixtures.merchants(5 if quick else 50)]
            for m in merchant_list:
                db.session.refresh(m)
            db.session.expunge_all()
        targets = {"haproxy": SimpleNamespace(base_url=c.url), "node": SimpleNamespace(base_url=c.node_url("a"))}
        for name in ("haproxy", "node", "haproxy", "node") if not quick else ("haproxy", "node"):
            r = payments_run(targets[name], app, tokens, merchant_list, seconds)
            out.setdefault(f"payments_{name}", []).append(r)
            print(f"cluster payments via {name}", r["payments_per_s"], "/s", flush=True)
        claimants, packets = (200, 50) if quick else (4_000, 1_000)
        for name, prefix in (("haproxy", "167"), ("node", "168")):
            r = _claims(targets[name].base_url, app, merchant_list[0], claimants, packets, 3 if quick else 60,
                        rate=3_000, prefix=prefix)
            out[f"claims_{name}"] = r
            print(f"cluster claims via {name}", r["claims_per_s"], "/s", flush=True)
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]  # 1, 5, 15 min: how shared the machine was
        verify = c.flask("ledger", "verify")
        out["ledger_verify"] = "ok" if verify.returncode == 0 else verify.stdout + verify.stderr

    def best(name):
        return max(r["payments_per_s"] for r in out[f"payments_{name}"])

    out["ratios"] = {
        "payments_haproxy_vs_node": round(best("haproxy") / best("node"), 3) if best("node") else None,
        "claims_haproxy_vs_node": (round(out["claims_haproxy"]["claims_per_s"] / out["claims_node"]["claims_per_s"], 3)
                                   if out["claims_node"]["claims_per_s"] and out["claims_haproxy"]["claims_per_s"]
                                   else None),
    }
    return out


def markdown(r: dict) -> str:
    def pay(name):
        return " / ".join(f"{x['payments_per_s']:,.1f}" for x in r[f"payments_{name}"])

    def cpu(x, key):
        c = x[key]
        return ", ".join(f"{k} {v}" for k, v in c.items())

    lines = [
        BEGIN,
        "## Cluster: through HAProxy on two nodes ÷ straight to one node",
        "",
        f"Run {r['when']} by `make bench` (`python -m bench.cluster_bench`): `make cluster`'s shape on free ports —"
        f" HAProxy, 2 nodes × {r['shape']['gunicorn_workers_per_node']} gunicorn workers × "
        f"{r['shape']['gunicorn_threads']} threads (+1 RQ worker each), PostgreSQL primary + streaming replica, "
        "one Redis — all on the same two cores. **On two cores this measures the load balancer's tax, not a "
        "gain**: the second node brings no cores of its own. The same wrk load alternates between the targets.",
        "",
        "| run | through HAProxy | straight to node A | ratio |",
        "|---|---|---|---|",
        f"| payments/s (each run) | {pay('haproxy')} | {pay('node')} | "
        f"{r['ratios']['payments_haproxy_vs_node']} (best ÷ best) |",
        f"| claims/s (rush of {r['claims_haproxy']['claimants']:,}, {r['claims_haproxy']['packets']:,} packets) | "
        f"{r['claims_haproxy']['claims_per_s']} | {r['claims_node']['claims_per_s']} | "
        f"{r['ratios']['claims_haproxy_vs_node']} |",
        "",
        f"CPU ms per payment through HAProxy: {cpu(r['payments_haproxy'][0], 'cpu_ms_per_payment')}; straight: "
        f"{cpu(r['payments_node'][0], 'cpu_ms_per_payment')}. `flask ledger verify` after the run: "
        f"{r['ledger_verify']}. CPU is counted for every process of those kinds on the machine (as in the runs "
        "above), so on a shared machine other work lands in it too"
        + (f"; load average during this run {r['load_average'][0]} / {r['load_average'][1]} / "
           f"{r['load_average'][2]} on {os.cpu_count()} cores" if r.get("load_average") else "")
        + ". What it means for more machines: [SCALING.md](SCALING.md).",
        END,
    ]
    return "\n".join(lines)


def write_section(r: dict, path: Path) -> None:
    from bench.harness import put_section

    put_section(path, BEGIN, END, markdown(r))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=str(DOCS))
    a = p.parse_args(argv)
    missing = missing_tools()
    if missing:
        print("cluster run skipped: needs " + ", ".join(missing), file=sys.stderr)
        return 0
    started = time.monotonic()
    r = run(a.quick)
    r["took_s"] = round(time.monotonic() - started, 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ("cluster-bench-quick.json" if a.quick else "cluster-bench.json")).write_text(
        json.dumps(r, indent=2, ensure_ascii=False))
    if not a.quick:
        write_section(r, out / "BENCHMARKS.md")
    print(json.dumps(r["ratios"]))
    return 0 if r["ledger_verify"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
