"""``/api/v1/payouts/…``: organisations, members, top-up, batches (upload, report, approval, progress,
retry, cancel) and the payee's preference. Thin: schema → service → JSON."""

from __future__ import annotations

import time

from flask import Response, current_app, stream_with_context
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from backend import idempotency
from backend.auth.models import Role
from backend.auth.service import current_user, requires
from backend.clock import as_utc
from backend.errors import PROBLEM_MIME, NotFound, ValidationFailed
from backend.extensions import db
from backend.http import respond
from backend.jobs import enqueue
from backend.payments import events
from backend.schemas import ID_MAX, Fen, Id, ProblemSchema, StrictSchema
from backend.wallets.views import IDEMPOTENCY_DOC
from payouts import service, tasks
from payouts.models import Batch, BatchStatus, Category, FundTransferStatus, LineStatus, MemberRole, OrgKind, Purpose

#: Upload size: 100,000 lines of a CSV are about 6 MB; a generous bound keeps absurd bodies out.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024


class _MultipartParser(FlaskParser):
    """Reads a multipart body's form fields and files as one location, so one schema documents the whole
    ``multipart/form-data`` body (flask-smorest documents a single body location per operation)."""

    def load_files(self, req, schema):
        # Before the body is parsed: a too-large upload is refused without being spooled to disk
        # (a chunked one too: werkzeug stops reading at the limit and answers 413).
        if req.content_length and req.content_length > MAX_UPLOAD_BYTES:
            raise ValidationFailed("The file is larger than 32 MB; split it.", code="file_too_large", status=413,
                                   field="file")
        req.max_content_length = MAX_UPLOAD_BYTES
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _MultipartParser()


blp = _Blueprint("payouts", __name__, url_prefix="/api/v1/payouts",
                 description="Salary, allowance, subsidy and reimbursement batches with maker-checker")

STAFF = (Role.ORG_STAFF, Role.PILOT_ADMIN)
FINAL = (BatchStatus.CLOSED, BatchStatus.REJECTED)
#: Top-ups of a corporate wallet: up to ¥100,000,000 at once.
TOPUP_MAX_FEN = 100_000_000 * 100


def problems(*entries: tuple[int, str]):
    """Document error responses: ``(status, "code: when; code: when")`` as problem+json."""

    merged: dict[int, list[str]] = {}
    for status, description in entries:
        merged.setdefault(status, []).append(description)

    def decorator(view):
        for status, descriptions in sorted(merged.items(), reverse=True):
            view = blp.alt_response(status, schema=ProblemSchema, description="; ".join(descriptions),
                                    content_type=PROBLEM_MIME)(view)
        return view

    return decorator


AUTH = [(401, "missing_token, invalid_token, token_expired"), (403, "role_forbidden: not organisation staff or "
                                                                   "the pilot office")]


# ---------------------------------------------------------------- schemas


class OrgCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    kind = fields.String(required=True, validate=validate.OneOf(OrgKind.ALL))
    uscc = fields.String(required=True, metadata={"description": "统一社会信用代码 (GB 32100, checked)"})
    district = fields.String(validate=validate.Length(max=20), metadata={"example": "越秀区"})
    member_unit = fields.Boolean(load_default=False,
                                 metadata={"description": "A member unit of the pilot's leading group"})
    bank_code = fields.String(required=True, metadata={"description": "Operator bank of the corporate wallet"})
    bank_account_number = fields.String(required=True, load_only=True,
                                        metadata={"description": "The organisation's deposit account there (Luhn)"})


class OrgUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=80))
    district = fields.String(validate=validate.Length(max=20), allow_none=True)
    member_unit = fields.Boolean()


class OrgSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    uscc = fields.String()
    district = fields.String(allow_none=True)
    member_unit = fields.Boolean()
    bank_code = fields.String()
    wallet_number = fields.String()
    bank_account_masked = fields.String()
    balance_fen = fields.Integer()
    my_role = fields.String(allow_none=True, metadata={"description": "officer, approver, or null (pilot office)"})
    created_at = fields.String()


class OrgListSchema(StrictSchema):
    items = fields.List(fields.Nested(OrgSchema))


class MemberCreateSchema(StrictSchema):
    phone = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(MemberRole.ALL))
    display_name = fields.String(load_default="", validate=validate.Length(max=64))
    password = fields.String(load_only=True, metadata={"description": "Initial password for a new staff account"})


class MemberSchema(StrictSchema):
    user_id = fields.Integer()
    phone = fields.String()
    display_name = fields.String()
    role = fields.String()


class MemberListSchema(StrictSchema):
    items = fields.List(fields.Nested(MemberSchema))


