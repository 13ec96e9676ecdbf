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


@with_app
def rotate_access_key() -> str | None:
    """Job: start a new access-token signing key when the current one is ``ACCESS_KEY_ROTATION`` old; return
    its kid (None when not due). Two workers running it at once make two keys: harmless, the newer signs."""
    from backend.payments.keys import rotate_access_key_when_due

    return rotate_access_key_when_due()
