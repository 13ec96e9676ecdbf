"""Protection's side of the core money gate (``backend.guards``): freezes and the read-only switch.

One SQL statement per movement answers every question (is the platform
read-only, is any party frozen, is the payee on the confirmed fraud list), so
the gate costs one round trip.
"""

from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import DateTime, Integer, String, text

from backend.clock import as_utc, utcnow
from backend.errors import DomainError, problem_response
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind
from protection import registry
from protection.models import FreezeTarget


class Frozen(DomainError):
    """A party of the movement is frozen (423 Locked): final for this request, recorded under its key."""

    status = 423
    code = "frozen"
    title = "Frozen"


class PayeeReported(DomainError):
    """The payee is on the confirmed fraud list: final for this request."""

    status = 422
    code = "payee_reported_fraud"
    title = "Payee reported as fraud"


class ReadOnlyMode(Exception):
    """The platform is read-only: no new money moves, balances stay readable.

    Deliberately not a ``DomainError``: ``idempotency.run`` records domain
    refusals as the key's final answer, but this refusal is temporary, so the
    same request retried after the switch is off must run. It propagates out of
    the use case (rolling back whatever was begun) and is rendered by
    :func:`render_read_only` as a 503 problem.
    """

    def __init__(self, since):
        super().__init__("the platform is read-only")
        self.since = since

    def to_problem(self) -> dict:
        """Return the problem+json body."""
        return {
            "type": "/api/v1/problems#platform_read_only",
            "title": "Read-only",
            "status": 503,
            "detail": "Payments and transfers are paused by the pilot office while an incident is handled; "
                      "balances and history can still be viewed. Try again later.",
            "code": "platform_read_only",
            "read_only_since": as_utc(self.since).isoformat() if self.since else None,
        }


def render_read_only(exc: ReadOnlyMode):
    """Error handler: roll back what the request began and answer 503 with Retry-After."""
    db.session.rollback()
    return problem_response(exc.to_problem(), 503, {"Retry-After": str(current_app.config.get(
        "PROTECTION_READ_ONLY_RETRY_AFTER_S", 60))})


_FROZEN_TEXT = {
    FreezeTarget.WALLET: ("wallet_frozen", "This wallet is frozen: it cannot pay, receive or exchange money now. "
                                           "Its balance stays visible. Contact your operator bank."),
    FreezeTarget.MERCHANT: ("merchant_frozen", "This merchant is frozen: it cannot receive payments or refund "
                                               "now. Its balance stays visible."),
    FreezeTarget.DEVICE: ("device_frozen", "Payment codes from this device are frozen; use another way to pay."),
}


# One statement, built once (the gate runs on every payment): absent parties are NULL and match nothing.
GATE_SQL = """
SELECT 'platform' AS kind, 0 AS target_id, changed_at AS at FROM protection_platform WHERE id = 1 AND read_only
UNION ALL
SELECT target_kind, target_id, frozen_at FROM protection_freezes
WHERE lifted_at IS NULL AND (
       (target_kind = 'wallet' AND user_id IN (:user_a, :user_b))
    OR (target_kind = 'merchant' AND target_id IN (:merchant_a, :merchant_b))
    OR (target_kind = 'device' AND target_id = :device))
UNION ALL
SELECT 'fraud', id, reviewed_at FROM protection_fraud_entries
WHERE :payee_checked AND status = 'confirmed'
  AND (merchant_id = :payee_merchant OR user_id = :payee_user OR value_hash IN (:hash_a, :hash_b))
"""
_GATE = text(GATE_SQL).columns(kind=String, target_id=Integer, at=DateTime(timezone=True))


def gate_params(move: MoneyMove) -> dict:
    users, merchants = move.user_ids + (None, None), move.merchant_ids + (None, None)
    hashes = registry.payee_hashes(move) + [None, None]
    return {"user_a": users[0], "user_b": users[1], "merchant_a": merchants[0], "merchant_b": merchants[1],
            "device": move.device_id, "payee_checked": move.kind in registry.PAYEE_CHECKED,
            "payee_merchant": move.to_merchant_id, "payee_user": move.to_user_id,
            "hash_a": hashes[0], "hash_b": hashes[1]}


def check_move(move: MoneyMove) -> None:
    """The money gate's check: raise ``ReadOnlyMode``, ``Frozen`` (wallet/merchant/device_frozen) or
    ``PayeeReported`` (a payment or transfer to a confirmed fraud entry)."""
    rows = db.session.execute(_GATE, gate_params(move)).all()
    if not rows:
        return
    for kind, _target, at in rows:
        if kind == "platform":
            raise ReadOnlyMode(at)
    frozen = [r for r in rows if r[0] != "fraud"]
    if not frozen:
        raise PayeeReported("This payee was confirmed as fraudulent after reports: the payment is stopped to "
                            "protect you. If you were asked to pay it, report it to your bank.",
                            entry_id=rows[0][1])
    kind, target_id, at = frozen[0]
    if move.kind == MoveKind.CHARGE and kind != FreezeTarget.MERCHANT:
        # The cashier charging a pay code must not learn that the consumer's wallet is frozen (as they never
        # learn its balance or limits); the consumer's own app tells them.
        raise Frozen("The consumer's wallet cannot pay this; ask them to check their app.",
                     code="payer_cannot_pay", status=422)
    code, detail = _FROZEN_TEXT[kind]
    raise Frozen(detail, code=code, target_kind=kind, target_id=target_id,
                 frozen_since=as_utc(at).isoformat() if at else None)


def audit_now(*, action: str, actor_user_id: int | None, target_kind: str | None, target_id: str | None,
              reason: str | None, detail: dict) -> None:
    """The core's auditor (``backend.guards.audit``): append one audit line in the caller's transaction."""
    from backend.auth.models import User
    from protection.models import AuditEntry

    actor = db.session.get(User, actor_user_id) if actor_user_id is not None else None
    db.session.add(AuditEntry(at=utcnow(), actor_user_id=actor_user_id, actor_role=actor.role if actor else None,
                              action=action, target_kind=target_kind, target_id=target_id, reason=reason,
                              detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)))
    db.session.flush()

