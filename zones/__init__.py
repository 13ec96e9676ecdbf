"""Demonstration zones: a plug-in of the backend (registered in ``create_app``).

Registry and outlines, where merchants are, KPIs kept as payments settle,
periodic reports and the application summary. It reads the core's tables and
hears its signals (``backend.hooks``); the core imports it only where ``create_app`` registers it.
"""


def init_app(app, api) -> None:
    """Register the zones blueprint, seeders, signal receivers, periodic jobs and ``flask zones``."""
    from backend.hooks import (
        merchant_approved,
        payment_settled,
        refund_settled,
        register_cli,
        register_periodic,
        register_seeder,
        register_zone_locator,
    )
    from zones import (
        counting,
        models,  # noqa: F401  (registers the tables)
        placement,
        reports,
        seed,
    )
    from zones.cli import zones_cli
    from zones.views import blp

    api.register_blueprint(blp)
    register_seeder(app, "reference", seed.seed_reference)
    register_seeder(app, "demo", seed.seed_demo)
    # Signals are process-wide; connecting the same function again (another app) is a no-op.
    payment_settled.connect(counting.on_payment_settled)
    refund_settled.connect(counting.on_refund_settled)
    merchant_approved.connect(counting.on_merchant_approved)
    register_cli(app, zones_cli)
    # Other plug-ins (transit's stops) ask which zone a place lies in through backend.hooks.zone_at.
    register_zone_locator(app, placement.zone_id_at)
    # Count any recent payment whose id was lost on its way to the KPI batch (Redis restart, killed worker).
    register_periodic(app, counting.sweep, interval=60)
    # Every zone's periodic scenario report (场景定期报送): last week's on Mondays and last month's on the
    # 1st, at 09:00 in Guangzhou (01:00 UTC), when the period's last local day is over.
    register_periodic(app, reports.build_weekly_reports, cron="0 1 * * 1")
    register_periodic(app, reports.build_monthly_reports, cron="0 1 1 * *")
