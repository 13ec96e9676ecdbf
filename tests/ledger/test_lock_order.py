"""On PostgreSQL a transfer re-checks a row judged on a stale snapshot, and use cases with several legs
lock accounts in id order."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode


def _in_thread(app, fn):
    out: dict = {}

    def run():
        with app.app_context():
            try:
                out["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                out["error"] = exc
                db.session.rollback()
            finally:
                db.session.remove()

    t = threading.Thread(target=run)
    t.start()
    return t, out


def wait_for_a_lock_waiter(timeout_s: float = 10.0) -> None:
    """Return once another session of this database waits for a lock (the other thread is blocked)."""
    deadline = time.monotonic() + timeout_s
    # Autocommit: pg_stat_activity is read afresh by each statement, not once per transaction.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock'")).scalar_one():
            assert time.monotonic() < deadline, "the other transaction never waited for the lock"
            time.sleep(0.01)


def test_second_row_is_rechecked_after_waiting_for_the_first(pg_app, factory):
    """W (higher id) gets money while the payment waits on M's lock: the payment must see it."""
    app = pg_app
    issuance = factory.bank("ICBC").issuance_account_id
    m = ledger.open_account(AccountKind.MERCHANT)
    w = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
    x = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
    ledger.transfer(issuance, w, 100, TransferCode.TOPUP)
    ledger.transfer(issuance, x, 100, TransferCode.TOPUP)
    db.session.commit()
    holding = threading.Event()

    def holder():
        ledger.transfer(x, m, 1, TransferCode.PAYMENT)  # holds M
        ledger.transfer(issuance, w, 100_000, TransferCode.TOPUP)  # W gets ¥1,000, not yet committed
        holding.set()
        wait_for_a_lock_waiter()  # the payer now waits on M, with a snapshot taken before W's top-up
        db.session.commit()

    def payer():
        holding.wait()
        posted = ledger.transfer(w, m, 50_000, TransferCode.PAYMENT)  # waits for M, then must see W's ¥1,001
        db.session.commit()
        return posted

    t1, _ = _in_thread(app, holder)
    t2, out = _in_thread(app, payer)
    t1.join()
    t2.join()
    assert "error" not in out, out.get("error")
    db.session.expire_all()
    assert ledger.balance(w) == 100 + 100_000 - 50_000
    assert ledger.verify() == []


def test_use_cases_with_several_legs_lock_in_id_order(pg_app, factory):
    """A coupon payment (A→M, C→M) against a refund of the coupon leg (M→C) with C < M: no deadlock."""
    app = pg_app
    issuance = factory.bank("ICBC").issuance_account_id
    c = ledger.open_account(AccountKind.CAMPAIGN)
    m = ledger.open_account(AccountKind.MERCHANT)
    a = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[2])
    for acct in (a, c):
        ledger.transfer(issuance, acct, 100_000, TransferCode.TOPUP, limited=False)
    ledger.transfer(c, m, 1_000, TransferCode.COUPON_SUBSIDY)
    db.session.commit()
    first_locked = threading.Event()

    def payment():
        ledger.lock_accounts([a, m, c])
        ledger.transfer(a, m, 4_000, TransferCode.PAYMENT)
        first_locked.set()
        wait_for_a_lock_waiter()  # the refund now waits for the locks this payment holds
        ledger.transfer(c, m, 1_000, TransferCode.COUPON_SUBSIDY)
        db.session.commit()

    def refund():
        first_locked.wait()
        ledger.lock_accounts([m, c, a])
        ledger.transfer(m, c, 1_000, TransferCode.REFUND, limited=False)
        db.session.commit()

    t1, o1 = _in_thread(app, payment)
    t2, o2 = _in_thread(app, refund)
    t1.join()
    t2.join()
    assert "error" not in o1 and "error" not in o2, (o1.get("error"), o2.get("error"))
    db.session.expire_all()
    assert ledger.balance(m) == 1_000 + 4_000 + 1_000 - 1_000
    assert ledger.verify() == []
