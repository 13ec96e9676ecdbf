"""Use cases of collecting money: orders, paying a scanned code, charging a pay code, refunds.

Money-moving functions run inside ``idempotency.run`` (which commits once);
each settles in one transaction: the order's status guard, the ledger
transfer and the idempotency record land together or not at all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from backend.auth.models import Role, User
from backend.clock import as_utc, local_today, local_zone, utcnow
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind
from backend.guards import check as money_gate
from backend.ledger import service as ledger
from backend.ledger.models import Transfer
from backend.ledger.service import InsufficientFunds, TransferCode
from backend.merchants import service as merchants
from backend.merchants.models import Merchant, MerchantStatus
from backend.payments import funding, keys, refund_approval
from backend.payments.models import (
    Order,
    OrderKind,
    OrderStatus,
    PaycodeDevice,
    PaycodeUse,
    Refund,
    StaticQrSpend,
)
from backend.secrets_box import open_sealed, seal
from backend.sql import fen_sum, insert_for
from backend.wallets.service import wallet_of
from suiyuan_protocol import codec, paycode, profile
from suiyuan_protocol.profile import OFFLINE_MAX_PAYMENTS, OFFLINE_SINGLE_CAP_FEN, STATIC_QR_DAILY_CAP_FEN

PAYCODE_PURPOSE = "paycode-device-secret"


class QrRefused(Unprocessable):
    """A scanned code that must not be paid."""

    code = "qr_invalid"
    title = "This code cannot be paid"


def merchant_number(merchant_id: int) -> str:
    """Return the merchant number printed in codes (``M`` + 9 digits)."""
    return profile.format_merchant_number(merchant_id)


def _new_reference() -> str:
    return "SY" + secrets.token_hex(8).upper()


def _payload(merchant: Merchant, *, amount_fen: int | None, reference: str | None,
             expires_at=None, terminal: str | None = None) -> codec.MerchantPayload:
    return codec.suiyuan_payload(
        merchant_id=merchant.id, bank_code=merchant_bank_code(merchant), mcc=merchant.mcc,
        name=merchant.name_en, city=merchant.city or "Guangzhou", name_zh=merchant.name_zh, city_zh="广州",
        amount_fen=amount_fen, reference=reference, expires_at=expires_at, terminal=terminal)


def merchant_bank_code(merchant: Merchant) -> str:
    from backend.banks.models import OperatorBank

    return db.session.get(OperatorBank, merchant.bank_id).code


def sign_payload(payload: codec.MerchantPayload) -> tuple[str, str]:
    """Return (signed text, key id)."""
    kid, private = keys.signing_key()
    return codec.sign(payload, kid, private), kid


def static_payload(merchant: Merchant) -> str:
    """Return the merchant's signed static code (01=11, no amount)."""
    return sign_payload(_payload(merchant, amount_fen=None, reference=None))[0]


# ---------------------------------------------------------------- orders


def create_order(user: User, merchant_id: int, amount_fen: int, description: str | None,
                 ttl_seconds: int | None) -> Order:
    """Create a dynamic-QR order with a signed payload; commit; return it.

    Raises ``Forbidden`` (not the owner or a cashier), ``Conflict``
    (``merchant_not_active``).
    """
    merchant = merchants.collecting_merchant(user, merchant_id)
    now = utcnow()
    ttl = timedelta(seconds=ttl_seconds) if ttl_seconds else current_app.config["ORDER_TTL"]
    expires_at = (now + ttl).replace(microsecond=0)
    reference = _new_reference()
    text, kid = sign_payload(_payload(merchant, amount_fen=amount_fen, reference=reference,
                                      expires_at=expires_at, terminal=f"U{user.id}"))
    order = Order(reference=reference, merchant_id=merchant.id, kind=OrderKind.DYNAMIC, amount_fen=amount_fen,
                  description=description, status=OrderStatus.CREATED, payload=text, key_id=kid,
                  created_by_user_id=user.id, created_at=now, expires_at=expires_at)
    db.session.add(order)
    db.session.commit()
    return order


