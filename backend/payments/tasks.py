"""Small periodic jobs."""

from __future__ import annotations

from backend.jobs import with_app


@with_app
def expire_orders() -> int:
    """Job: mark overdue orders expired and tell their watchers; return how many. Safe twice."""
    from backend.payments import events
    from backend.payments.service import expire_due_orders

    ids = expire_due_orders()
    for order_id in ids:
        events.publish(order_id, "expired")
    return len(ids)


@with_app
def purge_idempotency_keys() -> int:
    """Job: delete Idempotency-Key records past their retention; return how many."""
    from backend.idempotency import purge_expired

    return purge_expired()
