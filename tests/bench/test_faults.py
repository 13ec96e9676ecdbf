"""The fault harness: a Redis restart in the middle of a claim rush, on a redis-server of the test's own,
and a checker with teeth (it finds wrong money and a broken claim gate when they are planted)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import unavailable

pytestmark = pytest.mark.redis


def _need_redis_server():
    if not shutil.which("redis-server"):
        unavailable("redis-server", "install Debian's redis-server (the fault tests start a private one)")


@pytest.fixture()
def private_stack():
    """A scratch database and a private redis-server (nothing shared is restarted or flushed)."""
    _need_redis_server()
    import sqlalchemy as sa

    from bench.faults import PrivateRedis
    from bench.harness import Stack

    with PrivateRedis() as server:
        try:
            stack = Stack(redis_url=server.url).__enter__()
        except sa.exc.OperationalError as exc:
            unavailable("PostgreSQL", str(exc).splitlines()[0])
        try:
            yield stack, server
        finally:
            stack.__exit__(None, None, None)


def test_redis_restart_during_a_claim_rush_is_exact(tmp_path):
    _need_redis_server()
    from bench.faults import main

    main(["--only", "redis_restart", "--private-redis", "--seconds", "20", "--fault-at", "6", "--out", str(tmp_path)])
    [r] = json.loads((tmp_path / "FAULTS.json").read_text())
    # No timing assertions: the throughput figure depends on the machine (and what else runs on it).
    assert [v for v in r["violations"] if not v.startswith("throughput")] == []
    info, claims = r["fault_info"], r["claims"]
    assert info["redis"] == "private"
    first, held = info["restarts"]
    # After the first restart, a claim of the rush rebuilt the gate itself …
    assert first["gate_rebuilt_by_a_claim"] is True, info
    # … and at the second, the gate was rebuilt before the claims held across the restart committed …
    assert held["claims_in_flight"] >= 1, info
    assert held["gate_rebuilt_before_they_committed_by"] in ("harness", "a claim"), info
    assert info["in_flight_outcome"]["committed"] == info["claims_in_flight_at_restart"], info
    # … so the rebuilt gate did not know their claimants (PostgreSQL's unique indexes did).
    assert claims["gate"]["after_run"]["missing_entries"] >= 1, claims["gate"]
    assert r["acknowledged"]["claim"] > 0 and r["acknowledged"]["payment"] > 0
    assert claims["exact"] and claims["claims"] == claims["packets"] and claims["escrow_fen"] == 0, claims
    assert "| redis_restart |" in (tmp_path / "FAULTS.md").read_text()


def test_checker_finds_planted_faults(private_stack):
    from backend.extensions import db
    from backend.ledger import service as ledger
    from backend.ledger.service import TransferCode
    from bench import faults, fixtures
    from campaigns import service as campaigns
    from campaigns.gate import Gate
    from campaigns.models import Campaign, Claim

    stack, _ = private_stack
    app = stack.app()
    with app.app_context():
        [(merchant, _)] = fixtures.merchants(1)
        setup = faults.setup_claims(merchant, packets=6, claimant_count=5)
        acks = []
        for user_id, _ in setup.claimants[:3]:
            body, status = campaigns.claim(user_id, setup.campaign_id, None)
            assert status == 201
            acks.append(faults.Ack("claim", f"k{user_id}", str(body["claim_id"]), body, user_id))
    load = faults.Load(stack.base_url, [], {}, [], acks=list(acks))
    assert faults.check(stack, app, load, setup) == []
    with app.app_context():
        state = faults.gate_state(setup.campaign_id)
        assert faults.gate_problems(state, after_reconcile=True) == []
        assert (state["listed"], state["unpaid"], state["entries"]) == (3, 3, 3)

    # An acknowledged claim that PostgreSQL does not have.
    ghost_user = setup.claimants[3][0]
    ghost = faults.Ack("claim", "ghost", "999", {**acks[0].body, "claim_id": 999}, ghost_user)
    problems = faults.check(stack, app, faults.Load(stack.base_url, [], {}, [], acks=acks + [ghost]), setup)
    assert any(f"of user {ghost_user}" in p for p in problems), problems

    # The gate lists a packet twice, then loses one: found; reconcile rebuilds what was lost.
    with app.app_context():
        gate = Gate(setup.campaign_id)
        first = gate.redis.lindex(gate.packets, 0)
        gate.redis.rpush(gate.packets, first)
        assert any("duplicated" in p for p in faults.gate_problems(faults.gate_state(setup.campaign_id), False))
        gate.redis.lpop(gate.packets, 2)
        assert any("neither listed nor held" in p
                   for p in faults.gate_problems(faults.gate_state(setup.campaign_id), False))
        assert faults.reconcile(setup.campaign_id) == "rebuilt"
        assert faults.gate_problems(faults.gate_state(setup.campaign_id), True) == []

    # A claim paid twice: one more red_packet_claim transfer from the escrow into its restricted account.
    with app.app_context():
        escrow = db.session.get(Campaign, setup.campaign_id).account_id
        claim = db.session.execute(db.select(Claim).where(Claim.user_id == acks[0].user_id)).scalar_one()
        claim_id = claim.id
        ledger.transfer(escrow, claim.restricted_account_id, claim.amount_fen, TransferCode.RED_PACKET_CLAIM,
                        memo=f"campaign:{setup.campaign_id}:claim:{claim_id}", limited=False)
        db.session.commit()
    problems = faults.check(stack, app, load, setup)
    assert any(f"claim {claim_id} " in p for p in problems), problems
    assert any("red_packet_claim transfers for 3 claims" in p for p in problems), problems
    assert any("escrow holds" in p for p in problems), problems
