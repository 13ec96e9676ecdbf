"""``/merchants*``: applications, review, cashiers, static QR."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from backend.auth.models import Role, User
from backend.auth.service import current_user, requires
from backend.clock import as_utc
from backend.config import STATIC_QR_DAILY_CAP_FEN
from backend.errors import ValidationFailed
from backend.extensions import db
from backend.hooks import announce, merchant_approved
from backend.http import respond
from backend.merchants import service
from backend.merchants.models import SCENARIOS, Merchant, MerchantStatus
from backend.merchants.uscc import check_ok
from backend.schemas import BINARY, Fen, OpenSchema, PageQuery, Password, Phone, StrictSchema
from suiyuan_protocol.masking import mask_phone

blp = Blueprint("merchants", __name__, url_prefix="/api/v1", description="Merchants: onboarding and review")


class QrText(fields.String):
    """Text that goes into a QR payload: trimmed, not blank, no control characters, at most 25 chars."""

    def __init__(self, *, ascii_only: bool = False, max_len: int = 25, **kwargs):
        super().__init__(**kwargs)
        self.ascii_only, self.max_len = ascii_only, max_len

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("Must not be blank.")
        if any(not ch.isprintable() for ch in text):
            raise ValidationError("Must not contain control characters such as tabs or line breaks.")
        if self.ascii_only and not all(" " <= ch <= "~" for ch in text):
            raise ValidationError("Latin letters, digits and punctuation only (it is printed in the QR code).")
        if len(text) > self.max_len:
            raise ValidationError(f"At most {self.max_len} characters.")
        return text


class ApplySchema(StrictSchema):
    name_zh = QrText(required=True)
    name_en = QrText(required=True, ascii_only=True)
    uscc = fields.String(required=True, metadata={"description": "Unified social credit code (GB 32100)"})
    mcc = fields.String(required=True, validate=validate.Regexp(r"^\d{4}$", error="Four digits."))
    scenario = fields.String(required=True, validate=validate.OneOf(tuple(SCENARIOS)))
    address = fields.String(required=True, validate=validate.Length(min=1, max=200))
    city = QrText(load_default="Guangzhou", ascii_only=True, max_len=15)
    latitude = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    bank_code = fields.String(required=True, metadata={"example": "ICBC"})


class ReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    reason = fields.String(load_default="", validate=validate.Length(max=500))

    @validates_schema
    def reason_for_rejection(self, data, **kwargs):
        if data["decision"] == "reject" and not data.get("reason", "").strip():
            raise ValidationError("A rejection needs a reason the applicant can act on.", field_name="reason")


class CashierSchema(StrictSchema):
    phone = Phone(required=True)
    password = Password(required=True)
    display_name = fields.String(load_default="", validate=validate.Length(max=64))
    refund_limit_fen = Fen(positive=False, load_default=0)


class ListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(MerchantStatus.ALL))
    q = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "Search: part of the Chinese or English name, the USCC, or the merchant number (M000000001)"})


# ---------------------------------------------------------------- responses


class ApplicantSchema(StrictSchema):
    display_name = fields.String(required=True)
    phone_masked = fields.String(required=True, metadata={"description": "138****0001"})


class MerchantSchema(StrictSchema):
    """Public fields for everyone; the application's details (uscc … created_at) for owner, reviewer and pilot
    office."""

    id = fields.Integer(required=True)
    merchant_number = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    scenario = fields.String(required=True, validate=validate.OneOf(tuple(SCENARIOS)))
    scenario_zh = fields.String(required=True)
    mcc = fields.String(required=True)
    address = fields.String(required=True)
    city = fields.String(required=True)
    latitude = fields.Float(required=True)
    longitude = fields.Float(required=True)
    bank_code = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(MerchantStatus.ALL))
    verified = fields.Boolean(required=True)
    refund_approval_above_fen = fields.Integer(allow_none=True, metadata={
        "description": "The shop's own staff: refunds above this need the owner's password; null: never"})
    uscc = fields.String()
    owner_user_id = fields.Integer()
    review_reason = fields.String(allow_none=True)
    reviewed_by_user_id = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    applicant = fields.Nested(ApplicantSchema, metadata={"description": "Reviewer and pilot office: who applied"})
    uscc_check_ok = fields.Boolean(metadata={
        "description": "Reviewer and pilot office: the USCC's check character agrees (GB 32100)"})


class MerchantPageSchema(StrictSchema):
    items = fields.List(fields.Nested(MerchantSchema), required=True)
    next_before = fields.Integer(required=True, allow_none=True)


class CashierOutSchema(StrictSchema):
    user_id = fields.Integer(required=True)
    phone = fields.String(required=True)
    display_name = fields.String(required=True)
    refund_limit_fen = fields.Integer(required=True)
    merchant_id = fields.Integer(required=True)


class CashierListSchema(StrictSchema):
    items = fields.List(fields.Nested(CashierOutSchema), required=True)


class StaticQrSchema(StrictSchema):
    merchant_id = fields.Integer(required=True)
    payload = fields.String(required=True, metadata={"description": "EMVCo text of the static code (01=11), signed"})
    daily_cap_per_consumer_fen = fields.Integer(required=True)


class StatementSchema(OpenSchema):
    merchant = fields.Dict(required=True)
    day = fields.Date(required=True)
    currency = fields.String(required=True)
    payments = fields.List(fields.Dict(), required=True)
    refunds = fields.List(fields.Dict(), required=True)
    totals = fields.Dict(required=True)
    provisional = fields.Boolean(required=True, metadata={"description": "Today's statement is live, not final"})


class BuildingSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(("building",)))
    job_id = fields.String(required=True)


def merchant_json(m: Merchant, viewer) -> dict:
    """Public fields for everyone; application details for owner, reviewer and pilot office."""
    from backend.payments.service import merchant_bank_code, merchant_number

    body = {
        "id": m.id,
        "merchant_number": merchant_number(m.id),
        "name_zh": m.name_zh,
        "name_en": m.name_en,
        "scenario": m.scenario,
        "scenario_zh": SCENARIOS[m.scenario],
        "mcc": m.mcc,
        "address": m.address,
        "city": m.city,
        "latitude": m.latitude,
        "longitude": m.longitude,
        "bank_code": merchant_bank_code(m),
        "status": m.status,
        "verified": m.status == MerchantStatus.APPROVED,
    }
    if viewer.role in (Role.MERCHANT_OWNER, Role.CASHIER):
        # Its own staff see it so the app can ask for the owner's password before a large refund.
        body["refund_approval_above_fen"] = m.refund_approval_above_fen
    if viewer.role in (Role.MERCHANT_OWNER, Role.BANK_REVIEWER, Role.PILOT_ADMIN):
        body.update(
            uscc=m.uscc,
            owner_user_id=m.owner_user_id,
            review_reason=m.review_reason,
            reviewed_by_user_id=m.reviewed_by_user_id,
            reviewed_at=as_utc(m.reviewed_at).isoformat() if m.reviewed_at else None,
            created_at=as_utc(m.created_at).isoformat(),
        )
    if viewer.role in (Role.BANK_REVIEWER, Role.PILOT_ADMIN):
        owner = db.session.get(User, m.owner_user_id)
        body.update(applicant={"display_name": owner.display_name if owner else "",
                               "phone_masked": mask_phone(owner.phone) if owner else ""},
                    uscc_check_ok=check_ok(m.uscc))
    return body


@blp.route("/merchants", methods=["POST"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(ApplySchema)
@blp.response(201, MerchantSchema)
def apply(args):
    """Apply to accept e-CNY; the chosen operator bank reviews the application."""
    return respond(merchant_json(service.apply(current_user(), args), current_user()), 201)


@blp.route("/merchants", methods=["GET"])
@requires()
@blp.arguments(ListQuery, location="query")
@blp.response(200, MerchantPageSchema)
def list_merchants(args):
    """Merchants the caller may see: own (owner, cashier), own bank's (reviewer), all (pilot office),
    verified ones (consumers)."""
    user = current_user()
    q = service.visible_query(user)
    if args.get("status"):
        q = q.where(Merchant.status == args["status"])
    if args.get("q"):
        q = q.where(service.matching(args["q"]))
    if args.get("before"):
        q = q.where(Merchant.id < args["before"])
    rows = list(db.session.execute(q.order_by(Merchant.id.desc()).limit(args["limit"] + 1)).scalars())
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return respond({"items": [merchant_json(m, user) for m in rows],
                    "next_before": rows[-1].id if more and rows else None}, 200)


@blp.route("/merchants/<id(bits=32):merchant_id>", methods=["GET"])
@requires()
@blp.response(200, MerchantSchema)
def get_merchant(merchant_id):
    """One merchant, if the caller may see it."""
    return respond(merchant_json(service.get_visible(current_user(), merchant_id), current_user()), 200)


@blp.route("/merchants/<id(bits=32):merchant_id>/review", methods=["POST"])
@requires(Role.BANK_REVIEWER)
@blp.arguments(ReviewSchema)
@blp.response(200, MerchantSchema)
def review(args, merchant_id):
    """Approve (opens the merchant wallet) or reject with a reason; reviewers of the merchant's bank only."""
    merchant = service.review(current_user(), merchant_id, args["decision"], args["reason"].strip())
    if merchant.status == MerchantStatus.APPROVED:
        announce(merchant_approved, merchant_id=merchant.id)
    return respond(merchant_json(merchant, current_user()), 200)