def expire_if_due(order: Order, *, commit: bool = True) -> Order:
    """Mark an overdue created order expired (lazily, besides the periodic job); return it.

    With ``commit=False`` (inside a money use case run by ``idempotency.run``)
    the change rides on the caller's transaction and nobody is told yet.
    """
    if order.status == OrderStatus.CREATED and order.expires_at and as_utc(order.expires_at) <= utcnow():
        moved = db.session.execute(
            update(Order.__table__).where(Order.id == order.id, Order.status == OrderStatus.CREATED)
            .values(status=OrderStatus.EXPIRED)
        ).rowcount
        if moved:
            set_committed_value(order, "status", OrderStatus.EXPIRED)
        if commit:
            db.session.commit()
            if moved:
                from backend.payments import events

                events.publish(order.id, OrderStatus.EXPIRED)
    return order


def get_order(user: User, order_id: int, *, commit: bool = True) -> Order:
    """Return an order its merchant's owner, cashiers, reviewers, the pilot office or its payer may see.

    ``commit=False`` inside a use case that commits itself (see ``expire_if_due``).
    """
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    if order.payer_user_id == user.id and user.role == Role.CONSUMER:
        return expire_if_due(order, commit=commit)
    try:
        merchant = merchants.get_visible(user, order.merchant_id)
    except NotFound:
        raise NotFound("No such order.", code="order_not_found") from None
    if user.role in (Role.MERCHANT_OWNER, Role.CASHIER) and not merchants.can_collect(user, merchant):
        raise NotFound("No such order.", code="order_not_found")
    if user.role == Role.CASHIER and order.created_by_user_id != user.id:
        raise NotFound("No such order.", code="order_not_found")
    if user.role == Role.CONSUMER:
        raise NotFound("No such order.", code="order_not_found")
    return expire_if_due(order, commit=commit)


