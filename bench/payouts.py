"""Payout batches: lines paid per second against single payments per second in the same run, and the
memory a 100,000-line file takes to validate.

In one scratch PostgreSQL database (``bench.harness.Stack``, migrated and seeded with the operator banks),
in process (the payout job is a function an RQ worker calls; the single payment is its ledger core):

- **single payments**: ``N`` wallet → merchant transfers through ``backend.ledger.service.transfer``,
  each in its own committed transaction, as a payment commits its transfer;
- **payout lines**: a ``LINES``-line batch uploaded (validated), approved (the reserve), and paid by
  ``payouts.tasks.run_batch``: lines per second of the job;
- **memory**: the peak of Python allocations (``tracemalloc``) while a 100,000-line CSV is read,
  validated and stored, against a 10,000-line one (bounded memory: about the same).

Both rates share the machine's noise; their ratio is the figure to watch. Writes docs/payouts.json and
docs/PAYOUTS.md (``--quick``: small sizes, payouts-quick.*, only to check that everything runs).

Usage: python -m bench.payouts [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.harness import ROOT, SECRET_KEY, Stack


def _people(n: int):
    from tests.payouts.helpers import bulk_payees

    return bulk_payees(n)


def _world(app):
    from backend.auth.models import Role
    from backend.auth.service import create_user
    from backend.extensions import db
    from backend.ledger import service as ledger
    from backend.wallets.service import get_bank
    from payouts import service
    from payouts.models import OrgMember, PayoutCode

    pilot = create_user("13500000001", "Bench2026x", Role.PILOT_ADMIN)
    officer = create_user("13400000001", "Bench2026x", Role.ORG_STAFF)
    approver = create_user("13400000002", "Bench2026x", Role.ORG_STAFF)
    db.session.commit()
    org = service.create_org(pilot, {"name": "基准单位", "kind": "department", "uscc": "11440104006952170L",
                                     "bank_code": "ICBC", "bank_account_number": "6222020200112233446"})
    for user, role in ((officer, "officer"), (approver, "approver")):
        db.session.add(OrgMember(org_id=org.id, user_id=user.id, role=role, created_at=org.created_at))
    ledger.transfer(get_bank("ICBC").issuance_account_id, org.account_id, 10**13, PayoutCode.TOPUP)
    db.session.commit()
    return org, officer, approver


def _csv(people, n_lines: int, path) -> int:
    total = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("phone,name,amount,category,memo\r\n")
        for i in range(n_lines):
            phone, name = people[i % len(people)]
            fen = 100 + (i * 7919) % 99_000
            total += fen
            f.write(f"{phone},{name},{fen // 100}.{fen % 100:02d},salary,第{i}行\r\n")
    return total


def single_payments(n: int) -> float:
    """Committed wallet → merchant transfers per second."""
    from backend.extensions import db
    from backend.ledger import service as ledger
    from backend.ledger.models import AccountKind
    from backend.ledger.service import TransferCode
    from backend.wallets.service import get_bank

    issuance = get_bank("ICBC").issuance_account_id
    payers = [ledger.open_account(AccountKind.WALLET) for _ in range(50)]
    merchant = ledger.open_account(AccountKind.MERCHANT)
    for p in payers:
        ledger.transfer(issuance, p, 10**9, TransferCode.TOPUP)
    db.session.commit()
    t0 = time.perf_counter()
    for i in range(n):
        ledger.transfer(payers[i % len(payers)], merchant, 3850, TransferCode.PAYMENT, limited=False)
        db.session.commit()
    return n / (time.perf_counter() - t0)


def payout_lines(org, officer, approver, people, n_lines: int) -> dict:
    from payouts import service, tasks

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.csv"
        total = _csv(people, n_lines, path)
        with open(path, "rb") as f:
            t0 = time.perf_counter()
            batch = service.upload(officer, org.id, f, "batch.csv", f"BENCH-{n_lines}", "bench")
            upload_s = time.perf_counter() - t0
    assert batch.total_fen == total and batch.valid_count == n_lines
    service.approve(approver, batch.id, total, n_lines, lambda b: {})
    t0 = time.perf_counter()
    result = tasks.run_batch(batch.id)
    pay_s = time.perf_counter() - t0
    assert result["paid"] == n_lines and result["status"] == "closed", result
    return {"lines": n_lines, "upload_s": round(upload_s, 2), "upload_lines_per_s": round(n_lines / upload_s),
            "pay_s": round(pay_s, 2), "lines_per_s": round(n_lines / pay_s)}


def memory(org, officer, people, n_lines: int) -> dict:
    from payouts import service

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        _csv(people, n_lines, path)
        size = path.stat().st_size
        with open(path, "rb") as f:
            tracemalloc.start()
            t0 = time.perf_counter()
            service.upload(officer, org.id, f, "big.csv", f"MEM-{n_lines}", "memory")
            elapsed = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    return {"lines": n_lines, "file_mib": round(size / 2**20, 1), "peak_mib": round(peak / 2**20, 1),
            "seconds_traced": round(elapsed, 1)}


BEGIN, END = "<!-- payouts-bench:begin -->", "<!-- payouts-bench:end -->"


def figures(results: dict) -> list[str]:
    """The table of one run, and what explains it."""
    p, m = results["payouts"], results["memory"]
    lines = [
        "| what | figure |",
        "|---|---|",
        f"| single payments (one committed ledger transfer each) | {results['single_payments_per_s']:,.0f} /s |",
        f"| payout lines paid by the job ({p['lines']:,}-line batch) | {p['lines_per_s']:,} /s |",
        f"| **payout lines ÷ single payments** | **{results['ratio']:.2f}** |",
        f"| upload + validation of the batch | {p['upload_s']} s ({p['upload_lines_per_s']:,} lines/s) |",
    ]
    for row in m:
        lines.append(f"| peak Python memory validating {row['lines']:,} lines ({row['file_mib']} MiB file) | "
                     f"{row['peak_mib']} MiB |")
    return lines + ["", "A batch pays its lines in chunks of 250 through `ledger.transfer_many` (four statements per "
                    "chunk on PostgreSQL), which is why a line costs less than a single payment's own transaction; "
                    "memory stays flat because files are read row by row and stored 1,000 lines at a time."]


def write_md(results: dict, path: Path) -> None:
    head = f"Measured by `python -m bench.payouts` on {results['when']} (in process, PostgreSQL; see the module doc)."
    path.write_text("\n".join(["# Payout batches", "", head, "", *figures(results)]) + "\n", encoding="utf-8")


def write_section(results: dict, path: Path) -> None:
    """The "Payout batches" section of BENCHMARKS.md (between its markers; the rest of the file is kept)."""
    from bench.harness import put_section

    head = (f"Run {results['when']} by `make bench` (`python -m bench.payouts`), in process on one scratch "
            "PostgreSQL database: both rates in the same run, so their ratio is the figure to watch "
            "(the machine is shared and its absolute rates move from run to run).")
    put_section(path, BEGIN, END, "\n".join([BEGIN, "## Payout batches: lines paid per second ÷ single payments per "
                                               "second", "", head, "", *figures(results), END]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    n_single, n_lines, mem_sizes = (200, 1_000, (1_000, 5_000)) if args.quick else (3_000, 10_000, (10_000, 100_000))
    with Stack() as stack:
        os.environ.pop("REDIS_URL", None)
        from backend import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": stack.database_url.replace("postgresql://",
                                                                               "postgresql+psycopg://"),
                          # In process on purpose: the job runs inline (the in-process Redis), as the
                          # explicit test mode allows; production's preflight would refuse it.
                          "SUIYUAN_ENV": "test", "REDIS_URL": None, "SECRET_KEY": SECRET_KEY,
                          "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"})
        with app.app_context():
            org, officer, approver = _world(app)
            people = _people(2_000)
            rate = single_payments(n_single)
            payouts = payout_lines(org, officer, approver, people, n_lines)
            mem = [memory(org, officer, people, n) for n in mem_sizes]
            from backend.extensions import db

            db.engine.dispose()
    results = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "single_payments_per_s": round(rate),
               "payouts": payouts, "ratio": round(payouts["lines_per_s"] / rate, 2), "memory": mem}
    out = Path(args.out)
    suffix = "-quick" if args.quick else ""
    (out / f"payouts{suffix}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    write_md(results, out / f"PAYOUTS{suffix}.md")
    if not args.quick:
        write_section(results, out / "BENCHMARKS.md")
    print(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
