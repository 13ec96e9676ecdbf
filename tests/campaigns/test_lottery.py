"""The lottery: register, draw at the end of registration from a seed committed by hash at launch,
reveal it, and anyone can recompute the winners; a changed seed gives other winners."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from backend.extensions import db
from backend.jobs import enqueue, queue
from backend.ledger import service as ledger
from campaigns import draw as algo
from campaigns import lottery
from campaigns.tasks import draw_job, schedule_draw
from tests.campaigns.helpers import close_window, grab, live, restricted_balance
from tests.payments.helpers import ok, refused

ROOT = Path(__file__).resolve().parents[2]


def register(api, consumer, campaign_id, device=None):
    headers = {"X-Device-Id": device} if device else {}
    return api.post(f"/campaigns/{campaign_id}/registrations", consumer, json={}, headers=headers)


@pytest.fixture
def drawn(api, world, factory, app):
    """A lottery of 5 random red packets (¥20.00), device cap 1, 9 registrants (two share a device)."""
    c = live(api, world, kind="lottery", split="random", packet_count=5, budget_fen=2_000, device_cap=1)
    assert len(c["seed_sha256"]) == 64  # committed at launch, before anyone registers
    people = [factory.consumer() for _ in range(9)]
    for i, p in enumerate(people):
        ok(register(api, p, c["id"], device=f"phone-{min(i, 7)}"), 201)
    refused(register(api, people[0], c["id"], device="phone-0"), 409, "already_registered")
    refused(grab(api, people[0], c["id"]), 409, "lottery_needs_registration")
    pending = ok(api.get(f"/campaigns/{c['id']}/draw", people[0]))
    assert (pending["status"], pending["seed"], pending["winners"]) == ("pending", None, [])
    refused(api.post(f"/campaigns/{c['id']}/draw", world.manager, json={}, money=True), 409, "draw_not_due")
    close_window(c["id"])
    refused(register(api, factory.consumer(), c["id"]), 409, "campaign_not_live")
    document = ok(api.get(f"/campaigns/{c['id']}/draw", people[0]))  # runs the due draw (inline jobs)
    return c, people, document


def test_the_draw_is_published_and_reproducible_from_the_revealed_seed(drawn, world):
    c, people, doc = drawn
    assert doc["status"] == "drawn" and doc["algorithm_version"] == algo.VERSION
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
    registrants = [algo.Registrant(r["user_id"], r["device_tag"]) for r in doc["registrants"]]
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


def _independent_draw(seed: bytes, campaign_id: int, user_ids: list[int], n: int) -> list[int]:
    """The documented algorithm, written again from ``algo.ALGORITHM`` alone (no device cap)."""
    order = sorted(user_ids)
    k = 0

    def nxt():
        nonlocal k
        msg = b"suiyuan-draw-v1" + campaign_id.to_bytes(8, "big") + k.to_bytes(8, "big")
        k += 1
        return int.from_bytes(hmac.new(seed, msg, hashlib.sha256).digest(), "big")

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
    assert [r.user_id for r in algo.shuffle(seed, 42, registrants)] == \
        [1, 6, 2, 19, 7, 4, 16, 12, 3, 9, 15, 14, 5, 20, 10, 13, 8, 17, 11, 18]
    assert [r.user_id for r in algo.shuffle(seed, 43, registrants)][:3] == [6, 19, 10]  # per campaign
    for trial in range(20):
        s = hashlib.sha256(bytes([trial])).digest()
        ids = list(range(1, 3 + trial * 7, 2))
        got = [w.user_id for w in algo.winners(s, 7, [algo.Registrant(u) for u in ids], [1] * 5, None)]
        assert got == _independent_draw(s, 7, ids, 5)
    assert algo.ALGORITHM[0].startswith("1. ") and len(algo.ALGORITHM) == 6


@pytest.mark.redis
def test_the_draw_is_scheduled_for_the_end_of_registration_and_runs_on_a_real_worker(
        api, world, factory, app, real_redis, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://real")  # any value: selects async queues
    c = live(api, world, kind="lottery", packet_count=2, budget_fen=1_000)
    registry = ScheduledJobRegistry(queue=queue())
    assert f"campaign-{c['id']}-draw" in registry.get_job_ids()  # enqueue_at the registration end
    for _ in range(3):
        ok(register(api, factory.consumer(), c["id"]), 201)
    close_window(c["id"])
    job = enqueue(draw_job, c["id"])  # what RQ's scheduler enqueues when the time comes
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    assert job.get_status(refresh=True) == "finished" and job.return_value() == "drawn"
    assert len(ok(api.get(f"/campaigns/{c['id']}/draw", world.manager))["winners"]) == 2
    schedule_draw(c["id"])
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    assert db.session.execute(db.text("SELECT count(*) FROM campaign_claims")).scalar_one() == 2
