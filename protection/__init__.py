"""Consumer protection and emergency response: a plug-in of the backend (registered in ``create_app``).

Freezes of wallets, merchants and pay-code devices, the platform's read-only
switch, incidents with their timeline, the append-only audit log and
identity look-ups. It implements the core's money gate (``backend.guards``):
every money-moving use case asks it before moving money. The core never
imports it.
"""


def init_app(app, api) -> None:
    """Register the blueprint, the money-gate checks, the auditor, the read-only error handler and
    ``flask protection``."""
    from backend import guards
    from backend.hooks import register_cli, register_periodic
    from protection import (
        cooling,
        gate,
        models,  # noqa: F401  (registers the tables)
        risk,
    )
    from protection.cli import protection_cli
    from protection.views import blp

    api.register_blueprint(blp)
    from protection import disputes_views

    disputes_views.init_app(app, api)  # complaints and disputes: their blueprint, job, report section, check
    # Read-only, freezes, confirmed fraud: refusals come first. Its SQL form lets PostgreSQL's one-call payment
    # (backend/payments/express.py) ask the same statement and leave any movement it matches to the general path.
    guards.register(app, gate.check_move, sql=(gate.GATE_SQL, gate.gate_params))
    # Warnings a consumer confirms with a token, after the ledger accepted the transfer; they apply only
    # where PROTECTION_RISK_CHECKS is on (see protection.risk).
    guards.register_confirmation(app, risk.check)
    # Large first-time transfers wait a cooling period (where PROTECTION_COOLING is on); the job completes them.
    guards.register_hold(app, cooling.HOLD)
    register_periodic(app, cooling.complete_due_transfers, interval=60)
    guards.register_auditor(app, gate.audit_now)
    app.register_error_handler(gate.ReadOnlyMode, gate.render_read_only)
    register_cli(app, protection_cli)
