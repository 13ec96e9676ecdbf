"""Render docs/BENCHMARKS.md from the figures of one run."""

from __future__ import annotations

from pathlib import Path


def _fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.3f}{unit}" if v < 10 else f"{v:,.1f}{unit}"
    return f"{v:,}{unit}"


def _verdict(value, goal, higher_is_better=True) -> str:
    if value is None:
        return "not measured"
    ok = value >= goal if higher_is_better else value <= goal
    return "meets goal" if ok else "**below goal**"


def write_markdown(r: dict, path: Path) -> None:
    """Write the benchmark report for results ``r`` to ``path``."""
    g, ratios = r["goals"], r["ratios"]
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Run {r['when']} by `make bench` on this project's machine: {m['cpus']} cores, {m['platform']}, "
        f"Python {m['python']}, {m['postgresql']}, Redis {m['redis']}, {m['wrk']}.",
        "These machines are shared and noisy, so every figure that matters is a **ratio** against a baseline "
        "measured in the same run on the same machine. Raw figures: `docs/benchmarks.json`.",
        "",
        "Shape under test: gunicorn "
        f"({r['stack']['gunicorn_workers']} workers × {r['stack']['gunicorn_threads']} threads) + PostgreSQL + "
        f"Redis + {r['stack']['rq_workers']} RQ worker, all on loopback; load from wrk in a separate process "
        "(`bench/wrk/requests.lua` replays prepared requests, each with its own Idempotency-Key). Admission "
        "control at the claim endpoint is off here (`CLAIM_MAX_IN_FLIGHT=0`: wrk does not retry a 429), so these "
        "are the server's raw figures; the rush at 2 × capacity with admission control on is `bench.shed`'s "
        "section below.",
        "",
        "## Against the goals in DESIGN.md",
        "",
        "| what | measured | goal | verdict |",
        "|---|---|---|---|",
        f"| payments/s ÷ `pgbench -N` TPS | {_fmt(ratios['payments_vs_pgbench'])} "
        f"({_fmt(r['payments_spread']['payments_per_s'])} ÷ {_fmt(r['pgbench']['tps'])}) | "
        f"≥ {g['payments_vs_pgbench']} | {_verdict(ratios['payments_vs_pgbench'], g['payments_vs_pgbench'])} |",
        f"| payments p99 at 80 % of that rate ({r['payments_at_80pct']['target_rate']}/s) | "
        f"{_fmt(r['payments_at_80pct'].get('latency_ms_p99'), ' ms')} | ≤ {g['payments_p99_ms_at_80pct']} ms | "
        f"{_verdict(r['payments_at_80pct'].get('latency_ms_p99'), g['payments_p99_ms_at_80pct'], False)} |",
        f"| one hot merchant ÷ spread over merchants | {_fmt(ratios['hot_vs_spread'])} | ≥ {g['hot_vs_spread']} | "
        f"{_verdict(ratios['hot_vs_spread'], g['hot_vs_spread'])} |",
        f"| dynamic-QR order creation p99 at 100 req/s | "
        f"{_fmt(r['orders_at_100rps'].get('latency_ms_p99'), ' ms')} | ≤ {g['orders_p99_ms_at_100rps']} ms | "
        f"{_verdict(r['orders_at_100rps'].get('latency_ms_p99'), g['orders_p99_ms_at_100rps'], False)} |",
    ]
    if "claims" in r:
        c = r["claims"]
        lines += [
            f"| red-packet rush exact ({c['packets_paid']} of {c['packets']} packets paid, "
            f"{_fmt(c['paid_fen'])} of {_fmt(c['budget_fen'])} fen, {c['claimants']} claimants at "
            f"{c['arrival_rate']}/s) | {'yes' if c['exact'] else '**no**'} | exact | "
            f"{'meets goal' if c['exact'] else '**below goal**'} |",
            f"| red-packet claims/s ÷ no-op req/s | {_fmt(ratios.get('claims_vs_noop'))} | ≥ {g['claims_vs_noop']} | "
            f"{_verdict(ratios.get('claims_vs_noop'), g['claims_vs_noop'])} |",
            f"| red-packet claim p99 | {_fmt(c.get('latency_ms_p99'), ' ms')} | ≤ {g['claims_p99_ms']} ms | "
            f"{_verdict(c.get('latency_ms_p99'), g['claims_p99_ms'], False)} |",
        ]
    lines += [
        "",
        "## Raw figures",
        "",
        "| run | req/s | p50 | p99 | notes |",
        "|---|---|---|---|---|",
        f"| `pgbench -N`, 8 clients | {_fmt(r['pgbench']['tps'])} TPS | — | — | "
        f"avg latency {_fmt(r['pgbench']['latency_ms_avg'], ' ms')} |",
        f"| no-op `GET /api/v1/health` | {_fmt(r['noop']['requests_per_s'])} | "
        f"{_fmt(r['noop'].get('latency_ms_p50'), ' ms')} | {_fmt(r['noop'].get('latency_ms_p99'), ' ms')} | |",
    ]
    for key, label in (("payments_spread", "payments, spread over merchants"),
                       ("payments_hot", "payments, one hot merchant"),
                       ("payments_at_80pct", "payments at 80 % of peak"),
                       ("orders_at_100rps", "order creation at 100 req/s")):
        x = r[key]
        notes = f"{x.get('payments', '')} settled, {x['non_2xx']} non-2xx" if "payments" in x else \
            f"{x['non_2xx']} non-2xx"
        lines.append(f"| {label} | {_fmt(x.get('payments_per_s', x['requests_per_s']))} | "
                     f"{_fmt(x.get('latency_ms_p50'), ' ms')} | {_fmt(x.get('latency_ms_p99'), ' ms')} | {notes} |")
    lines += ["", f"`flask ledger verify` after the run: {r['ledger_verify']}", ""]
    runs = [(k, x) for k, x in r.items() if isinstance(x, dict) and "connection_errors" in x]
    if runs:
        lines += ["## Connection errors (requests that lost their connection; any fails `make bench`)", "",
                  "| run | connection errors | detail |", "|---|---|---|"]
        lines += [f"| {k} | {x['connection_errors']} | "
                  f"{x.get('socket_errors') or x.get('connection_errors_by_kind') or ''} |" for k, x in runs]
        if "keepalive_rush" in r:
            k = r["keepalive_rush"]
            lines += ["", f"Keep-alive rush (`bench/rush.py`): {k['claimants']} claimants through {k['clients']} "
                      f"kept-alive connections pausing 0–{k['pause_s_max']} s between requests; answers "
                      f"{k['answers']}, {k['packets_paid']} of {k['packets']} packets paid, exact: {k['exact']}."]
        lines.append("")
    cpu_rows = [(label, r[key].get(field)) for key, field, label in (
        ("payments_spread", "cpu_ms_per_payment", "a payment (spread run)"),
        ("payments_hot", "cpu_ms_per_payment", "a payment (hot merchant)"),
        ("claims", "cpu_ms_per_claim", "a red-packet claim attempt (rush)")) if key in r]
    groups = sorted({g for _, cpu in cpu_rows if cpu for g in cpu if g != "all"})
    if groups:
        lines += ["## Where the CPU goes (ms of CPU per request, by process, from /proc during the run)", "",
                  "| request | " + " | ".join(groups) + " | all |", "|---" * (len(groups) + 2) + "|"]
        lines += [f"| {label} | " + " | ".join(_fmt((cpu or {}).get(g)) for g in groups) +
                  f" | {_fmt((cpu or {}).get('all'))} |" for label, cpu in cpu_rows]
        lines.append("")
    if r.get("analysis"):
        lines += ["## What the profiles say", "", r["analysis"], ""]
    path.write_text("\n".join(lines))
