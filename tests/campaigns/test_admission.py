"""Admission control at the claim endpoint (#17 item 5): a worker busy with its bound of claims turns the
next one away with 429 ``claim_busy`` + Retry-After before it touches anything, and the retry with the same
Idempotency-Key claims exactly once (real PostgreSQL and Redis)."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.idempotency import IdempotencyKey
from backend.ledger.models import Transfer
from backend.ledger.service import TransferCode
from campaigns.admission import Admission, ClaimAdmission, queued_ms
from campaigns.gate import Gate
from campaigns.models import Claim
from tests.campaigns.helpers import balance_of, campaign_account, grab, live
from tests.payments.helpers import ok, refused

pytestmark = pytest.mark.redis


def money_of(campaign_id: int) -> tuple:
    """What a claim could have changed: claim rows, claim transfers, the escrow, the gate, recorded keys."""
    db.session.expire_all()
    claims = db.session.execute(select(func.count()).where(Claim.campaign_id == campaign_id)).scalar_one()
    transfers = db.session.execute(select(func.count(), func.coalesce(func.sum(Transfer.amount_fen), 0))
                                   .where(Transfer.code == TransferCode.RED_PACKET_CLAIM)).one()
    keys = db.session.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one()
    db.session.rollback()
    gate = Gate(campaign_id).figures()
    return (claims, tuple(transfers), balance_of(campaign_account(campaign_id)), gate["packets_left"],
            gate["claims_recorded"], keys)


def test_a_refused_attempt_takes_no_packet_and_its_retry_with_the_same_key_claims_once(
        pg_app, real_redis, api, world, factory, monkeypatch):
    admission: Admission = pg_app.extensions["claim_admission"]
    monkeypatch.setattr(admission, "limit", 2)
    c = live(api, world, packet_count=3, budget_fen=900, split="fixed")
    consumer = factory.consumer()
    ok(grab(api, factory.consumer(), c["id"]), 201)  # the gate is built and one packet is gone
    before = money_of(c["id"])
    assert before[:4] == (1, (1, 300), 600, 2)
    key = uuid.uuid4().hex

    # Two claims are in flight in this worker: the third is refused at once, touching nothing.
    assert admission.try_enter() and admission.try_enter()
    try:
        for _ in range(3):
            resp = grab(api, consumer, c["id"], key=key)
            body = refused(resp, 429, "claim_busy")
            assert resp.headers["Retry-After"] == "1" and body["retry_after_seconds"] == 1
        assert money_of(c["id"]) == before
        assert admission.refused >= 3
    finally:
        admission.leave()
        admission.leave()
    assert admission.in_flight == 0

    # A place is free: the same request with the same key claims once; sent again, it is replayed.
    first = ok(grab(api, consumer, c["id"], key=key), 201)
    again = ok(grab(api, consumer, c["id"], key=key), 201)
    assert again == first and first["amount_fen"] == 300
    after = money_of(c["id"])
    assert after[:5] == (2, (2, 600), 300, 1, before[4] + 1)
    assert admission.in_flight == 0  # every admitted claim gave its place back


def test_the_refusal_speaks_chinese_and_is_documented(pg_app, api, world, factory, monkeypatch):
    admission: Admission = pg_app.extensions["claim_admission"]
    monkeypatch.setattr(admission, "limit", 1)
    assert admission.try_enter()
    try:
        resp = api.post("/campaigns/1/claims", factory.consumer(), json={}, key=uuid.uuid4().hex,
                        headers={"Accept-Language": "zh-CN"})
    finally:
        admission.leave()
    body = refused(resp, 429, "claim_busy")
    assert body["detail"] == "正在领取的人太多，请稍候；应用会用同一请求自动重试。"
    assert resp.headers["Content-Language"] == "zh-CN"
    op = api.client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/campaigns/{campaign_id}/claims"]
    assert "Retry-After" in op["post"]["responses"]["429"]["headers"]


# ---------------------------------------------------------------- the middleware alone


def _app(calls: list, fail: bool = False):
    def wsgi(environ, start_response):
        calls.append(environ["PATH_INFO"])
        if fail:
            raise RuntimeError("boom")
        start_response("201 CREATED", [("Content-Type", "application/json")])
        return [b"{}"]
    return wsgi


def _call(mw, path="/api/v1/campaigns/7/claims", method="POST", **headers):
    seen = {}

    def start_response(status, headers_):
        seen["status"], seen["headers"] = status, dict(headers_)
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
    body = b"".join(mw(environ, start_response))
    return int(seen["status"].split()[0]), seen["headers"], body


def test_only_claims_are_counted_and_a_failing_claim_gives_its_place_back():
    calls: list = []
    admission = Admission(1)
    mw = ClaimAdmission(_app(calls), admission)
    admission.try_enter()
    assert _call(mw)[0] == 429
    assert _call(mw, method="GET")[0] == 201  # reading a campaign's claims is not a claim
    assert _call(mw, path="/api/v1/campaigns/7/grants")[0] == 201
    assert _call(mw, path="/api/v1/health")[0] == 201
    admission.leave()
    assert _call(mw)[0] == 201 and admission.in_flight == 0
    failing = ClaimAdmission(_app(calls, fail=True), admission)
    with pytest.raises(RuntimeError):
        _call(failing)
    assert admission.in_flight == 0
    assert calls.count("/api/v1/campaigns/7/claims") == 3  # the GET, the admitted POST, the failing one: the
    # refused POST never reached the app


def test_without_a_bound_every_claim_is_admitted():
    admission = Admission(0)
    for _ in range(50):
        assert admission.try_enter()
    assert admission.refused == 0


@pytest.mark.parametrize("stamp", ["t=1700000000.100", "t=1700000000100", "t=1700000000100000", "1700000000.1"])
def test_a_claim_that_queued_too_long_behind_the_proxy_is_refused(stamp):
    now = 1700000000.100
    assert queued_ms({"HTTP_X_REQUEST_START": stamp}, now + 0.250) == pytest.approx(250, abs=0.01)
    calls: list = []
    mw = ClaimAdmission(_app(calls), Admission(5), max_queue_ms=200, clock=lambda: now + 0.250)
    status, headers, body = _call(mw, x_request_start=stamp)
    assert status == 429 and headers["Retry-After"] == "1" and b"claim_busy" in body and calls == []
    fresh = ClaimAdmission(_app(calls), Admission(5), max_queue_ms=200, clock=lambda: now + 0.150)
    assert _call(fresh, x_request_start=stamp)[0] == 201
    assert _call(mw)[0] == 201  # no stamp (no proxy): only the in-flight bound applies
    assert queued_ms({"HTTP_X_REQUEST_START": "garbage"}, now) is None


def test_a_crowd_through_admission_control_is_paid_exactly(pg_app, real_redis, factory, monkeypatch):
    """120 claimants on 8 threads through the real middleware with one claim admitted at a time: after the first
    pass, claim rows = 201s (no refused attempt took a packet); the refused come back with their own keys until
    answered; then exactly the 40 packets are paid, to the fen, nobody twice."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    from flask.testing import FlaskClient

    from backend.clock import utcnow
    from backend.ledger import service as ledger
    from bench.fixtures import bulk_consumers_with_ids_and_tokens
    from campaigns import service
    from tests.campaigns.helpers import make_world

    packets, budget = 40, 40 * 250
    admission: Admission = pg_app.extensions["claim_admission"]
    monkeypatch.setattr(admission, "limit", 1)
    world = make_world(factory)
    now = utcnow()
    c = service.create(world.pilot.user, {
        "name": "限流抢红包", "kind": "grab", "split": "random", "funder_id": world.funder_id,
        "zone_ids": [world.zone_id], "merchant_ids": [world.shop.merchant_id], "packet_count": packets,
        "budget_fen": budget, "claim_starts_at": now - timedelta(minutes=1),
        "claim_ends_at": now + timedelta(hours=1), "spend_ends_at": now + timedelta(hours=2)})
    service.launch(world.pilot.user, c.id, lambda _: {})
    cid = c.id
    people = bulk_consumers_with_ids_and_tokens(120, prefix="177")
    db.session.commit()
    keys = {user_id: uuid.uuid4().hex for user_id, _ in people}

    def attempt(person) -> tuple[int, int, dict]:
        user_id, token = person
        if passes > 1:
            time.sleep(random.uniform(0, 0.05))  # a retry comes back after its jitter, not all at once
        client = FlaskClient(pg_app, pg_app.response_class, use_cookies=False)  # its own app context per request
        resp = client.post(f"/api/v1/campaigns/{cid}/claims", json={}, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": keys[user_id]})
        return user_id, resp.status_code, resp.get_json()

    def rows() -> int:
        db.session.expire_all()
        n = db.session.execute(select(func.count()).where(Claim.campaign_id == cid)).scalar_one()
        db.session.rollback()
        return n

    answers: dict[int, tuple[int, dict]] = {}
    todo, passes = list(people), 0
    while todo:
        passes += 1
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(attempt, todo))
        assert admission.in_flight == 0
        for user_id, status, body in results:
            if status == 429:
                assert body["code"] == "claim_busy"
            else:
                answers[user_id] = (status, body)
        if passes == 1:
            assert any(status == 429 for _, status, _ in results)  # the bound did turn some away
        # Whatever was refused took nothing: the rows are exactly the 201s so far.
        assert rows() == sum(1 for status, _ in answers.values() if status == 201)
        left = [p for p in people if p[0] not in answers]
        # Each pass starts with nothing in flight, so its first claim is admitted: the crowd always gets on.
        assert len(left) < len(todo)
        todo = left

    statuses = Counter(status for status, _ in answers.values())
    assert statuses == {201: packets, 409: 120 - packets}, statuses
    won = {user_id: body["amount_fen"] for user_id, (status, body) in answers.items() if status == 201}
    db.session.expire_all()
    paid = dict(db.session.execute(select(Claim.user_id, Claim.amount_fen).where(Claim.campaign_id == cid)).all())
    assert paid == won and sum(paid.values()) == budget
    assert balance_of(campaign_account(cid)) == 0
    assert ledger.verify() == []
