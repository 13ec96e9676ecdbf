"""The claim gate over HTTP (both engines, on the in-process Redis emulation): exact money, caps,
eligibility, and recovery from a flushed Redis or a worker that died mid-claim."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backend.clock import utcnow
from backend.extensions import db, get_redis
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode
from backend.wallets.models import Wallet
from campaigns import service
from campaigns.gate import Gate
from campaigns.models import Claim, Packet
from tests.campaigns.helpers import (
    balance_of,
    campaign_account,
    close_window,
    grab,
    live,
    restricted_balance,
    transfers_with,
)
from tests.payments.helpers import ledger_untouched, ok, refused


def claims_of(campaign_id: int) -> list:
    rows = db.session.execute(select(Claim.user_id, Claim.packet_seq, Claim.amount_fen)
                              .where(Claim.campaign_id == campaign_id).order_by(Claim.packet_seq)).all()
    db.session.rollback()
    return rows


def test_a_claim_moves_its_packet_into_the_consumers_restricted_balance(api, world, factory):
    c = live(api, world, split="random", packet_count=3, budget_fen=1_000)
    consumer = factory.consumer(balance_fen=5_000)
    body = ok(grab(api, consumer, c["id"]), 201)
    assert body["kind"] == "grab" and body["via"] == "gate" and 1 <= body["amount_fen"] <= 1_000 - 2
    assert restricted_balance(consumer.id, c["id"]) == body["amount_fen"]
    assert balance_of(campaign_account(c["id"])) == 1_000 - body["amount_fen"]
    assert factory.balance(consumer) == 5_000  # the main balance is untouched
    claim = transfers_with(TransferCode.RED_PACKET_CLAIM)
    assert [(t.debit_account_id, t.amount_fen) for t in claim] == [(c["account_id"], body["amount_fen"])]
    mine = ok(api.get("/wallets/me/red-packets", consumer))
    assert mine["spendable_fen"] == body["amount_fen"] and mine["items"][0]["state"] == "active"
    assert ok(api.get(f"/campaigns/{c['id']}", consumer))["me"]["claimed"] is True
    assert ledger.verify() == []


def test_nobody_is_paid_twice_and_the_last_packet_sells_out(api, world, factory):
    c = live(api, world, packet_count=2, budget_fen=600)
    a, b, late = factory.consumer(), factory.consumer(), factory.consumer()
    first = ok(grab(api, a, c["id"]), 201)
    again = refused(grab(api, a, c["id"]), 409, "already_claimed")
    assert (again["packet_seq"], again["amount_fen"]) == (first["packet_seq"], 300)
    ok(grab(api, b, c["id"]), 201)
    with ledger_untouched():
        refused(grab(api, late, c["id"]), 409, "sold_out")
    assert sorted((u, a) for u, _, a in claims_of(c["id"])) == sorted([(a.id, 300), (b.id, 300)])
    stats = ok(api.get(f"/campaigns/{c['id']}/stats", world.manager))
    assert (stats["claimed_count"], stats["claimed_fen"], stats["remaining_packets"], stats["remaining_fen"]) == \
        (2, 600, 0, 0)
    assert stats["claims_last_60s"] == 2 and stats["escrow_balance_fen"] == 0


def test_once_sold_out_is_confirmed_the_rush_is_answered_from_redis_alone(api, world, factory):
    """After PostgreSQL confirmed the last packet gone, a late claimant gets sold_out with no database write
    (no Idempotency-Key record), while those who did claim still get their own answers."""
    from backend.idempotency import IdempotencyKey

    c = live(api, world, packet_count=1, budget_fen=500)
    winner, late, later = factory.consumer(), factory.consumer(), factory.consumer()
    won = grab(api, winner, c["id"], key="win-1")
    assert won.status_code == 201
    refused(grab(api, late, c["id"]), 409, "sold_out")  # the full path: asks PostgreSQL, which confirms
    assert get_redis().exists(Gate(c["id"]).drained)
    keys = db.session.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one()
    db.session.rollback()
    with ledger_untouched():
        refused(grab(api, later, c["id"]), 409, "sold_out")
        refused(grab(api, later, c["id"], key="late-again"), 409, "sold_out")
    assert db.session.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == keys
    db.session.rollback()
    replay = grab(api, winner, c["id"], key="win-1")  # the winner's retry replays the 201
    assert replay.status_code == 201 and replay.get_json() == won.get_json()
    refused(grab(api, winner, c["id"]), 409, "already_claimed")
    assert len(claims_of(c["id"])) == 1


def test_a_replayed_claim_returns_the_first_answer(api, world, factory):
    c = live(api, world)
    consumer = factory.consumer()
    first = grab(api, consumer, c["id"], key="claim-1")
    second = grab(api, consumer, c["id"], key="claim-1")
    assert first.status_code == second.status_code == 201 and first.get_json() == second.get_json()
    assert len(transfers_with(TransferCode.RED_PACKET_CLAIM)) == 1
    refused(api.post(f"/campaigns/{c['id']}/claims", consumer, json={}), 422, "idempotency_key_missing")


def test_the_device_cap_counts_claims_per_device(api, world, factory):
    c = live(api, world, device_cap=2)
    people = [factory.consumer() for _ in range(4)]
    refused(grab(api, people[0], c["id"]), 422, "device_id_required")
    refused(grab(api, people[0], c["id"], device="bad device!"), 422, "validation_failed", field="device_id")
    ok(grab(api, people[0], c["id"], device="phone-1"), 201)
    ok(grab(api, people[1], c["id"], device="phone-1"), 201)
    refused(grab(api, people[2], c["id"], device="phone-1"), 409, "device_cap")
    ok(grab(api, people[3], c["id"], device="phone-2"), 201)
    # The cap survives a flush: the rebuilt gate counts devices from PostgreSQL.
    get_redis().flushdb()
    refused(grab(api, people[2], c["id"], device="phone-1"), 409, "device_cap")
    ok(grab(api, people[2], c["id"], device="phone-3"), 201)


def test_eligibility_is_checked_before_the_gate(api, world, factory):
    c = live(api, world, wallet_classes=[1, 2, 3])
    class4 = factory.consumer()
    with ledger_untouched():
        body = refused(grab(api, class4, c["id"]), 403, "not_eligible")
    assert body["reason"] == "wallet_class"
    assert ok(grab(api, factory.consumer(wallet_class=3), c["id"]), 201)
    newer = live(api, world, wallet_opened_after=(utcnow() + timedelta(minutes=-1)).isoformat())
    old = factory.consumer()
    db.session.execute(Wallet.__table__.update().where(Wallet.user_id == old.id)
                       .values(opened_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    assert refused(grab(api, old, newer["id"]), 403, "not_eligible")["reason"] == "wallet_too_old"
    ok(grab(api, factory.consumer(), newer["id"]), 201)
    no_wallet = factory.user()
    assert refused(grab(api, no_wallet, newer["id"]), 403, "not_eligible")["reason"] == "no_wallet"
    refused(grab(api, world.manager, newer["id"]), 403, "role_forbidden")


def test_claims_only_in_the_claim_window(api, world, factory):
    now = utcnow()
    c = live(api, world, claim_starts_at=(now + timedelta(hours=1)).isoformat(),
             claim_ends_at=(now + timedelta(hours=2)).isoformat(), spend_ends_at=(now + timedelta(hours=3)).isoformat())
    consumer = factory.consumer()
    assert refused(grab(api, consumer, c["id"]), 409, "campaign_not_live")["campaign_status"] == "scheduled"
    close_window(c["id"])
    assert refused(grab(api, consumer, c["id"]), 409, "campaign_not_live")["campaign_status"] == "ended"
    refused(grab(api, consumer, 99_999), 404, "campaign_not_found")


def test_a_flushed_redis_is_rebuilt_from_postgresql_on_the_next_claim(api, world, factory):
    c = live(api, world, split="random", packet_count=5, budget_fen=5_000)
    people = [factory.consumer() for _ in range(6)]
    for p in people[:2]:
        ok(grab(api, p, c["id"]), 201)
    get_redis().flushdb()
    assert not Gate(c["id"]).is_ready()
    refused(grab(api, people[0], c["id"]), 409, "already_claimed")  # the rebuilt gate knows them
    assert Gate(c["id"]).figures() == {"ready": True, "packets_left": 3, "claims_recorded": 2, "stopped": None}
    for p in people[2:5]:
        ok(grab(api, p, c["id"]), 201)
    refused(grab(api, people[5], c["id"]), 409, "sold_out")
    rows = claims_of(c["id"])
    assert sorted(s for _, s, _ in rows) == [1, 2, 3, 4, 5] and sum(a for _, _, a in rows) == 5_000
    assert len({u for u, _, _ in rows}) == 5


def test_a_packet_lost_by_a_dead_worker_reappears_and_a_paid_one_never_does(api, world, factory, app):
    c = live(api, world, split="random", packet_count=3, budget_fen=3_000)
    gate = Gate(c["id"])
    people = [factory.consumer() for _ in range(4)]
    # A worker takes a packet for people[0] and dies before committing.
    status, lost = gate.take(people[0].id, None, None)
    assert status == "ok"
    ok(grab(api, people[1], c["id"]), 201)
    ok(grab(api, people[2], c["id"]), 201)
    # Redis says sold out, PostgreSQL still has the lost packet; within the grace period it waits.
    refused(grab(api, people[3], c["id"]), 409, "sold_out")
    assert gate.reconcile(grace_ms=0) == "rebuilt"  # what the minute scan does once the grace has passed
    took = ok(grab(api, people[3], c["id"]), 201)
    assert (took["packet_seq"], took["amount_fen"]) == (lost.seq, lost.amount_fen)
    # The dead worker's user was forgotten by the rebuild: they may claim, but nothing is left.
    refused(grab(api, people[0], c["id"]), 409, "sold_out")
    assert app.test_cli_runner().invoke(args=["campaigns", "rebuild-gate", str(c["id"])]).exit_code == 0
    assert gate.figures() == {"ready": True, "packets_left": 0, "claims_recorded": 3, "stopped": None}
    rows = claims_of(c["id"])
    assert sorted(s for _, s, _ in rows) == [1, 2, 3] and sum(a for _, _, a in rows) == 3_000
    assert ledger.verify() == []


def test_a_consumer_whose_claim_died_mid_way_is_not_told_already_claimed(api, world, factory, monkeypatch):
    """The gate holds an entry for a consumer whose claim never committed (its worker died): within the grace
    period their new attempt is a retryable 503 that records nothing; after it, the packet is given back and
    they get one, paid. Never a 409 naming a packet they did not receive."""
    from campaigns import gate as gate_module

    c = live(api, world, packet_count=2, budget_fen=800)
    consumer = factory.consumer()
    status, orphan = Gate(c["id"]).take(consumer.id, None, None)  # a worker takes a packet and dies
    assert status == "ok"
    busy = grab(api, consumer, c["id"], key="after-crash")
    assert busy.status_code == 503 and busy.get_json()["code"] == "gate_unavailable"
    monkeypatch.setattr(gate_module, "GRACE_MS", 0)
    monkeypatch.setattr(service, "GRACE_MS", 0)
    got = ok(grab(api, consumer, c["id"], key="after-crash"), 201)  # same key: nothing was recorded
    assert got["amount_fen"] == 400
    assert [(u, a) for u, _, a in claims_of(c["id"])] == [(consumer.id, 400)]
    assert restricted_balance(consumer.id, c["id"]) == 400
    refused(grab(api, consumer, c["id"]), 409, "already_claimed")
    ok(grab(api, factory.consumer(), c["id"]), 201)  # the other packet is still there for someone else
    assert ledger.verify() == []


def test_a_rebuild_racing_an_inflight_claim_pays_nobody_twice(api, world, factory):
    """The windows the unique indexes close: a rebuild runs while a claim is between the gate and its
    commit, so the rebuilt gate offers that packet again and forgets that user."""
    c = live(api, world, split="random", packet_count=3, budget_fen=3_000)
    gate = Gate(c["id"])
    u, v, w = factory.consumer(), factory.consumer(), factory.consumer()
    status, inflight = gate.take(u.id, None, None)
    assert status == "ok"
    assert gate.rebuild()  # Redis flushed and rebuilt before U's claim commits
    # U's transaction commits now, exactly as the claim service would have written it.
    restricted = ledger.open_account(AccountKind.RESTRICTED)
    db.session.add(Claim(campaign_id=c["id"], user_id=u.id, packet_seq=inflight.seq, amount_fen=inflight.amount_fen,
                         via="gate", status="claimed", restricted_account_id=restricted, created_at=utcnow()))
    ledger.transfer(c["account_id"], restricted, inflight.amount_fen, TransferCode.RED_PACKET_CLAIM, limited=False)
    db.session.commit()
    # V is offered U's packet first (it is at the head of the rebuilt list): the unique index refuses it
    # and V gets the next one.
    got = ok(grab(api, v, c["id"]), 201)
    assert got["packet_seq"] != inflight.seq
    # U is unknown to the rebuilt gate and gets a packet there, but PostgreSQL says "already".
    refused(grab(api, u, c["id"]), 409, "already_claimed")
    refused(grab(api, u, c["id"]), 409, "already_claimed")  # now straight from the gate
    ok(grab(api, w, c["id"]), 201)
    rows = claims_of(c["id"])
    assert sorted(s for _, s, _ in rows) == [1, 2, 3] and sum(a for _, _, a in rows) == 3_000
    assert len({r[0] for r in rows}) == 3
    assert ledger.verify() == []


def test_claims_need_the_grab_or_coupon_kind(api, world, factory):
    lottery = live(api, world, kind="lottery")
    refused(grab(api, factory.consumer(), lottery["id"]), 409, "lottery_needs_registration")
    assert db.session.execute(select(func.count()).select_from(Packet)).scalar_one() == 10
    assert service.claimed_total(lottery["id"]) == (0, 0)


def test_packets_dropped_by_redis_without_losing_ready_are_found_again(api, world, factory):
    """Eviction or a stale snapshot can drop the list but keep ``ready``: the "sold out" answer is
    checked against PostgreSQL, and the gate rebuilt."""
    c = live(api, world, packet_count=3, budget_fen=900)
    ok(grab(api, factory.consumer(), c["id"]), 201)
    get_redis().delete(Gate(c["id"]).packets)
    for _ in range(2):
        ok(grab(api, factory.consumer(), c["id"]), 201)
    refused(grab(api, factory.consumer(), c["id"]), 409, "sold_out")
    assert len(claims_of(c["id"])) == 3


def test_an_unreachable_redis_is_a_retryable_503_that_records_nothing(api, world, factory, app, monkeypatch):
    """The gate's Redis gone: 503 gate_unavailable. All of Redis gone: the sign-in check (the token deny-list)
    refuses first, 503 auth_unavailable. Either way nothing is recorded and the same key works afterwards."""
    import redis

    from campaigns import gate as gate_module

    c = live(api, world)
    consumer = factory.consumer()
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(gate_module, "get_redis", lambda: dead)
    with ledger_untouched():
        body = refused(grab(api, consumer, c["id"], key="retry-me"), 503, "gate_unavailable")
    assert body["status"] == 503
    working = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "redis", dead)
    with ledger_untouched():
        refused(grab(api, consumer, c["id"], key="retry-me"), 503, "auth_unavailable")
    monkeypatch.setitem(app.extensions, "redis", working)
    monkeypatch.undo()
    ok(grab(api, consumer, c["id"], key="retry-me"), 201)  # the same key works once Redis is back


def test_the_device_cap_holds_in_postgresql_when_the_gate_undercounts(api, world, factory):
    """A rebuild racing an in-flight claim can leave the gate's device count low: the counter in
    the claim's transaction refuses the extra claim and teaches the gate the real count."""
    c = live(api, world, device_cap=1)
    ok(grab(api, factory.consumer(), c["id"], device="phone-1"), 201)
    get_redis().delete(Gate(c["id"]).devices)  # the gate forgot the device
    second = factory.consumer()
    with ledger_untouched():
        refused(grab(api, second, c["id"], device="phone-1"), 409, "device_cap")
    assert get_redis().hget(Gate(c["id"]).devices, "phone-1") == b"1"
    assert Gate(c["id"]).figures()["packets_left"] == 9  # the packet went back
    refused(grab(api, factory.consumer(), c["id"], device="phone-1"), 409, "device_cap")
    ok(grab(api, factory.consumer(), c["id"], device="phone-2"), 201)
