"""Red packets, lotteries, coupons and the claim gate: a plug-in of the backend (registered in ``create_app``).

Import nothing heavy here: ``python -m campaigns.verify_draw`` must run without Flask.
"""


def init_app(app, api) -> None:
    """Register the blueprint, the payments' funding provider, the demo seeder, the minute scan, the
    campaigns' ledger invariants, ``flask campaigns`` and the claim endpoint's admission control."""
    from backend.hooks import register_cli, register_ledger_check, register_periodic, register_seeder
    from backend.payments import funding
    from campaigns import (
        admission,
        checks,
        lifecycle,
        models,  # noqa: F401  (registers the tables)
        seed,
        tasks,
    )
    from campaigns.cli import cli
    from campaigns.funding import CampaignFunding
    from campaigns.views import blp

    api.register_blueprint(blp)
    # In a rush, claims beyond what this worker is already working on are turned away at once (429).
    admission.install(app)
    funding.register(app, CampaignFunding())
    register_seeder(app, "demo", seed.seed_demo)
    register_cli(app, cli)
    # Every minute, move each campaign along by the clock (live/ended, lottery draws, expiry reclaim and
    # settlement) and reconcile live claim gates with PostgreSQL.
    register_periodic(app, tasks.scan_campaigns, interval=60)
    register_ledger_check(app, "campaigns", checks.verify)
    lifecycle.schedule_draws_with(tasks.schedule_draw)
