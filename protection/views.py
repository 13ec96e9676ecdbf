"""``/protection/*``: freezes, the read-only switch, incidents, the audit log, identity look-ups.

Who may call what: freezes and incidents bank reviewers (their own bank's
customers) and the pilot office; the read-only switch, the audit log and its
export the pilot office only; ``GET /protection/status`` anyone (the apps show
a banner while the platform is read-only); identity look-ups the pilot office
and reviewers of the wallet's bank, with a stated reason — every look-up is in
the audit log. The audit log has no endpoint that changes it.
"""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend.auth.models import Role
from backend.auth.service import current_user, public, requires
from backend.clock import as_utc
from backend.http import respond
from backend.schemas import Id, PageQuery, StrictSchema
from protection import registry, service
from protection.models import (
    INCIDENT_KINDS,
    SEVERITIES,
    EntryStatus,
    FraudEntry,
    FraudKind,
    Freeze,
    FreezeTarget,
    Incident,
    IncidentStatus,
)

blp = Blueprint("protection", __name__, url_prefix="/api/v1/protection",
                description="Consumer protection: freezes, read-only switch, incidents, audit, identity look-ups")

STAFF = (Role.BANK_REVIEWER, Role.PILOT_ADMIN)
REASON = fields.String(required=True, validate=validate.Length(min=1, max=500),
                       metadata={"description": "Why (at least 4 characters); kept in the audit log"})


class FreezeSchema(StrictSchema):
    target_kind = fields.String(required=True, validate=validate.OneOf(FreezeTarget.ALL))
    target_id = Id(required=True)
    reason = REASON
    incident_id = Id(load_default=None)


class LiftSchema(StrictSchema):
    reason = REASON


class FreezeQuery(PageQuery):
    active = fields.Boolean(load_default=None)
    target_kind = fields.String(validate=validate.OneOf(FreezeTarget.ALL))
    target_id = Id(strict=False)


class ReadOnlySchema(StrictSchema):
    read_only = fields.Boolean(required=True)
    reason = REASON


class IncidentSchema(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=120))
    kind = fields.String(required=True, validate=validate.OneOf(INCIDENT_KINDS))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                         metadata={"description": "What was detected (the timeline's first line)"})


class IncidentEventSchema(StrictSchema):
    status = fields.String(load_default=None, validate=validate.OneOf((IncidentStatus.CONTAINED,
                                                                       IncidentStatus.RESOLVED)))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class IncidentQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(IncidentStatus.ALL))


class AuditQuery(PageQuery):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    action = fields.String()
    actor_user_id = Id(strict=False)
    target_kind = fields.String()
    target_id = fields.String()
    since = fields.AwareDateTime(metadata={"description": "ISO 8601 with offset; inclusive"})
    until = fields.AwareDateTime(metadata={"description": "ISO 8601 with offset; exclusive"})


class LookupSchema(StrictSchema):
    wallet_id = Id(load_default=None)
    order_id = Id(bits=64, load_default=None)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "Why this person's identity is needed (at least 8 characters)"})
    case_ref = fields.String(load_default=None, validate=validate.Length(max=64),
                             metadata={"description": "A case, complaint or incident reference"})


# ---------------------------------------------------------------- answers (output, for the document)


class FreezeOut(StrictSchema):
    id = fields.Integer()
    target_kind = fields.String()
    target_id = fields.Integer()
    active = fields.Boolean()
    reason = fields.String()
    incident_id = fields.Integer(allow_none=True)
    frozen_by_user_id = fields.Integer()
    frozen_at = fields.String()
    lifted_by_user_id = fields.Integer(allow_none=True)
    lifted_at = fields.String(allow_none=True)
    lift_reason = fields.String(allow_none=True)


class FreezeListOut(StrictSchema):
    items = fields.List(fields.Nested(FreezeOut))


class PlatformStatusOut(StrictSchema):
    read_only = fields.Boolean()
    since = fields.String(allow_none=True)


class PlatformSwitchOut(PlatformStatusOut):
    reason = fields.String(allow_none=True)
    changed_by_user_id = fields.Integer(allow_none=True)
    changed_at = fields.String(allow_none=True)


class TimelineEventOut(StrictSchema):
    status = fields.String(allow_none=True)
    note = fields.String()
    user_id = fields.Integer(allow_none=True)
    at = fields.String()


class ProtectionIncidentOut(StrictSchema):
    id = fields.Integer()
    title = fields.String()
    kind = fields.String()
    severity = fields.String()
    status = fields.String()
    bank_id = fields.Integer(allow_none=True)
    opened_by_user_id = fields.Integer()
    detected_at = fields.String()
    contained_at = fields.String(allow_none=True)
    resolved_at = fields.String(allow_none=True)


