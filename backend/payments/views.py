"""``/orders``, ``/payments``, ``/charges``, ``/paycodes/devices``, ``/keys``."""

from __future__ import annotations

import base64

from flask import Response, stream_with_context
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from backend import idempotency
from backend.auth.models import Role
from backend.auth.service import current_user, public, requires
from backend.clock import as_utc, local_today
from backend.errors import NotFound
from backend.extensions import db
from backend.hooks import announce, payment_settled, refund_settled
from backend.http import respond
from backend.merchants.models import Merchant
from backend.payments import breakdown, events, express, keys, refund_approval, service
from backend.payments.models import Order, OrderKind, OrderStatus, PaycodeDevice
from backend.schemas import BINARY, Fen, Id, StrictSchema
from backend.wallets import paypass
from backend.wallets.views import IDEMPOTENCY_DOC, PAYMENT_PASSWORD_FIELD, take_password
from suiyuan_protocol import paycode

blp = Blueprint("payments", __name__, url_prefix="/api/v1", description="Collecting e-CNY: QR orders, payments")


class CreateOrderSchema(StrictSchema):
    merchant_id = Id(required=True)
    amount_fen = Fen(required=True)
    description = fields.String(load_default=None, validate=validate.Length(max=80))
    ttl_seconds = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=30, max=3600))


class OrdersQuery(StrictSchema):
    merchant_id = Id(required=True, strict=False)
    date = fields.Date(load_default=None, metadata={"description": "Local day, default today"})
    status = fields.String(validate=validate.OneOf(OrderStatus.ALL))
    before = Id(bits=64, strict=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PaySchema(StrictSchema):
    payload = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    amount_fen = Fen(load_default=None, allow_none=True,
                     metadata={"description": "Only for static codes, which carry no amount"})
    payment_password = PAYMENT_PASSWORD_FIELD


class PreviewSchema(StrictSchema):
    payload = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    amount_fen = Fen(load_default=None, allow_none=True,
                     metadata={"description": "Only for static codes: the amount typed, to price it"})


class ChargeSchema(StrictSchema):
    merchant_id = Id(required=True)
    code = fields.String(required=True, metadata={"description": "The consumer's 18-digit payment code"})
    amount_fen = Fen(required=True)
    description = fields.String(load_default=None, validate=validate.Length(max=80))


class RefundSchema(StrictSchema):
    amount_fen = Fen(load_default=None, allow_none=True, metadata={"description": "Default: all that is left"})
    reason = fields.String(load_default=None, validate=validate.Length(max=140))
    owner_approval = fields.String(load_default=None, validate=validate.Length(max=500), metadata={
        "description": "Above the merchant's refund_approval_above_fen: the token from "
                       "POST /orders/{id}/refund-approvals for this order and amount"})


class RefundApprovalSchema(StrictSchema):
    amount_fen = Fen(required=True)
    owner_password = fields.String(required=True, validate=validate.Length(min=1, max=200),
                                   metadata={"description": "The merchant owner's password, typed again"})


class DeviceSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=40))


# ---------------------------------------------------------------- responses


class OrderMerchantSchema(StrictSchema):
    id = fields.Integer(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    merchant_number = fields.String(required=True)


class BreakdownSchema(StrictSchema):
    price_fen = fields.Integer(required=True)
    red_packet_fen = fields.Integer(required=True)
    coupon_fen = fields.Integer(required=True)
    from_wallet_fen = fields.Integer(required=True, metadata={"description": "What leaves the payer's wallet"})
    merchant_receives_fen = fields.Integer(required=True, metadata={"description": "Always the full price"})


class QuoteSchema(BreakdownSchema):
    wallet_balance_fen = fields.Integer(required=True)
    enough_balance = fields.Boolean(required=True)
    short_fen = fields.Integer(required=True)


class OrderSchema(StrictSchema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf((OrderKind.DYNAMIC, OrderKind.STATIC,
                                                                 OrderKind.PAYCODE)))
    status = fields.String(required=True, validate=validate.OneOf(OrderStatus.ALL))
    amount_fen = fields.Integer(required=True)
    refunded_fen = fields.Integer(required=True)
    description = fields.String(required=True, allow_none=True)
    merchant = fields.Nested(OrderMerchantSchema, required=True)
    payload = fields.String(required=True, allow_none=True,
                            metadata={"description": "The signed EMVCo code text (dynamic orders)"})
    key_id = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True, allow_none=True)
    paid_at = fields.DateTime(required=True, allow_none=True)
    breakdown = fields.Nested(BreakdownSchema, metadata={
        "description": "Paid orders: the price, what red packets and coupons paid, what left the wallet"})
    payer_tail = fields.String(allow_none=True, metadata={
        "description": "One paid order: the last four digits of the payer's phone number, all that a shop's "
                       "receipt shows of the payer (`null` when unknown)"})


