"""The common payment in one call on PostgreSQL: a signed dynamic code paid from the main balance.

PostgreSQL has two paths for ``POST /payments``, and SQLite one:

- **this one**, for a dynamic-QR payment with no subsidy possible: one statement calls the function
  ``pay_dynamic_order`` (migration ``h_sqlpay_0001``, where its SQL lives), which checks the order, its
  merchant and the payer's wallet, inserts the Idempotency-Key row, moves the money with the ledger's own
  PostgreSQL transfer (``ledger_transfer``: funds, tier limits, the payee's balance cap), claims the order
  (created → paid, before expiry) and records the 201 response — then COMMIT. The same statement first asks
  the money gate's checks (``backend.guards``: read-only, freezes, confirmed fraud) and the funding provider's
  "could a subsidy apply?" in their own SQL forms; if any matches, the function does nothing.
- **the general path** (``service.pay_scanned`` inside ``idempotency.run``) for everything else, and for
  every refusal: this lane only ever says yes. Anything unusual — the key used before, the order not payable,
  a limit refused, a lost race, a frozen party, a possible subsidy — makes the function return NULL; the
  caller rolls back whatever it did and the general path decides, refuses and records exactly as it always
  does.

The rules written twice — the order's transition guard and the payment's response body (``views._payment_body``
for one leg) — are held together by tests/payments/test_payment_differential.py, which runs generated payments
through both paths from equal starting states and compares answers, balances, ledger rows, orders and keys.
"""

from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import text

from backend.clock import local_today, utcnow
from backend.errors import DomainError
from backend.extensions import db
from backend.guards import CHECKS_KEY, SQL_FORMS_KEY, MoneyMove, MoveKind, sql_forms
from backend.guards import check as money_gate
from backend.payments import funding, keys
from backend.payments.service import merchant_id_of_payload, merchant_number
from suiyuan_protocol import codec

_EXTENSION = "suiyuan.payments.express"
_CALL = ("SELECT pay_dynamic_order(CAST(:p_user_id AS integer), :p_key, :p_hash, CAST(:p_now AS timestamptz), "
         "CAST(:p_today AS date), :p_reference, CAST(:p_merchant_id AS integer), CAST(:p_amount AS bigint), "
         ":p_merchant_number, {clear})")


class _Lane:
    """The one-call statement for the app's checks and funding provider as they are (see ``_lane``)."""

    def __init__(self):
        self.gates = sql_forms()  # None: some check has no SQL form, so it is called in Python first
        provider = funding.provider()
        self.ask_provider = None  # a provider without an SQL form, whose ``may_fund`` is called in Python first
        parts: list[str] = [f"NOT EXISTS ({sql})" for sql, _ in self.gates or ()]
        self.fixed: dict = {}
        self.asks_provider_sql = False
        if provider is None:
            self.usable = True
        elif hasattr(provider, "may_fund_sql"):
            sql, fixed = provider.may_fund_sql()
            parts.append(f"NOT EXISTS ({sql})")
            self.fixed.update(fixed)
            self.asks_provider_sql = self.usable = True
        elif hasattr(provider, "may_fund"):
            self.ask_provider = provider
            self.usable = True
        else:
            self.usable = False  # a provider that must be asked ``legs`` on every payment
        self.statement = text(_CALL.format(clear=" AND ".join(parts) or "TRUE"))

    def params(self, move: MoneyMove, now) -> dict:
        params = dict(self.fixed)
        for _, build in self.gates or ():
            extra = build(move)
            if set(extra) & set(params):
                raise RuntimeError(f"SQL forms share parameter names: {sorted(set(extra) & set(params))}")
            params.update(extra)
        if self.asks_provider_sql:
            params.update(payer=move.from_user_id, at=now)
        return params


def _lane() -> _Lane:
    """The app's lane, built again whenever its checks, their SQL forms or the provider change (a check
    registered later must never be skipped)."""
    key = (tuple(current_app.extensions.get(CHECKS_KEY, ())),
           tuple(current_app.extensions.get(SQL_FORMS_KEY, {}).items()), funding.provider())
    cached = current_app.extensions.get(_EXTENSION)
    if cached is None or cached[0] != key:
        cached = current_app.extensions[_EXTENSION] = (key, _Lane())
    return cached[1]


def pay(user, payload_text: str, amount_fen: int | None, key: str, digest: str) -> dict | None:
    """Settle a plain dynamic-QR payment and commit; return its response body (as recorded under the key),
    or ``None`` (nothing written) when the general path must decide."""
    if amount_fen is not None or db.session.get_bind().dialect.name != "postgresql":
        return None
    try:
        payload = codec.verify(payload_text, keys.public_keys())
    except codec.CodecError:
        return None
    merchant_id = merchant_id_of_payload(payload)
    reference = payload.reference
    if not payload.is_dynamic or merchant_id is None or not reference:
        return None
    lane = _lane()
    if not lane.usable:
        return None
    move = MoneyMove(MoveKind.PAYMENT, payload.amount_fen, actor_user_id=user.id, from_user_id=user.id,
                     to_merchant_id=merchant_id, payload=payload_text)
    try:
        if lane.ask_provider is not None and lane.ask_provider.may_fund(payer_user_id=user.id):
            db.session.rollback()
            return None
        if lane.gates is None:
            # A refusal here sends the payment down the general path, which asks the gate again and records it.
            money_gate(move)
    except DomainError:
        db.session.rollback()
        return None
    now = utcnow()
    body = db.session.execute(lane.statement, {
        **lane.params(move, now), "p_user_id": user.id, "p_key": key, "p_hash": digest, "p_now": now,
        "p_today": local_today(), "p_reference": reference, "p_merchant_id": merchant_id,
        "p_amount": payload.amount_fen, "p_merchant_number": merchant_number(merchant_id),
    }).scalar_one()
    if body is None:
        db.session.rollback()
        return None
    db.session.commit()
    return json.loads(body)
