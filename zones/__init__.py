"""Demonstration zones: a plug-in of the backend (registered in ``create_app``).

Registry and outlines, where merchants are, KPIs kept as payments settle,
periodic reports and the application summary. It reads the core's tables and
hears its signals (``backend.hooks``); the core never imports it.
"""


def init_app(app, api) -> None:
    """Register the zones blueprint, seeders, signal receivers and the ``flask zones`` commands."""
    from backend.hooks import merchant_approved, payment_settled, refund_settled, register_seeder
    from zones import (
        kpis,
        models,  # noqa: F401  (registers the tables)
        seed,
    )
    from zones.cli import zones_cli
    from zones.views import blp

    api.register_blueprint(blp)
    register_seeder(app, "reference", seed.seed_reference)
    register_seeder(app, "demo", seed.seed_demo)
    # Signals are process-wide; connecting the same function again (another app) is a no-op.
    payment_settled.connect(kpis.on_payment_settled)
    refund_settled.connect(kpis.on_refund_settled)
    merchant_approved.connect(kpis.on_merchant_approved)
    app.cli.add_command(zones_cli)