class RefundPolicySchema(StrictSchema):
    refund_approval_above_fen = Fen(positive=False, required=True, allow_none=True, metadata={
        "description": "Refunds above this need the owner's password; null: never"})
    password = fields.String(required=True, validate=validate.Length(min=1, max=200),
                             metadata={"description": "The owner's password, typed again"})


@blp.route("/merchants/<id(bits=32):merchant_id>/refund-policy", methods=["PUT"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(RefundPolicySchema)
@blp.response(200, MerchantSchema, description="The merchant, with `refund_approval_above_fen`")
@blp.alt_response(403, description="`not_your_merchant`, `password_wrong` (field `password`)")
@blp.alt_response(404, description="`merchant_not_found`")
@blp.alt_response(429, description="`password_locked`: too many wrong passwords (Retry-After)")
def set_refund_policy(args, merchant_id):
    """The owner sets the amount above which any refund (theirs or a cashier's) needs the owner's password."""
    merchant = service.set_refund_approval_limit(current_user(), merchant_id, args["refund_approval_above_fen"],
                                                 args["password"])
    return respond(merchant_json(merchant, current_user()), 200)


def cashier_json(user, staff) -> dict:
    return {"user_id": user.id, "phone": user.phone, "display_name": user.display_name,
            "refund_limit_fen": staff.refund_limit_fen, "merchant_id": staff.merchant_id}


@blp.route("/merchants/<id(bits=32):merchant_id>/cashiers", methods=["POST"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(CashierSchema)
@blp.response(201, CashierOutSchema)
def add_cashier(args, merchant_id):
    """Create a cashier login for this shop with a refund limit."""
    user, staff = service.add_cashier(current_user(), merchant_id, args["phone"], args["password"],
                                      args["display_name"], args["refund_limit_fen"])
    return respond(cashier_json(user, staff), 201)


@blp.route("/merchants/<id(bits=32):merchant_id>/cashiers", methods=["GET"])
@requires(Role.MERCHANT_OWNER)
@blp.response(200, CashierListSchema)
def list_cashiers(merchant_id):
    """The shop's cashiers."""
    return respond({"items": [cashier_json(u, s) for u, s in service.cashiers(current_user(), merchant_id)]}, 200)


class CashierLimitSchema(StrictSchema):
    refund_limit_fen = Fen(positive=False, required=True, metadata={
        "description": "Largest refund this cashier may make (0: none)"})


@blp.route("/merchants/<id(bits=32):merchant_id>/cashiers/<id(bits=32):user_id>", methods=["PATCH"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(CashierLimitSchema)
@blp.response(200, CashierOutSchema)
@blp.alt_response(403, description="`not_your_merchant`")
@blp.alt_response(404, description="`cashier_not_found`, `merchant_not_found`")
def set_cashier_limit(args, merchant_id, user_id):
    """Change a cashier's refund limit (the owner)."""
    user, staff = service.set_cashier_refund_limit(current_user(), merchant_id, user_id, args["refund_limit_fen"])
    return respond(cashier_json(user, staff), 200)


@blp.route("/merchants/<id(bits=32):merchant_id>/static-qr", methods=["GET"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.doc(parameters=[{"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "png"]}}])
@blp.response(200, StaticQrSchema)
@blp.alt_response(200, schema=BINARY, content_type="image/png", description="The printable poster (?format=png)")
def static_qr(merchant_id):
    """The shop's static code (no amount, 01=11), signed; ``?format=png`` gives the printable poster."""
    from backend.payments.qrimage import poster_png
    from backend.payments.service import merchant_number, static_payload

    merchant = service.collecting_merchant(current_user(), merchant_id)
    text = static_payload(merchant)
    fmt = request.args.get("format", "json")
    if fmt == "png":
        png = poster_png(text, merchant.name_zh, merchant.name_en, merchant_number(merchant.id))
        return Response(png, mimetype="image/png",
                        headers={"Content-Disposition": f'inline; filename="static-qr-{merchant.id}.png"'})
    if fmt != "json":
        raise ValidationFailed("format must be json or png.", field="format")
    return respond({"merchant_id": merchant.id, "payload": text,
                    "daily_cap_per_consumer_fen": STATIC_QR_DAILY_CAP_FEN}, 200)


@blp.route("/merchants/<id(bits=32):merchant_id>/statements/<string:day>", methods=["GET"])
@requires(Role.MERCHANT_OWNER, Role.BANK_REVIEWER, Role.PILOT_ADMIN)
@blp.doc(parameters=[{"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "csv"]}},
                     {"in": "path", "name": "day", "required": True, "schema": {"type": "string", "format": "date"},
                      "description": "A local day, YYYY-MM-DD, not after today"}])
@blp.response(200, StatementSchema)
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", description="The statement as CSV")
@blp.alt_response(202, schema=BuildingSchema, description="A past day's statement is being built; ask again")
def statement(merchant_id, day):
    """A day's statement (each order, refunds, net; CSV or JSON). Built by a daily job, or now on demand;
    today's is live and marked provisional."""
    from datetime import date as date_cls

    from backend.clock import local_today
    from backend.jobs import enqueue
    from backend.payments import statements

    user = current_user()
    merchant = service.get_visible(user, merchant_id)
    if user.role == Role.MERCHANT_OWNER and not service.can_manage(user, merchant):
        raise ValidationFailed("Not your merchant.", field="merchant_id")
    try:
        the_day = date_cls.fromisoformat(day)
    except ValueError:
        raise ValidationFailed("The date must be YYYY-MM-DD.", field="date") from None
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed("format must be json or csv.", field="format")
    if merchant.account_id is None:
        raise ValidationFailed("This merchant has not been approved, so it has no statements.", field="merchant_id")
    if the_day > local_today():
        raise ValidationFailed("That day has not happened yet.", field="date")
    if the_day == local_today():
        body = statements.compute_live(merchant, the_day)
        body["provisional"] = True
        csv_text = statements.to_csv(body)
    else:
        row = statements.stored(merchant.id, the_day)
        if row is None:
            job = enqueue(statements.build_statement, merchant.id, the_day.isoformat())
            row = statements.stored(merchant.id, the_day)
            if row is None:
                return respond({"status": "building", "job_id": job.id}, 202)
        import json as jsonlib

        body, csv_text = jsonlib.loads(row.body_json), row.body_csv
        body["provisional"] = False
    if fmt == "csv":
        return Response(csv_text, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="statement-{merchant.id}-{the_day}.csv"'})
    return respond(body, 200)
