"""Periodic jobs for ``rq cron backend.cron`` (RQ's cron scheduler; times in UTC)."""

from rq import cron

from backend.payments.statements import build_daily_statements
from backend.payments.tasks import expire_orders, purge_idempotency_keys

# 00:30 in Guangzhou (UTC+8): yesterday's statements.
cron.register(build_daily_statements, "default", cron="30 16 * * *")
cron.register(expire_orders, "default", interval=60)
cron.register(purge_idempotency_keys, "default", cron="15 * * * *")

# Campaigns: every minute, move each campaign along by the clock (live/ended, lottery draws, expiry
# reclaim and settlement) and reconcile live claim gates with PostgreSQL.
from campaigns.tasks import scan_campaigns  # noqa: E402

cron.register(scan_campaigns, "default", interval=60)

# Zones: every zone's periodic scenario report (场景定期报送), last week's on Mondays and last month's on
# the 1st, at 09:00 in Guangzhou (01:00 UTC), when the period's last local day is over.
from zones.kpis import sweep as sweep_zone_kpis  # noqa: E402
from zones.reports import build_monthly_reports, build_weekly_reports  # noqa: E402

# Zones: count any recent payment whose id was lost on its way to the KPI batch (Redis restart, killed worker).
cron.register(sweep_zone_kpis, "default", interval=60)

cron.register(build_weekly_reports, "default", cron="0 1 * * 1")
cron.register(build_monthly_reports, "default", cron="0 1 1 * *")
