"""Jobs run through RQ on the real Redis, and inline on the embedded default, on the same code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from backend.clock import local_today
from backend.extensions import db
from backend.jobs import enqueue, queue
from backend.payments import statements
from backend.payments.models import Statement
from backend.payments.tasks import expire_orders


@pytest.mark.redis
def test_statement_job_runs_on_a_real_rq_worker(app, factory, real_redis, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://real")  # any value: selects async queues
    merchant = factory.merchant()
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    job = enqueue(statements.build_statement, merchant.id, yesterday)
    assert job.get_status() == "queued"
    assert statements.stored(merchant.id, local_today() - timedelta(days=1)) is None
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    assert job.get_status(refresh=True) == "finished", job.latest_result()
    row = statements.stored(merchant.id, local_today() - timedelta(days=1))
    assert row is not None and row.net_fen == 0
    # Safe to run twice: a second run replaces the statement, it does not duplicate it.
    enqueue(statements.build_statement, merchant.id, yesterday)
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    count = db.session.execute(select(func.count()).select_from(Statement)
                               .where(Statement.merchant_id == merchant.id)).scalar_one()
    assert count == 1


def test_jobs_run_inline_on_the_embedded_default(app, factory):
    merchant = factory.merchant()
    job = enqueue(statements.build_daily_statements)
    assert job.get_status() == "finished" and job.return_value() == 1
    assert statements.stored(merchant.id, local_today() - timedelta(days=1)) is not None
    assert enqueue(expire_orders).return_value() == 0


def test_an_inline_job_that_fails_says_so_in_the_log(app, caplog):
    """RQ's synchronous mode keeps a failure on the job; the embedded default must not lose it silently."""
    job = enqueue(statements.build_statement, 1, local_today().isoformat())  # today is not finished: refused
    assert job.is_failed
    failure = [r for r in caplog.records if r.levelname == "ERROR" and "failed inline" in r.getMessage()]
    assert failure and "Only finished days get a statement" in failure[0].getMessage()
