"""How the core tells plug-ins what happened, without importing them.

Signals (sent after the transaction commits; a failing receiver is logged and
never undoes the request):

- ``payment_settled(order_id, merchant_id, amount_fen, payer_user_id, transfer_id)``
- ``refund_settled(order_id, amount_fen)``
- ``merchant_approved(merchant_id)``

Seeders: a plug-in registers functions that ``flask seed`` runs after the
core's own reference and demo data (``register_seeder``).
"""

from __future__ import annotations

import logging

from blinker import Namespace

signals = Namespace()
payment_settled = signals.signal("payment-settled")
refund_settled = signals.signal("refund-settled")
merchant_approved = signals.signal("merchant-approved")

log = logging.getLogger(__name__)


def announce(signal, **data) -> None:
    """Send ``signal`` with ``data``; a failing receiver is logged, not raised."""
    for receiver in list(signal.receivers_for(None)):
        try:
            receiver(None, **data)
        except Exception:  # noqa: BLE001 - a plug-in must not undo a settled payment
            log.exception("receiver of %s failed", signal.name)


def register_seeder(app, kind: str, func) -> None:
    """Register ``func`` to run at seeding; ``kind`` is "reference" (no args) or "demo" (users by phone)."""
    app.extensions.setdefault("suiyuan.seeders", {"reference": [], "demo": []})[kind].append(func)


def seeders(app, kind: str) -> list:
    """Return the seeders of ``kind`` registered on ``app``."""
    return app.extensions.get("suiyuan.seeders", {}).get(kind, [])


def register_ledger_check(app, name: str, func) -> None:
    """Register ``func() -> list[str]`` (violations; empty = sound) as an invariant of ``flask ledger verify``."""
    app.extensions.setdefault("suiyuan.ledger_checks", {})[name] = func


def ledger_checks(app) -> dict:
    """Return ``{name: func}`` of the ledger invariants registered on ``app``."""
    return app.extensions.get("suiyuan.ledger_checks", {})


def register_periodic(app, func, *, interval: int | None = None, cron: str | None = None,
                      queue: str = "default") -> None:
    """Register a periodic job (a module-level function safe to run twice) every ``interval`` seconds or on
    a ``cron`` line (UTC), for the RQ cron scheduler."""
    if (interval is None) == (cron is None):
        raise ValueError("give exactly one of interval and cron")
    app.extensions.setdefault("suiyuan.periodic", []).append(
        {"func": func, "interval": interval, "cron": cron, "queue": queue})
