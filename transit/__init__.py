"""Transit and hard wallets (交通出行, 硬钱包): a plug-in of the backend (registered in ``create_app``).

Hard wallets issued from a consumer's soft wallet, loads and unloads through the ledger, the
settlement of card-signed offline records uploaded by validators (exactly once, in any order), the
blacklist, fare tables and the ledger invariant. The card and validator logic is in
``suiyuan_protocol.transit`` (pure Python), shared with the validator app.
"""


from datetime import timedelta


def init_app(app, api) -> None:
    """Register the blueprint, the lost-card refund job, the transit ledger invariant and the zone figures."""
    from backend.hooks import register_ledger_check, register_periodic, register_zone_figures
    from transit import (
        checks,
        figures,
        models,  # noqa: F401  (registers the tables)
        service,
    )
    from transit.views import blp

    api.register_blueprint(blp)
    app.config.setdefault("TRANSIT_LOST_REFUND_HOLD", timedelta(days=7))
    # Refund lost cards whose hold (time for offline records to arrive) is over.
    register_periodic(app, service.refund_lost_cards, interval=3600)
    register_ledger_check(app, "transit", checks.verify)
    # Taps at the stops in a zone, offline share and settlement delay, in its KPIs and periodic report.
    register_zone_figures(app, "transit", figures.zone_figures)