def cancel_order(user: User, order_id: int) -> Order:
    """Cancel an unpaid order; commit; return it. Raises ``Conflict`` (``illegal_transition``)."""
    order = get_order(user, order_id)
    moved = db.session.execute(
        update(Order.__table__)
        .where(Order.id == order.id, Order.status.in_(OrderStatus.sources_of(OrderStatus.CANCELLED)))
        .values(status=OrderStatus.CANCELLED)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(f"A {order.status} order cannot be cancelled.", code="illegal_transition")
    db.session.commit()
    db.session.refresh(order)
    return order


def expire_due_orders() -> list[int]:
    """Mark every created order past its expiry as expired; commit; return their ids (job; safe twice)."""
    ids = list(db.session.execute(
        update(Order.__table__).where(Order.status == OrderStatus.CREATED, Order.expires_at <= utcnow())
        .values(status=OrderStatus.EXPIRED).returning(Order.id)
    ).scalars())
    db.session.commit()
    return ids


# ---------------------------------------------------------------- paying a scanned code


def _explain_bad_signature(text: str, exc: codec.CodecError) -> QrRefused:
    """Tell a tampered amount or a swapped merchant from other bad signatures."""
    try:
        scanned = codec.parse(text)
    except codec.CodecError:
        return QrRefused(exc.reason, code="qr_bad_signature")
    reference = scanned.reference
    order = db.session.execute(select(Order).where(Order.reference == reference)).scalar_one_or_none() \
        if reference else None
    if order is not None and order.payload:
        original = codec.parse(order.payload)
        if scanned.amount_fen != original.amount_fen:
            return QrRefused("The amount in this code was changed after the merchant issued it.",
                             code="qr_amount_tampered")
        if scanned.merchant_accounts != original.merchant_accounts or scanned.name != original.name:
            return QrRefused("The merchant in this code is not the one that issued it.", code="qr_merchant_mismatch")
    return QrRefused("The code's signature does not match: it may be a forged or pasted-over sticker.",
                     code="qr_bad_signature")


def verify_scanned(text: str) -> codec.MerchantPayload:
    """Return the verified payload of a scanned code; raise ``QrRefused`` with a distinct code."""
    try:
        try:
            return codec.verify(text, keys.public_keys())
        except codec.CodecError as exc:
            if exc.code != "unknown_key":
                raise
            keys.forget_cached()  # a key rotated in another process since the cache was filled
            return codec.verify(text, keys.public_keys())
    except codec.CodecError as exc:
        if exc.code == "unsigned":
            raise QrRefused("This code is not signed by Suiyuan; do not pay it.", code="qr_unsigned") from None
        if exc.code == "unknown_key":
            raise QrRefused("This code is signed with a key Suiyuan does not know.", code="qr_unknown_key") from None
        if exc.code == "bad_signature":
            raise _explain_bad_signature(text, exc) from None
        if exc.code == "crc_mismatch":
            raise QrRefused("The code is damaged (CRC mismatch); scan it again.", code="qr_crc_mismatch") from None
        raise QrRefused(f"Not a valid payment code: {exc.reason}", code="qr_malformed", field="payload") from None


def merchant_id_of_payload(payload: codec.MerchantPayload) -> int | None:
    """Return the merchant id a code names in our account template, or ``None`` if it is not ours."""
    return payload.merchant_id


def merchant_of_payload(payload: codec.MerchantPayload) -> Merchant:
    merchant_id = merchant_id_of_payload(payload)
    if merchant_id is None:
        raise QrRefused("This code is not a Suiyuan merchant code.", code="qr_not_ours")
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise QrRefused("The merchant in this code does not exist.", code="merchant_not_found")
    if merchant.status != MerchantStatus.APPROVED:
        raise QrRefused("The merchant is not currently allowed to accept payments.", code="merchant_not_active")
    return merchant


@dataclass(frozen=True)
class Settled:
    """A paid order: its legs (main balance first, then subsidies) and the payer's balance after."""

    order: Order
    legs: list[ledger.Posted]
    subsidy_fen: int
    payer_balance_after_fen: int
    payer_user_id: int
    merchant: Merchant | None = None  # when the caller has it at hand (else looked up for the response)


def _payer_account(user: User) -> int:
    from backend.wallets.models import WalletStatus

    wallet = wallet_of(user)
    if wallet.status != WalletStatus.ACTIVE:
        raise Forbidden("This wallet is frozen.", code="wallet_frozen")
    return wallet.account_id


def _settle(order: Order, payer_account_id: int, merchant: Merchant, payer: User) -> Settled:
    """Pay the order in legs and mark it paid, in the caller's transaction; return what was posted.

    The funding provider decides the subsidy legs (red packets, coupons);
    the payer's main balance (with its tier limits) pays the rest. Every leg
    credits the merchant and carries the order's reference as batch id;
    with several legs all their accounts are locked first, in id order. The
    order is then claimed with a conditional UPDATE carrying the first
    leg's id, so a paid order always has its money; if another payer won the
    race the claim matches no row, the refusal is raised and the caller's
    rollback discards the legs.
    """
    provider = funding.provider()
    subsidies = provider.legs(order_id=order.id, payer_user_id=payer.id, merchant_id=merchant.id,
                              amount_fen=order.amount_fen) if provider else []
    subsidy_fen = sum(leg.amount_fen for leg in subsidies)
    if not 0 <= subsidy_fen <= order.amount_fen:
        raise RuntimeError(f"funding provider returned {subsidy_fen} fen of subsidy for {order.amount_fen}")
    legs: list[ledger.Posted] = []
    cash: ledger.Posted | None = None
    if subsidies:
        ledger.lock_accounts([payer_account_id, merchant.account_id, *(leg.source_account_id for leg in subsidies)])
    if order.amount_fen > subsidy_fen:
        cash = ledger.transfer(payer_account_id, merchant.account_id, order.amount_fen - subsidy_fen,
                               TransferCode.PAYMENT, batch_id=order.reference, memo=order.reference,
                               actor_user_id=payer.id)
        legs.append(cash)
    for leg in subsidies:
        legs.append(ledger.transfer(leg.source_account_id, merchant.account_id, leg.amount_fen, leg.code,
                                    batch_id=order.reference, memo=leg.ref, actor_user_id=payer.id, limited=False))
    first = legs[0]
    # paid_at is the ledger's time, so statements and the ledger agree to the instant.
    paid = {"status": OrderStatus.PAID, "paid_at": first.created_at, "payer_user_id": payer.id,
            "payment_transfer_id": first.id}
    claimed = db.session.execute(
        update(Order.__table__)
        .where(Order.id == order.id, Order.status.in_(OrderStatus.sources_of(OrderStatus.PAID)),
               or_(Order.expires_at.is_(None), Order.expires_at > first.created_at))
        .values(**paid)
    ).rowcount
    if claimed != 1:
        _refuse_unpayable(order)
    for name, value in paid.items():  # the row now holds exactly these; no reload needed
        set_committed_value(order, name, value)
    balance_after = cash.debit_balance_fen if cash else ledger.balance(payer_account_id)
    return Settled(order, legs, subsidy_fen, balance_after, payer.id)


def _refuse_unpayable(order: Order) -> None:
    """Raise the reason ``order`` cannot be paid now."""
    db.session.refresh(order)
    if order.status == OrderStatus.CANCELLED:
        raise Conflict("The merchant cancelled this order.", code="order_cancelled")
    if order.status in (OrderStatus.CREATED, OrderStatus.EXPIRED):
        raise Conflict("This code has expired; ask the merchant for a new one.", code="order_expired")
    raise Conflict("This order has already been paid.", code="order_already_paid")


def pay_scanned(user: User, text: str, amount_fen: int | None) -> Settled:
    """Pay a scanned merchant code (runs inside ``idempotency.run``).

    A dynamic code pays its order at most once; a static code needs
    ``amount_fen`` and counts against the ¥500 daily static-QR cap. Raises
    ``QrRefused`` (qr_unsigned, qr_bad_signature, qr_amount_tampered,
    qr_merchant_mismatch, qr_crc_mismatch, qr_malformed…), ``Conflict``
    (order_already_paid, order_expired, order_cancelled), ``InsufficientFunds``,
    ``LimitExceeded`` (incl. static_qr_daily_cap).
    """
    payload = verify_scanned(text)
    merchant = merchant_of_payload(payload)
    payer_account = _payer_account(user)
    money_gate(MoneyMove(MoveKind.PAYMENT, amount_fen if amount_fen is not None else payload.amount_fen,
                         actor_user_id=user.id, from_user_id=user.id, to_merchant_id=merchant.id, payload=text))
    if payload.is_dynamic:
        if amount_fen is not None and amount_fen != payload.amount_fen:
            raise ValidationFailed("A dynamic code carries its own amount; do not send a different one.",
                                   field="amount_fen", code="amount_not_allowed")
        return _pay_dynamic(user, payload, merchant, payer_account)
    if amount_fen is None:
        raise ValidationFailed("A static code has no amount: enter the amount to pay.", field="amount_fen",
                               code="amount_required")
    return _pay_static(user, merchant, payer_account, amount_fen)


def _pay_dynamic(user, payload, merchant, payer_account) -> Settled:
    reference = payload.reference
    order = db.session.execute(select(Order).where(Order.reference == reference)).scalar_one_or_none()
    if order is None or order.merchant_id != merchant.id or order.amount_fen != payload.amount_fen:
        raise QrRefused("This code does not match any order of the merchant.", code="order_not_found")
    if order.status != OrderStatus.CREATED or as_utc(order.expires_at) <= utcnow():
        _refuse_unpayable(order)  # fail fast on replays and stale codes, before touching money
    return _settle(order, payer_account, merchant, user)


def _upsert_static_spend(user_id: int, amount_fen: int) -> bool:
    """Add to today's static-QR spend if it stays within the cap; return False if it would not."""
    if amount_fen > STATIC_QR_DAILY_CAP_FEN:
        return False
    table = StaticQrSpend.__table__
    day = local_today()
    ins = insert_for(table).values(user_id=user_id, day=day, spent_fen=amount_fen)
    stmt = ins.on_conflict_do_update(
        index_elements=["user_id", "day"],
        set_={"spent_fen": table.c.spent_fen + amount_fen},
        where=table.c.spent_fen + amount_fen <= STATIC_QR_DAILY_CAP_FEN,
    ).returning(table.c.spent_fen)
    return db.session.execute(stmt).scalar_one_or_none() is not None


def _new_order(merchant: Merchant, kind: str, amount_fen: int, created_by: int | None,
               description: str | None = None) -> Order:
    """Insert an order paid on the spot (static code, pay code); ``_settle`` completes it."""
    order_id = db.session.execute(
        insert(Order).values(reference=_new_reference(), merchant_id=merchant.id, kind=kind, amount_fen=amount_fen,
                             description=description, status=OrderStatus.CREATED, created_by_user_id=created_by,
                             created_at=utcnow(), refunded_fen=0)
        .returning(Order.id)
    ).scalar_one()
    return db.session.get(Order, order_id)


def _pay_static(user, merchant, payer_account, amount_fen) -> Settled:
    if not _upsert_static_spend(user.id, amount_fen):
        raise ledger.LimitExceeded("Static-code payments are limited to ¥500 per day; ask for a dynamic code.",
                                   code="static_qr_daily_cap", limit="static_qr_day",
                                   limit_fen=STATIC_QR_DAILY_CAP_FEN)
    order = _new_order(merchant, OrderKind.STATIC, amount_fen, created_by=None)
    return _settle(order, payer_account, merchant, user)


# ---------------------------------------------------------------- payment codes


def register_device(user: User, name: str) -> tuple[PaycodeDevice, bytes]:
    """Register a device for offline payment codes; commit; return it and its secret (shown once)."""
    wallet_of(user)
    secret = secrets.token_bytes(20)
    now = utcnow()
    device = PaycodeDevice(user_id=user.id, name=name, secret_enc=seal(PAYCODE_PURPOSE, secret), created_at=now,
                           offline_count=0, last_sync_at=now)
    db.session.add(device)
    db.session.commit()
    return device, secret


def my_device(user: User, device_id: int) -> PaycodeDevice:
    device = db.session.get(PaycodeDevice, device_id)
    if device is None or device.user_id != user.id:
        raise NotFound("No such device.", code="device_not_found")
    return device


def revoke_device(user: User, device_id: int) -> None:
    """Revoke a device: its codes stop working at once; commit."""
    device = my_device(user, device_id)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
    db.session.commit()


def sync_device(user: User, device_id: int) -> PaycodeDevice:
    """Record that the device is online again: its offline payment count restarts; commit."""
    device = my_device(user, device_id)
    if device.revoked_at is not None:
        raise Conflict("This device was revoked.", code="device_revoked")
    device.offline_count = 0
    device.last_sync_at = utcnow()
    db.session.commit()
    return device


def charge(cashier: User, merchant_id: int, code: str, amount_fen: int, description: str | None) -> Settled:
    """Charge a consumer's payment code (runs inside ``idempotency.run``).

    Raises ``Unprocessable`` (paycode_invalid, paycode_expired_or_forged,
    paycode_used, device_revoked, offline_amount_cap, offline_count_cap)
    and the ledger's refusals.
    """
    merchant = merchants.collecting_merchant(cashier, merchant_id)
    try:
        device_id, otp = paycode.split(code)
    except paycode.PaycodeFormatError as exc:
        raise ValidationFailed(str(exc), field="code", code="paycode_invalid") from None
    device = db.session.get(PaycodeDevice, device_id)
    if device is None:
        raise Unprocessable("This payment code is not valid.", code="paycode_expired_or_forged", field="code")
    step = paycode.match_step(open_sealed(PAYCODE_PURPOSE, device.secret_enc), otp)
    if step is None:
        raise Unprocessable("This payment code is too old or not genuine; ask for a fresh one.",
                            code="paycode_expired_or_forged", field="code")
    # Checked after the code itself, so that guessing cannot reveal which devices were revoked.
    if device.revoked_at is not None:
        raise Unprocessable("This payment code's device was revoked.", code="device_revoked", field="code")
    money_gate(MoneyMove(MoveKind.CHARGE, amount_fen, actor_user_id=cashier.id, from_user_id=device.user_id,
                         to_merchant_id=merchant.id, device_id=device.id))
    if amount_fen > OFFLINE_SINGLE_CAP_FEN:
        raise ledger.LimitExceeded("Payment codes pay at most ¥500 at a time; use a dynamic QR code.",
                                   code="offline_amount_cap", limit="offline_single",
                                   limit_fen=OFFLINE_SINGLE_CAP_FEN)
    try:
        with db.session.begin_nested():
            use_id = db.session.execute(
                insert(PaycodeUse).values(device_id=device.id, counter=step, used_at=utcnow()).returning(PaycodeUse.id)
            ).scalar_one()
    except IntegrityError:
        raise Unprocessable("This payment code was already used.", code="paycode_used", field="code") from None
    counted = db.session.execute(
        update(PaycodeDevice.__table__)
        .where(PaycodeDevice.id == device.id, PaycodeDevice.offline_count < OFFLINE_MAX_PAYMENTS)
        .values(offline_count=PaycodeDevice.offline_count + 1)
    ).rowcount
    if counted != 1:
        raise ledger.LimitExceeded("The wallet must go online before more offline payments.",
                                   code="offline_count_cap", limit="offline_count", limit_count=OFFLINE_MAX_PAYMENTS)
    payer = db.session.get(User, device.user_id)
    order = _new_order(merchant, OrderKind.PAYCODE, amount_fen, created_by=cashier.id, description=description)
    try:
        settled = _settle(order, _payer_account(payer), merchant, payer)
    except (InsufficientFunds, ledger.LimitExceeded) as exc:
        if exc.code == "payee_limit_exceeded":
            raise
        # The merchant must not learn the consumer's balance or limits; the consumer's app tells them.
        raise Unprocessable("The consumer's wallet cannot pay this amount; ask them to check their app.",
                            code="payer_cannot_pay") from None
    db.session.execute(update(PaycodeUse.__table__).where(PaycodeUse.id == use_id).values(order_id=order.id))
    return settled


# ---------------------------------------------------------------- refunds


def refund(user: User, order_id: int, amount_fen: int | None, reason: str | None,
           owner_approval: str | None = None) -> tuple[Order, Refund]:
    """Refund all or part of a paid order to the payer (runs inside ``idempotency.run``).

    The owner may refund any amount; a cashier at most their refund limit;
    above the owner's approval limit, anyone needs ``owner_approval``
    (``refund_approval.require``: Forbidden owner_approval_required/invalid).
    Concurrent refunds can never exceed what was paid. Raises ``Forbidden``
    (refund_over_cashier_limit), ``Conflict`` (order_not_refundable,
    refund_exceeds_paid), ``InsufficientFunds`` (merchant_insufficient_funds).
    """
    order = get_order(user, order_id, commit=False)
    merchant = db.session.get(Merchant, order.merchant_id)
    if not merchants.can_collect(user, merchant):
        raise Forbidden("Only the merchant's owner and cashiers can refund.", code="not_your_merchant")
    if order.status not in OrderStatus.sources_of(OrderStatus.REFUNDED):
        raise Conflict(f"A {order.status} order cannot be refunded.", code="order_not_refundable")
    amount = order.amount_fen - order.refunded_fen if amount_fen is None else amount_fen
    if amount <= 0:
        raise Conflict("This order is already fully refunded.", code="refund_exceeds_paid")
    staff = merchants.staff_record(user)
    if staff is not None and amount > staff.refund_limit_fen:
        raise Forbidden("This refund is above your cashier refund limit; ask the owner.",
                        code="refund_over_cashier_limit", limit_fen=staff.refund_limit_fen)
    refund_approval.require(merchant, order, amount, owner_approval)

    def within_cashier_limit() -> None:
        # The limit is per cashier per order, in total: several small refunds cannot add up past
        # it. Read after the UPDATE has locked the order, so racing refunds see each other.
        earlier = db.session.execute(
            select(fen_sum(Refund.amount_fen))
            .where(Refund.order_id == order.id, Refund.created_by_user_id == user.id)
        ).scalar_one()
        if earlier + amount > staff.refund_limit_fen:
            raise Forbidden("Together with your earlier refunds of this order, this is above your cashier "
                            "refund limit; ask the owner.", code="refund_over_cashier_limit",
                            limit_fen=staff.refund_limit_fen, refunded_by_you_fen=earlier)

    return refund_order(order, merchant, amount, user, reason,
                        after_claim=within_cashier_limit if staff is not None else None)


def refund_order(order: Order, merchant: Merchant, amount_fen: int, actor: User, reason: str | None, *,
                 after_claim=None) -> tuple[Order, Refund]:
    """The refund rule, whoever decided it (a merchant's refund above, a bank's dispute decision): return
    ``amount_fen`` of a paid ``order`` to its payer through the ledger, in the caller's transaction.

    Asks the money gate first (freezes, read-only); claims the amount with one conditional UPDATE, so
    concurrent refunds can never exceed what was paid; ``after_claim`` (if given) runs once the order is
    locked. Raises ``Conflict`` (order_not_refundable, refund_exceeds_paid with ``refundable_fen``,
    merchant_insufficient_funds) and whatever the gate raises.
    """
    if order.status not in OrderStatus.sources_of(OrderStatus.REFUNDED):
        raise Conflict(f"A {order.status} order cannot be refunded.", code="order_not_refundable")
    amount = amount_fen
    if amount <= 0:
        raise Conflict("This order is already fully refunded.", code="refund_exceeds_paid")
    money_gate(MoneyMove(MoveKind.REFUND, amount, actor_user_id=actor.id, from_merchant_id=merchant.id,
                         to_user_id=order.payer_user_id))
    new_refunded = Order.refunded_fen + amount
    moved = db.session.execute(
        update(Order.__table__)
        .where(Order.id == order.id, Order.status.in_(OrderStatus.sources_of(OrderStatus.REFUNDED)),
               new_refunded <= Order.amount_fen)
        .values(refunded_fen=new_refunded,
                status=case((new_refunded == Order.amount_fen, OrderStatus.REFUNDED),
                            else_=OrderStatus.PARTIALLY_REFUNDED))
    ).rowcount
    if moved != 1:
        raise Conflict("The refund would return more than was paid.", code="refund_exceeds_paid",
                       refundable_fen=order.amount_fen - order.refunded_fen)
    if after_claim is not None:
        after_claim()
    try:
        reversals = _reverse_legs(order, amount, actor)
    except InsufficientFunds:
        raise Conflict("The merchant's wallet does not hold enough to refund this.",
                       code="merchant_insufficient_funds") from None
    refund_id = db.session.execute(
        insert(Refund).values(order_id=order.id, amount_fen=amount, transfer_id=reversals[0].id, reason=reason,
                              created_by_user_id=actor.id, created_at=reversals[0].created_at).returning(Refund.id)
    ).scalar_one()
    db.session.refresh(order)
    return order, db.session.get(Refund, refund_id)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC instants where the pilot's local ``day`` starts and ends."""
    start = datetime.combine(day, time(), local_zone())
    return as_utc(start), as_utc(start + timedelta(days=1))


def payer_tail(order: Order) -> str | None:
    """Return the last four digits of ``order``'s payer's phone number (``None`` if it has no payer):
    what a shop's receipt may show of the person who paid."""
    if order.payer_user_id is None:
        return None
    phone = db.session.execute(select(User.phone).where(User.id == order.payer_user_id)).scalar_one_or_none()
    return phone[-4:] if phone else None


def order_legs(order: Order) -> list:
    """Return the transfers that paid ``order``: main balance first, then subsidies, in posting order."""
    return list(db.session.execute(
        select(Transfer).where(Transfer.batch_id == order.reference, Transfer.reverses_id.is_(None),
                               Transfer.code.in_(TransferCode.PAYMENT_LEGS))
        .order_by(Transfer.id)
    ).scalars())


def _reverse_legs(order: Order, amount_fen: int, user: User) -> list[ledger.Posted]:
    """Return ``amount_fen`` to where it came from, leg by leg; return the reversals posted."""
    provider = funding.provider()
    batch = ledger.new_batch_id()  # one batch per refund, so statements count refunds, not orders
    left = amount_fen
    posted = []
    legs = order_legs(order)
    ledger.lock_accounts([a for leg in legs for a in (leg.debit_account_id, leg.credit_account_id)])
    for leg in legs:
        if left == 0:
            break
        part = min(left, leg.amount_fen - leg.reversed_fen)
        if part <= 0:
            continue
        posted.append(ledger.reverse(leg.id, part, code=TransferCode.REFUND, actor_user_id=user.id,
                                     batch_id=batch))
        if leg.code != TransferCode.PAYMENT and provider:
            provider.leg_refunded(order_id=order.id, ref=leg.memo, amount_fen=part)
        left -= part
    if left:
        raise RuntimeError(f"order {order.id}: legs cover {amount_fen - left} of a {amount_fen} fen refund")
    return posted


def list_orders(user: User, merchant_id: int, day, status: str | None, limit: int, before: int | None):
    """Return (orders, totals) of one local day: all for the owner, their own for a cashier.

    Totals count paid amounts and refunds of the listed orders.
    """
    merchant = merchants.get_visible(user, merchant_id)
    if user.role in (Role.MERCHANT_OWNER, Role.CASHIER) and not merchants.can_collect(user, merchant):
        raise Forbidden("Not your merchant.", code="not_your_merchant")
    start, end = local_day_bounds(day)
    cond = [Order.merchant_id == merchant.id, Order.created_at >= start, Order.created_at < end]
    if user.role == Role.CASHIER:
        cond.append(Order.created_by_user_id == user.id)
    if status:
        cond.append(Order.status == status)
    q = select(Order).where(and_(*cond))
    all_rows = list(db.session.execute(q).scalars())
    paid = [o for o in all_rows if o.payment_transfer_id is not None]
    totals = {
        "order_count": len(all_rows),
        "paid_count": len(paid),
        "paid_fen": sum(o.amount_fen for o in paid),
        "refunded_fen": sum(o.refunded_fen for o in paid),
        "net_fen": sum(o.amount_fen - o.refunded_fen for o in paid),
    }
    if before:
        q = q.where(Order.id < before)
    page = list(db.session.execute(q.order_by(Order.id.desc()).limit(limit)).scalars())
    return page, totals
