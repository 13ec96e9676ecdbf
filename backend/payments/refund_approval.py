"""The owner's approval of a large refund: the owner's password, exchanged for a short-lived token.

A merchant owner sets ``Merchant.refund_approval_above_fen``; a refund above
it (by the owner or a cashier) must carry an approval for exactly that order
and amount. The approval is a signed token, not the password, so the apps'
outbox (which keeps a money request on disk until it is answered) never
stores a password; it is valid for ``APPROVAL_TTL`` and names one order and
one amount, and the refund itself can never exceed what is left to refund.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from backend.auth.models import User
from backend.auth.service import confirm_password
from backend.clock import utcnow
from backend.errors import Forbidden
from backend.extensions import db
from backend.merchants import service as merchants
from backend.merchants.models import Merchant
from backend.payments.models import Order

APPROVAL_TTL = timedelta(minutes=5)
_SALT = "suiyuan-refund-approval"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def needs_approval(merchant: Merchant, amount_fen: int) -> bool:
    """Return whether a refund of ``amount_fen`` at ``merchant`` needs the owner's approval."""
    limit = merchant.refund_approval_above_fen
    return limit is not None and amount_fen > limit


def issue(user: User, order_id: int, amount_fen: int, owner_password: str) -> tuple[str, int]:
    """Check the owner's password and return (approval token, seconds it stays valid) for refunding
    ``amount_fen`` of the order. Moves no money; commits nothing.

    Raises ``NotFound`` (order_not_found), ``Forbidden`` (not_your_merchant, password_wrong
    on field ``owner_password``), ``TooManyRequests`` (password_locked).
    """
    from backend.payments.service import get_order

    order = get_order(user, order_id)
    merchant = db.session.get(Merchant, order.merchant_id)
    if not merchants.can_collect(user, merchant):
        raise Forbidden("Only the merchant's owner and cashiers can refund.", code="not_your_merchant")
    owner = db.session.get(User, merchant.owner_user_id)
    confirm_password(owner, owner_password, field="owner_password")
    expires = int((utcnow() + APPROVAL_TTL).timestamp())
    token = _serializer().dumps({"o": order.id, "a": amount_fen, "e": expires})
    return token, int(APPROVAL_TTL.total_seconds())


def require(merchant: Merchant, order: Order, amount_fen: int, approval: str | None) -> None:
    """Refuse a refund above the owner's limit unless ``approval`` is the owner's for this order and amount.

    Raises ``Forbidden``: ``owner_approval_required`` (with ``limit_fen``) or
    ``owner_approval_invalid`` (forged, expired, or for another order or amount).
    """
    if not needs_approval(merchant, amount_fen):
        return
    if not approval:
        raise Forbidden("Refunds above the owner's limit need the owner's password.",
                        code="owner_approval_required", field="owner_approval",
                        limit_fen=merchant.refund_approval_above_fen)
    try:
        data = _serializer().loads(approval)
    except BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("o") != order.id or data.get("a") != amount_fen \
            or not isinstance(data.get("e"), int) or data["e"] <= utcnow().timestamp():
        raise Forbidden("This approval is not valid for this refund (expired, or for another order or amount); "
                        "ask the owner again.", code="owner_approval_invalid", field="owner_approval",
                        limit_fen=merchant.refund_approval_above_fen)
