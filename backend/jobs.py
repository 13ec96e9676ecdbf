"""Background jobs on RQ.

Jobs are module-level functions that take ids, re-read state and are safe to
run twice. With ``REDIS_URL`` set they go to Redis and an ``rq worker`` runs
them; on the embedded default they run inline, in the caller's process, on
the same code path (RQ's synchronous mode over the Redis emulation).

Periodic jobs are registered on the app (``backend.hooks.register_periodic``:
the core's here in ``init_app``, each plug-in's in its own ``init_app``) and
run by ``rq cron backend.cron`` in production, or in-process by ``flask serve``
on the embedded default (``backend.scheduler``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import current_app, has_app_context
from rq import Queue, Retry
from rq.worker import SimpleWorker

from backend.extensions import get_redis

_worker_app = None
_worker_app_lock = threading.Lock()


def queue(name: str = "default") -> Queue:
    """Return the RQ queue ``name`` on the app's Redis (synchronous without ``REDIS_URL``)."""
    return Queue(name, connection=get_redis(), is_async=bool(current_app.config.get("REDIS_URL")))


#: A job whose worker dies mid-run is found abandoned by RQ's maintenance and
#: put back on the queue while it has retries left; jobs are safe to run twice.
#: No retry interval: an interval parks the job with the scheduler, which may be
#: the very worker that died, while a plain retry goes straight back on the queue.
DEFAULT_RETRY = Retry(max=3)


def enqueue(func: Callable, *args, delay: timedelta | None = None, **kwargs):
    """Enqueue ``func(*args, **kwargs)``; return the RQ job (already finished when inline).

    With ``delay`` the job runs that much later (RQ's scheduler moves it to
    the queue); inline it runs at once. Jobs are retried (``DEFAULT_RETRY``)
    after a failure or an abandoned run.
    """
    q = queue()
    if not q.is_async:
        job = q.enqueue(func, *args, **kwargs)
        if job.is_failed:
            # RQ's synchronous mode keeps the traceback on the job and carries on; say it where people look.
            current_app.logger.error("job %s failed inline:\n%s", job.func_name, job.latest_result().exc_string)
        return job
    kwargs.setdefault("retry", DEFAULT_RETRY)
    # RQ finds a job abandoned 60 s after its timeout, so keep timeouts honest.
    kwargs.setdefault("job_timeout", 120)
    if delay:
        return q.enqueue_in(delay, func, *args, **kwargs)
    return q.enqueue(func, *args, **kwargs)


def worker_app():
    """Return this process's app for jobs, building it on first use (``create_app`` from the environment)."""
    global _worker_app
    with _worker_app_lock:
        if _worker_app is None:
            from backend import create_app

            _worker_app = create_app()
    return _worker_app


def with_app(func: Callable) -> Callable:
    """Run a job inside an app context: the caller's when inline, else one app per worker process."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        with worker_app().app_context():
            try:
                return func(*args, **kwargs)
            finally:
                from backend.extensions import db

                db.session.remove()

    return wrapper


class AppWorker(SimpleWorker):
    """An RQ worker that runs jobs in its own process with one app (``rq worker -w backend.jobs.AppWorker``).

    RQ's default worker forks a work horse per job, which here would build
    the Flask app and its connection pool again for every job. This one
    keeps them for the worker's life; a worker killed mid-job leaves the job
    abandoned, and RQ's maintenance puts it back while it has retries left.
    """

    def work(self, *args, **kwargs):
        # Build the app before taking a job: a misconfigured production worker refuses to start
        # (backend/preflight.py) instead of failing every job it takes. Run inside an app (a harness's
        # in-process worker), jobs use that one.
        if not has_app_context():
            worker_app()
        return super().work(*args, **kwargs)


def init_app(app) -> None:
    """Register the core's periodic jobs on ``app`` (times in UTC)."""
    from backend.hooks import register_periodic
    from backend.payments.statements import build_daily_statements
    from backend.payments.tasks import expire_orders, purge_idempotency_keys

    # 00:30 in Guangzhou (UTC+8): yesterday's statements.
    register_periodic(app, build_daily_statements, cron="30 16 * * *")
    register_periodic(app, expire_orders, interval=60)
    register_periodic(app, purge_idempotency_keys, cron="15 * * * *")
