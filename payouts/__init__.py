"""Salary, allowance, subsidy and reimbursement batches paid in e-CNY with maker-checker: a plug-in of
the backend (registered in ``create_app``). Money moves only through ``backend.ledger.service``."""


def init_app(app, api) -> None:
    """Register the tables, the blueprint, the batch sweep, the reserve invariant of ``flask ledger verify``,
    the demo seeder and the member units section of the periodic report."""
    from backend.hooks import register_ledger_check, register_periodic, register_report_section, register_seeder
    from payouts import (
        models,  # noqa: F401  (registers the tables)
        seed,
        service,
        tasks,
    )
    from payouts.views import blp

    api.register_blueprint(blp)
    register_ledger_check(app, "payouts.reserves", service.check_reserves)
    # A batch whose job died (worker killed, Redis restarted) is resumed within a minute.
    register_periodic(app, tasks.sweep, interval=60)
    register_seeder(app, "demo", seed.seed_demo)
    # The pilot office's periodic report lists the member units of the leading group.
    register_report_section(app, "payouts.member_units", service.report_section)
