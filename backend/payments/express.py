"""The express lane for the common payment: a signed dynamic code paid from the main balance.

On PostgreSQL, a dynamic-QR payment that no plug-in subsidises is settled in
four round trips instead of a dozen: (1) the Idempotency-Key row is inserted
and the order, its merchant and the payer's wallet are read and checked in
one statement; (2) the ledger transfer (``ledger.transfer``, as on the
general path); (3) the order is claimed and the response recorded under the
key in one statement; (4) COMMIT.

It only ever says yes. Anything unusual — the key used before, the order not
payable, a limit refused, a lost race, a subsidy that may apply, SQLite —
rolls back whatever it did and returns ``None``, and the caller takes the
general path (``service.pay_scanned`` inside ``idempotency.run``), which
gives the precise refusal and records it. So refusals, replays and their
wording have one implementation, and the transfer is the ledger's on both
paths. The order's transition guard (created → paid, before expiry) is
written twice, in ``_CLAIM_AND_RECORD`` below and in ``service.pay_scanned``:
change them together.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from sqlalchemy import text

from backend import idempotency
from backend.clock import utcnow
from backend.errors import DomainError
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind
from backend.guards import check as money_gate
from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from backend.merchants.models import MerchantStatus
from backend.payments import funding, keys
from backend.payments.models import OrderKind, OrderStatus
from backend.payments.service import Settled, merchant_id_of_payload
from backend.wallets.models import WalletStatus
from suiyuan_protocol import codec

_OPEN = text("""
WITH key AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)
    VALUES (:user_id, :key, :hash, :now)
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING id
)
SELECT key.id AS idempotency_id, o.id, o.reference, o.kind, o.amount_fen, o.refunded_fen, o.description,
       o.payload, o.key_id, o.created_at, o.expires_at, o.merchant_id, m.name_zh, m.name_en,
       m.account_id AS merchant_account_id, w.account_id AS payer_account_id
FROM key
JOIN orders o ON o.reference = :reference
JOIN merchants m ON m.id = o.merchant_id
JOIN wallets w ON w.user_id = :user_id
WHERE o.merchant_id = :merchant_id AND o.amount_fen = :amount AND o.kind = :dynamic AND o.status = :created
  AND o.expires_at > :now AND m.status = :approved AND w.status = :active
""")

# The order's transition guard (created → paid, before expiry) and the key's response, in one statement:
# the response is recorded only if the order was claimed.
_CLAIM_AND_RECORD = text("""
WITH claimed AS (
    UPDATE orders SET status = :paid, paid_at = :paid_at, payer_user_id = :user_id,
                      payment_transfer_id = :transfer_id
    WHERE id = :order_id AND status = :created AND expires_at > :paid_at
    RETURNING id
)
UPDATE idempotency_keys SET status_code = 201, response_json = :body
WHERE id = :idempotency_id AND EXISTS (SELECT 1 FROM claimed)
RETURNING id
""")


def pay(user, payload_text: str, amount_fen: int | None, key: str, digest: str,
        render: Callable[[Settled], dict]) -> tuple[Settled, dict] | None:
    """Settle a plain dynamic-QR payment and commit; return it and its response body, or ``None`` (nothing
    written) when the general path must decide. ``render`` turns the settlement into the response body."""
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
    provider = funding.provider()
    may_fund = getattr(provider, "may_fund", None)
    if provider is not None and (may_fund is None or may_fund(payer_user_id=user.id)):
        return None
    try:
        # A refusal here sends the payment down the general path, which asks the gate again and records it.
        money_gate(MoneyMove(MoveKind.PAYMENT, payload.amount_fen, actor_user_id=user.id, from_user_id=user.id,
                             to_merchant_id=merchant_id, payload=payload_text))
        return _settle(user, payload, merchant_id, reference, key, digest, render)
    except DomainError:
        db.session.rollback()
        return None


def _settle(user, payload, merchant_id, reference, key, digest, render) -> tuple[Settled, dict] | None:
    row = db.session.execute(_OPEN, {
        "user_id": user.id, "key": key, "hash": digest, "now": utcnow(), "reference": reference,
        "merchant_id": merchant_id, "amount": payload.amount_fen, "dynamic": OrderKind.DYNAMIC,
        "created": OrderStatus.CREATED, "approved": MerchantStatus.APPROVED, "active": WalletStatus.ACTIVE,
    }).one_or_none()
    if row is None:
        db.session.rollback()
        return None
    posted = ledger.transfer(row.payer_account_id, row.merchant_account_id, row.amount_fen, TransferCode.PAYMENT,
                             batch_id=row.reference, memo=row.reference, actor_user_id=user.id)
    order = SimpleNamespace(**row._mapping, status=OrderStatus.PAID, paid_at=posted.created_at)
    merchant = SimpleNamespace(id=row.merchant_id, name_zh=row.name_zh, name_en=row.name_en)
    settled = Settled(order, [posted], 0, posted.debit_balance_fen, user.id, merchant=merchant)
    body = render(settled)
    recorded = db.session.execute(_CLAIM_AND_RECORD, {
        "paid": OrderStatus.PAID, "paid_at": posted.created_at, "user_id": user.id, "transfer_id": posted.id,
        "order_id": row.id, "created": OrderStatus.CREATED, "idempotency_id": row.idempotency_id,
        "body": idempotency.encode(body),
    }).one_or_none()
    if recorded is None:  # another payer claimed the order first: the general path says so
        db.session.rollback()
        return None
    db.session.commit()
    return settled, body
