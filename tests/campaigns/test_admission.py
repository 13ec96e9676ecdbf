"""Admission control at the claim endpoint (#17 item 5): a worker busy with its bound of claims turns the
next one away with 429 ``claim_busy`` + Retry-After before it touches anything, and the retry with the same
Idempotency-Key claims exactly once (real PostgreSQL and Redis)."""

from __future__ import annotations

import uuid

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