class TopupSchema(StrictSchema):
    amount_fen = Fen(required=True, validate=validate.Range(min=1, max=TOPUP_MAX_FEN))


class TopupResultSchema(StrictSchema):
    transfer_id = fields.Integer()
    amount_fen = fields.Integer()
    balance_after_fen = fields.Integer()
    created_at = fields.String()


class UploadSchema(StrictSchema):
    reference = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "Your batch number; a second upload with it is refused"})
    title = fields.String(load_default="", validate=validate.Length(max=80))
    file = Upload(required=True, metadata={
        "description": "CSV (UTF-8, UTF-8 with BOM, or GBK) or XLSX; header phone,name,amount,category,memo "
                       "(or 手机号,姓名,金额,类别,备注)"})


class CategoryTotalSchema(StrictSchema):
    count = fields.Integer()
    amount_fen = fields.Integer()
    invalid_count = fields.Integer()


class BatchSchema(StrictSchema):
    id = fields.Integer()
    org_id = fields.Integer()
    reference = fields.String()
    title = fields.String()
    status = fields.String(metadata={"enum": list(BatchStatus.ALL)})
    file = fields.Dict()
    line_count = fields.Integer()
    valid_count = fields.Integer()
    total_fen = fields.Integer(metadata={"description": "Sum of the payable lines: what approval reserves"})
    returned_fen = fields.Integer()
    created_by_user_id = fields.Integer()
    approved_by_user_id = fields.Integer(allow_none=True)
    created_at = fields.String()
    approved_at = fields.String(allow_none=True)
    rejected_at = fields.String(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    progress = fields.Dict(metadata={"description": "lines and amounts per status (paid, failed, pending, "
                                                    "cancelled, invalid), paid to wallets / banks, percent"})
    by_category = fields.Dict(keys=fields.String(), values=fields.Nested(CategoryTotalSchema))


class BatchListSchema(StrictSchema):
    items = fields.List(fields.Nested(BatchSchema))
    next_before = fields.Integer(allow_none=True)


class LineSchema(StrictSchema):
    id = fields.Integer()
    line_no = fields.Integer()
    phone_masked = fields.String()
    payee_name = fields.String()
    holder_masked = fields.String(allow_none=True)
    amount_fen = fields.Integer()
    category = fields.String()
    memo = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(LineStatus.ALL)})
    issue = fields.String(allow_none=True)
    issue_detail = fields.String(allow_none=True)
    warning = fields.String(allow_none=True)
    wallet_fen = fields.Integer()
    bank_fen = fields.Integer()
    paid_at = fields.String(allow_none=True)


class LinePageSchema(StrictSchema):
    items = fields.List(fields.Nested(LineSchema))
    next_after_line = fields.Integer(allow_none=True)


class ReportSchema(StrictSchema):
    batch = fields.Nested(BatchSchema)
    issues = fields.Dict(metadata={"description": "invalid lines per code: payee_unknown, name_mismatch, "
                                                  "duplicate_line"})
    warnings = fields.Dict(metadata={"description": "lines per warning: would_exceed_cap (the wallet tier would "
                                                    "refuse), overflow_to_bank, name_unverified, wallet_frozen"})
    flagged = fields.List(fields.Nested(LineSchema), metadata={"description": "the first flagged lines"})


class LineQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(LineStatus.ALL))
    flagged = fields.Boolean(load_default=False)
    after_line = fields.Integer(load_default=0, validate=validate.Range(min=0, max=ID_MAX[32]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class BatchQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(BatchStatus.ALL))
    before = Id(strict=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ApproveSchema(StrictSchema):
    expected_total_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=ID_MAX[64]),
                                        metadata={"description": "The report's total_fen, restated"})
    expected_line_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=ID_MAX[32]),
                                         metadata={"description": "The report's valid_count, restated"})


class RejectSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LineIdsSchema(StrictSchema):
    line_ids = fields.List(Id(),
                           validate=validate.Length(min=1, max=100_000),
                           metadata={"description": "Only these failed lines (default: every failed line)"})


class CountSchema(StrictSchema):
    count = fields.Integer()
    batch = fields.Nested(BatchSchema)


class PayslipSchema(StrictSchema):
    id = fields.Integer(metadata={"description": "The payout line"})
    organisation = fields.String()
    title = fields.String(metadata={"description": "The batch's title, e.g. 三月工资"})
    category = fields.String()
    category_zh = fields.String()
    memo = fields.String(allow_none=True)
    amount_fen = fields.Integer()
    status = fields.String(metadata={"enum": ["paid", "failed", "pending"]})
    to_wallet_fen = fields.Integer()
    to_bank_fen = fields.Integer(metadata={"description": "Above the wallet's cap, sent to the linked account"})
    transfer_id = fields.Integer(allow_none=True, metadata={"description": "The wallet history's transfer"})
    paid_at = fields.String(allow_none=True)
    notice = fields.Dict(allow_none=True, metadata={"description": "Why a line could not be paid and what to do"})


