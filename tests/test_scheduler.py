"""The in-process scheduler of the embedded default keeps RQ cron's timing with the one registry of
periodic jobs (``backend.hooks``); ``create_app`` starts nothing and ``flask serve`` starts it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from backend import create_app
from backend.hooks import PeriodicJob, periodic_jobs
from backend.scheduler import Scheduler

calls: list[tuple[str, datetime | None]] = []


def every_minute():
    calls.append(("every_minute", None))


def at_five_past():
    calls.append(("at_five_past", None))


def broken():
    calls.append(("broken", None))
    raise RuntimeError("no")


T0 = datetime(2026, 12, 3, 8, 0, 30, tzinfo=UTC)


def names(ran):
    return [n.rsplit(".", 1)[1] for n in ran]


def test_interval_jobs_run_at_start_then_every_interval_and_cron_jobs_at_their_times():
    app = create_app({"TESTING": True})
    s = Scheduler(app, [PeriodicJob(every_minute, 60, None), PeriodicJob(at_five_past, None, "5 * * * *")])
    assert names(s.run_pending(T0)) == ["every_minute"]
    assert s.next_run(s.jobs[1]) == datetime(2026, 12, 3, 8, 5, tzinfo=UTC)
    assert s.run_pending(T0 + timedelta(seconds=59)) == []
    assert names(s.run_pending(T0 + timedelta(seconds=60))) == ["every_minute"]
    assert names(s.run_pending(datetime(2026, 12, 3, 8, 2, 29, tzinfo=UTC))) == []
    assert names(s.run_pending(datetime(2026, 12, 3, 8, 5, 0, tzinfo=UTC))) == ["every_minute", "at_five_past"]
    # Hours late (the machine slept, the clock moved): each job runs once, then keeps its rhythm.
    late = datetime(2026, 12, 3, 11, 7, tzinfo=UTC)
    assert names(s.run_pending(late)) == ["every_minute", "at_five_past"]
    assert s.next_run(s.jobs[0]) == late + timedelta(seconds=60)
    assert s.next_run(s.jobs[1]) == datetime(2026, 12, 3, 12, 5, tzinfo=UTC)
    assert s.passes == 6


def test_a_failing_job_is_logged_and_runs_again_at_its_next_time(caplog):
    app = create_app({"TESTING": True})
    calls.clear()
    s = Scheduler(app, [PeriodicJob(broken, 30, None), PeriodicJob(every_minute, 60, None)])
    assert names(s.run_pending(T0)) == ["broken", "every_minute"]
    assert [c for c, _ in calls] == ["broken", "every_minute"]  # the failure stopped nothing
    assert s.last_run["tests.test_scheduler.broken"] == (T0, "RuntimeError('no')")
    assert s.last_run["tests.test_scheduler.every_minute"] == (T0, "ok")
    assert "periodic job tests.test_scheduler.broken failed" in caplog.text
    assert names(s.run_pending(T0 + timedelta(seconds=30))) == ["broken"]


def test_the_thread_runs_the_apps_registered_jobs_until_stopped():
    app = create_app({"TESTING": True})
    s = Scheduler(app, poll_s=0.01)
    assert s.jobs == periodic_jobs(app) and s.jobs  # by default: the one registry
    s.jobs = [PeriodicJob(every_minute, 60, None)]
    calls.clear()
    s.start()
    try:
        assert s.running and s.start() is s  # started once
        assert s.wait_for_pass(2, timeout=10)
    finally:
        s.stop()
    assert not s.running
    assert [c for c, _ in calls] == ["every_minute"]  # at start; the next run is a minute away
    assert "suiyuan-periodic-jobs" not in [t.name for t in threading.enumerate()]


def test_create_app_starts_no_scheduler():
    before = {t.name for t in threading.enumerate()}
    create_app({"TESTING": True})
    assert "suiyuan-periodic-jobs" not in {t.name for t in threading.enumerate()} - before
