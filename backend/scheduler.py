"""The periodic jobs in-process, for the embedded default (``flask serve``, i.e. ``make run``).

In production ``rq cron backend.cron`` enqueues the periodic jobs registered
on the app (``backend.hooks.register_periodic``) and RQ workers run them. The
embedded default has neither a Redis server nor a worker, and its Redis
emulation lives inside the web process (claim gates, order events), so the
jobs must run there too: ``flask serve`` starts one :class:`Scheduler`
thread beside the web server. ``create_app`` never starts one, and tests
start theirs themselves.

The timing is RQ cron's: an interval job runs when the scheduler starts and
then ``interval`` seconds after its previous start; a cron job (five fields,
UTC) at each time its schedule names after the scheduler started. A job
that comes due late — the machine slept, the clock moved — runs once, not
once per missed time. Time is wall-clock UTC (``backend.clock.utcnow``),
read once a second.

Jobs run one at a time in the scheduler's thread, inside an app context,
through the same functions RQ would run (they are safe to run twice). A job
that raises is logged and runs again at its next time.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from croniter import croniter
from flask import Flask

from backend.clock import utcnow
from backend.hooks import PeriodicJob, periodic_jobs

log = logging.getLogger(__name__)


class Scheduler:
    """Runs ``app``'s periodic jobs (default: every job registered on it) in one daemon thread."""

    def __init__(self, app: Flask, jobs: list[PeriodicJob] | None = None, *, poll_s: float = 1.0):
        self.app = app
        self.jobs = list(periodic_jobs(app) if jobs is None else jobs)
        self.poll_s = poll_s
        self._next: dict[PeriodicJob, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._passes = 0
        self._passed = threading.Condition()
        #: job name → (when it last started, "ok" or the exception's repr)
        self.last_run: dict[str, tuple[datetime, str]] = {}

    # ------------------------------------------------------------ timing

    def _first(self, job: PeriodicJob, start: datetime) -> datetime:
        return start if job.interval else croniter(job.cron, start).get_next(datetime)

    def _after(self, job: PeriodicJob, ran_at: datetime) -> datetime:
        if job.interval:
            return ran_at + timedelta(seconds=job.interval)
        return croniter(job.cron, ran_at).get_next(datetime)

    def next_run(self, job: PeriodicJob) -> datetime | None:
        """Return when ``job`` runs next (``None`` before the first pass)."""
        return self._next.get(job)

    def due(self, at: datetime) -> list[PeriodicJob]:
        """Return the jobs due at ``at`` (the first call fixes the schedule's start at ``at``)."""
        for job in self.jobs:
            self._next.setdefault(job, self._first(job, at))
        return [job for job in self.jobs if self._next[job] <= at]

    # ------------------------------------------------------------ running

    def run_pending(self, at: datetime | None = None) -> list[str]:
        """Run every job due at ``at`` (default now), one after another; return their names.

        Never raises for a job: its failure is logged and kept in ``last_run``.
        """
        at = at or utcnow()
        ran = []
        for job in self.due(at):
            self._next[job] = self._after(job, at)
            outcome = "ok"
            with self.app.app_context():
                try:
                    job.func()
                except Exception as exc:  # noqa: BLE001 - one job's trouble must not stop the others
                    outcome = repr(exc)
                    log.exception("periodic job %s failed", job.name)
                finally:
                    from backend.extensions import db

                    db.session.remove()
            self.last_run[job.name] = (at, outcome)
            ran.append(job.name)
        with self._passed:
            self._passes += 1
            self._passed.notify_all()
        return ran

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # noqa: BLE001 - the scheduler itself must keep time
                log.exception("the periodic-job scheduler failed a pass")
            self._stop.wait(self.poll_s)

    def start(self) -> Scheduler:
        """Start the thread (once); return self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="suiyuan-periodic-jobs")
            self._thread.start()
            log.info("running %d periodic jobs in-process: %s", len(self.jobs),
                     ", ".join(j.name for j in self.jobs))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after the job it is running, waiting up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def passes(self) -> int:
        """How many passes over the jobs have finished."""
        return self._passes

    def wait_for_pass(self, after: int, timeout: float = 30.0) -> bool:
        """Wait until more than ``after`` passes have finished; return whether they did in time."""
        with self._passed:
            return self._passed.wait_for(lambda: self._passes > after, timeout)