class OrderTotalsSchema(StrictSchema):
    order_count = fields.Integer(required=True)
    paid_count = fields.Integer(required=True)
    paid_fen = fields.Integer(required=True)
    refunded_fen = fields.Integer(required=True)
    net_fen = fields.Integer(required=True)


class OrderPageSchema(StrictSchema):
    items = fields.List(fields.Nested(OrderSchema), required=True)
    totals = fields.Nested(OrderTotalsSchema, required=True, metadata={"description": "Of the whole day"})
    next_before = fields.Integer(required=True, allow_none=True)


class LegSchema(StrictSchema):
    transfer_id = fields.Integer(required=True)
    code = fields.String(required=True)
    amount_fen = fields.Integer(required=True)


class ChargeResultSchema(OrderSchema):
    transfer_id = fields.Integer(required=True)
    paid_from_balance_fen = fields.Integer(required=True)
    subsidy_fen = fields.Integer(required=True, metadata={"description": "Paid by red packets and coupons"})
    legs = fields.List(fields.Nested(LegSchema), required=True)


class PaymentResultSchema(ChargeResultSchema):
    payer_balance_after_fen = fields.Integer(required=True)


class RefundOutSchema(StrictSchema):
    id = fields.Integer(required=True)
    amount_fen = fields.Integer(required=True)
    transfer_id = fields.Integer(required=True)
    reason = fields.String(required=True, allow_none=True)


class RefundResultSchema(OrderSchema):
    refund = fields.Nested(RefundOutSchema, required=True)