class ProtectionIncidentTimelineOut(ProtectionIncidentOut):
    timeline = fields.List(fields.Nested(TimelineEventOut))


class ProtectionIncidentListOut(StrictSchema):
    items = fields.List(fields.Nested(ProtectionIncidentOut))


class AuditLineOut(StrictSchema):
    id = fields.Integer()
    at = fields.String()
    actor_user_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    target_kind = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    detail = fields.Dict()


class AuditListOut(StrictSchema):
    items = fields.List(fields.Nested(AuditLineOut))


class MaskedOut(StrictSchema):
    phone = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class IdentityOut(StrictSchema):
    wallet_id = fields.Integer()
    wallet_number = fields.String(allow_none=True)
    wallet_class = fields.Integer()
    bank_code = fields.String()
    phone = fields.String()
    real_name = fields.String(allow_none=True)
    id_number_masked = fields.String(allow_none=True)
    masked = fields.Nested(MaskedOut)
    order_id = fields.Integer(allow_none=True)


class FraudReportOut(StrictSchema):
    entry_id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    report_count = fields.Integer()


class FraudEntryOut(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    value = fields.String()
    hash = fields.String()
    status = fields.String()
    report_count = fields.Integer()
    merchant_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    first_reported_at = fields.String()
    reviewed_by_user_id = fields.Integer(allow_none=True)
    reviewed_at = fields.String(allow_none=True)
    review_reason = fields.String(allow_none=True)


class FraudEntryListOut(StrictSchema):
    items = fields.List(fields.Nested(FraudEntryOut))


class PublishedEntryOut(StrictSchema):
    kind = fields.String()
    hash = fields.String()


class RegistryOut(StrictSchema):
    version = fields.String()
    entries = fields.List(fields.Nested(PublishedEntryOut))


class VerdictOut(StrictSchema):
    kind = fields.String()
    safe = fields.Boolean()
    title_zh = fields.String()
    detail = fields.String()


class PayeeOut(StrictSchema):
    masked_name = fields.String(allow_none=True)
    masked_phone = fields.String()
    verified_name = fields.Boolean()
    wallet_class = fields.Integer()


def _iso(value):
    return as_utc(value).isoformat() if value else None


def freeze_json(f: Freeze) -> dict:
    return {"id": f.id, "target_kind": f.target_kind, "target_id": f.target_id, "active": f.lifted_at is None,
            "reason": f.reason, "incident_id": f.incident_id, "frozen_by_user_id": f.frozen_by_user_id,
            "frozen_at": _iso(f.frozen_at), "lifted_by_user_id": f.lifted_by_user_id, "lifted_at": _iso(f.lifted_at),
            "lift_reason": f.lift_reason}


def incident_json(i: Incident, with_timeline: bool = False) -> dict:
    body = {"id": i.id, "title": i.title, "kind": i.kind, "severity": i.severity, "status": i.status,
            "bank_id": i.bank_id, "opened_by_user_id": i.opened_by_user_id, "detected_at": _iso(i.detected_at),
            "contained_at": _iso(i.contained_at), "resolved_at": _iso(i.resolved_at)}
    if with_timeline:
        body["timeline"] = [{"status": e.status, "note": e.note, "user_id": e.user_id, "at": _iso(e.at)}
                            for e in service.incident_events(i.id)]
    return body


# ---------------------------------------------------------------- freezes


@blp.route("/freezes", methods=["POST"])
@requires(*STAFF)
@blp.arguments(FreezeSchema)
@blp.response(201, FreezeOut,
              description="The freeze: from now on the target moves no money (423 `*_frozen`)")
@blp.alt_response(404, description="`target_not_found` (also another bank's customer), `incident_not_found`")
@blp.alt_response(409, description="`already_frozen`")
@blp.alt_response(422, description="`validation_failed`, `reason_required`")
def freeze(args):
    """Freeze a wallet, a merchant or a pay-code device, with a reason (audited). Balances stay readable."""
    row = service.freeze(current_user(), args["target_kind"], args["target_id"], args["reason"], args["incident_id"])
    return respond(freeze_json(row), 201)


@blp.route("/freezes", methods=["GET"])
@requires(*STAFF)
@blp.arguments(FreezeQuery, location="query")
@blp.response(200, FreezeListOut,
              description="`items`: freezes, newest first (reviewers: their bank's)")
@blp.alt_response(403, description="`role_forbidden`")
def list_freezes(args):
    """Freezes, active or lifted."""
    rows = service.list_freezes(current_user(), active=args["active"], target_kind=args.get("target_kind"),
                                target_id=args.get("target_id"), limit=args["limit"], before=args.get("before"))
    return respond({"items": [freeze_json(r) for r in rows]}, 200)


@blp.route("/freezes/<id(bits=32):freeze_id>/lift", methods=["POST"])
@requires(*STAFF)
@blp.arguments(LiftSchema)
@blp.response(200, FreezeOut,
              description="The lifted freeze: the target moves money again")
@blp.alt_response(404, description="`freeze_not_found`")
@blp.alt_response(409, description="`already_lifted`")
@blp.alt_response(422, description="`reason_required`")
def lift(args, freeze_id):
    """Unfreeze, with a reason (audited)."""
    return respond(freeze_json(service.lift(current_user(), freeze_id, args["reason"])), 200)


# ---------------------------------------------------------------- platform switch


def _state_json(state) -> dict:
    return {"read_only": bool(state.read_only), "since": _iso(state.changed_at) if state.read_only else None}


@blp.route("/status", methods=["GET"])
@public
@blp.response(200, PlatformStatusOut,
              description="`read_only` and `since`: while read-only, no money moves (503 "
                               "`platform_read_only`); balances and history stay readable")
def status():
    """Whether the platform is read-only now (the apps show a banner)."""
    return respond(_state_json(service.platform_state()), 200)


@blp.route("/read-only", methods=["PUT"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ReadOnlySchema)
@blp.response(200, PlatformSwitchOut,
              description="The new state, with the reason")
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(422, description="`validation_failed`, `reason_required`")
def set_read_only(args):
    """Switch the whole platform to read-only (every new money movement refused) or back (audited)."""
    state = service.set_read_only(current_user(), args["read_only"], args["reason"])
    return respond({**_state_json(state), "reason": state.reason, "changed_by_user_id": state.changed_by_user_id,
                    "changed_at": _iso(state.changed_at)}, 200)


# ---------------------------------------------------------------- incidents


@blp.route("/incidents", methods=["POST"])
@requires(*STAFF)
@blp.arguments(IncidentSchema)
@blp.response(201, ProtectionIncidentTimelineOut,
              description="The incident (status `detected`) with its timeline")
@blp.alt_response(422, description="`validation_failed`, `reason_required` (field `note`)")
def open_incident(args):
    """Open an incident: what was detected, how bad, what kind."""
    i = service.open_incident(current_user(), args["title"], args["kind"], args["severity"], args["note"])
    return respond(incident_json(i, with_timeline=True), 201)


@blp.route("/incidents", methods=["GET"])
@requires(*STAFF)
@blp.arguments(IncidentQuery, location="query")
@blp.response(200, ProtectionIncidentListOut,
              description="`items`: incidents, newest first")
@blp.alt_response(403, description="`role_forbidden`")
def list_incidents(args):
    """Incidents (reviewers: their bank's and the pilot office's)."""
    rows = service.list_incidents(current_user(), args.get("status"), args["limit"], args.get("before"))
    return respond({"items": [incident_json(i) for i in rows]}, 200)


@blp.route("/incidents/<id(bits=32):incident_id>", methods=["GET"])
@requires(*STAFF)
@blp.response(200, ProtectionIncidentTimelineOut,
              description="The incident with its timeline (detected, contained, resolved, notes)")
@blp.alt_response(404, description="`incident_not_found`")
def get_incident(incident_id):
    """One incident and its timeline."""
    return respond(incident_json(service.get_incident(current_user(), incident_id), with_timeline=True), 200)


@blp.route("/incidents/<id(bits=32):incident_id>/events", methods=["POST"])
@requires(*STAFF)
@blp.arguments(IncidentEventSchema)
@blp.response(201, ProtectionIncidentTimelineOut,
              description="The incident with its timeline")
@blp.alt_response(404, description="`incident_not_found`")
@blp.alt_response(409, description="`illegal_transition` (detected → contained → resolved)")
@blp.alt_response(422, description="`validation_failed`, `reason_required` (field `note`)")
def add_incident_event(args, incident_id):
    """Add a timeline line: a note, or a move to `contained` or `resolved`."""
    i = service.add_incident_event(current_user(), incident_id, args["status"], args["note"])
    return respond(incident_json(i, with_timeline=True), 201)


# ---------------------------------------------------------------- audit log


def _audit_rows(args):
    return service.search_audit(action=args.get("action"), actor_user_id=args.get("actor_user_id"),
                                target_kind=args.get("target_kind"), target_id=args.get("target_id"),
                                since=args.get("since"), until=args.get("until"), limit=args["limit"],
                                before=args.get("before"))


@blp.route("/audit", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditListOut,
              description="`items`: audit lines matching every filter, newest first")
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(422, description="`validation_failed`")
def search_audit(args):
    """Search the append-only audit log (identity look-ups, freezes, the switch, staff money actions)."""
    return respond({"items": [service.audit_json(e) for e in _audit_rows(args)]}, 200)


@blp.route("/audit.csv", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(AuditQuery, location="query")
@blp.response(200, {"type": "string"}, content_type="text/csv",
              description="UTF-8 with BOM (opens in Excel), same filters as `/audit`")
@blp.alt_response(403, description="`role_forbidden`")
def export_audit(args):
    """Export the audit lines matching the filters as CSV."""
    body = "\ufeff" + service.audit_csv(_audit_rows(args))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="suiyuan-audit.csv"'})


# ---------------------------------------------------------------- identity look-up


@blp.route("/identity-lookups", methods=["POST"])
@requires(*STAFF)
@blp.arguments(LookupSchema)
@blp.response(201, IdentityOut,
              description="The payer's identity (phone, name, wallet) — this look-up is in the audit log")
@blp.alt_response(403, description="`role_forbidden` (merchants, zone managers, consumers)")
@blp.alt_response(404, description="`wallet_not_found` (also another bank's customer), `order_not_found`")
@blp.alt_response(422, description="`reason_required`, `validation_failed` (name exactly one subject)")
def lookup_identity(args):
    """Unmask a payer (by wallet or by an order they paid) for a stated reason."""
    body = service.lookup_identity(current_user(), wallet_id=args["wallet_id"], order_id=args["order_id"],
                                   reason=args["reason"], case_ref=args["case_ref"])
    return respond(body, 201)


# ---------------------------------------------------------------- fraud registry


class FraudReportSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(FraudKind.ALL))
    value = fields.String(required=True, validate=validate.Length(min=1, max=1000), metadata={
        "description": "The code's text, a merchant number (M + 9 digits), a wallet number, a phone number or a "
                       "web address"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class EntryQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(EntryStatus.ALL))
    kind = fields.String(validate=validate.OneOf(FraudKind.ALL))


class EntryReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(tuple(registry.DECISIONS)))
    reason = REASON


class ScanSchema(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))


def entry_json(e: FraudEntry) -> dict:
    return {"id": e.id, "kind": e.kind, "value": e.value, "hash": e.value_hash, "status": e.status,
            "report_count": e.report_count, "merchant_id": e.merchant_id, "user_id": e.user_id,
            "first_reported_at": _iso(e.first_reported_at), "reviewed_by_user_id": e.reviewed_by_user_id,
            "reviewed_at": _iso(e.reviewed_at), "review_reason": e.review_reason}


@blp.route("/reports", methods=["POST"])
@requires()
@blp.arguments(FraudReportSchema)
@blp.response(201, FraudReportOut,
              description="`entry_id`, `status` (pending until reviewed), `report_count`")
@blp.alt_response(200, schema=FraudReportOut, success=True,
                  description="This person had already reported it: nothing changed")
@blp.alt_response(422, description="`invalid_value` (field `value`), `validation_failed`")
def report(args):
    """Report (举报) a payment code, merchant, wallet, phone number or web address as a scam."""
    entry, new = registry.report(current_user(), args["kind"], args["value"], args["note"])
    return respond({"entry_id": entry.id, "kind": entry.kind, "status": entry.status,
                    "report_count": entry.report_count}, 201 if new else 200)


@blp.route("/reports", methods=["GET"])
@requires(*STAFF)
@blp.arguments(EntryQuery, location="query")
@blp.response(200, FraudEntryListOut,
              description="`items`: reported entries with their counts, newest first")
@blp.alt_response(403, description="`role_forbidden`")
def list_reports(args):
    """Reported entries to review (reviewers: their bank's merchants and wallets, and phone numbers, web
    addresses and codes that belong to no bank)."""
    rows = registry.entries(current_user(), args.get("status"), args.get("kind"), args["limit"], args.get("before"))
    return respond({"items": [entry_json(e) for e in rows]}, 200)


@blp.route("/reports/<id(bits=32):entry_id>/review", methods=["POST"])
@requires(*STAFF)
@blp.arguments(EntryReviewSchema)
@blp.response(200, FraudEntryOut,
              description="The entry: `confirmed` entries are refused as payees and published")
@blp.alt_response(404, description="`entry_not_found`")
@blp.alt_response(409, description="`illegal_transition`")
@blp.alt_response(422, description="`reason_required`, `validation_failed`")
def review_report(args, entry_id):
    """Confirm, reject or withdraw a reported entry, with a reason (audited)."""
    entry = registry.review(current_user(), entry_id, args["decision"], args["reason"])
    return respond(entry_json(entry), 200)


@blp.route("/registry", methods=["GET"])
@public
@blp.response(200, RegistryOut,
              description="`version` and `entries` (`kind`, `hash` = SHA-256 of `kind:normalised value`, "
                               "see `suiyuan_protocol.fraud`); `ETag` = the version")
@blp.alt_response(304, description="Not modified: the `If-None-Match` ETag is current")
def fraud_registry():
    """The confirmed fraud list, for the apps' offline checks (cache it; revalidate with If-None-Match)."""
    body, etag = registry.published()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if etag in [t.strip() for t in (request.headers.get("If-None-Match") or "").split(",")]:
        return Response(status=304, headers=headers)
    resp = respond(body, 200)
    resp.headers.update(headers)
    return resp


@blp.route("/scan-checks", methods=["POST"])
@requires()
@blp.arguments(ScanSchema)
@blp.response(200, VerdictOut,
              description="`kind` (genuine, phishing_url, lookalike, unknown_key, reported_payee, expired, "
                               "damaged, not_a_payment_code), `safe`, `title_zh`, `detail`")
@blp.alt_response(422, description="`validation_failed`")
def scan_check(args):
    """Classify a scanned text before paying, with the live keys and fraud list (moves no money)."""
    return respond(registry.assess(args["text"]).to_json(), 200)


# ---------------------------------------------------------------- Confirmation of Payee


class PayeeQuery(StrictSchema):
    phone = fields.String(required=True, metadata={"description": "The phone number about to be paid"})


@blp.route("/payee-check", methods=["GET"])
@requires(Role.CONSUMER)
@blp.arguments(PayeeQuery, location="query")
@blp.response(200, PayeeOut,
              description="`masked_name` (李*明; the ID-verified name when there is one), `masked_phone`, "
                               "`verified_name`, `wallet_class`")
@blp.alt_response(404, description="`payee_not_found`")
@blp.alt_response(422, description="`validation_failed` (field `phone`)")
def payee_check(args):
    """Confirmation of Payee: whose wallet a phone number reaches, masked, before a transfer."""
    return respond(service.payee_check(current_user(), args["phone"]), 200)


# ---------------------------------------------------------------- the cooling period (held transfers)


class CoolingRuleOut(StrictSchema):
    code = fields.String()
    title_zh = fields.String()
    text_zh = fields.String()
    text_en = fields.String()


class HeldTransferOut(StrictSchema):
    held_transfer_id = fields.Integer()
    status = fields.String(metadata={"description": "pending, completed, cancelled or failed"})
    amount_fen = fields.Integer()
    memo = fields.String(allow_none=True)
    payee_phone_masked = fields.String(allow_none=True)
    created_at = fields.String()
    completes_at = fields.String(metadata={"description": "When the cooling period is over"})
    finished_at = fields.String(allow_none=True)
    transfer_id = fields.Integer(allow_none=True, metadata={"description": "The posted transfer, once completed"})
    failure_code = fields.String(allow_none=True)
    failure_detail = fields.String(allow_none=True)
    cancel_path = fields.String(allow_none=True, metadata={"description": "Where to cancel it while pending"})
    rule = fields.Nested(CoolingRuleOut)


class HeldTransferListOut(StrictSchema):
    items = fields.List(fields.Nested(HeldTransferOut))


@blp.route("/held-transfers", methods=["GET"])
@requires(Role.CONSUMER)
@blp.arguments(PageQuery, location="query")
@blp.response(200, HeldTransferListOut,
              description="`items`: my transfers held for a cooling period, newest first")
@blp.alt_response(403, description="`role_forbidden`")
def held_transfers(args):
    """My large first-time transfers waiting out (or done with) their cooling period (冷静期)."""
    from protection import cooling

    rows = cooling.mine(current_user(), args["limit"], args.get("before"))
    return respond({"items": [cooling.held_json(r) for r in rows]}, 200)


@blp.route("/held-transfers/<id(bits=32):held_id>/cancel", methods=["POST"])
@requires(Role.CONSUMER)
@blp.response(200, HeldTransferOut,
              description="The held transfer, `cancelled`: no money moved (cancelling again answers the same)")
@blp.alt_response(404, description="`held_transfer_not_found` (also someone else's)")
@blp.alt_response(409, description="`held_transfer_finished`: it already completed or failed")
def cancel_held_transfer(held_id):
    """Cancel a transfer during its cooling period: no money moves."""
    from protection import cooling

    return respond(cooling.held_json(cooling.cancel(current_user(), held_id)), 200)
