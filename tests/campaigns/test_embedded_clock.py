"""The embedded default keeps time (issue #23 item 6): with the periodic jobs running in-process, as
``flask serve`` (``make run``) runs them, a campaign whose spend deadline passes is reclaimed and settled
within a minute, every fen accounted for. The wall clock is moved (every thread's) with time-machine."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from backend.clock import as_utc
from backend.extensions import db
from backend.hooks import run_ledger_checks
from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from backend.scheduler import Scheduler
from campaigns import settlement
from campaigns.models import Campaign
from tests.campaigns.helpers import balance_of, grab, live, pay_order, transfers_with
from tests.payments.helpers import ok


def campaign(campaign_id: int) -> Campaign:
    db.session.expire_all()
    row = db.session.execute(select(Campaign).where(Campaign.id == campaign_id)).scalar_one()
    db.session.rollback()  # hold no read transaction while the scheduler's thread writes (SQLite)
    return row


@pytest.fixture
def scheduler(app):
    """The periodic jobs registered on the app, in their own thread, looking at the clock often."""
    assert not app.config.get("REDIS_URL")  # the embedded default: Redis emulation, jobs inline
    s = Scheduler(app, poll_s=0.02)
    yield s
    s.stop()


def one_more_pass(s: Scheduler) -> None:
    """Wait until a pass that began after this call has finished."""
    seen = s.passes
    assert s.wait_for_pass(seen + 1, timeout=60), "the scheduler stopped keeping time"


def test_a_campaign_past_its_spend_deadline_is_reclaimed_and_settled_within_a_minute(
        app, api, world, factory, scheduler):
    c = live(api, world, packet_count=4, budget_fen=2_000)  # 4 × ¥5.00, spendable for two hours
    spender, keeper = factory.consumer(balance_fen=5_000), factory.consumer(balance_fen=5_000)
    for person in (spender, keeper):
        ok(grab(api, person, c["id"]), 201)
    pay_order(api, world, spender, 800)  # its ¥5.00 packet + ¥3.00 of its own
    funder_before = balance_of(world.funder_account)
    deadline = as_utc(campaign(c["id"]).spend_ends_at)
    assert "campaigns.tasks.scan_campaigns" in [j.name for j in scheduler.jobs]

    scheduler.start()
    one_more_pass(scheduler)
    assert campaign(c["id"]).status == "live"

    with time_machine.travel(deadline - timedelta(seconds=5), tick=True) as clock:
        one_more_pass(scheduler)  # the minute scan is overdue: it runs now, five seconds early
        assert campaign(c["id"]).status == "ended" and campaign(c["id"]).settled_at is None
        scanned_at, outcome = scheduler.last_run["campaigns.tasks.scan_campaigns"]
        assert outcome == "ok" and scanned_at < deadline

        clock.move_to(deadline + timedelta(seconds=1))  # the deadline has passed; the next scan is not due
        one_more_pass(scheduler)
        assert campaign(c["id"]).settled_at is None and transfers_with(TransferCode.RETURN) == []

        clock.move_to(scanned_at + timedelta(seconds=60))  # a minute after the last scan
        one_more_pass(scheduler)
        settled = campaign(c["id"])
        assert settled.status == "settled"
        assert deadline < as_utc(settled.settled_at) <= deadline + timedelta(minutes=1)

        report = settlement.report(c["id"])
        figures = {k: report[k] for k in ("issued_fen", "claimed_fen", "red_packets_spent_fen", "reclaimed_fen",
                                          "returned_fen", "held_by_campaign_fen", "held_by_consumers_fen")}
        assert figures == {"issued_fen": 2_000, "claimed_fen": 1_000, "red_packets_spent_fen": 500,
                           "reclaimed_fen": 500, "returned_fen": 1_500, "held_by_campaign_fen": 0,
                           "held_by_consumers_fen": 0}
        assert report["balanced"]
        assert balance_of(world.funder_account) == funder_before + 1_500
        assert [t.amount_fen for t in transfers_with(TransferCode.RECLAIM)] == [500]
        assert [t.amount_fen for t in transfers_with(TransferCode.RETURN)] == [1_500]

        clock.shift(timedelta(minutes=5))  # later scans find nothing more to do
        one_more_pass(scheduler)
        one_more_pass(scheduler)
        assert [t.amount_fen for t in transfers_with(TransferCode.RETURN)] == [1_500]
        scheduler.stop()
        assert ledger.verify() == [] and run_ledger_checks(app) == []
        assert all(outcome == "ok" for _, outcome in scheduler.last_run.values()), scheduler.last_run
