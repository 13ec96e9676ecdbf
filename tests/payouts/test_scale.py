"""A 10,000-line batch on PostgreSQL: every line paid once, totals exact, leftovers returned; the same with
the RQ worker killed mid-batch and the batch resumed by the sweep."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Account, Transfer
from backend.wallets.models import Wallet
from payouts import service, tasks
from payouts.models import Batch, Line, PayoutCode
from tests.payouts.helpers import bulk_payees, csv_bytes

ROOT = Path(__file__).resolve().parents[2]
LINES = 10_000


def batch_file(people, seed=14):
    """LINES lines over the people: 5 lines each (salary, allowance, subsidy, reimbursement, a second salary)."""
    rng = random.Random(seed)
    rows, expected = [], {}
    cats = ["salary", "allowance", "subsidy", "reimbursement", "salary"]
    for i in range(LINES):
        phone, name = people[i % len(people)]
        fen = rng.randint(1, 150_000)  # ¥0.01 – ¥1,500.00; 5 lines stay under the ¥10,000 cap
        round_no = i // len(people)
        rows.append([phone, name, f"{fen // 100}.{fen % 100:02d}", cats[round_no % 5], f"第{round_no}项"])
        expected[phone] = expected.get(phone, 0) + fen
    return csv_bytes(rows), expected


def assert_paid_once_and_exact(batch_id, expected, people):
    db.session.rollback()
    per_line = db.session.execute(select(Transfer.batch_id, func.count()).where(
        Transfer.code == PayoutCode.PAYOUT).group_by(Transfer.batch_id)).all()
    assert len(per_line) == LINES and {n for _, n in per_line} == {1}
    lines = db.session.execute(select(func.count(), func.sum(Line.amount_fen)).where(
        Line.batch_id == batch_id, Line.status == "paid")).one()
    assert lines[0] == LINES and int(lines[1]) == sum(expected.values())
    phones = dict(people)
    balances = dict(db.session.execute(
        select(Wallet.id, Account.balance_fen).join(Account, Account.id == Wallet.account_id)).all())
    by_phone = {r.phone: balances[r.wallet_id] for r in db.session.execute(
        select(Line.phone, Line.wallet_id).where(Line.batch_id == batch_id).distinct())}
    assert by_phone == expected and set(by_phone) == set(phones)
    batch = db.session.get(Batch, batch_id)
    assert batch.status == "closed" and ledger.balance(batch.account_id) == 0
    assert ledger.verify() == [] and service.check_reserves() == []


def test_a_10000_line_batch_is_paid_once_per_line_with_exact_totals(pg_app, world):
    people = bulk_payees(2_000)
    data, expected = batch_file(people)
    total = sum(expected.values())
    world.topup(total + 12_345)
    t0 = time.perf_counter()
    resp = world.upload(data)
    upload_s = time.perf_counter() - t0
    assert resp.status_code == 201, resp.get_json()
    batch = resp.get_json()
    assert (batch["valid_count"], batch["total_fen"]) == (LINES, total)
    t0 = time.perf_counter()
    resp = world.approve(batch)
    pay_s = time.perf_counter() - t0
    assert resp.status_code == 200, resp.get_json()
    print(f"\n10,000 lines: upload+validation {upload_s:.1f} s, approval+payment {pay_s:.1f} s "
          f"({LINES / pay_s:.0f} lines/s)")
    assert_paid_once_and_exact(batch["id"], expected, people)
    assert world.org_balance() == 12_345


@pytest.mark.redis
def test_a_worker_killed_mid_batch_is_resumed_without_paying_anyone_twice(pg_app, world, real_redis, monkeypatch):
    people = bulk_payees(2_000)
    data, expected = batch_file(people, seed=15)
    total = sum(expected.values())
    world.topup(total)
    batch = world.upload(data).get_json()
    # Approve through the service (the view would enqueue the job): the job goes to the real Redis queue.
    body, status = service.approve(world.approver.user, batch["id"], total, LINES, lambda b: {"id": b.id})
    assert status == 200
    url = real_redis.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/{url['db']}"
    monkeypatch.setitem(pg_app.config, "REDIS_URL", redis_url)
    from backend.jobs import enqueue

    enqueue(tasks.run_batch, batch["id"])
    env = {**os.environ, "DATABASE_URL": pg_app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", ""),
           "REDIS_URL": redis_url, "SECRET_KEY": "test-secret"}
    worker = [sys.executable, "-m", "rq.cli", "worker", "--burst", "-w", "backend.jobs.AppWorker", "--url", redis_url,
              "default"]
    proc = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    paid_at_kill = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            db.session.rollback()
            paid_at_kill = db.session.execute(select(func.count()).where(
                Line.batch_id == batch["id"], Line.status == "paid")).scalar_one()
            if paid_at_kill >= LINES // 4:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-chunk: its open transaction dies with it
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    db.session.rollback()
    paid = db.session.execute(select(func.count()).where(Line.batch_id == batch["id"], Line.status == "paid")
                              ).scalar_one()
    assert LINES // 4 <= paid < LINES and paid % tasks.CHUNK == 0  # only whole chunks committed
    assert service.check_reserves() == [] and ledger.verify() == []
    # The sweep finds the batch still processing and enqueues it again; a fresh worker finishes it.
    assert tasks.sweep() == 1
    done = subprocess.run(worker, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert_paid_once_and_exact(batch["id"], expected, people)
    assert world.org_balance() == 0
