"""Prepaid-funds supervision (预付费监管): a plug-in of the backend (registered in ``create_app``).

Prepaid merchants reviewed by their operator bank and watched by industry regulators; plans within
limits kept as data; each purchase a contract whose money waits in its own escrow account and
reaches the merchant one use at a time; refunds, and a closure run when a merchant fails.
"""


def init_app(app, api) -> None:
    """Register the blueprint, the seeders (the limits; the demo), the escrow invariant and the periodic jobs."""
    from backend.hooks import register_ledger_check, register_periodic, register_seeder
    from prepaid import (
        models,  # noqa: F401  (registers the tables)
        rules,
        seed,
        service,
        tasks,
    )
    from prepaid.views import blp

    api.register_blueprint(blp)
    register_seeder(app, "reference", rules.seed_reference)
    register_seeder(app, "demo", seed.seed_demo)
    register_ledger_check(app, "prepaid escrow = unreleased units", service.verify_escrows)
    # Time passes: served days reach the merchant hourly (a day's share once that day is over).
    register_periodic(app, tasks.release_time_passes, interval=3600)
    # Credit grades: yesterday's, at 01:00 in Guangzhou (17:00 UTC).
    register_periodic(app, tasks.recompute_grades, cron="0 17 * * *")