class PayslipPageSchema(StrictSchema):
    items = fields.List(fields.Nested(PayslipSchema))
    next_before = fields.Integer(allow_none=True)


class PayslipQuery(StrictSchema):
    before = Id(strict=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PreferenceSchema(StrictSchema):
    overflow_to_bank = fields.Boolean(required=True, metadata={
        "description": "Send what a payout would put above the wallet's balance cap to the linked bank account"})


# ---------------------------------------------------------------- rendering


def _iso(value):
    return as_utc(value).isoformat() if value else None


def org_json(org, user) -> dict:
    from backend.banks.models import OperatorBank

    return {"id": org.id, "name": org.name, "kind": org.kind, "uscc": org.uscc, "district": org.district,
            "member_unit": org.member_unit, "bank_code": db.session.get(OperatorBank, org.bank_id).code,
            "wallet_number": org.wallet_number, "bank_account_masked": org.bank_account_masked,
            "balance_fen": service.org_balance(org), "my_role": service.role_in(user, org.id),
            "created_at": _iso(org.created_at)}


def batch_json(batch) -> dict:
    p = service.progress(batch.id)
    reserved = batch.total_fen if batch.status in BatchStatus.RESERVED else 0
    paid_fen = p.amounts[LineStatus.PAID]
    return {
        "id": batch.id, "org_id": batch.org_id, "reference": batch.reference, "title": batch.title,
        "status": batch.status,
        "file": {"name": batch.file_name, "format": batch.file_format, "encoding": batch.file_encoding,
                 "sha256": batch.file_sha256},
        "line_count": batch.line_count, "valid_count": batch.valid_count, "total_fen": batch.total_fen,
        "returned_fen": batch.returned_fen, "created_by_user_id": batch.created_by_user_id,
        "approved_by_user_id": batch.approved_by_user_id, "created_at": _iso(batch.created_at),
        "approved_at": _iso(batch.approved_at), "rejected_at": _iso(batch.rejected_at),
        "reject_reason": batch.reject_reason, "closed_at": _iso(batch.closed_at),
        "progress": {
            "lines": p.counts, "amounts_fen": p.amounts, "reserved_fen": reserved, "paid_fen": paid_fen,
            "paid_to_wallets_fen": p.wallet_fen, "paid_to_banks_fen": p.bank_fen,
            "percent": round(100 * paid_fen / batch.total_fen, 1) if batch.total_fen else 0.0,
        },
        "by_category": p.by_category,
    }


def line_json(r) -> dict:
    return {"id": r.id, "line_no": r.line_no, "phone_masked": service.mask_phone(r.phone),
            "payee_name": r.payee_name, "holder_masked": r.holder_masked, "amount_fen": r.amount_fen,
            "category": r.category, "memo": r.memo, "status": r.status, "issue": r.issue,
            "issue_detail": r.issue_detail, "warning": r.warning, "wallet_fen": r.wallet_fen,
            "bank_fen": r.bank_fen, "paid_at": _iso(r.paid_at)}


# ---------------------------------------------------------------- organisations


@blp.route("/organisations", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(OrgCreateSchema)
@blp.response(201, OrgSchema)
@problems(*AUTH, (409, "uscc_taken"), (422, "validation_failed: uscc, bank_code, bank_account_number, …"))
def create_org(args):
    """The pilot office registers a paying organisation (department or state-owned enterprise) with a
    corporate wallet (对公钱包) at an operator bank, and its member-unit status."""
    user = current_user()
    return respond(org_json(service.create_org(user, args), user), 201)


@blp.route("/organisations", methods=["GET"])
@requires(*STAFF)
@blp.response(200, OrgListSchema)
@problems(*AUTH)
def list_orgs():
    """Organisations: all for the pilot office, one's own for organisation staff."""
    user = current_user()
    return respond({"items": [org_json(o, user) for o in service.orgs_for(user)]}, 200)


@blp.route("/organisations/<id(bits=32):org_id>", methods=["GET"])
@requires(*STAFF)
@blp.response(200, OrgSchema)
@problems(*AUTH, (404, "organisation_not_found (also for another organisation's staff)"))
def get_org(org_id):
    """One organisation with its corporate wallet's balance."""
    user = current_user()
    return respond(org_json(service.visible_org(user, org_id), user), 200)


@blp.route("/organisations/<id(bits=32):org_id>", methods=["PATCH"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(OrgUpdateSchema)
@blp.response(200, OrgSchema)
@problems(*AUTH, (404, "organisation_not_found"), (422, "validation_failed"))
def update_org(args, org_id):
    """The pilot office changes an organisation's name, district or member-unit status."""
    user = current_user()
    return respond(org_json(service.update_org(user, org_id, args), user), 200)


@blp.route("/organisations/<id(bits=32):org_id>/members", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(MemberCreateSchema)
@blp.response(201, MemberSchema)
@problems(*AUTH, (404, "organisation_not_found"), (409, "not_org_staff, already_member, phone_taken"),
          (422, "validation_failed: phone, role, password"))
def add_member(args, org_id):
    """The pilot office makes a person the organisation's finance officer (prepares batches) or approver
    (approves them); an unknown phone gets a new organisation-staff account."""
    member, person = service.add_member(current_user(), org_id, args)
    return respond({"user_id": person.id, "phone": person.phone, "display_name": person.display_name,
                    "role": member.role}, 201)


@blp.route("/organisations/<id(bits=32):org_id>/members", methods=["GET"])
@requires(*STAFF)
@blp.response(200, MemberListSchema)
@problems(*AUTH, (404, "organisation_not_found"))
def list_members(org_id):
    """The organisation's officers and approvers."""
    service.visible_org(current_user(), org_id)
    return respond({"items": [{"user_id": m.user_id, "phone": m.phone, "display_name": m.display_name,
                               "role": m.role} for m in service.members_of(org_id)]}, 200)


@blp.route("/organisations/<id(bits=32):org_id>/topup", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(TopupSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, TopupResultSchema)
@problems(*AUTH, (403, "not_a_member"), (404, "organisation_not_found"),
          (409, "idempotency_key_reused"), (422, "card_declined, validation_failed, idempotency_key_missing"),
          (503, "topup_voided: the bank debit was reversed"))
def topup(args, org_id):
    """Fund the corporate wallet from the organisation's account at its operator bank (idempotent)."""
    user = current_user()
    key = idempotency.request_key()

    def action():
        posted = service.topup(user, org_id, args["amount_fen"], key)
        return {"transfer_id": posted.id, "amount_fen": posted.amount_fen,
                "balance_after_fen": posted.credit_balance_fen, "created_at": posted.created_at.isoformat()}, 201

    body, status = idempotency.run(user.id, {"org_id": org_id, **args}, action, external_effects=True)
    return respond(body, status)


# ---------------------------------------------------------------- batches


@blp.route("/organisations/<id(bits=32):org_id>/batches", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(UploadSchema, location="files")
@blp.response(201, BatchSchema)
@problems(*AUTH, (403, "not_an_officer"), (404, "organisation_not_found"),
          (409, "batch_reference_taken (batch_id names the first upload)"),
          (413, "the file is larger than 32 MB"),
          (422, "file_invalid: the file was refused and nothing created; `problems` lists each with its line "
                "number and code (encoding_unreadable, encoding_unsupported, malformed_csv, columns_missing, "
                "column_unknown, wrong_column_count, phone_invalid, name_missing, amount_invalid, "
                "amount_precision, amount_not_positive, amount_too_large, category_unknown, memo_too_long, "
                "too_many_lines, xlsx_unreadable, no_lines)"))
def upload_batch(form, org_id):
    """A finance officer uploads a batch (CSV or XLSX). Every line is validated: form errors refuse the file;
    unknown payees, names not matching the wallet holder (compared masked) and duplicates are kept as invalid
    lines; lines the payee's wallet tier would refuse are flagged. The report is at …/batches/{id}/report."""
    upload = form["file"]
    batch = service.upload(current_user(), org_id, upload.stream, upload.filename, form["reference"].strip(),
                           form["title"].strip())
    return respond(batch_json(batch), 201)


@blp.route("/organisations/<id(bits=32):org_id>/batches", methods=["GET"])
@requires(*STAFF)
@blp.arguments(BatchQuery, location="query")
@blp.response(200, BatchListSchema)
@problems(*AUTH, (404, "organisation_not_found"), (422, "validation_failed"))
def list_batches(args, org_id):
    """The organisation's batches, newest first."""
    service.visible_org(current_user(), org_id)
    items = service.list_batches(org_id, args.get("status"), args["limit"], args.get("before"))
    more = len(items) == args["limit"]
    return respond({"items": [batch_json(b) for b in items],
                    "next_before": items[-1].id if more and items else None}, 200)


@blp.route("/batches/<id(bits=32):batch_id>", methods=["GET"])
@requires(*STAFF)
@blp.response(200, BatchSchema)
@problems(*AUTH, (404, "batch_not_found (also for another organisation's staff)"))
def get_batch(batch_id):
    """A batch with its live progress: lines and amounts paid, failed, pending, cancelled; percent paid."""
    batch, _ = service.visible_batch(current_user(), batch_id)
    return respond(batch_json(batch), 200)


@blp.route("/batches/<id(bits=32):batch_id>/report", methods=["GET"])
@requires(*STAFF)
@blp.response(200, ReportSchema)
@problems(*AUTH, (404, "batch_not_found"))
def batch_report(batch_id):
    """The validation report: totals by category, invalid lines per reason, warnings (lines the wallet tier
    would refuse, overflow to bank), and the first 100 flagged lines with their line numbers."""
    batch, _ = service.visible_batch(current_user(), batch_id)
    issues, warnings = service.report_counts(batch_id)
    flagged = service.lines(batch_id, flagged=True, limit=100)
    return respond({"batch": batch_json(batch), "issues": issues, "warnings": warnings,
                    "flagged": [line_json(r) for r in flagged]}, 200)


@blp.route("/batches/<id(bits=32):batch_id>/lines", methods=["GET"])
@requires(*STAFF)
@blp.arguments(LineQuery, location="query")
@blp.response(200, LinePageSchema)
@problems(*AUTH, (404, "batch_not_found"), (422, "validation_failed"))
def batch_lines(args, batch_id):
    """A page of the batch's lines by line number (filter by status, or only flagged ones)."""
    service.visible_batch(current_user(), batch_id)
    rows = service.lines(batch_id, status=args.get("status"), flagged=args["flagged"],
                         after_line=args["after_line"], limit=args["limit"])
    more = len(rows) == args["limit"]
    return respond({"items": [line_json(r) for r in rows],
                    "next_after_line": rows[-1].line_no if more and rows else None}, 200)


EXPORT_COLUMNS = ("line_no", "phone_masked", "payee_name", "amount", "category", "memo", "status", "issue",
                  "warning", "to_wallet", "to_bank", "paid_at")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@blp.route("/batches/<id(bits=32):batch_id>/export", methods=["GET"])
@requires(*STAFF)
@blp.arguments(LineQuery(only=("status",)), location="query")
@blp.response(200, {"type": "string"}, content_type="text/csv",
              description="CSV (UTF-8 with BOM, for Excel): one row per line with its status, where the money "
                          "went and why a line failed or was refused; amounts in yuan with two decimals")
@problems(*AUTH, (404, "batch_not_found (also for another organisation's staff)"), (422, "validation_failed"))
def export_lines(args, batch_id):
    """Every line of the batch (or those of one status, e.g. ``failed`` to follow up) as a spreadsheet,
    streamed 1,000 lines at a time so a 100,000-line batch stays in bounded memory."""
    import csv
    import io

    batch, _ = service.visible_batch(current_user(), batch_id)
    status = args.get("status")

    def rows():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_COLUMNS)
        after = 0
        while True:
            page = service.lines(batch_id, status=status, after_line=after, limit=1000)
            for r in page:
                writer.writerow([r.line_no, service.mask_phone(r.phone), r.payee_name, _yuan(r.amount_fen),
                                 r.category, r.memo or "", r.status, r.issue or "", r.warning or "",
                                 _yuan(r.wallet_fen), _yuan(r.bank_fen), _iso(r.paid_at) or ""])
            yield ("\ufeff" if after == 0 else "") + buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if len(page) < 1000:
                return
            after = page[-1].line_no

    name = f"batch-{batch.id}{'-' + status if status else ''}.csv"
    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


class BatchEventSchema(StrictSchema):
    """One server-sent event (text/event-stream): ``progress`` on each change, ``end`` when closed."""

    event = fields.String(required=True, validate=validate.OneOf(("progress", "end")))
    data = fields.String(required=True, metadata={"description": 'JSON: {"id", "status", "progress"}'})


@blp.route("/batches/<id(bits=32):batch_id>/events", methods=["GET"])
@requires(*STAFF)
@blp.response(200, BatchEventSchema,
              description="text/event-stream: `progress` events (the batch's progress object) on each "
                          "change, then `end` when the batch is closed or rejected (or after the timeout)",
              content_type="text/event-stream")
@problems(*AUTH, (404, "batch_not_found"))
def batch_events(batch_id):
    """Server-sent events: the batch's progress now, then at each change (read every second), until it closes."""
    service.visible_batch(current_user(), batch_id)
    timeout = current_app.config.get("PAYOUT_EVENTS_TIMEOUT_S", 600)

    def read():
        db.session.rollback()  # a fresh snapshot, and no connection held while waiting
        batch = db.session.get(Batch, batch_id)
        body = batch_json(batch)
        return {"id": batch_id, "status": body["status"], "progress": body["progress"]}

    def body():
        state = read()
        yield events.sse("progress", state)
        deadline = time.monotonic() + timeout
        while state["status"] not in FINAL and time.monotonic() < deadline:
            time.sleep(current_app.config.get("PAYOUT_EVENTS_POLL_S", 1.0))
            fresh = read()
            if fresh != state:
                state = fresh
                yield events.sse("progress", state)
            else:
                yield ": keep-alive\n\n"
        yield events.sse("end", {"status": state["status"]})

    return Response(stream_with_context(body()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/batches/<id(bits=32):batch_id>/approve", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(ApproveSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(200, BatchSchema)
@problems(*AUTH, (403, "not_an_approver, maker_checker: the batch's preparer can never approve it"),
          (404, "batch_not_found"),
          (409, "illegal_transition, control_total_mismatch, idempotency_key_reused"),
          (422, "insufficient_funds (the batch stays validated), nothing_to_pay, idempotency_key_missing"))
def approve_batch(args, batch_id):
    """An approver (never the preparer) approves: the whole total is reserved from the corporate wallet into
    the batch's account, then a job pays each line exactly once. Idempotent."""
    user = current_user()
    body, status = service.approve(
        user, batch_id, args["expected_total_fen"], args["expected_line_count"], batch_json,
        run=lambda action: idempotency.run(user.id, {"batch_id": batch_id, **args}, action))
    if status < 300:
        enqueue(tasks.run_batch, batch_id)
        batch, _ = service.visible_batch(user, batch_id)
        body = batch_json(batch)
    return respond(body, status)


@blp.route("/batches/<id(bits=32):batch_id>/reject", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(RejectSchema)
@blp.response(200, BatchSchema)
@problems(*AUTH, (403, "not_an_approver"), (404, "batch_not_found"), (409, "illegal_transition"),
          (422, "validation_failed: reason"))
def reject_batch(args, batch_id):
    """An approver rejects a validated batch, with a reason; nothing moves."""
    return respond(batch_json(service.reject(current_user(), batch_id, args["reason"])), 200)


@blp.route("/batches/<id(bits=32):batch_id>/retry", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(LineIdsSchema)
@blp.response(200, CountSchema)
@problems(*AUTH, (403, "not_a_member"), (404, "batch_not_found"), (409, "illegal_transition, no_failed_lines"),
          (422, "validation_failed"))
def retry_lines(args, batch_id):
    """Retry failed lines (all, or the listed ones) from the batch's reserve — e.g. after the payee upgraded
    the wallet or switched the overflow to bank on. Each line is still paid at most once."""
    user = current_user()
    n = service.retry(user, batch_id, args.get("line_ids"))
    enqueue(tasks.run_batch, batch_id)
    batch, _ = service.visible_batch(user, batch_id)
    return respond({"count": n, "batch": batch_json(batch)}, 200)


@blp.route("/batches/<id(bits=32):batch_id>/cancel", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(LineIdsSchema)
@blp.response(200, CountSchema)
@problems(*AUTH, (403, "not_a_member"), (404, "batch_not_found"), (409, "illegal_transition, no_failed_lines"),
          (422, "validation_failed"))
def cancel_lines(args, batch_id):
    """Cancel failed lines (all, or the listed ones); when nothing is left to pay the batch closes and the
    reserve's leftover returns to the corporate wallet."""
    user = current_user()
    n = service.cancel(user, batch_id, args.get("line_ids"))
    batch, _ = service.visible_batch(user, batch_id)
    return respond({"count": n, "batch": batch_json(batch)}, 200)


# ---------------------------------------------------------------- member units tracker


class MemberUnitQuery(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    all = fields.Boolean(load_default=False, metadata={"description": "Every organisation, not only member units"})


class MemberUnitSchema(StrictSchema):
    org_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    district = fields.String(allow_none=True)
    member_unit = fields.Boolean()
    scenarios_landed = fields.Integer(metadata={"description": "The plan's target is at least 1"})
    scenarios = fields.List(fields.String())
    target_met = fields.Boolean()
    payees = fields.Integer()
    payee_wallets_opened = fields.Integer()
    lines_paid = fields.Integer()
    paid_fen = fields.Integer()
    public_funds_sent_fen = fields.Integer()


class MemberUnitListSchema(StrictSchema):
    items = fields.List(fields.Nested(MemberUnitSchema))


MEMBER_UNIT_COLUMNS = ("org_id", "name", "kind", "district", "scenarios_landed", "scenarios", "target_met", "payees",
                       "payee_wallets_opened", "lines_paid", "paid_fen", "public_funds_sent_fen")


@blp.route("/member-units", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(MemberUnitQuery, location="query")
@blp.response(200, MemberUnitListSchema, description="JSON, or text/csv with ?format=csv")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
@problems(*AUTH, (422, "validation_failed"))
def member_units(args):
    """The member units tracker: each unit's e-CNY scenarios landed (salary, allowance, subsidy,
    reimbursement, public-fund transfers; the plan's target is ≥ 1), its payees and how many have opened a
    wallet, and what it paid. ``?format=csv`` for a spreadsheet (UTF-8 with BOM, for Excel)."""
    items = service.member_units(member_units_only=not args["all"])
    if args["format"] == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(MEMBER_UNIT_COLUMNS)
        for item in items:
            writer.writerow([" ".join(item[c]) if c == "scenarios" else item[c] for c in MEMBER_UNIT_COLUMNS])
        return Response("\ufeff" + buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=member-units.csv"})
    return respond({"items": items}, 200)


# ---------------------------------------------------------------- public-fund transfers


class FundTransferCreateSchema(StrictSchema):
    to_org_id = Id(required=True)
    amount_fen = Fen(required=True, validate=validate.Range(min=1, max=TOPUP_MAX_FEN))
    purpose_code = fields.String(required=True, validate=validate.OneOf(Purpose.ALL),
                                 metadata={"description": ", ".join(f"{k} ({zh})" for k, (zh, _) in
                                                                    Purpose.LABELS.items())})
    memo = fields.String(validate=validate.Length(max=140))


class FundTransferSchema(StrictSchema):
    id = fields.Integer()
    from_org = fields.Dict()
    to_org = fields.Dict()
    amount_fen = fields.Integer()
    purpose_code = fields.String()
    purpose_zh = fields.String()
    purpose_en = fields.String()
    memo = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(FundTransferStatus.ALL)})
    created_by_user_id = fields.Integer()
    approved_by_user_id = fields.Integer(allow_none=True)
    created_at = fields.String()
    decided_at = fields.String(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    transfer_id = fields.Integer(allow_none=True)


class FundTransferListSchema(StrictSchema):
    items = fields.List(fields.Nested(FundTransferSchema))
    next_before = fields.Integer(allow_none=True)


def _ft_page(items, limit):
    more = len(items) == limit
    return {"items": [service.fund_transfer_json(f) for f in items],
            "next_before": items[-1].id if more and items else None}


@blp.route("/organisations/<id(bits=32):org_id>/fund-transfers", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(FundTransferCreateSchema)
@blp.response(201, FundTransferSchema)
@problems(*AUTH, (403, "not_an_officer"), (404, "organisation_not_found"),
          (422, "validation_failed: to_org_id, amount_fen, purpose_code, memo"))
def create_fund_transfer(args, org_id):
    """A finance officer prepares a public-fund transfer to another organisation with a purpose code; it moves
    when an approver of the paying organisation (never the preparer) approves it."""
    return respond(service.fund_transfer_json(service.create_fund_transfer(current_user(), org_id, args)), 201)


@blp.route("/organisations/<id(bits=32):org_id>/fund-transfers", methods=["GET"])
@requires(*STAFF)
@blp.arguments(BatchQuery, location="query")
@blp.response(200, FundTransferListSchema)
@problems(*AUTH, (404, "organisation_not_found"), (422, "validation_failed"))
def org_fund_transfers(args, org_id):
    """The organisation's transfers, paid and received, newest first."""
    items = service.list_fund_transfers(current_user(), org_id, before=args.get("before"), limit=args["limit"])
    return respond(_ft_page(items, args["limit"]), 200)


@blp.route("/fund-transfers", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(BatchQuery, location="query")
@blp.response(200, FundTransferListSchema)
@problems(*AUTH, (422, "validation_failed"))
def all_fund_transfers(args):
    """Every public-fund transfer, for the pilot office."""
    items = service.list_fund_transfers(current_user(), None, before=args.get("before"), limit=args["limit"])
    return respond(_ft_page(items, args["limit"]), 200)


@blp.route("/fund-transfers/<id(bits=32):ft_id>", methods=["GET"])
@requires(*STAFF)
@blp.response(200, FundTransferSchema)
@problems(*AUTH, (404, "fund_transfer_not_found (also for organisations on neither side)"))
def get_fund_transfer(ft_id):
    """One transfer, for either side's staff and the pilot office."""
    ft, _ = service.visible_fund_transfer(current_user(), ft_id)
    return respond(service.fund_transfer_json(ft), 200)


@blp.route("/fund-transfers/<id(bits=32):ft_id>/approve", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(200, FundTransferSchema)
@problems(*AUTH, (403, "not_an_approver, maker_checker"), (404, "fund_transfer_not_found"),
          (409, "illegal_transition, idempotency_key_reused"),
          (422, "insufficient_funds (stays pending), idempotency_key_missing"))
def approve_fund_transfer(ft_id):
    """An approver of the paying organisation approves: the money moves at once (idempotent)."""
    user = current_user()
    body, status = service.approve_fund_transfer(
        user, ft_id, run=lambda action: idempotency.run(user.id, {"fund_transfer_id": ft_id}, action))
    return respond(body, status)


@blp.route("/fund-transfers/<id(bits=32):ft_id>/reject", methods=["POST"])
@requires(Role.ORG_STAFF)
@blp.arguments(RejectSchema)
@blp.response(200, FundTransferSchema)
@problems(*AUTH, (403, "not_an_approver"), (404, "fund_transfer_not_found"), (409, "illegal_transition"),
          (422, "validation_failed: reason"))
def reject_fund_transfer(args, ft_id):
    """An approver of the paying organisation rejects a pending transfer; nothing moves."""
    return respond(service.fund_transfer_json(service.reject_fund_transfer(current_user(), ft_id, args["reason"])),
                   200)


# ---------------------------------------------------------------- payees

#: What the app tells a payee whose line failed, per code.
NOTICES = {
    "payee_balance_cap": ("钱包余额已达上限，本笔款项未能入账。请升级钱包（三类 ¥20,000，二类 ¥500,000）或开启"
                          "“超额转入绑定银行账户”，单位重试后即可到账。",
                          "The wallet is at its balance cap: upgrade it, or switch on sending the excess to your "
                          "linked bank account; the organisation then retries the payment."),
    "payee_wallet_frozen": ("钱包已冻结，本笔款项未能入账，请联系开户银行。",
                            "The wallet is frozen; contact your operator bank."),
}


def payslip_json(r) -> dict:
    notice = None
    if r.status == LineStatus.FAILED:
        zh, en = NOTICES.get(r.issue, (r.issue_detail or "", r.issue_detail or ""))
        notice = {"code": r.issue, "message_zh": zh, "message_en": en, "upgrade_path": "/api/v1/wallets/me/upgrade"
                  if r.issue == "payee_balance_cap" else None}
    return {"id": r.id, "organisation": r.org_name, "title": r.title, "category": r.category,
            "category_zh": Category.ZH[r.category], "memo": r.memo, "amount_fen": r.amount_fen, "status": r.status,
            "to_wallet_fen": r.wallet_fen, "to_bank_fen": r.bank_fen, "transfer_id": r.transfer_id,
            "paid_at": _iso(r.paid_at), "notice": notice}


@blp.route("/me/payslips", methods=["GET"])
@requires(Role.CONSUMER)
@blp.arguments(PayslipQuery, location="query")
@blp.response(200, PayslipPageSchema)
@problems(*AUTH, (422, "validation_failed"))
def my_payslips(args):
    """My pay slips (工资/补贴到账): salaries, allowances, subsidies and reimbursements paid to me, newest first,
    with a notice (and how to upgrade the wallet) for a payment that could not reach it."""
    rows = service.payslips(current_user(), before=args.get("before"), limit=args["limit"])
    more = len(rows) == args["limit"]
    return respond({"items": [payslip_json(r) for r in rows], "next_before": rows[-1].id if more and rows else None},
                   200)


@blp.route("/me/payslips/<id:line_id>", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, PayslipSchema)
@problems(*AUTH, (404, "payslip_not_found (also another person's)"))
def my_payslip(line_id):
    """One pay slip: organisation, category, memo, amount, where it went, time."""
    rows = service.payslips(current_user(), line_id=line_id, limit=1)
    if not rows:
        raise NotFound("No such pay slip.", code="payslip_not_found")
    return respond(payslip_json(rows[0]), 200)


@blp.route("/me/preferences", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, PreferenceSchema)
@problems(*AUTH)
def get_preferences():
    """The payee's payout preference (overflow above the wallet cap to the linked bank account)."""
    pref = service.preference(current_user())
    return respond({"overflow_to_bank": bool(pref and pref.overflow_to_bank)}, 200)


@blp.route("/me/preferences", methods=["PUT"])
@requires(Role.CONSUMER)
@blp.arguments(PreferenceSchema)
@blp.response(200, PreferenceSchema)
@problems(*AUTH, (404, "wallet_not_open"), (422, "no_linked_card, validation_failed"))
def put_preferences(args):
    """Switch on (or off) sending what a payout would put above the wallet's balance cap to the linked bank
    account through the operator bank; off, such a line fails and nothing moves."""
    pref = service.set_preference(current_user(), args["overflow_to_bank"])
    return respond({"overflow_to_bank": pref.overflow_to_bank}, 200)
