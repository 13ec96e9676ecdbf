"""Periodic jobs for ``rq cron backend.cron`` (RQ's cron scheduler; times in UTC).

Builds the app with ``create_app()`` (environment configuration; it connects
to nothing) and hands every periodic job registered on it — the core's and
each plug-in's, through ``backend.hooks.register_periodic`` — to RQ's cron.
This module imports no plug-in: a new plug-in's jobs arrive by its ``init_app``.
"""

from rq import cron

from backend import create_app
from backend.hooks import periodic_jobs


def register_all(app) -> list[dict]:
    """Register ``app``'s periodic jobs with ``rq.cron``; return RQ's job definitions."""
    return [cron.register(job.func, job.queue, interval=job.interval, cron=job.cron)
            for job in periodic_jobs(app)]


register_all(create_app())
