"""The lottery: register (committing to a secret), registration closes, registrants reveal, the draw
runs from the seed committed by hash at launch together with the final list and the reveals, the seed
is revealed, and anyone can recompute the winners; the operator cannot steer it by adding registrations."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from backend.clock import utcnow
from backend.extensions import db
from backend.jobs import enqueue, queue
from backend.ledger import service as ledger
from backend.secrets_box import open_sealed
from campaigns import draw as algo
from campaigns import lifecycle, lottery
from campaigns.models import Campaign
from campaigns.service import SEED_PURPOSE
from campaigns.tasks import draw_job, schedule_draw
from tests.campaigns.helpers import close_window, grab, live, restricted_balance, set_times
from tests.payments.helpers import ok, refused

ROOT = Path(__file__).resolve().parents[2]


def register(api, consumer, campaign_id, device=None, commitment=None):
    headers = {"X-Device-Id": device} if device else {}
    body = {"commitment": commitment} if commitment else {}
    return api.post(f"/campaigns/{campaign_id}/registrations", consumer, json=body, headers=headers)


def reveal(api, consumer, campaign_id, secret: str):
    return api.post(f"/campaigns/{campaign_id}/registrations/reveal", consumer, json={"secret": secret})


def end_reveals(campaign_id: int) -> None:
    """Registration closed, and the reveal window after it, a moment ago: the draw is due."""
    reveal_s = db.session.get(Campaign, campaign_id).reveal_s
    now = utcnow()
    set_times(campaign_id, opens_at=now - timedelta(hours=2), closes_at=now - timedelta(seconds=reveal_s + 1))


def secret_pair() -> tuple[str, str]:
    secret = os.urandom(32).hex()
    return secret, hashlib.sha256(bytes.fromhex(secret)).hexdigest()


@pytest.fixture
def drawn(api, world, factory, app):
    """A lottery of 5 random red packets (¥20.00), device cap 1, 9 registrants (two share a device), six
    of whom commit to a secret; five of those reveal it."""
    c = live(api, world, kind="lottery", split="random", packet_count=5, budget_fen=2_000, device_cap=1)
    assert len(c["seed_sha256"]) == 64  # committed at launch, before anyone registers
    closes = datetime.fromisoformat(c["windows"]["registration_ends_at"])
    assert datetime.fromisoformat(c["draw_at"]) == closes + timedelta(seconds=lifecycle.DEFAULT_REVEAL_S)
    people = [factory.consumer() for _ in range(9)]
    secrets = [secret_pair() if i < 6 else (None, None) for i in range(9)]
    for i, p in enumerate(people):
        ok(register(api, p, c["id"], device=f"phone-{min(i, 7)}", commitment=secrets[i][1]), 201)
    refused(register(api, people[0], c["id"], device="phone-0"), 409, "already_registered")
    refused(grab(api, people[0], c["id"]), 409, "lottery_needs_registration")
    # Reveals before registration closes are refused: the operator would see them while it can still add people.
    refused(reveal(api, people[0], c["id"], secrets[0][0]), 409, "reveal_not_open")
    pending = ok(api.get(f"/campaigns/{c['id']}/draw", people[0]))
    assert (pending["status"], pending["seed"], pending["winners"]) == ("pending", None, [])
    assert pending["committed"] == 6 and pending["revealed"] == 0
    refused(api.post(f"/campaigns/{c['id']}/draw", world.manager, json={}, money=True), 409, "draw_not_due")
    close_window(c["id"])
    refused(register(api, factory.consumer(), c["id"]), 409, "campaign_not_live")
    # The reveal window: the draw waits for it.
    refused(api.post(f"/campaigns/{c['id']}/draw", world.manager, json={}, money=True), 409, "draw_not_due")
    refused(reveal(api, people[0], c["id"], secrets[1][0]), 422, "validation_failed")  # not their commitment
    refused(reveal(api, people[7], c["id"], os.urandom(32).hex()), 409, "no_commitment")
    for i in range(5):
        assert ok(reveal(api, people[i], c["id"], secrets[i][0]))["revealed_at"]
    ok(reveal(api, people[0], c["id"], secrets[0][0]))  # again: harmless
    end_reveals(c["id"])
    refused(reveal(api, people[5], c["id"], secrets[5][0]), 409, "reveal_not_open")  # too late
    document = ok(api.get(f"/campaigns/{c['id']}/draw", people[0]))  # runs the due draw (inline jobs)
    return c, people, document


def test_the_draw_is_published_and_reproducible_from_the_revealed_seed(drawn, world):
    c, people, doc = drawn
    assert doc["status"] == "drawn" and doc["algorithm_version"] == algo.VERSION
    assert (doc["committed"], doc["revealed"]) == (6, 5)
    assert doc["registrations_sha256"] == algo.registrations_sha256(
        [algo.Registrant(r["user_id"], r["device_tag"], r["commitment"]) for r in doc["registrants"]])
    assert sum(1 for r in doc["registrants"] if r["secret"]) == 5
    seed = bytes.fromhex(doc["seed"])
    assert hashlib.sha256(seed).hexdigest() == doc["seed_sha256"] == c["seed_sha256"]
    assert len(doc["registrants"]) == 9 and len(doc["winners"]) == 5
    assert sum(w["amount_fen"] for w in doc["winners"]) == 2_000
    assert [w["seq"] for w in doc["winners"]] == [1, 2, 3, 4, 5]
    tags = [r["device_tag"] for r in doc["registrants"] if r["user_id"] in {w["user_id"] for w in doc["winners"]}]
    assert len(tags) == len(set(tags))  # the device cap: one winner per device
    ok_, problems, recomputed = algo.verify(doc)
    assert ok_ and problems == []
    assert [(w.user_id, w.seq, w.amount_fen) for w in recomputed] == \
        [(w["user_id"], w["seq"], w["amount_fen"]) for w in doc["winners"]]
    # Winners were paid through the ledger into restricted red-packet balances.
    for w in doc["winners"]:
        assert restricted_balance(w["user_id"], c["id"]) == w["amount_fen"]
    assert ledger.verify() == []


def test_another_seed_gives_other_winners(drawn):
    c, _, doc = drawn
    registrants = [algo.Registrant(r["user_id"], r["device_tag"], r["commitment"], r["secret"])
                   for r in doc["registrants"]]
    packets = [p["amount_fen"] for p in doc["packets"]]
    published = [w["user_id"] for w in doc["winners"]]
    others = {tuple(w.user_id for w in algo.winners(os.urandom(32), c["id"], registrants, packets, 1))
              for _ in range(20)}
    assert any(list(o) != published for o in others)
    tampered = {**doc, "seed": os.urandom(32).hex()}
    ok_, problems, _ = algo.verify(tampered)
    assert not ok_ and "sha256(seed) differs from the hash published at launch" in problems


def test_the_verify_commands(drawn, tmp_path, app):
    _, _, doc = drawn
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(doc))
    run = subprocess.run([sys.executable, "-m", "campaigns.verify_draw", str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0 and "draw OK" in run.stdout, run.stderr
    assert app.test_cli_runner().invoke(args=["campaigns", "verify-draw", str(path)]).exit_code == 0
    forged = {**doc, "winners": list(reversed(doc["winners"]))}
    path.write_text(json.dumps(forged))
    run = subprocess.run([sys.executable, "-m", "campaigns.verify_draw", str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "differ from the published winners" in run.stderr


def test_the_draw_runs_once(drawn, api, world):
    c, people, doc = drawn
    assert lottery.draw(c["id"]) is False
    assert draw_job(c["id"]) == "already drawn"
    again = ok(api.post(f"/campaigns/{c['id']}/draw", world.manager, json={}, money=True))
    assert again["winners"] == doc["winners"]
    assert db.session.execute(db.text("SELECT count(*) FROM campaign_claims")).scalar_one() == 5


def _independent_draw(seed: bytes, campaign_id: int, people: list, n: int,
                      version: str = "suiyuan-draw-v2") -> list[int]:
    """The documented algorithm, written again from ``algo.ALGORITHM`` alone (no device cap)."""
    people = sorted(people, key=lambda p: p.user_id)
    order = [p.user_id for p in people]
    key = seed
    if version == "suiyuan-draw-v2":
        listed = hashlib.sha256("".join(f"{p.user_id}:-:{p.commitment or '-'}\n" for p in people).encode())
        shown = hashlib.sha256("".join(f"{p.user_id}:{p.secret}\n" for p in people if p.secret).encode())
        key = hashlib.sha256(b"suiyuan-draw-v2" + seed + listed.digest() + shown.digest()).digest()
    k = 0

    def nxt():
        nonlocal k
        msg = version.encode() + campaign_id.to_bytes(8, "big") + k.to_bytes(8, "big")
        k += 1
        return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest(), "big")

    for i in range(len(order) - 1, 0, -1):
        m = i + 1
        while (x := nxt()) >= 2**256 - 2**256 % m:
            pass
        j = x % m
        order[i], order[j] = order[j], order[i]
    return order[:n]


def test_the_algorithm_is_pinned_and_matches_its_documentation():
    seed = bytes(range(32))
    registrants = [algo.Registrant(uid) for uid in range(20, 0, -1)]  # input order does not matter
    # Version 1 (draws made before registrants could commit) stays pinned: its documents still verify.
    assert [r.user_id for r in algo.shuffle(seed, 42, registrants, algo.V1)] == \
        [1, 6, 2, 19, 7, 4, 16, 12, 3, 9, 15, 14, 5, 20, 10, 13, 8, 17, 11, 18]
    assert [r.user_id for r in algo.shuffle(seed, 43, registrants, algo.V1)][:3] == [6, 19, 10]  # per campaign
    for trial in range(20):
        s = hashlib.sha256(bytes([trial])).digest()
        ids = list(range(1, 3 + trial * 7, 2))
        people = []
        for u in ids:  # every third registrant committed and revealed
            secret = bytes([u % 256]).hex() * 32 if u % 3 == 0 else None
            people.append(algo.Registrant(u, None, secret and hashlib.sha256(bytes.fromhex(secret)).hexdigest(),
                                          secret))
        got = [w.user_id for w in algo.winners(s, 7, people, [1] * 5, None)]
        assert got == _independent_draw(s, 7, people, 5)
        assert [w.user_id for w in algo.winners(s, 7, people, [1] * 5, None, algo.V1)] == \
            _independent_draw(s, 7, people, 5, version=algo.V1)
    assert algo.ALGORITHM[0].startswith("1. ") and len(algo.ALGORITHM) == 9


@pytest.mark.redis
def test_the_draw_is_scheduled_for_the_end_of_registration_and_runs_on_a_real_worker(
        api, world, factory, app, real_redis, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://real")  # any value: selects async queues
    c = live(api, world, kind="lottery", packet_count=2, budget_fen=1_000)
    registry = ScheduledJobRegistry(queue=queue())
    assert f"campaign-{c['id']}-draw" in registry.get_job_ids()  # enqueue_at the end of the reveal window
    for _ in range(3):
        ok(register(api, factory.consumer(), c["id"]), 201)
    end_reveals(c["id"])
    job = enqueue(draw_job, c["id"])  # what RQ's scheduler enqueues when the time comes
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    assert job.get_status(refresh=True) == "finished" and job.return_value() == "drawn"
    assert len(ok(api.get(f"/campaigns/{c['id']}/draw", world.manager))["winners"]) == 2
    schedule_draw(c["id"])
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    assert db.session.execute(db.text("SELECT count(*) FROM campaign_claims")).scalar_one() == 2


def test_registrations_added_after_the_commitment_cannot_pick_the_winners(api, world, factory, tmp_path):
    """The operator knows its seed from launch. Just before registration closes it adds a registration of
    its own, grinding its commitment until the draw computed from everything it knows then makes that
    registrant win. The honest registrants' secrets, revealed only after the close, decide instead."""
    c = live(api, world, kind="lottery", split="fixed", packet_count=1, budget_fen=100)
    honest = [factory.consumer() for _ in range(6)]
    secrets = {}
    for p in honest:
        secrets[p.user.id], commitment = secret_pair()
        ok(register(api, p, c["id"], commitment=commitment), 201)
    seed = open_sealed(SEED_PURPOSE, db.session.get(Campaign, c["id"]).seed_sealed)  # the operator can read it
    known = [algo.Registrant(p.user.id, None, hashlib.sha256(bytes.fromhex(secrets[p.user.id])).hexdigest())
             for p in honest]  # at the close: the list and the commitments, not the secrets
    shill = factory.consumer()
    for _ in range(500):
        shill_secret, shill_commitment = secret_pair()
        planned = [*known, algo.Registrant(shill.user.id, None, shill_commitment, shill_secret)]
        if algo.winners(seed, c["id"], planned, [100], None)[0].user_id == shill.user.id:
            break
    else:
        pytest.fail("grinding never found a winning commitment")
    ok(register(api, shill, c["id"], commitment=shill_commitment), 201)
    close_window(c["id"])
    ok(reveal(api, shill, c["id"], shill_secret))
    for p in honest:
        ok(reveal(api, p, c["id"], secrets[p.user.id]))
    end_reveals(c["id"])
    doc = ok(api.get(f"/campaigns/{c['id']}/draw", world.manager))
    final = [algo.Registrant(r["user_id"], r["device_tag"], r["commitment"], r["secret"]) for r in doc["registrants"]]
    assert doc["registrations_sha256"] == algo.registrations_sha256(planned)  # the list the operator fixed
    assert algo.draw_key(seed, final) != algo.draw_key(seed, planned)  # ... but not the key: the reveals count
    # For that very list and seed, the honest secrets decide who wins: over fresh secrets the winner varies
    # and the operator's registrant wins about one draw in seven, not every time.
    winners = []
    for _ in range(300):
        fresh = [r if r.user_id == shill.user.id else algo.Registrant(r.user_id, None, *reversed(secret_pair()))
                 for r in final]
        winners.append(algo.winners(seed, c["id"], fresh, [100], None)[0].user_id)
    assert len(set(winners)) == 7 and winners.count(shill.user.id) < 90  # expected ≈ 43 of 300
    # Anyone recomputes the published draw.
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(doc))
    run = subprocess.run([sys.executable, "-m", "campaigns.verify_draw", str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0 and "draw OK" in run.stdout, run.stderr
    tampered = {**doc, "registrants": [{**r, "secret": os.urandom(32).hex()} if r["secret"] else r
                                       for r in doc["registrants"]]}
    assert "do not match their commitments" in " ".join(algo.verify(tampered)[1])


def test_a_cancelled_lottery_is_never_drawn(api, world, factory):
    c = live(api, world, kind="lottery", packet_count=2, budget_fen=1_000)
    for _ in range(3):
        ok(register(api, factory.consumer(), c["id"]), 201)
    cancelled = ok(api.post(f"/campaigns/{c['id']}/cancel", world.manager, json={}, money=True))
    assert cancelled["status"] == "cancelled" and cancelled["cancel"]["returned_fen"] == 1_000
    end_reveals(c["id"])
    doc = ok(api.get(f"/campaigns/{c['id']}/draw", world.manager))
    assert (doc["status"], doc["seed"], doc["winners"]) == ("cancelled", None, [])
    refused(api.post(f"/campaigns/{c['id']}/draw", world.manager, json={}, money=True), 409, "campaign_cancelled")
    assert db.session.execute(db.text("SELECT count(*) FROM campaign_claims")).scalar_one() == 0
