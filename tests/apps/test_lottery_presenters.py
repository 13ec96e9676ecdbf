"""Lottery registrants in the consumer app: the secret kept on the device, committed, revealed by itself
after registration closes, and the result with a link to the published draw — against the live server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from backend.clock import utcnow
from backend.extensions import db
from campaigns.models import Campaign
from consumer_app import presenters as c
from consumer_app.strings import STRINGS as CONSUMER
from payclient import lottery as lot
from payclient.models import Campaign as CampaignModel
from payclient.storage import JsonFile, MemoryStore
from tests.apps.conftest import FakeView
from tests.payclient.live import settle

ROOT = Path(__file__).resolve().parents[2]

def set_times(campaign_id: int, **times) -> None:
    """Time travel on the server's database: move a campaign's windows (as tests/campaigns/helpers does; not
    imported from there, so that module's assertion rewriting is not lost to an early import)."""
    db.session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id).values(**times))
    db.session.commit()


def _person(services, phone, password):
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(phone, password)
    return sv


def _cards(view):
    return {vm.campaign_id: vm for vm in view.last("show_campaigns")[0]}


def test_registrants_reveal_by_themselves_and_their_secrets_enter_a_verifiable_draw(services, world, campaigns,
                                                                                    factory, tmp_path):
    draw = campaigns.make("lottery", split="random", packet_count=2, budget_fen=1_000)
    others = [factory.consumer(display_name=n) for n in ("陈一", "王二")]
    settle()
    a = _person(services, world.consumer.phone, world.password)  # reveals from the campaign list
    b = _person(services, others[0].phone, world.password)  # reveals from the home screen's pending work
    m = _person(services, others[1].phone, world.password)  # never opens the app again: misses the reveal
    people = {}
    for sv in (a, b, m):
        view = FakeView()
        near = c.CampaignsPresenter(sv, view)
        near.load()
        near.act(draw.id)
        assert view.last("show_message") == ("已报名「西关美食节抽签红包」，开奖后中签红包自动到账",), view.calls
        owner = str(sv.api.user.id)
        ticket = sv.lottery.get(owner, draw.id)
        # The device made the secret and kept it; the server holds only its hash.
        assert ticket.registered and len(ticket.secret) == 64 and ticket.commitment == lot.commitment_of(ticket.secret)
        me = sv.api.campaign(draw.id).me
        assert me["commitment"] == ticket.commitment and me["revealed_at"] is None
        card = _cards(view)[draw.id]
        assert (card.lottery_state, card.action, card.can_act) == ("committed", "已报名", False)
        assert card.lottery.startswith("已提交随机数承诺")
        people[owner] = (sv, near, view)
    # Before registration closes nothing is revealed, however often the app loads (the operator could
    # still add registrations).
    people[str(a.api.user.id)][1].load()
    assert a.api.campaign(draw.id).me["revealed_at"] is None

    # Registration closes; the reveal window opens.
    now = utcnow()
    set_times(draw.id, opens_at=now - timedelta(hours=2), closes_at=now - timedelta(seconds=1))
    db.session.rollback()
    _, near_a, view_a = people[str(a.api.user.id)]
    shown_close = near_a.campaigns[draw.id].window("registration_ends_at")
    assert near_a.tick(shown_close - timedelta(seconds=1)) is False  # nothing to do yet
    assert near_a.tick(shown_close + timedelta(seconds=1)) is True  # the open list reloads, which reveals
    assert _cards(view_a)[draw.id].lottery_state == "revealed"
    assert _cards(view_a)[draw.id].lottery.startswith("随机数已揭示，将计入")
    assert a.api.campaign(draw.id).me["revealed_at"]
    home = FakeView()
    c.HomePresenter(b, home).load()
    assert home.named("show_wallet"), home.calls
    assert b.api.campaign(draw.id).me["revealed_at"]
    assert b.lottery.get(str(b.api.user.id), draw.id).revealed_at

    # The reveal window ends: the draw is due. The one who never came back missed their reveal.
    reveal_s = db.session.get(Campaign, draw.id).reveal_s
    set_times(draw.id, closes_at=utcnow() - timedelta(seconds=reveal_s + 1))
    db.session.rollback()
    _, near_m, view_m = people[str(m.api.user.id)]
    shown = near_m.campaigns[draw.id]  # as the phone last loaded it, when its clock passes draw_at
    before_draw = near_m.cards(datetime.fromisoformat(shown.draw_at) + timedelta(seconds=1))[0]
    assert (before_draw.lottery_state, before_draw.lottery) == ("missed", "未能在开奖前揭示随机数 · 仍参与抽签")

    doc = a.api.draw(draw.id)  # reading the draw runs a due draw
    assert doc["status"] == "drawn" and (doc["committed"], doc["revealed"]) == (3, 2)
    published = {r["user_id"]: r["secret"] for r in doc["registrants"]}
    for sv in (a, b):
        assert published[sv.api.user.id] == sv.lottery.get(str(sv.api.user.id), draw.id).secret
    assert published[m.api.user.id] is None
    winners = {w["user_id"]: w["amount_fen"] for w in doc["winners"]}
    assert len(winners) == 2 and sum(winners.values()) == 1_000

    for owner, (sv, near, view) in people.items():
        near.load()
        card = _cards(view)[draw.id]
        assert (card.action, card.can_act) == ("核验开奖结果", True)
        if int(owner) in winners:
            assert card.lottery_state == "won"
            assert card.lottery.startswith(f"中签！¥{winners[int(owner)] // 100}.")
        else:
            assert (card.lottery_state, card.lottery.split(" · ")[0]) == ("lost", "未中签")
        assert card.lottery.endswith("你的随机数未能计入" if sv is m else "你的随机数已计入开奖")
        near.act(draw.id)  # the link to the published draw
        assert view.last("open_url") == (f"{sv.api.base_url}/campaigns/{draw.id}/draw",)

    # Anyone can recompute it from the document, with nothing but Python.
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "campaigns.verify_draw", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "draw OK" in run.stdout and "3 registrants, 2 winners" in run.stdout
    # The reveals are in the key: one published secret changed and the verifier refuses the document.
    tampered = json.loads(json.dumps(doc))
    row = next(r for r in tampered["registrants"] if r["secret"])
    row["secret"] = os.urandom(32).hex()
    path.write_text(json.dumps(tampered), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "campaigns.verify_draw", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "do not match their commitments" in run.stderr


def test_a_refused_registration_keeps_no_secret_and_a_retry_commits_to_the_same_one(services, world, campaigns):
    draw = campaigns.make("lottery")
    sv = _person(services, world.consumer.phone, world.password)
    owner = str(sv.api.user.id)
    view = FakeView()
    near = c.CampaignsPresenter(sv, view)
    near.load()
    # The answer to the first registration was lost: the ticket was stored before sending and the server has it.
    first = sv.lottery.issue(owner, draw.id)
    sv.api.register_lottery(draw.id, near.device_id(), first.commitment)
    near.act(draw.id)  # the app tries again: already registered, with this device's commitment
    assert sv.lottery.get(owner, draw.id) == lot.Ticket(draw.id, first.secret, first.commitment, registered=True)
    assert not view.named("show_error"), view.calls
    # A lottery whose registration is refused (closed) leaves no secret behind.
    closed = campaigns.make("lottery")
    near.load()
    set_times(closed.id, closes_at=utcnow() - timedelta(seconds=1))
    db.session.rollback()
    near.act(closed.id)
    assert view.named("show_error") and sv.lottery.get(owner, closed.id) is None


def _campaign(**kw) -> CampaignModel:
    base = dict(id=7, name="抽签", kind="lottery", status="ended",
                windows={"registration_ends_at": "2026-12-01T10:00:00+00:00"}, draw_at="2026-12-01T10:10:00+00:00",
                me={"registered": True, "claimed": False, "commitment": "ab" * 32, "revealed_at": None})
    base.update(kw)
    return CampaignModel(**base)


def test_ticket_states_follow_the_clock_and_the_server():
    t = lot.Ticket(7, "cd" * 32, lot.commitment_of("cd" * 32), registered=True)
    at = lambda h, m: datetime(2026, 12, 1, h, m, tzinfo=UTC)  # noqa: E731
    assert lot.ticket_state(_campaign(status="live"), t, at(9, 0)) == "committed"
    assert lot.ticket_state(_campaign(), t, at(10, 5)) == "reveal_open"
    assert lot.ticket_state(_campaign(), t, at(10, 10)) == "missed"
    refused = lot.Ticket(7, t.secret, t.commitment, True, refused="not_registered")
    assert lot.ticket_state(_campaign(), refused, at(10, 5)) == "missed"
    revealed = _campaign(me={"registered": True, "commitment": t.commitment, "revealed_at": "2026-12-01T10:01:00"})
    assert lot.ticket_state(revealed, None, at(10, 5)) == "revealed"
    assert lot.ticket_state(_campaign(me={"registered": True}), None, at(10, 5)) == "none"
    assert lot.ticket_state(_campaign(drawn_at="2026-12-01T10:10:01+00:00",
                                      me={"registered": True, "claimed": True}), t, at(11, 0)) == "won"
    assert lot.ticket_state(_campaign(drawn_at="2026-12-01T10:10:01+00:00"), t, at(11, 0)) == "lost"
    assert lot.ticket_state(_campaign(status="cancelled"), t, at(10, 5)) == "cancelled"


class _Api:
    def __init__(self, fail=None):
        self.sent, self.fail = [], fail

    def reveal_lottery(self, campaign_id, secret):
        if self.fail:
            raise self.fail
        self.sent.append((campaign_id, secret))
        return {"revealed_at": "2026-12-01T10:01:00+00:00"}


def test_reveal_due_sends_only_inside_the_window_and_keeps_the_secret_on_disk(tmp_path):
    from payclient.errors import ApiError, NetworkError

    store = JsonFile(tmp_path / "lottery.json")
    tickets = lot.LotteryTickets(store)
    t = tickets.issue("5", 7)
    assert tickets.issue("5", 7) == t  # a retry commits to the same secret
    assert stat.S_IMODE(os.stat(tmp_path / "lottery.json").st_mode) == 0o600
    assert lot.LotteryTickets(JsonFile(tmp_path / "lottery.json")).get("5", 7) == t  # survives a restart
    api = _Api()
    at = lambda h, m: datetime(2026, 12, 1, h, m, tzinfo=UTC)  # noqa: E731
    assert lot.reveal_due(api, tickets, "5", [_campaign(status="live")], at(9, 59)) == [] and api.sent == []
    assert lot.reveal_due(_Api(NetworkError("offline")), tickets, "5", [_campaign()], at(10, 1)) == []
    assert tickets.get("5", 7).revealed_at is None  # tried again at the next load
    assert lot.reveal_due(api, tickets, "5", [_campaign()], at(10, 1)) == [7] and api.sent == [(7, t.secret)]
    assert lot.reveal_due(api, tickets, "5", [_campaign()], at(10, 2)) == [] and len(api.sent) == 1
    late = lot.LotteryTickets(MemoryStore())
    late.issue("5", 7)
    assert lot.reveal_due(api, late, "5", [_campaign()], at(10, 10)) == [] and len(api.sent) == 1  # too late
    assert late.get("5", 7).refused == "window_over"  # not fetched again at every start
    other = lot.LotteryTickets(MemoryStore())
    other.issue("5", 7)
    refusal = ApiError(409, "not_registered", "x")
    lot.reveal_due(_Api(refusal), other, "5", [_campaign()], at(10, 1))
    assert other.get("5", 7).refused == "not_registered"
