"""``/protection/complaints*``: consumers' complaints, merchants' answers, banks' decisions (refunds).

Who may call what: a consumer opens, lists, withdraws and adds photos to their own complaints; a merchant's
owner lists and answers those against their merchants (the payer masked); a reviewer of the merchant's
operator bank lists and decides them (another bank's are ``not found``); the pilot office sees and may decide
all, and its ``escalated=true`` queue holds those whose decision deadline passed. A decision that refunds
moves money: it needs an ``Idempotency-Key``. The categories and a merchant's standing are read-only figures.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from backend import idempotency
from backend.auth.models import Role
from backend.auth.service import current_user, public, requires
from backend.errors import ValidationFailed
from backend.hooks import announce, refund_settled
from backend.http import respond
from backend.schemas import BINARY, Fen, Id, PageQuery, StrictSchema
from backend.wallets.views import IDEMPOTENCY_DOC
from protection import disputes
from protection.disputes_models import ComplaintStatus, SubjectKind

#: A multipart body larger than this is refused before it is read (a photo plus the form's overhead).
MAX_UPLOAD_BYTES = disputes.MAX_PHOTO_BYTES + 64 * 1024


class _MultipartParser(FlaskParser):
    """Reads a multipart body's form fields and files as one location (as payouts' batch upload does)."""

    def load_files(self, req, schema):
        if req.content_length and req.content_length > MAX_UPLOAD_BYTES:
            raise ValidationFailed("The photo is too large.", code="photo_too_large", status=413, field="file")
        req.max_content_length = MAX_UPLOAD_BYTES
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _MultipartParser()


blp = _Blueprint("protection_disputes", __name__, url_prefix="/api/v1/protection",
                 description="Complaints and disputes: consumer opens, merchant answers, operator bank decides")

HANDLERS = (Role.CONSUMER, Role.MERCHANT_OWNER, Role.BANK_REVIEWER, Role.PILOT_ADMIN)
DECIDERS = (Role.BANK_REVIEWER, Role.PILOT_ADMIN)


class OpenSchema(StrictSchema):
    subject_kind = fields.String(required=True, validate=validate.OneOf(SubjectKind.ALL), metadata={
        "description": "`payment` (an order you paid), `contract` (a prepaid contract you bought) or `merchant`"})
    subject_id = Id(bits=64, required=True, metadata={"description": "The order's, contract's or merchant's id"})
    category = fields.String(required=True, validate=validate.OneOf(tuple(disputes.CATEGORIES)), metadata={
        "description": "One of GET /protection/complaint-categories"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                         metadata={"description": "What happened (at least 4 characters)"})


class ComplaintQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(ComplaintStatus.ALL))
    escalated = fields.Boolean(load_default=None, metadata={
        "description": "Only those whose decision deadline passed (true) or not (false)"})
    merchant_id = Id(strict=False)


class AnswerSchema(StrictSchema):
    answer = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "The merchant's answer (at least 4 characters)"})


class DecisionSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(ComplaintStatus.DECIDED))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "Why (at least 4 characters); kept in the audit log"})
    refund_fen = Fen(positive=False, load_default=0, metadata={
        "description": "Upheld complaints about a payment: refund this much of it to the payer (0: none); at "
                       "most what was paid minus what was already refunded"})


class PhotoSchema(StrictSchema):
    file = Upload(required=True, metadata={"description": "A JPEG or PNG photo, at most 2 MB"})


# ---------------------------------------------------------------- answers (output, for the document)


class DisputeCategoryOut(StrictSchema):
    code = fields.String()
    label_zh = fields.String()
    label_en = fields.String()


class DisputeCategoriesOut(StrictSchema):
    items = fields.List(fields.Nested(DisputeCategoryOut))
    max_photos = fields.Integer()
    max_photo_bytes = fields.Integer()
    answer_days = fields.Integer()
    decision_days = fields.Integer()


class DisputePayerOut(StrictSchema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class DisputePhotoOut(StrictSchema):
    id = fields.Integer()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class DisputeComplaintSummaryOut(StrictSchema):
    id = fields.Integer()
    subject_kind = fields.String()
    subject_id = fields.Integer()
    merchant_id = fields.Integer()
    merchant_name_zh = fields.String()
    category = fields.String()
    category_zh = fields.String()
    category_en = fields.String()
    text = fields.String()
    status = fields.String()
    created_at = fields.String()
    answer_due_at = fields.String()
    decision_due_at = fields.String()
    answer = fields.String(allow_none=True)
    answered_at = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    refund_fen = fields.Integer()
    refund_id = fields.Integer(allow_none=True)
    decided_at = fields.String(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    withdrawn_at = fields.String(allow_none=True)
    answer_overdue = fields.Boolean()
    decision_overdue = fields.Boolean()
    escalated_at = fields.String(allow_none=True)
    payer = fields.Nested(DisputePayerOut, allow_none=True, metadata={
        "description": "The complainant, masked (李*明, 138****0001); null for the complainant themselves"})


class DisputeComplaintOut(DisputeComplaintSummaryOut):
    photos = fields.List(fields.Nested(DisputePhotoOut))
    refundable_fen = fields.Integer(allow_none=True, metadata={
        "description": "Deciders, while pending: what a decision could still refund (null: not a payment)"})


class DisputeComplaintListOut(StrictSchema):
    items = fields.List(fields.Nested(DisputeComplaintSummaryOut))


class DisputeRefundOut(StrictSchema):
    id = fields.Integer()
    order_id = fields.Integer()
    amount_fen = fields.Integer()
    transfer_id = fields.Integer()


class DisputeDecisionOut(DisputeComplaintOut):
    refund = fields.Nested(DisputeRefundOut, allow_none=True)


class DisputeStandingCategoryOut(StrictSchema):
    category = fields.String()
    label_zh = fields.String()
    label_en = fields.String()
    complaints = fields.Integer()
    upheld = fields.Integer()


class DisputeStandingOut(StrictSchema):
    merchant_id = fields.Integer()
    days = fields.Integer()
    since = fields.String()
    complaints = fields.Integer()
    upheld = fields.Integer()
    rejected = fields.Integer()
    pending = fields.Integer()
    withdrawn = fields.Integer()
    refund_fen = fields.Integer()
    by_category = fields.List(fields.Nested(DisputeStandingCategoryOut))


# ---------------------------------------------------------------- endpoints


@blp.route("/complaint-categories", methods=["GET"])
@public
@blp.response(200, DisputeCategoriesOut,
              description="The categories (code, 中文, English), the photo limits and deadlines")
def categories():
    """What a complaint may be about, and how long the merchant and the bank have."""
    from flask import current_app

    cfg = current_app.config
    items = [{"code": c, "label_zh": zh, "label_en": en} for c, (zh, en) in disputes.CATEGORIES.items()]
    return respond({"items": items,
                    "max_photos": disputes.MAX_PHOTOS, "max_photo_bytes": disputes.MAX_PHOTO_BYTES,
                    "answer_days": int(cfg.get("PROTECTION_COMPLAINT_ANSWER_DAYS", disputes.ANSWER_DAYS)),
                    "decision_days": int(cfg.get("PROTECTION_COMPLAINT_DECISION_DAYS", disputes.DECISION_DAYS))},
                   200)


@blp.route("/complaints", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(OpenSchema)
@blp.response(201, DisputeComplaintOut,
              description="The complaint, `open`, with the merchant's and the bank's deadlines")
@blp.alt_response(404, description="`order_not_found` (not a payment of yours), `contract_not_found`, "
                                   "`merchant_not_found` (field `subject_id`)")
@blp.alt_response(409, description="`complaint_already_open` (`complaint_id` names it)")
@blp.alt_response(422, description="`validation_failed`, `category_unknown`, `reason_required` (field `text`)")
def open_complaint(args):
    """Complain (投诉) about a payment you made, a prepaid contract you bought or a merchant."""
    user = current_user()
    row = disputes.open_complaint(user, args["subject_kind"], args["subject_id"], args["category"], args["text"])
    return respond(disputes.complaint_json(row, user), 201)


@blp.route("/complaints", methods=["GET"])
@requires(*HANDLERS)
@blp.arguments(ComplaintQuery, location="query")
@blp.response(200, DisputeComplaintListOut,
              description="`items`: complaints you may see, newest first (a consumer's own; "
                           "a merchant's; a bank's queue; all for the pilot office)")
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(422, description="`validation_failed`")
def list_complaints(args):
    """Complaints: yours, your merchants', your bank's, or all (the pilot office; `escalated=true` for the
    overdue)."""
    user = current_user()
    rows = disputes.list_for(user, status=args.get("status"), escalated=args["escalated"],
                             merchant_id=args.get("merchant_id"), limit=args["limit"], before=args.get("before"))
    return respond({"items": [disputes.complaint_json(r, user, with_photos=False) for r in rows]}, 200)


@blp.route("/complaints/<id:complaint_id>", methods=["GET"])
@requires(*HANDLERS)
@blp.response(200, DisputeComplaintOut,
              description="The complaint with its photos (the payer masked to all but themselves)")
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(404, description="`complaint_not_found` (also another bank's, merchant's or consumer's)")
def get_complaint(complaint_id):
    """One complaint, its answer and decision."""
    user = current_user()
    return respond(disputes.complaint_json(disputes.get(user, complaint_id), user), 200)


@blp.route("/complaints/<id:complaint_id>/photos", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(PhotoSchema, location="files")
@blp.response(201, DisputePhotoOut, description="The photo, kept with the complaint")
@blp.alt_response(404, description="`complaint_not_found`")
@blp.alt_response(409, description="`too_many_photos`, `illegal_transition` (decided or withdrawn)")
@blp.alt_response(413, description="`photo_too_large` (more than 2 MB)")
@blp.alt_response(415, description="`photo_type_unsupported`: not a JPEG or PNG (checked by its bytes)")
@blp.alt_response(422, description="`validation_failed`")
def add_photo(form, complaint_id):
    """Add a photo (JPEG or PNG, up to 3 per complaint) to your pending complaint."""
    photo = disputes.add_photo(current_user(), complaint_id, form["file"].stream.read(MAX_UPLOAD_BYTES + 1))
    return respond({"id": photo.id, "content_type": photo.content_type, "size": photo.size,
                    "sha256": photo.sha256}, 201)


@blp.route("/complaints/<id:complaint_id>/photos/<id:photo_id>", methods=["GET"])
@requires(*HANDLERS)
@blp.response(200, BINARY, content_type="image/jpeg", description="The photo as uploaded")
@blp.alt_response(200, schema=BINARY, content_type="image/png", success=True)
@blp.alt_response(404, description="`complaint_not_found`, `photo_not_found`")
def get_photo(complaint_id, photo_id):
    """A complaint's photo."""
    photo = disputes.get_photo(current_user(), complaint_id, photo_id)
    return Response(photo.data, mimetype=photo.content_type, headers={
        "X-Content-Type-Options": "nosniff", "Content-Disposition": f'inline; filename="photo-{photo.id}"',
        "Cache-Control": "private, max-age=3600"})


