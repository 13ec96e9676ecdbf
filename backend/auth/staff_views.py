"""``/staff``: the pilot office's staff accounts (create, find, disable, enable, new password)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend.auth import staff
from backend.auth.models import Role, User
from backend.auth.service import current_user, requires
from backend.banks.models import OperatorBank
from backend.clock import as_utc
from backend.extensions import db
from backend.http import respond
from backend.schemas import PageQuery, Password, Phone, StrictSchema

blp = Blueprint("staff", __name__, url_prefix="/api/v1", description="Staff accounts, managed by the pilot office")


class StaffCreateSchema(StrictSchema):
    phone = Phone(required=True)
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.OneOf(staff.MANAGED))
    bank_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=2, max=16),
                              metadata={"description": "The operator bank, for a bank reviewer (e.g. ICBC)"})
    password = Password(required=True, metadata={
        "description": "The first password, handed over in person; the person can be given a new one here"})


class ReasonSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "Why (kept in the audit log)"})


class PasswordResetSchema(ReasonSchema):
    password = Password(required=True)


class StaffQuery(PageQuery):
    role = fields.String(validate=validate.OneOf(staff.LISTED))
    active = fields.Boolean(metadata={"description": "true: active accounts only; false: disabled only"})
    q = fields.String(validate=validate.Length(min=1, max=64),
                      metadata={"description": "Part of the name or of the phone number"})


class StaffBankSchema(StrictSchema):
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)


class StaffSchema(StrictSchema):
    id = fields.Integer(required=True)
    phone = fields.String(required=True, metadata={"description": "In full: staff are colleagues, not payers"})
    display_name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(Role.ALL))
    bank = fields.Nested(StaffBankSchema, required=True, allow_none=True)
    is_active = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True, allow_none=True)


class StaffPageSchema(StrictSchema):
    items = fields.List(fields.Nested(StaffSchema), required=True)
    next_before = fields.Integer(required=True, allow_none=True)


def staff_json(user: User, banks: dict | None = None) -> dict:
    bank = None
    if user.bank_id is not None:
        row = (banks or {}).get(user.bank_id) or db.session.get(OperatorBank, user.bank_id)
        bank = {"code": row.code, "name_zh": row.name_zh, "name_en": row.name_en}
    return StaffSchema().dump({"id": user.id, "phone": user.phone, "display_name": user.display_name,
                               "role": user.role, "bank": bank, "is_active": user.is_active,
                               "created_at": as_utc(user.created_at) if user.created_at else None})


@blp.route("/staff", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(StaffQuery, location="query")
@blp.response(200, StaffPageSchema)
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(422, description="`validation_failed`")
def list_staff(args):
    """Staff accounts (every staff role), newest first; filter by role, active or not, name or phone."""
    staff._require_pilot(current_user())
    q = staff.staff_query(role=args.get("role"), q=args.get("q"), active=args.get("active"))
    if args.get("before"):
        q = q.where(User.id < args["before"])
    rows = list(db.session.execute(q.limit(args["limit"] + 1)).scalars())
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    banks = {b.id: b for b in db.session.execute(db.select(OperatorBank)).scalars()}
    return respond({"items": [staff_json(u, banks) for u in rows],
                    "next_before": rows[-1].id if more and rows else None}, 200)


@blp.route("/staff", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(StaffCreateSchema)
@blp.response(201, StaffSchema)
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(409, description="`phone_taken`")
@blp.alt_response(422, description="`validation_failed` (field named), `bank_required`")
def create_staff(args):
    """Create a bank reviewer, zone manager or pilot-office account (audited). Zone managers get their zones
    on the zone's page (``/zones/{zone_id}/managers``)."""
    user = staff.create(current_user(), **args)
    return respond(staff_json(user), 201)


@blp.route("/staff/<id(bits=32):user_id>/disable", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ReasonSchema)
@blp.response(200, StaffSchema)
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(404, description="`staff_not_found`")
@blp.alt_response(409, description="`already_disabled`, `own_account`")
@blp.alt_response(422, description="`validation_failed`, `reason_required`")
@blp.alt_response(503, description="`auth_unavailable`: the revocation could not be told to every worker; "
                                   "nothing changed, try again")
def disable_staff(args, user_id):
    """Disable an account: no log-in, and its sessions and tokens are refused at once on every worker."""
    return respond(staff_json(staff.disable(current_user(), user_id, args["reason"])), 200)


@blp.route("/staff/<id(bits=32):user_id>/enable", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ReasonSchema)
@blp.response(200, StaffSchema)
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(404, description="`staff_not_found`")
@blp.alt_response(409, description="`already_active`")
@blp.alt_response(422, description="`validation_failed`, `reason_required`")
def enable_staff(args, user_id):
    """Let a disabled account log in again (its old sessions stay ended)."""
    return respond(staff_json(staff.enable(current_user(), user_id, args["reason"])), 200)


@blp.route("/staff/<id(bits=32):user_id>/password", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(PasswordResetSchema)
@blp.response(200, StaffSchema)
@blp.alt_response(403, description="`role_forbidden`")
@blp.alt_response(404, description="`staff_not_found`")
@blp.alt_response(422, description="`validation_failed`, `reason_required`")
@blp.alt_response(503, description="`auth_unavailable`: nothing changed, try again")
def reset_staff_password(args, user_id):
    """Set a new password for a staff account; every session of the old one ends at once."""
    return respond(staff_json(staff.reset_password(current_user(), user_id, args["password"], args["reason"])), 200)
