"""The other way to release: the shop asks, the consumer confirms in the app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from prepaid import service
from prepaid.models import ReleaseRequest
from tests.prepaid.helpers import buy, contract_row, escrow, make_world, ok, publish, refused


@pytest.fixture
def w(app, factory):
    return make_world(app, factory)


def test_the_consumer_confirms_once_and_the_units_are_released(w, factory):
    plan = publish(w, w.gym_owner, w.gym)  # 20 × ¥150
    consumer = factory.consumer(balance_fen=300_000, wallet_class=3)
    c = ok(buy(w, consumer, plan["id"]), 201)
    req = ok(w.api.post(f"/prepaid/contracts/{c['id']}/release-requests", w.gym_owner, json={"units": 2}), 201)
    assert (req["status"], req["amount_fen"], req["merchant_name_zh"]) == ("pending", 30_000, "越秀健身房")
    assert escrow(c["id"]) == 300_000  # nothing moves on a request
    pending = ok(w.api.get("/prepaid/release-requests?status=pending", consumer))["items"]
    assert [p["id"] for p in pending] == [req["id"]]
    done = ok(w.api.post(f"/prepaid/release-requests/{req['id']}/confirm", consumer, money=True, key="yes"))
    assert done["status"] == "confirmed" and done["release"]["amount_fen"] == 30_000
    assert ok(w.api.post(f"/prepaid/release-requests/{req['id']}/confirm", consumer, money=True, key="yes")) == done
    refused(w.api.post(f"/prepaid/release-requests/{req['id']}/confirm", consumer, money=True), 409,
            "request_not_pending")
    assert escrow(c["id"]) == 18 * 15_000 and contract_row(c["id"]).units_left == 18
    assert factory.balance(w.merchant_account(w.gym_merchant_id)) == 30_000
    assert service.verify_escrows() == [] and ledger.verify() == []


def test_declined_expired_and_foreign_requests_move_nothing(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    alice, bob = (factory.consumer(balance_fen=300_000, wallet_class=3) for _ in range(2))
    c = ok(buy(w, alice, plan["id"]), 201)
    url = f"/prepaid/contracts/{c['id']}/release-requests"
    refused(w.api.post(url, w.gym_owner, json={"units": 21}), 409, "not_enough_units", "units")
    refused(w.api.post(url, w.gym_owner, json={"units": 0}), 422, "validation_failed", "units")
    refused(w.api.post(url, w.school_owner, json={"units": 1}), 404, "contract_not_found")
    first = ok(w.api.post(url, w.gym_owner, json={"units": 1}), 201)
    refused(w.api.post(f"/prepaid/release-requests/{first['id']}/confirm", bob, money=True), 404,
            "request_not_found")
    assert ok(w.api.post(f"/prepaid/release-requests/{first['id']}/decline", alice, money=True))[
        "status"] == "declined"
    second = ok(w.api.post(url, w.gym_owner, json={"units": 1}), 201)
    db.session.execute(update(ReleaseRequest).where(ReleaseRequest.id == second["id"]).values(
        expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    refused(w.api.post(f"/prepaid/release-requests/{second['id']}/confirm", alice, money=True), 409,
            "request_expired")
    # The refund took everything: a request confirmed afterwards is refused and its status stays pending.
    third = ok(w.api.post(url, w.gym_owner, json={"units": 1}), 201)
    ok(w.api.post(f"/prepaid/contracts/{c['id']}/refund", alice, money=True), 201)
    refused(w.api.post(f"/prepaid/release-requests/{third['id']}/confirm", alice, money=True), 409, "contract_ended")
    assert db.session.get(ReleaseRequest, third["id"]).status == "pending"
    assert factory.balance(alice) == 300_000 and factory.balance(w.merchant_account(w.gym_merchant_id)) == 0


def test_the_shop_lists_todays_releases(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    c = ok(buy(w, factory.consumer(balance_fen=300_000, wallet_class=3), plan["id"]), 201)
    from tests.prepaid.helpers import release

    ok(release(w, w.gym_owner, c["code"], 1), 201)
    ok(release(w, w.gym_owner, c["code"], 2), 201)
    body = ok(w.api.get("/prepaid/releases", w.gym_owner))
    assert (body["count"], body["total_fen"]) == (2, 45_000) and body["items"][0]["units"] == 2
    assert ok(w.api.get("/prepaid/releases", w.school_owner))["count"] == 0
    assert ok(w.api.get("/prepaid/releases?day=2020-01-01", w.gym_owner))["count"] == 0
    refused(w.api.get("/prepaid/releases?day=yesterday", w.gym_owner), 422, "validation_failed", "day")


def test_a_contracts_history_lists_its_releases_for_those_who_see_it(w, factory):
    from tests.prepaid.helpers import release

    plan = publish(w, w.gym_owner, w.gym)
    alice, bob = (factory.consumer(balance_fen=300_000, wallet_class=3) for _ in range(2))
    c = ok(buy(w, alice, plan["id"]), 201)
    ok(release(w, w.gym_owner, c["code"], 1), 201)
    ok(release(w, w.gym_owner, c["code"], 3), 201)
    history = ok(w.api.get(f"/prepaid/contracts/{c['id']}/releases", alice))
    assert [i["units"] for i in history["items"]] == [3, 1] and history["total_fen"] == 60_000
    assert ok(w.api.get(f"/prepaid/contracts/{c['id']}/releases", w.sports_regulator))["count"] == 2
    refused(w.api.get(f"/prepaid/contracts/{c['id']}/releases", bob), 404, "contract_not_found")
