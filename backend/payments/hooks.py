"""How core payments tell plug-ins what happened, without importing them.

``payment_settled`` is sent after a payment commits, ``refund_settled`` after
a refund commits; receivers (zones' KPIs, campaigns' redemption counts) must
not fail the request, so the sender logs and swallows their errors.
"""

from __future__ import annotations

import logging

from blinker import Namespace

signals = Namespace()
payment_settled = signals.signal("payment-settled")
refund_settled = signals.signal("refund-settled")

log = logging.getLogger(__name__)


def announce(signal, **data) -> None:
    """Send ``signal`` with ``data``; a failing receiver is logged, not raised."""
    for receiver in list(signal.receivers_for(None)):
        try:
            receiver(None, **data)
        except Exception:  # noqa: BLE001 - a plug-in must not undo a settled payment
            log.exception("receiver of %s failed", signal.name)
