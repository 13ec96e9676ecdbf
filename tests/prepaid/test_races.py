"""Races on the real PostgreSQL: releases never pass the units left, a release and a refund never take the
same unit, a suspension never strands a purchase."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from backend.auth.models import User
from backend.errors import DomainError
from backend.extensions import db
from backend.ledger import service as ledger
from prepaid import service, tasks
from prepaid.models import Contract, Release
from tests.prepaid.helpers import buy, contract_row, escrow, make_world, ok, publish, release


@pytest.fixture
def w(pg_app, factory):
    return make_world(pg_app, factory)


def race(app, jobs, fn, threads: int = 20):
    """Run ``fn(job)`` for every job at once, each on its own thread, app context and session."""
    barrier = threading.Barrier(len(jobs))

    def worker(job):
        with app.app_context():
            try:
                barrier.wait()
                return fn(job)
            except DomainError as exc:
                db.session.rollback()
                return exc.code
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(worker, jobs))


def test_20_concurrent_releases_of_a_contract_with_5_units_left_release_exactly_5(pg_app, w, factory):
    plan = publish(w, w.gym_owner, w.gym, units=8, unit_price_fen=12_345)
    consumer = factory.consumer(balance_fen=200_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    ok(release(w, w.gym_owner, c["code"], 3), 201)
    owner_id = w.gym_owner.id

    def one(_):
        service.release_by_code(db.session.get(User, owner_id), c["code"], 1)
        db.session.commit()
        return "ok"

    results = race(pg_app, list(range(20)), one)
    assert results.count("ok") == 5, results
    assert set(results) <= {"ok", "not_enough_units", "contract_ended"}
    row = contract_row(c["id"])
    assert (row.units_left, row.status) == (0, "completed") and escrow(c["id"]) == 0
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 8 * 12_345
    assert db.session.execute(select(func.coalesce(func.sum(Release.units), 0)).where(
        Release.contract_id == c["id"])).scalar_one() == 8
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_concurrent_releases_over_http_with_their_own_keys_never_overdraw(pg_app, w, factory):
    plan = publish(w, w.gym_owner, w.gym, units=5, unit_price_fen=10_000)
    c = ok(buy(w, factory.consumer(balance_fen=50_000, wallet_class=3), plan["id"]), 201)

    def one(i):
        from tests.payments.helpers import Api

        return Api(pg_app).post("/prepaid/releases", w.gym_owner, json={"code": c["code"], "units": 2},
                                key=f"k{i}").status_code

    codes = race(pg_app, list(range(12)), one, threads=12)
    assert codes.count(201) == 2 and set(codes) <= {201, 409}, codes
    assert escrow(c["id"]) == 10_000 and contract_row(c["id"]).units_left == 1
    assert service.verify_escrows() == []


@pytest.mark.parametrize("round_", range(3))
def test_a_release_racing_a_refund_never_takes_the_same_unit(pg_app, w, factory, round_):
    plan = publish(w, w.gym_owner, w.gym, units=5, unit_price_fen=10_000)
    consumer = factory.consumer(balance_fen=50_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    owner_id, consumer_id = w.gym_owner.id, consumer.id

    def one(job):
        if job == "refund":
            service.refund_mine(db.session.get(User, consumer_id), c["id"])
        else:
            service.release_by_code(db.session.get(User, owner_id), c["code"], 1)
        db.session.commit()
        return f"{job}:ok"

    jobs = ["release"] * 8
    jobs.insert(round_ * 3, "refund")
    results = race(pg_app, jobs, one, threads=9)
    released = results.count("release:ok")
    row = contract_row(c["id"])
    assert row.units_left == 0 and escrow(c["id"]) == 0
    merchant = factory.balance(w.merchant_account(w.gym_merchant_id))
    if "refund:ok" in results:
        assert row.status == "refunded" and row.refunded_fen == (5 - released) * 10_000
        assert factory.balance(consumer) == (5 - released) * 10_000
    else:
        assert released == 5 and row.status == "completed" and factory.balance(consumer) == 0
    assert merchant == released * 10_000 and merchant + factory.balance(consumer) == 50_000
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_purchases_racing_a_suspension_are_all_refunded_by_its_closure(pg_app, w, factory):
    """A purchase either sees the suspension (refused) or commits before it and is refunded by the run."""
    plan = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=1_000)
    buyers = [factory.consumer(balance_fen=10_000, wallet_class=3) for _ in range(12)]
    closures = []
    buyer_ids, regulator_id = [b.id for b in buyers], w.sports_regulator.id

    def one(job):
        if job == "suspend":
            _, closure = service.change_status(db.session.get(User, regulator_id), w.gym["id"],
                                               "suspended", "stop")
            closures.append(tasks.run_closure(closure.id))  # at once, as the inline job queue does
            return "suspended"
        service.purchase(db.session.get(User, buyer_ids[job]), plan["id"])
        db.session.commit()
        return "bought"

    jobs = list(range(12))
    jobs.insert(2, "suspend")
    results = race(pg_app, jobs, one, threads=13)
    assert "suspended" in results
    progress = closures[0]
    bought = results.count("bought")
    assert progress["counted"] == progress["refunded"] == bought and progress["status"] == "done"
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Contract).where(
        Contract.status == "active")).scalar_one() == 0
    assert all(factory.balance(b) == 10_000 for b in buyers)
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_racing_confirmations_of_one_request_release_once(pg_app, w, factory):
    plan = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=10_000)
    consumer = factory.consumer(balance_fen=100_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    req = ok(w.api.post(f"/prepaid/contracts/{c['id']}/release-requests", w.gym_owner, json={"units": 3}), 201)
    consumer_id = consumer.id

    def one(_):
        service.answer_request(db.session.get(User, consumer_id), req["id"], True)
        db.session.commit()
        return "ok"

    results = race(pg_app, list(range(10)), one, threads=10)
    assert results.count("ok") == 1 and set(results) <= {"ok", "request_not_pending"}, results
    assert escrow(c["id"]) == 70_000 and contract_row(c["id"]).units_left == 7
    assert service.verify_escrows() == [] and ledger.verify() == []
