"""Races on the real PostgreSQL: exact balances, caps that hold, one transfer per key."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from backend.config import WALLET_TIERS
from backend.errors import DomainError
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import LimitExceeded, TransferCode


def _run_in_threads(app, n_threads: int, jobs, fn):
    """Run ``fn(job)`` for every job on ``n_threads`` threads, each in its own app context/session."""

    def worker(job):
        with app.app_context():
            try:
                return fn(job)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(worker, jobs))


def test_50_threads_2000_payments_from_20_wallets_into_one_merchant(pg_app, factory):
    app = pg_app
    tier = WALLET_TIERS[2]
    issuance = factory.bank("ICBC").issuance_account_id
    wallets = [ledger.open_account(AccountKind.WALLET, limits=tier) for _ in range(20)]
    merchant = ledger.open_account(AccountKind.MERCHANT)
    opening = 60_000  # ¥600 each: not enough for every payment, so some must be refused
    for w in wallets:
        ledger.transfer(issuance, w, opening, TransferCode.TOPUP)
    db.session.commit()

    rng = random.Random(7)
    jobs = [(rng.choice(wallets), rng.randint(1, 1_500)) for _ in range(2_000)]
    paid: dict[int, int] = {w: 0 for w in wallets}
    lock = threading.Lock()

    def pay(job):
        payer, amount = job
        try:
            ledger.transfer(payer, merchant, amount, TransferCode.PAYMENT)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            return exc.code
        with lock:
            paid[payer] += amount
        return "ok"

    results = _run_in_threads(app, 50, jobs, pay)
    assert set(results) <= {"ok", "insufficient_funds"}
    assert results.count("insufficient_funds") > 0, "the scenario should exhaust some wallets"
    db.session.expire_all()
    for w in wallets:
        assert ledger.balance(w) == opening - paid[w] >= 0
    assert ledger.balance(merchant) == sum(paid.values())
    assert ledger.verify() == []
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0


def test_racing_payments_never_break_the_daily_cap(pg_app, factory):
    app = pg_app
    tier = WALLET_TIERS[4]
    issuance = factory.bank("ICBC").issuance_account_id
    wallet = ledger.open_account(AccountKind.WALLET, limits=tier)
    merchant = ledger.open_account(AccountKind.MERCHANT)
    ledger.transfer(issuance, wallet, tier.balance_cap_fen, TransferCode.TOPUP)
    db.session.commit()
    amount = 70_000  # ¥700: 7 fit under the ¥5,000 daily cap, the 8th would not
    jobs = [amount] * 40

    def pay(a):
        try:
            ledger.transfer(wallet, merchant, a, TransferCode.PAYMENT)
            db.session.commit()
            return "ok"
        except LimitExceeded as exc:
            db.session.rollback()
            return exc.extra["limit"]

    results = _run_in_threads(app, 20, jobs, pay)
    assert results.count("ok") == tier.day_cap_fen // amount == 7
    assert set(results) == {"ok", "day"}
    db.session.expire_all()
    assert ledger.balance(merchant) == 7 * amount
    assert ledger.verify() == []


def test_racing_credits_never_break_the_balance_cap(pg_app, factory):
    app = pg_app
    tier = WALLET_TIERS[4]
    issuance = factory.bank("ICBC").issuance_account_id
    wallet = ledger.open_account(AccountKind.WALLET, limits=tier)
    db.session.commit()
    amount = tier.balance_cap_fen // 4

    def topup(_):
        try:
            ledger.transfer(issuance, wallet, amount, TransferCode.TOPUP)
            db.session.commit()
            return "ok"
        except LimitExceeded:
            db.session.rollback()
            return "capped"

    results = _run_in_threads(app, 10, range(10), topup)
    assert results.count("ok") == 4
    db.session.expire_all()
    assert ledger.balance(wallet) == tier.balance_cap_fen


def test_same_idempotency_key_three_times_concurrently_moves_money_once(pg_app, factory):
    app = pg_app
    payer = factory.consumer(balance_fen=100_000)
    payee = factory.consumer()
    barrier = threading.Barrier(3)
    body = {"to_phone": payee.phone, "amount_fen": 12_345}

    def send(_):
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/transfers", json=body, headers={**payer.auth, "Idempotency-Key": "race-1"})
        return resp.status_code, resp.get_json()

    responses = _run_in_threads(app, 3, range(3), send)
    assert [status for status, _ in responses] == [201, 201, 201]
    assert responses[0][1] == responses[1][1] == responses[2][1]
    assert factory.balance(payer) == 100_000 - 12_345
    assert factory.balance(payee) == 12_345
    count = db.session.execute(db.text("SELECT count(*) FROM transfers WHERE code = 'transfer'")).scalar_one()
    assert count == 1
    other = app.test_client().post("/api/v1/transfers", json={**body, "amount_fen": 1},
                                   headers={**payer.auth, "Idempotency-Key": "race-1"})
    assert other.status_code == 409
    assert other.get_json()["code"] == "idempotency_key_reused"


def test_opposite_transfers_do_not_deadlock(pg_app, factory):
    """A→B and B→A at once: rows are locked in id order, so neither waits on the other forever."""
    app = pg_app
    issuance = factory.bank("ICBC").issuance_account_id
    a = ledger.open_account(AccountKind.WALLET)
    b = ledger.open_account(AccountKind.WALLET)
    for w in (a, b):
        ledger.transfer(issuance, w, 1_000_000, TransferCode.TOPUP)
    db.session.commit()

    def move(i):
        src, dst = (a, b) if i % 2 else (b, a)
        ledger.transfer(src, dst, 1 + i % 7, TransferCode.TRANSFER, limited=False)
        db.session.commit()
        return "ok"

    assert _run_in_threads(app, 16, range(400), move) == ["ok"] * 400
    db.session.expire_all()
    assert ledger.balance(a) + ledger.balance(b) == 2_000_000
    assert ledger.verify() == []