@blp.route("/complaints/<id:complaint_id>/answer", methods=["POST"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(AnswerSchema)
@blp.response(200, DisputeComplaintOut, description="The complaint, `answered`")
@blp.alt_response(404, description="`complaint_not_found` (not against your merchant)")
@blp.alt_response(409, description="`illegal_transition` (already answered, decided or withdrawn)")
@blp.alt_response(422, description="`validation_failed`, `reason_required` (field `answer`)")
def answer(args, complaint_id):
    """The merchant's owner answers a complaint (once), before the bank decides."""
    user = current_user()
    return respond(disputes.complaint_json(disputes.answer(user, complaint_id, args["answer"]), user), 200)


@blp.route("/complaints/<id:complaint_id>/withdraw", methods=["POST"])
@requires(Role.CONSUMER)
@blp.response(200, DisputeComplaintOut, description="The complaint, `withdrawn`")
@blp.alt_response(404, description="`complaint_not_found`")
@blp.alt_response(409, description="`illegal_transition` (already decided or withdrawn)")
def withdraw(complaint_id):
    """Withdraw your pending complaint (the merchant settled it with you)."""
    user = current_user()
    return respond(disputes.complaint_json(disputes.withdraw(user, complaint_id), user), 200)


@blp.route("/complaints/<id:complaint_id>/decision", methods=["POST"])
@requires(*DECIDERS)
@blp.arguments(DecisionSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, DisputeDecisionOut, description="The decided complaint and the refund it made (null: none)")
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(404, description="`complaint_not_found` (also another bank's merchant's)")
@blp.alt_response(409, description="`illegal_transition` (already decided or withdrawn), `refund_exceeds_paid` "
                                   "(with `refundable_fen`), `order_not_refundable`, `merchant_insufficient_funds`, "
                                   "`idempotency_key_reused`")
@blp.alt_response(422, description="`validation_failed`, `reason_required`, `refund_not_applicable` (a rejection, "
                                   "or not a payment), `idempotency_key_missing`")
@blp.alt_response(423, description="`merchant_frozen`, `wallet_frozen`: the refund cannot move now")
@blp.alt_response(503, description="`platform_read_only` (Retry-After)")
def decide(args, complaint_id):
    """Decide a complaint within its deadline: uphold it (refunding part or all of the payment to the payer
    through the ledger) or reject it, with a reason (audited). Idempotent; a complaint is decided once."""
    user = current_user()

    def action():
        row, refund_row = disputes.decide(user, complaint_id, args["outcome"], args["reason"], args["refund_fen"])
        body = disputes.complaint_json(row, user)
        body["refund"] = None if refund_row is None else {
            "id": refund_row.id, "order_id": refund_row.order_id, "amount_fen": refund_row.amount_fen,
            "transfer_id": refund_row.transfer_id}
        return body, 201

    body, status = idempotency.run(user.id, {"complaint_id": complaint_id, **args}, action)
    if status == 201 and body.get("refund"):
        announce(refund_settled, order_id=body["refund"]["order_id"], amount_fen=body["refund"]["amount_fen"])
    return respond(body, status)


@blp.route("/merchants/<id(bits=32):merchant_id>/standing", methods=["GET"])
@requires()
@blp.response(200, DisputeStandingOut,
              description="Complaints opened in the last 90 days and their outcomes (upheld ones "
                           "count against the merchant), by category; no payer is named")
@blp.alt_response(404, description="`merchant_not_found`")
def standing(merchant_id):
    """A merchant's complaint standing (投诉情况): counts only, for anyone signed in."""
    return respond(disputes.standing(merchant_id), 200)


def init_app(app, api) -> None:
    """Register complaints and disputes (called by ``protection.init_app``): the blueprint; the hourly job
    that marks overdue answers and escalates overdue decisions; the zone report's section of counts by
    category and outcome; the ``flask ledger verify`` check of decided refunds; the demo complaint."""
    from backend.hooks import register_ledger_check, register_periodic, register_report_section, register_seeder
    from protection import disputes_models  # noqa: F401  (registers the tables)

    api.register_blueprint(blp)
    register_periodic(app, disputes.escalate_overdue, interval=3600)
    register_report_section(app, "protection.complaints", disputes.report_section)
    register_ledger_check(app, "protection.complaint_refunds", disputes.verify_refunds)
    register_seeder(app, "demo", disputes.seed_demo)
