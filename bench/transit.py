"""Transit settlement benchmark: card-signed records settled per second from uploaded batches, as a
ratio of ``pgbench -N`` TPS measured in the same run. Appends its section to docs/BENCHMARKS.md
(``make bench`` runs it after ``bench.run``, which rewrites that file).

The batches are posted through the app in-process (Flask's test client, one request at a time, no
HTTP server): what is measured is settlement itself — parsing, Ed25519 verification of every
record, the counter-chain checks, the record inserts and one ledger transfer per card and batch.

    python -m bench.transit [--cards 500] [--taps 20000] [--pgbench-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

DOCS = Path(__file__).resolve().parent.parent / "docs"
START, END = "<!-- transit-bench -->", "<!-- /transit-bench -->"


def run(cards: int, taps: int, pgbench_seconds: int) -> dict:
    from flask_migrate import upgrade

    from backend import create_app
    from backend.auth.models import Role
    from backend.auth.service import create_user
    from backend.extensions import db
    from backend.seed import seed_reference
    from bench.fixtures import consumers
    from bench.run import pgbench_tps
    from suiyuan_protocol.transit.card import HardCard
    from suiyuan_protocol.transit.fares import GUANGZHOU
    from suiyuan_protocol.transit.records import CardCertificate, LoadAuthorisation, b64, unb64
    from suiyuan_protocol.transit.terminal import Terminal
    from transit import service

    load_at_start = round(os.getloadavg()[0], 2)
    admin_url = sa.make_url(os.environ.get("DATABASE_URL", "postgresql://root@127.0.0.1:5432/postgres"))
    name = f"suiyuan_transit_bench_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        os.environ.pop("REDIS_URL", None)
        url = admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(False)
        # In process on purpose (no job runs here): the explicit test mode, which production's preflight
        # (a real secret, a reachable Redis) does not ask of it.
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SUIYUAN_ENV": "test", "REDIS_URL": None,
                          "PASSWORD_HASH_METHOD": "scrypt:1024:8:1", "SECRET_KEY": "bench-" + "x" * 40})
        with app.app_context(), tempfile.TemporaryDirectory() as tmp:
            upgrade(revision="heads")
            seed_reference()
            users = consumers(cards, 20_000, prefix="177")
            op = service.create_operator("广州公交", "bus")
            terminals = []
            for i in range(5):
                t, key = service.register_terminal(op.id, f"BUS-{i}", "bus", "B1")
                terminals.append((t.terminal_id, key))
            create_user("17900000000", "Bench-pass-1", Role.PILOT_ADMIN)
            db.session.commit()
            keys = {k: unb64(v) for k, v in service.issuer_keys_json().items()}
            from backend.auth.models import User

            chips = []
            for user_id, _token in users:
                user = db.session.get(User, user_id)
                chip = HardCard.create(f"HW{len(chips) + 1:016X}")
                card, cert = service.issue_card(user, chip.card_id, b64(chip.public_key), None)
                chip.install(CardCertificate.from_json(cert), keys)
                body, _ = service.load(user, chip.card_id, 10_000)
                db.session.commit()
                chip.apply_load(LoadAuthorisation.from_json(body["authorisation"]))
                chips.append(chip)
            gates = [Terminal(tid, "bus", "B1", Path(tmp) / f"{tid}.sqlite", issuer_keys=keys, durable=False)
                     for tid, _ in terminals]
            # Uncapped fares, so that every tap is a record to settle (capping is tested elsewhere).
            uncapped = replace(GUANGZHOU, day_cap_fen=None, month_cap_fen=None).to_json()
            for g in gates:
                g.apply_fares(uncapped)
            rng = random.Random(1)
            for k in range(taps):
                gates[rng.randrange(5)].tap(chips[rng.randrange(cards)], 1_772_409_600 + k)
            batches = [(b, dict(terminals)[g.terminal_id]) for g in gates for b in g.all_batches(size=400)]
            records = sum(len(b["records"]) for b, _ in batches)
            client = app.test_client()
            started = time.perf_counter()
            for b, key in batches:
                r = client.post("/api/v1/transit/batches", json=b, headers={"X-Terminal-Key": key})
                assert r.status_code == 201 and not r.json["rejected"], r.json
                db.session.remove()
            elapsed = time.perf_counter() - started
        pg = pgbench_tps(admin_url.render_as_string(False), pgbench_seconds, scale=10)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    per_s = records / elapsed
    return {"cards": cards, "taps": taps, "records": records, "batches": len(batches),
            "seconds": round(elapsed, 2), "records_per_s": round(per_s), "pgbench": pg,
            "records_vs_pgbench": round(per_s / pg["tps"], 3) if pg["tps"] else None,
            # What else the machine was doing: both figures suffer from it, their ratio much less.
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "load_average_1m": {"start": load_at_start, "end": round(os.getloadavg()[0], 2)}}


def write(result: dict) -> None:
    load = result.get("load_average_1m", {})
    section = "\n".join([
        START,
        "## Transit settlement (`python -m bench.transit`)",
        "",
        f"{result['records']} card-signed records ({result['cards']} cards, 5 terminals) uploaded in "
        f"{result['batches']} batches of ≤ 400, settled in-process one batch at a time: "
        f"**{result['records_per_s']} records/s** = **{result['records_vs_pgbench']} × `pgbench -N`** "
        f"({result['pgbench']['tps']:.0f} TPS in the same run). Each record: Ed25519 verification, "
        "counter-chain checks, one row; one ledger transfer per card and batch. One uploader at a time against "
        f"pgbench's {result['pgbench'].get('clients', 8)} clients: the ratio is of one terminal link's settlement "
        "to the database's whole write capacity (batches of different terminals settle in parallel, cards "
        "locked in id order).",
        "",
        f"Run {result.get('date', '')}. Machine: {result.get('cpus')} CPUs, 1-minute load average "
        f"{load.get('start')} at the start and {load.get('end')} at the end of the run. On a shared, "
        "loaded machine both absolute figures are low and noisy; the ratio to `pgbench -N` measured in the "
        "same run is the figure to compare between runs.",
        "",
        "```json", json.dumps(result, indent=1), "```",
        END, "",
    ])
    path = DOCS / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = re.sub(re.escape(START) + ".*?" + re.escape(END) + "\n?", "", text, flags=re.S)
    path.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cards", type=int, default=500)
    p.add_argument("--taps", type=int, default=20_000)
    p.add_argument("--pgbench-seconds", type=int, default=10)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    result = run(args.cards, args.taps, args.pgbench_seconds)
    print(json.dumps(result), flush=True)
    if not args.no_write:
        write(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