class PreviewMerchantSchema(StrictSchema):
    id = fields.Integer(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    scenario = fields.String(required=True)
    verified = fields.Boolean(required=True)


class PreviewResultSchema(StrictSchema):
    genuine = fields.Boolean(required=True)
    dynamic = fields.Boolean(required=True)
    amount_fen = fields.Integer(required=True, allow_none=True, metadata={"description": "Null for a static code"})
    merchant = fields.Nested(PreviewMerchantSchema, required=True)
    order_status = fields.String(metadata={"description": "Dynamic codes: the order's status, or unknown"})
    expires_at = fields.DateTime(allow_none=True)
    breakdown = fields.Nested(QuoteSchema, allow_none=True, metadata={
        "description": "When the amount is known and the order payable: the split a payment now would get"})
    payment_password_needed = fields.Boolean(required=True, metadata={
        "description": "Paying this amount needs the payment password (above my password-free limit)"})


class RefundApprovalOutSchema(StrictSchema):
    order_id = fields.Integer(required=True)
    amount_fen = fields.Integer(required=True)
    owner_approval = fields.String(required=True, metadata={"description": "Send as `owner_approval` on the refund"})
    expires_in_seconds = fields.Integer(required=True)


class DeviceOutSchema(StrictSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    revoked = fields.Boolean(required=True)
    offline_payments_since_sync = fields.Integer(required=True)
    last_sync_at = fields.DateTime(required=True)


class NewDeviceSchema(DeviceOutSchema):
    secret_b32 = fields.String(required=True, metadata={"description": "Shown once; keep it on the device"})
    step_seconds = fields.Integer(required=True)
    digits = fields.Integer(required=True)
    prefix = fields.String(required=True)


class DeviceListSchema(StrictSchema):
    items = fields.List(fields.Nested(DeviceOutSchema), required=True)


class KeySchema(StrictSchema):
    kid = fields.String(required=True)
    kty = fields.String(required=True, validate=validate.OneOf(("OKP",)))
    crv = fields.String(required=True, validate=validate.OneOf(("Ed25519",)))
    x = fields.String(required=True, metadata={"description": "The public key, base64url without padding"})
    created_at = fields.DateTime(required=True)
    retired_at = fields.DateTime(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(("active", "retired")))


class KeyListSchema(StrictSchema):
    keys = fields.List(fields.Nested(KeySchema), required=True)


class OrderEventSchema(StrictSchema):
    """One server-sent event (text/event-stream): ``status`` on each change, ``end`` when final."""

    event = fields.String(required=True, validate=validate.OneOf(("status", "end")))
    data = fields.String(required=True, metadata={"description": 'JSON: {"id", "status", "paid_at"} (status) or '
                                                                 '{"status"} (end)'})


def order_json(o: Order, merchant: Merchant | None = None) -> dict:
    merchant = merchant or db.session.get(Merchant, o.merchant_id)
    return {
        "id": o.id,
        "reference": o.reference,
        "kind": o.kind,
        "status": o.status,
        "amount_fen": o.amount_fen,
        "refunded_fen": o.refunded_fen,
        "description": o.description,
        "merchant": {"id": merchant.id, "name_zh": merchant.name_zh, "name_en": merchant.name_en,
                     "merchant_number": service.merchant_number(merchant.id)},
        "payload": o.payload,
        "key_id": o.key_id,
        "created_at": as_utc(o.created_at).isoformat(),
        "expires_at": as_utc(o.expires_at).isoformat() if o.expires_at else None,
        "paid_at": as_utc(o.paid_at).isoformat() if o.paid_at else None,
    }


def _after_payment(body: dict, payer_user_id: int) -> None:
    """Announce a committed payment (from its response body: no ORM reloads after commit)."""
    events.publish(body["id"], body["status"])
    announce(payment_settled, order_id=body["id"], merchant_id=body["merchant"]["id"],
             amount_fen=body["amount_fen"], payer_user_id=payer_user_id, transfer_id=body["transfer_id"],
             subsidy_fen=body["subsidy_fen"])


def _payment_body(settled: service.Settled) -> dict:
    body = order_json(settled.order, settled.merchant)
    body.update(
        breakdown=breakdown.of_legs(settled.order.amount_fen, [(p.code, p.amount_fen) for p in settled.legs]),
        transfer_id=settled.legs[0].id,
        paid_from_balance_fen=settled.order.amount_fen - settled.subsidy_fen,
        subsidy_fen=settled.subsidy_fen,
        legs=[{"transfer_id": p.id, "code": p.code, "amount_fen": p.amount_fen} for p in settled.legs],
        payer_balance_after_fen=settled.payer_balance_after_fen,
    )
    return body


@blp.route("/orders", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(CreateOrderSchema)
@blp.response(201, OrderSchema)
def create_order(args):
    """Create a dynamic-QR order: a signed code for an amount, single-use, expiring (default 5 min)."""
    order = service.create_order(current_user(), args["merchant_id"], args["amount_fen"], args["description"],
                                 args["ttl_seconds"])
    return respond(order_json(order), 201)


@blp.route("/orders", methods=["GET"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER, Role.BANK_REVIEWER, Role.PILOT_ADMIN)
@blp.arguments(OrdersQuery, location="query")
@blp.response(200, OrderPageSchema)
def list_orders(args):
    """One day's orders with totals: all of them for the owner, a cashier's own shift for a cashier."""
    page, totals = service.list_orders(current_user(), args["merchant_id"], args["date"] or local_today(),
                                       args.get("status"), args["limit"], args.get("before"))
    more = len(page) == args["limit"]
    return respond({"items": [order_json(o) for o in page], "totals": totals,
                    "next_before": page[-1].id if more and page else None}, 200)


@blp.route("/orders/<id:order_id>", methods=["GET"])
@requires()
@blp.response(200, OrderSchema)
def get_order(order_id):
    """One order (its merchant's people, its payer, reviewers of the bank, the pilot office); once paid,
    with ``breakdown`` (what red packets and coupons paid: the merchant received the full price) and
    ``payer_tail`` (the payer's last four phone digits, for the shop's printed receipt)."""
    order = service.get_order(current_user(), order_id)
    body = order_json(order)
    if order.payment_transfer_id is not None:
        body["breakdown"] = breakdown.of_legs(order.amount_fen,
                                              [(t.code, t.amount_fen) for t in service.order_legs(order)])
        body["payer_tail"] = service.payer_tail(order)
    return respond(body, 200)


@blp.route("/orders/<id:order_id>/qr.png", methods=["GET"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.response(200, BINARY, content_type="image/png")
def order_qr(order_id):
    """The order's code as a PNG image."""
    from backend.payments.qrimage import qr_png

    order = service.get_order(current_user(), order_id)
    return Response(qr_png(order.payload), mimetype="image/png")


@blp.route("/orders/<id:order_id>/cancel", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.response(200, OrderSchema)
def cancel_order(order_id):
    """Cancel an unpaid order (its code stops working)."""
    order = service.cancel_order(current_user(), order_id)
    events.publish(order.id, order.status)
    return respond(order_json(order), 200)


@blp.route("/orders/<id:order_id>/events", methods=["GET"])
@requires()
@blp.response(200, OrderEventSchema, content_type="text/event-stream")
def order_events(order_id):
    """Server-sent events: the order's status now, then each change (paid within a second), until final."""
    user = current_user()
    order = service.get_order(user, order_id)
    expires_at = as_utc(order.expires_at)

    def read():
        db.session.rollback()  # a fresh snapshot
        try:
            row = db.session.execute(select(Order.status, Order.paid_at, Order.expires_at)
                                     .where(Order.id == order_id)).one()
        finally:
            # End the read at once: no connection (nor its table locks) held while the stream waits a
            # second for the next message.
            db.session.rollback()
        status = row.status
        if status == OrderStatus.CREATED and row.expires_at and as_utc(row.expires_at) <= service.utcnow():
            status = OrderStatus.EXPIRED
        return {"id": order_id, "status": status,
                "paid_at": as_utc(row.paid_at).isoformat() if row.paid_at else None}

    # Watch until the order can no longer change to paid: its own expiry, plus a grace period.
    timeout = (expires_at - service.utcnow()).total_seconds() + 60 if expires_at else 60
    body = events.stream(order_id, read, is_final=lambda s: s["status"] != OrderStatus.CREATED, timeout_s=timeout)
    return Response(stream_with_context(body), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/orders/<id:order_id>/refund-approvals", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(RefundApprovalSchema)
@blp.response(201, RefundApprovalOutSchema)
@blp.alt_response(403, description="`password_wrong` (field `owner_password`), `not_your_merchant`")
@blp.alt_response(404, description="`order_not_found`")
@blp.alt_response(429, description="`password_locked`: too many wrong passwords (Retry-After)")
def refund_approval_create(args, order_id):
    """The owner's password for one refund above the owner's limit: returns an approval token for this
    order and amount, valid a few minutes, to send as ``owner_approval``. Moves no money."""
    token, ttl = refund_approval.issue(current_user(), order_id, args["amount_fen"], args["owner_password"])
    return respond({"order_id": order_id, "amount_fen": args["amount_fen"], "owner_approval": token,
                    "expires_in_seconds": ttl}, 201)


@blp.route("/orders/<id:order_id>/refunds", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(RefundSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, RefundResultSchema)
@blp.alt_response(403, description="`owner_approval_required` (with `limit_fen`) or `owner_approval_invalid`: "
                                   "above the owner's limit send `owner_approval`; `refund_over_cashier_limit`; "
                                   "`not_your_merchant`")
@blp.alt_response(404, description="`order_not_found`")
@blp.alt_response(409, description="`order_not_refundable`, `refund_exceeds_paid`, `merchant_insufficient_funds`, "
                                   "`idempotency_key_reused`")
def refund(args, order_id):
    """Refund all or part of a paid order to the payer's wallet (idempotent; never more than paid).

    Above the merchant's ``refund_approval_above_fen`` (set by the owner) the request must carry the
    owner's approval for this order and amount."""
    user = current_user()

    def action():
        order, refund_row = service.refund(user, order_id, args["amount_fen"], args["reason"],
                                           args["owner_approval"])
        body = order_json(order)
        body["refund"] = {"id": refund_row.id, "amount_fen": refund_row.amount_fen,
                          "transfer_id": refund_row.transfer_id, "reason": refund_row.reason}
        return body, 201

    body, status = idempotency.run(user.id, {"order_id": order_id, **args}, action)
    if status == 201:
        events.publish(order_id, body["status"])
        announce(refund_settled, order_id=order_id, amount_fen=body["refund"]["amount_fen"])
    return respond(body, status)


@blp.route("/payments/preview", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(PreviewSchema)
@blp.response(200, PreviewResultSchema)
@blp.alt_response(404, description="`wallet_not_open`")
@blp.alt_response(422, description="The code must not be paid: `qr_unsigned`, `qr_bad_signature`, "
                                   "`qr_amount_tampered`, `qr_merchant_mismatch`, `qr_unknown_key`, "
                                   "`qr_crc_mismatch`, `qr_malformed`, `qr_not_ours`, `merchant_not_found`, "
                                   "`merchant_not_active`")
def preview(args):
    """Check a scanned code before paying: who is paid, how much, whether it is genuine, and how it would
    be paid. Moves no money.

    ``breakdown`` (when the amount is known and the order is payable): ``price_fen``, ``red_packet_fen``,
    ``coupon_fen``, ``from_wallet_fen`` (what leaves the wallet), ``merchant_receives_fen`` (the full
    price), ``wallet_balance_fen``, ``enough_balance`` and ``short_fen``. A genuine code whose order was
    cancelled or expired is still ``genuine`` with ``order_status`` saying so."""
    payload = service.verify_scanned(args["payload"])
    merchant = service.merchant_of_payload(payload)
    body = {"genuine": True, "dynamic": payload.is_dynamic, "amount_fen": payload.amount_fen,
            "merchant": {"id": merchant.id, "name_zh": merchant.name_zh, "name_en": merchant.name_en,
                         "scenario": merchant.scenario, "verified": True}}
    price = payload.amount_fen if payload.is_dynamic else args["amount_fen"]
    payable = True
    if payload.is_dynamic:
        order = db.session.execute(select(Order).where(Order.reference == payload.reference)) \
            .scalar_one_or_none()
        if order is not None:
            order = service.expire_if_due(order)
        body["order_status"] = order.status if order else "unknown"
        body["expires_at"] = as_utc(order.expires_at).isoformat() if order and order.expires_at else None
        payable = order is not None and order.status == OrderStatus.CREATED
    body["breakdown"] = breakdown.quote(current_user(), merchant, price) if payable and price else None
    body["payment_password_needed"] = bool(price) and paypass.needed(current_user(), price)
    return respond(body, 200)


@blp.route("/payments/receipts/<string:reference>", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, OrderSchema)
@blp.alt_response(404, description="`order_not_found`: no payment of mine with this reference")
def payment_receipt(reference):
    """My payment by its reference (the memo of its transfer): the order and how it was paid (``breakdown``),
    e.g. for the result screen after a merchant charged my payment code."""
    user = current_user()
    order = db.session.execute(select(Order).where(Order.reference == reference)).scalar_one_or_none()
    if order is None or order.payer_user_id != user.id or order.payment_transfer_id is None:
        raise NotFound("No such payment.", code="order_not_found")
    body = order_json(order)
    body["breakdown"] = breakdown.of_legs(order.amount_fen,
                                          [(t.code, t.amount_fen) for t in service.order_legs(order)])
    return respond(body, 200)


def _price_of(args) -> int | None:
    """The price of a payment request: the typed amount for a static code, the signed one for a dynamic
    code; None when the code does not verify (the payment path then refuses it with its precise code)."""
    if args["amount_fen"] is not None:
        return args["amount_fen"]
    try:
        return service.verify_scanned(args["payload"]).amount_fen
    except service.QrRefused:
        return None


@blp.route("/payments", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(PaySchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, PaymentResultSchema)
@blp.alt_response(403, description="`payment_password_required` (above `password_free_limit_fen`), "
                                   "`payment_password_wrong` (with `attempts_left`)")
@blp.alt_response(429, description="`payment_password_locked`: too many wrong payment passwords (Retry-After)")
def pay(args):
    """Pay a scanned merchant code: verified (signature, CRC, expiry, merchant, limits), settled at once.
    Above the wallet's password-free limit the payment password must come with it."""
    args, password = take_password(args)
    user = current_user()
    user_id = user.id
    # Without a password the one-call lane pays only within the password-free limit (its statement asks the same
    # columns); a payment with a password, or one the lane leaves, meets the rule here, in Python.
    fast = None if password else express.pay(user, args["payload"], args["amount_fen"], idempotency.request_key(),
                                             idempotency.fingerprint(args))
    if fast is not None:
        _after_payment(fast, user_id)
        return respond(fast, 201)
    paypass.require(user, _price_of(args), password, always=False)
    settled_box = []

    def action():
        settled = service.pay_scanned(user, args["payload"], args["amount_fen"])
        settled_box.append(settled)
        return _payment_body(settled), 201

    body, status = idempotency.run(user_id, args, action)
    if settled_box:
        _after_payment(body, user_id)
    return respond(body, status)


@blp.route("/charges", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(ChargeSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, ChargeResultSchema)
def charge(args):
    """Charge a consumer's payment code (scanned or typed) for an amount (offline caps apply)."""
    user = current_user()
    user_id = user.id
    settled_box = []

    def action():
        settled = service.charge(user, args["merchant_id"], args["code"], args["amount_fen"], args["description"])
        settled_box.append(settled)
        return _payment_body(settled), 201

    body, status = idempotency.run(user_id, args, action)
    if settled_box:
        _after_payment(body, settled_box[0].payer_user_id)
    body.pop("payer_balance_after_fen", None)  # the merchant must not learn the consumer's balance
    return respond(body, status)


def device_json(d: PaycodeDevice) -> dict:
    return {"id": d.id, "name": d.name, "created_at": as_utc(d.created_at).isoformat(),
            "revoked": d.revoked_at is not None, "offline_payments_since_sync": d.offline_count,
            "last_sync_at": as_utc(d.last_sync_at).isoformat()}


@blp.route("/paycodes/devices", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(DeviceSchema)
@blp.response(201, NewDeviceSchema)
def register_device(args):
    """Register this device for offline payment codes. The secret is returned once; keep it on the device."""
    device, secret = service.register_device(current_user(), args["name"])
    body = device_json(device)
    body.update(secret_b32=base64.b32encode(secret).decode(), step_seconds=paycode.STEP_SECONDS,
                digits=paycode.CODE_LENGTH, prefix=paycode.PREFIX)
    return respond(body, 201)


@blp.route("/paycodes/devices", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, DeviceListSchema)
def list_devices():
    """My payment-code devices."""
    rows = db.session.execute(select(PaycodeDevice).where(PaycodeDevice.user_id == current_user().id)
                              .order_by(PaycodeDevice.id)).scalars()
    return respond({"items": [device_json(d) for d in rows]}, 200)


@blp.route("/paycodes/devices/<id(bits=32):device_id>", methods=["DELETE"])
@requires(Role.CONSUMER)
@blp.response(204)
def revoke_device(device_id):
    """Revoke a device: its codes stop working at once (lost phone)."""
    service.revoke_device(current_user(), device_id)


@blp.route("/paycodes/devices/<id(bits=32):device_id>/sync", methods=["POST"])
@requires(Role.CONSUMER)
@blp.response(200, DeviceOutSchema)
def sync_device(device_id):
    """The device is online: its count of offline payments starts again."""
    return respond(device_json(service.sync_device(current_user(), device_id)), 200)


@blp.route("/keys", methods=["GET"])
@public
@blp.response(200, KeyListSchema)
def list_keys():
    """The public keys that sign Suiyuan QR codes (Ed25519, by key id), active and recently retired."""
    return respond({"keys": [keys.key_json(k) for k in keys.published()]}, 200)
