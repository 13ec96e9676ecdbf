"""``/banks``: the operator banks and their settlement summaries."""

from __future__ import annotations

from datetime import date

from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import func, select

from backend.auth.models import Role
from backend.auth.service import current_user, requires
from backend.banks.models import OperatorBank
from backend.errors import Forbidden, ValidationFailed
from backend.extensions import db
from backend.http import respond
from backend.merchants.models import Merchant, MerchantStatus
from backend.schemas import OpenSchema, StrictSchema
from backend.wallets.service import get_bank

blp = Blueprint("banks", __name__, url_prefix="/api/v1", description="Operator banks")


class OperatorBankSchema(StrictSchema):
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)


class BankListSchema(StrictSchema):
    items = fields.List(fields.Nested(OperatorBankSchema), required=True)


class SettlementSchema(OpenSchema):
    """Per merchant (from its stored statement) and in total; fees are always 0 (e-CNY has none)."""

    day = fields.Date(required=True)
    bank = fields.Nested(OperatorBankSchema, required=True)
    merchants = fields.List(fields.Dict(), required=True)
    totals = fields.Dict(required=True)
    fees_fen = fields.Integer(required=True)
    statements_missing = fields.Integer(required=True,
                                        metadata={"description": "Approved merchants without a statement that day"})


@blp.route("/banks", methods=["GET"])
@requires()
@blp.response(200, BankListSchema)
def list_banks():
    """The ten operator banks where wallets are opened."""
    rows = db.session.execute(select(OperatorBank).order_by(OperatorBank.id)).scalars()
    return respond({"items": [{"code": b.code, "name_zh": b.name_zh, "name_en": b.name_en} for b in rows]}, 200)


@blp.route("/banks/<string:code>/settlements/<string:day>", methods=["GET"])
@requires(Role.BANK_REVIEWER, Role.PILOT_ADMIN)
@blp.doc(parameters=[{"in": "path", "name": "day", "required": True, "schema": {"type": "string", "format": "date"},
                      "description": "A finished local day, YYYY-MM-DD"}])
@blp.response(200, SettlementSchema)
def settlement(code, day):
    """The bank's settlement summary for a finished day: per merchant and in total (from the statements)."""
    from backend.payments import statements

    bank = get_bank(code)
    user = current_user()
    if user.role == Role.BANK_REVIEWER and user.bank_id != bank.id:
        raise Forbidden("Reviewers see their own bank's settlements only.", code="not_your_bank")
    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise ValidationFailed("The date must be YYYY-MM-DD.", field="date") from None
    body = statements.bank_summary(bank.id, the_day)
    approved = db.session.execute(select(func.count()).select_from(Merchant).where(
        Merchant.bank_id == bank.id, Merchant.status == MerchantStatus.APPROVED)).scalar_one()
    body["bank"] = {"code": bank.code, "name_zh": bank.name_zh, "name_en": bank.name_en}
    body["statements_missing"] = approved - len(body["merchants"])
    return respond(body, 200)
