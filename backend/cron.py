"""Periodic jobs for ``rq cron backend.cron`` (RQ's cron scheduler; times in UTC)."""

from rq import cron

from backend.payments.statements import build_daily_statements
from backend.payments.tasks import expire_orders, purge_idempotency_keys

# 00:30 in Guangzhou (UTC+8): yesterday's statements.
cron.register(build_daily_statements, "default", cron="30 16 * * *")
cron.register(expire_orders, "default", interval=60)
cron.register(purge_idempotency_keys, "default", cron="15 * * * *")
