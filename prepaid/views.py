"""``/prepaid/…``: acceptance and review, regulators, rules, plans, contracts, releases, refunds, closures."""

from __future__ import annotations

import json

from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError
from sqlalchemy import select

from backend import idempotency
from backend.auth.models import Role, User
from backend.auth.service import current_user, requires
from backend.clock import as_utc
from backend.extensions import db
from backend.http import respond
from backend.jobs import enqueue
from backend.readdb import read_heavy
from backend.schemas import Fen, Id, PageQuery, ProblemSchema, StrictSchema
from backend.wallets.views import IDEMPOTENCY_DOC
from prepaid import rules, service, tasks
from prepaid.models import (
    INDUSTRIES,
    Contract,
    PlanKind,
    PrepaidMerchantStatus,
    Regulator,
)
from suiyuan_protocol.money import fen_to_yuan_str

blp = Blueprint("prepaid", __name__, url_prefix="/api/v1",
                description="Prepaid supervision (预付费监管): plans held in escrow per contract, released per use")

REVIEWERS = (Role.BANK_REVIEWER, Role.INDUSTRY_REGULATOR, Role.PILOT_ADMIN)


def problems(*statuses: int):
    """Document the problem+json answers an endpoint gives (besides 401 and 403 of ``requires``)."""
    texts = {400: "Malformed request", 401: "Not signed in", 403: "Not allowed for this role or user",
             404: "Not found or not visible to the caller", 409: "Conflicts with the current state",
             422: "Invalid input or refused by a rule; `errors` names the field"}

    def decorator(view):
        for status in sorted({401, 403, *statuses}):
            view = blp.alt_response(status, schema=ProblemSchema, description=texts[status],
                                    content_type="application/problem+json")(view)
        return view

    return decorator


# ---------------------------------------------------------------- schemas (input)


class PrepaidApplySchema(StrictSchema):
    merchant_id = Id(required=True)
    industry = fields.String(required=True, validate=validate.OneOf(tuple(INDUSTRIES)),
                             metadata={"description": ", ".join(f"{k} ({v})" for k, v in INDUSTRIES.items())})


class PrepaidReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    reason = fields.String(load_default="", validate=validate.Length(max=500))

    @validates_schema
    def reason_for_rejection(self, data, **kwargs):
        if data["decision"] == "reject" and not data.get("reason", "").strip():
            raise ValidationError("A rejection needs a reason the applicant can act on.", field_name="reason")


class PrepaidStatusSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(
        (PrepaidMerchantStatus.SUSPENDED, PrepaidMerchantStatus.CLOSED, PrepaidMerchantStatus.APPROVED)),
        metadata={"description": "suspended or closed refunds every open contract; approved reinstates a "
                                 "suspended merchant"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PrepaidRegulatorSchema(StrictSchema):
    phone = fields.String(required=True)
    password = fields.String(required=True, load_only=True)
    display_name = fields.String(load_default="", validate=validate.Length(max=64))
    authority = fields.String(required=True, validate=validate.Length(min=1, max=60),
                              metadata={"example": "广州市体育局"})
    industries = fields.List(fields.String(validate=validate.OneOf(tuple(INDUSTRIES))), required=True,
                             validate=validate.Length(min=1, max=len(INDUSTRIES)))


class PrepaidSplitPartySchema(StrictSchema):
    merchant_id = Id(metadata={"description": "An approved merchant (e.g. brand HQ)"})
    wallet_phone = fields.String(metadata={"description": "A person's wallet (e.g. a coach)"})
    share_bp = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10_000),
                              metadata={"description": "Basis points; all shares add up to 10000"})


class PrepaidPlanSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(PlanKind.ALL))
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    units = fields.Integer(strict=True, validate=validate.Range(min=1, max=10_000),
                           metadata={"description": "Sessions: how many"})
    unit_price_fen = Fen(metadata={"description": "Sessions: the price of one"})
    price_fen = Fen(metadata={"description": "Stored value and time pass: what the consumer pays"})
    bonus_fen = Fen(positive=False, load_default=0, metadata={"description": "Stored value: extra value given"})
    months = fields.Integer(strict=True, validate=validate.Range(min=1, max=36),
                            metadata={"description": "Time pass: months of 30 days"})
    valid_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=service.MAX_VALID_DAYS),
                                metadata={"description": "Sessions and stored value: valid this long (default 365)"})
    cooling_off_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=365),
                                      metadata={"description": "Default (and minimum): the cooling_off_min_days rule"})
    refund_fee_bp = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=10_000),
                                   metadata={"description": "Fee on a refund after cooling-off, in basis points "
                                                            "of the unused part"})
    split = fields.List(fields.Nested(PrepaidSplitPartySchema), validate=validate.Length(min=1),
                        metadata={"description": "Who receives each release; default: all to the seller"})


class PrepaidReleaseSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40),
                         metadata={"description": "The contract code scanned from the consumer's app"})
    units = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000_000),
                           metadata={"description": "Sessions, or fen of stored value used"})


class PrepaidRuleValueSchema(StrictSchema):
    value = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**12))


class PrepaidMerchantListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(PrepaidMerchantStatus.ALL))
    industry = fields.String(validate=validate.OneOf(tuple(INDUSTRIES)))


class PrepaidPlanListQuery(PageQuery):
    prepaid_merchant_id = Id(strict=False)
    industry = fields.String(validate=validate.OneOf(tuple(INDUSTRIES)))
    zone_id = Id(strict=False, metadata={"description": "Only plans of merchants placed in this zone (near me)"})


class PrepaidContractListQuery(PageQuery):
    prepaid_merchant_id = Id(strict=False)
    status = fields.String(validate=validate.OneOf(("active", "completed", "refunded", "pending", "confirmed",
                                                    "declined")),
                           metadata={"description": "contracts: active/completed/refunded; requests: "
                                                    "pending/confirmed/declined"})


# ---------------------------------------------------------------- schemas (output, for the document)


class PrepaidMerchantOut(StrictSchema):
    id = fields.Integer()
    merchant_id = fields.Integer()
    name_zh = fields.String()
    name_en = fields.String()
    industry = fields.String()
    industry_zh = fields.String()
    status = fields.String()
    bank_code = fields.String()
    review_reason = fields.String(allow_none=True)
    reviewed_at = fields.String(allow_none=True)
    status_reason = fields.String(allow_none=True)
    status_changed_at = fields.String(allow_none=True)
    created_at = fields.String()
    credit_grade = fields.Dict(allow_none=True, metadata={"description": "{grade A/B/C, source, as_of}"})


class MerchantStatusOut(StrictSchema):
    merchant = fields.Nested(PrepaidMerchantOut)
    closure = fields.Dict(allow_none=True, metadata={"description": "The refund run (progress) if one started"})


class PlanOut(StrictSchema):
    id = fields.Integer()
    prepaid_merchant_id = Id(strict=False)
    merchant_name_zh = fields.String()
    industry = fields.String()
    kind = fields.String()
    name = fields.String()
    price_fen = fields.Integer()
    units = fields.Integer()
    unit_price_fen = fields.Integer(allow_none=True)
    bonus_fen = fields.Integer()
    months = fields.Integer(allow_none=True)
    valid_days = fields.Integer()
    cooling_off_days = fields.Integer()
    refund_fee_bp = fields.Integer()
    split = fields.List(fields.Dict())
    status = fields.String()
    created_at = fields.String()
    credit_grade = fields.Dict(allow_none=True, metadata={"description": "The merchant's badge"})


class ContractOut(StrictSchema):
    id = fields.Integer()
    number = fields.String()
    code = fields.String(metadata={"description": "Only for the consumer: shown as a QR for the merchant to scan"})
    plan_id = fields.Integer()
    prepaid_merchant_id = Id(strict=False)
    merchant_id = fields.Integer()
    consumer_user_id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    price_fen = fields.Integer()
    units_total = fields.Integer()
    units_left = fields.Integer()
    escrow_fen = fields.Integer(metadata={"description": "What the escrow holds now (the ledger's balance)"})
    refund_fee_bp = fields.Integer()
    cooling_off_ends_at = fields.String()
    in_cooling_off = fields.Boolean()
    expires_at = fields.String()
    terms = fields.Dict()
    terms_sha256 = fields.String()
    refund_kind = fields.String(allow_none=True)
    refunded_fen = fields.Integer()
    fee_fen = fields.Integer()
    purchase_transfer_id = fields.Integer()
    created_at = fields.String()
    ended_at = fields.String(allow_none=True)


class ReleaseOut(StrictSchema):
    id = fields.Integer()
    contract_id = fields.Integer()
    contract_number = fields.String()
    units = fields.Integer()
    amount_fen = fields.Integer()
    units_left = fields.Integer()
    contract_status = fields.String()
    legs = fields.List(fields.Dict(), metadata={"description": "[{account_id, amount_fen}] of this release"})
    created_at = fields.String()


class ClosureOut(StrictSchema):
    id = fields.Integer()
    prepaid_merchant_id = Id(strict=False)
    target_status = fields.String()
    reason = fields.String()
    status = fields.String(metadata={"description": "running or done"})
    counted = fields.Integer()
    refunded = fields.Integer()
    refunded_fen = fields.Integer()
    failed = fields.Integer()
    runs = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)


class RuleOut(StrictSchema):
    code = fields.String()
    value = fields.Integer()
    default = fields.Integer()
    unit = fields.String()
    zh = fields.String()
    en = fields.String()


class RulesOut(StrictSchema):
    items = fields.List(fields.Nested(RuleOut))


class PrepaidListOut(StrictSchema):
    items = fields.List(fields.Dict())
    next_before = fields.Integer(allow_none=True)


class RegulatorOut(StrictSchema):
    user_id = fields.Integer()
    phone = fields.String()
    authority = fields.String()
    industries = fields.List(fields.String())


# ---------------------------------------------------------------- renderers


def _iso(value):
    return as_utc(value).isoformat() if value else None


def merchant_json(pm, m) -> dict:
    from backend.payments.service import merchant_bank_code

    return {"id": pm.id, "merchant_id": m.id, "name_zh": m.name_zh, "name_en": m.name_en, "industry": pm.industry,
            "industry_zh": INDUSTRIES[pm.industry], "status": pm.status, "bank_code": merchant_bank_code(m),
            "review_reason": pm.review_reason, "reviewed_at": _iso(pm.reviewed_at),
            "status_reason": pm.status_reason, "status_changed_at": _iso(pm.status_changed_at),
            "created_at": _iso(pm.created_at), "credit_grade": _badge(pm)}


def _badge(pm) -> dict | None:
    """The credit-grade badge (信用等级标识) of an approved or suspended prepaid merchant."""
    from prepaid import grades

    if pm.status not in (PrepaidMerchantStatus.APPROVED, PrepaidMerchantStatus.SUSPENDED):
        return None
    g = grades.effective(pm)
    return {"grade": g["grade"], "source": g["source"], "as_of": g["as_of"]}


def plan_json(plan, pm, m) -> dict:
    split = [{k: v for k, v in p.items() if k != "account_id"} for p in json.loads(plan.split_json)]
    return {"id": plan.id, "prepaid_merchant_id": pm.id, "merchant_name_zh": m.name_zh, "industry": pm.industry,
            "kind": plan.kind, "name": plan.name, "price_fen": plan.price_fen, "units": plan.units,
            "unit_price_fen": plan.unit_price_fen, "bonus_fen": plan.bonus_fen, "months": plan.months,
            "valid_days": plan.valid_days, "cooling_off_days": plan.cooling_off_days,
            "refund_fee_bp": plan.refund_fee_bp, "split": split, "status": plan.status,
            "created_at": _iso(plan.created_at), "credit_grade": _badge(pm)}


def contract_json(c: Contract, viewer: User) -> dict:
    from backend.clock import utcnow
    from backend.ledger import service as ledger

    body = {"id": c.id, "number": c.number, "plan_id": c.plan_id, "prepaid_merchant_id": c.prepaid_merchant_id,
            "merchant_id": c.merchant_id, "consumer_user_id": c.consumer_user_id, "kind": c.kind,
            "status": c.status, "price_fen": c.price_fen, "units_total": c.units_total, "units_left": c.units_left,
            "escrow_fen": ledger.balance(c.escrow_account_id), "refund_fee_bp": c.refund_fee_bp,
            "cooling_off_ends_at": _iso(c.cooling_off_ends_at),
            "in_cooling_off": c.status == "active" and utcnow() < as_utc(c.cooling_off_ends_at),
            "expires_at": _iso(c.expires_at), "terms": json.loads(c.terms_json), "terms_sha256": c.terms_sha256,
            "refund_kind": c.refund_kind, "refunded_fen": c.refunded_fen, "fee_fen": c.fee_fen,
            "purchase_transfer_id": c.purchase_transfer_id, "created_at": _iso(c.created_at),
            "ended_at": _iso(c.ended_at)}
    if viewer.role == Role.CONSUMER and viewer.id == c.consumer_user_id:
        body["code"] = c.code
    return body


def release_json(r, c: Contract) -> dict:
    from backend.ledger.models import Transfer

    legs = db.session.execute(select(Transfer.credit_account_id, Transfer.amount_fen)
                              .where(Transfer.batch_id == r.batch_id).order_by(Transfer.id)).all()
    return {"id": r.id, "contract_id": c.id, "contract_number": c.number, "units": r.units,
            "amount_fen": r.amount_fen, "units_left": r.units_left_after, "contract_status": c.status,
            "legs": [{"account_id": a, "amount_fen": f} for a, f in legs], "created_at": _iso(r.created_at)}


def _page(q, order_col, args, render):
    if args.get("before"):
        q = q.where(order_col < args["before"])
    rows = db.session.execute(q.order_by(order_col.desc()).limit(args["limit"] + 1)).all()
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return {"items": [render(r) for r in rows], "next_before": rows[-1][0].id if more and rows else None}


# ---------------------------------------------------------------- rules and regulators


@blp.route("/prepaid/rules", methods=["GET"])
@requires()
@blp.response(200, RulesOut)
@problems()
def list_rules():
    """The limits plans and purchases must keep (data: the pilot office may change a value)."""
    return respond({"items": rules.listing()}, 200)


@blp.route("/prepaid/rules/<string:code>", methods=["PUT"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(PrepaidRuleValueSchema)
@blp.response(200, RuleOut)
@problems(404, 422)
def set_rule(args, code):
    """Change a limit's value (pilot office). Plans already published keep their terms."""
    from backend.errors import NotFound

    if code not in rules.RULES:
        raise NotFound("No such rule.", code="rule_not_found")
    rules.set_value(current_user().id, code, args["value"])
    return respond(next(r for r in rules.listing() if r["code"] == code), 200)


@blp.route("/prepaid/regulators", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(PrepaidRegulatorSchema)
@blp.response(201, RegulatorOut)
@problems(409, 422)
def add_regulator(args):
    """Create an industry regulator's login (商务局, 体育局, 教育局 …) that sees its industries only."""
    user = service.add_regulator(args["phone"], args["password"], args["display_name"], args["authority"],
                                 args["industries"])
    return respond({"user_id": user.id, "phone": user.phone, "authority": args["authority"],
                    "industries": sorted(set(args["industries"]))}, 201)


@blp.route("/prepaid/regulators/me", methods=["GET"])
@requires(Role.INDUSTRY_REGULATOR)
@blp.response(200, RegulatorOut)
@problems()
def my_regulator():
    """The signed-in regulator's authority and industries."""
    user = current_user()
    reg = db.session.get(Regulator, user.id)
    return respond({"user_id": user.id, "phone": user.phone, "authority": reg.authority if reg else "",
                    "industries": sorted(service.regulator_industries(user.id))}, 200)


# ---------------------------------------------------------------- prepaid merchants


@blp.route("/prepaid/merchants", methods=["POST"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(PrepaidApplySchema)
@blp.response(201, PrepaidMerchantOut)
@problems(404, 409, 422)
def apply(args):
    """Apply for prepaid acceptance of your approved merchant; its operator bank reviews it."""
    user = current_user()
    pm = service.apply(user, args["merchant_id"], args["industry"])
    return respond(merchant_json(*service.get_merchant(user, pm.id)), 201)


@blp.route("/prepaid/merchants", methods=["GET"])
@requires()
@blp.arguments(PrepaidMerchantListQuery, location="query")
@blp.response(200, PrepaidListOut)
@problems(422)
def list_merchants(args):
    """Prepaid merchants the caller may see: own (owner, cashier), own bank's (reviewer), own industries'
    (regulator), all (pilot office), approved ones (everyone else)."""
    from prepaid.models import PrepaidMerchant

    q = service.visible_merchants(current_user())
    if args.get("status"):
        q = q.where(PrepaidMerchant.status == args["status"])
    if args.get("industry"):
        q = q.where(PrepaidMerchant.industry == args["industry"])
    return respond(_page(q, PrepaidMerchant.id, args, lambda r: merchant_json(r[0], r[1])), 200)


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>", methods=["GET"])
@requires()
@blp.response(200, PrepaidMerchantOut)
@problems(404)
def get_merchant(prepaid_merchant_id):
    """One prepaid merchant, if the caller may see it."""
    return respond(merchant_json(*service.get_merchant(current_user(), prepaid_merchant_id)), 200)


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>/review", methods=["POST"])
@requires(Role.BANK_REVIEWER)
@blp.arguments(PrepaidReviewSchema)
@blp.response(200, PrepaidMerchantOut)
@problems(404, 409, 422)
def review(args, prepaid_merchant_id):
    """Approve or reject (with a reason) a pending application; reviewers of the merchant's bank only."""
    user = current_user()
    pm = service.review(user, prepaid_merchant_id, args["decision"], args["reason"].strip())
    return respond(merchant_json(*service.get_merchant(user, pm.id)), 200)


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>/status", methods=["POST"])
@requires(*REVIEWERS)
@blp.arguments(PrepaidStatusSchema)
@blp.response(200, MerchantStatusOut)
@problems(404, 409, 422)
def change_status(args, prepaid_merchant_id):
    """Suspend or close a prepaid merchant (its bank, its industry's regulator, the pilot office): every open
    contract is refunded to its consumer by a job whose progress is returned (and at /prepaid/closures/{id})."""
    user = current_user()
    pm, closure = service.change_status(user, prepaid_merchant_id, args["status"], args["reason"].strip())
    body = {"merchant": merchant_json(*service.get_merchant(user, pm.id)), "closure": None}
    if closure is not None:
        enqueue(tasks.run_closure, closure.id)
        body["closure"] = tasks.progress(closure.id)
    return respond(body, 200)


@blp.route("/prepaid/closures/<id(bits=32):closure_id>", methods=["GET"])
@requires(*REVIEWERS)
@blp.response(200, ClosureOut)
@problems(404)
def get_closure(closure_id):
    """A closure run's progress: counted, refunded, failed; done when every open contract was refunded."""
    from backend.errors import NotFound
    from prepaid.models import Closure

    closure = db.session.get(Closure, closure_id)
    if closure is None:
        raise NotFound("No such closure.", code="closure_not_found")
    service.get_merchant(current_user(), closure.prepaid_merchant_id)  # visibility
    return respond(tasks.progress(closure_id), 200)


@blp.route("/prepaid/closures/<id(bits=32):closure_id>/run", methods=["POST"])
@requires(*REVIEWERS)
@blp.response(202, ClosureOut)
@problems(404)
def rerun_closure(closure_id):
    """Run a closure again (after failures, e.g. a consumer's full wallet); refunds nobody twice."""
    from backend.errors import NotFound
    from prepaid.models import Closure

    closure = db.session.get(Closure, closure_id)
    if closure is None:
        raise NotFound("No such closure.", code="closure_not_found")
    service.get_merchant(current_user(), closure.prepaid_merchant_id)
    enqueue(tasks.run_closure, closure_id)
    return respond(tasks.progress(closure_id), 202)


# ---------------------------------------------------------------- plans


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>/plans", methods=["POST"])
@requires(Role.MERCHANT_OWNER)
@blp.arguments(PrepaidPlanSchema)
@blp.response(201, PlanOut)
@problems(404, 409, 422)
def publish_plan(args, prepaid_merchant_id):
    """Publish a plan: sessions, stored value with a bonus, or a time pass. A plan outside the limits is
    refused with the rule named (``code`` prepaid_limit, ``rule``, ``limit``, the field in ``errors``)."""
    user = current_user()
    plan = service.publish_plan(user, prepaid_merchant_id, args)
    return respond(plan_json(*service.get_plan(user, plan.id)), 201)


@blp.route("/prepaid/plans", methods=["GET"])
@requires()
@blp.arguments(PrepaidPlanListQuery, location="query")
@blp.response(200, PrepaidListOut)
@problems(422)
def list_plans(args):
    """Plans on sale at merchants the caller may see (consumers: approved merchants); ``zone_id``: near me."""
    from prepaid.models import Plan, PrepaidMerchant

    q = service.visible_plans(current_user())
    if args.get("prepaid_merchant_id"):
        q = q.where(Plan.prepaid_merchant_id == args["prepaid_merchant_id"])
    if args.get("industry"):
        q = q.where(PrepaidMerchant.industry == args["industry"])
    if args.get("zone_id"):
        q = q.where(PrepaidMerchant.merchant_id.in_(service.merchants_in_zone(args["zone_id"])))
    return respond(_page(q, Plan.id, args, lambda r: plan_json(r[0], r[1], r[2])), 200)


@blp.route("/prepaid/plans/<id(bits=32):plan_id>", methods=["GET"])
@requires()
@blp.response(200, PlanOut)
@problems(404)
def get_plan(plan_id):
    """One plan."""
    return respond(plan_json(*service.get_plan(current_user(), plan_id)), 200)


@blp.route("/prepaid/plans/<id(bits=32):plan_id>/withdraw", methods=["POST"])
@requires(Role.MERCHANT_OWNER)
@blp.response(200, PlanOut)
@problems(404)
def withdraw_plan(plan_id):
    """Stop selling a plan; contracts already bought keep their terms."""
    user = current_user()
    plan = service.withdraw_plan(user, plan_id)
    pm, merchant = service.get_merchant(user, plan.prepaid_merchant_id)
    return respond(plan_json(plan, pm, merchant), 200)


@blp.route("/prepaid/plans/<id(bits=32):plan_id>/purchase", methods=["POST"])
@requires(Role.CONSUMER)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, ContractOut)
@problems(404, 409, 422)
def purchase(plan_id):
    """Buy a plan (idempotent): its price moves from your wallet into this contract's own escrow; nothing
    reaches the merchant until a use is released. Refusals: prepaid_limit (the purchase cap of your wallet
    class), insufficient_funds, limit_exceeded, prepaid_not_approved."""
    user = current_user()

    def action():
        contract = service.purchase(user, plan_id)
        return contract_json(contract, user), 201

    return respond(*idempotency.run(user.id, {"plan_id": plan_id}, action))


# ---------------------------------------------------------------- contracts, releases, refunds


@blp.route("/prepaid/contracts", methods=["GET"])
@requires()
@blp.arguments(PrepaidContractListQuery, location="query")
@blp.response(200, PrepaidListOut)
@problems(422)
def list_contracts(args):
    """Contracts the caller may see: a consumer's own (我的预付卡), a shop's, an industry's (regulator)."""
    user = current_user()
    q = service.visible_contracts(user)
    if args.get("prepaid_merchant_id"):
        q = q.where(Contract.prepaid_merchant_id == args["prepaid_merchant_id"])
    if args.get("status"):
        q = q.where(Contract.status == args["status"])
    return respond(_page(q, Contract.id, args, lambda r: contract_json(r[0], user)), 200)


@blp.route("/prepaid/contracts/<id:contract_id>", methods=["GET"])
@requires()
@blp.response(200, ContractOut)
@problems(404)
def get_contract(contract_id):
    """One contract with its terms and their SHA-256 (the same in both apps)."""
    user = current_user()
    return respond(contract_json(service.get_contract(user, contract_id), user), 200)


@blp.route("/prepaid/releases", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(PrepaidReleaseSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, ReleaseOut)
@problems(404, 409, 422)
def release(args):
    """Release per use (核销, idempotent): the shop scanned the consumer's contract code; the units' price moves
    from escrow to the merchant (and the split's parties). Never more than the units left: not_enough_units,
    contract_ended, contract_expired, time_pass, prepaid_not_approved."""
    user = current_user()

    def action():
        rel, contract = service.release_by_code(user, args["code"], args["units"])
        return release_json(rel, contract), 201

    return respond(*idempotency.run(user.id, args, action))


@blp.route("/prepaid/contracts/<id:contract_id>/refund", methods=["POST"])
@requires(Role.CONSUMER)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, ContractOut)
@problems(404, 409, 422)
def refund(contract_id):
    """Get back what is left (idempotent): all of it within the cooling-off period, the unused part minus the
    plan's fee after it."""
    user = current_user()

    def action():
        return contract_json(service.refund_mine(user, contract_id), user), 201

    return respond(*idempotency.run(user.id, {"contract_id": contract_id, "refund": True}, action))


# ---------------------------------------------------------------- reconciliation


class StatementOut(StrictSchema):
    prepaid_merchant_id = Id(strict=False)
    day = fields.String()
    escrow_start_fen = fields.Integer()
    sold_fen = fields.Integer()
    contracts_sold = fields.Integer()
    released_fen = fields.Integer()
    releases = fields.Integer()
    refunded_fen = fields.Integer()
    refunds = fields.Integer()
    refund_fees_fen = fields.Integer()
    other_fen = fields.Integer(metadata={"description": "Escrow money moved otherwise (must be 0)"})
    escrow_end_fen = fields.Integer()
    liability_end_fen = fields.Integer(metadata={"description": "What the contracts say escrow should hold"})
    ties_out = fields.Boolean()
    provisional = fields.Boolean(metadata={"description": "Today's (or a future day's) figures may still change"})


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>/statements/<string:day>", methods=["GET"])
@requires(Role.MERCHANT_OWNER, Role.BANK_REVIEWER, Role.INDUSTRY_REGULATOR, Role.PILOT_ADMIN)
@blp.doc(parameters=[{"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "csv"]}}])
@blp.response(200, StatementOut)
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
@problems(404, 422)
def statement(prepaid_merchant_id, day):
    """The day's prepaid statement (统一对账): escrow at start, sold, released, refunded, escrow at end, tied out
    to the ledger and to the contracts. ``?format=csv`` for the file."""
    from datetime import date as date_cls

    from flask import Response, request

    from backend.clock import local_today
    from backend.errors import ValidationFailed
    from prepaid import statements

    service.get_merchant(current_user(), prepaid_merchant_id)
    try:
        the_day = date_cls.fromisoformat(day)
    except ValueError:
        raise ValidationFailed("The date must be YYYY-MM-DD.", field="day") from None
    if the_day > local_today():
        raise ValidationFailed("That day has not happened yet.", field="day")
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed("format must be json or csv.", field="format")
    body = read_heavy(statements.compute, prepaid_merchant_id, the_day)
    if fmt == "csv":
        return Response(statements.to_csv(body), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="prepaid-statement-{prepaid_merchant_id}-{day}.csv"'})
    return respond(body, 200)


# ---------------------------------------------------------------- credit grades, complaints, supervision


class GradeOut(StrictSchema):
    grade = fields.String(metadata={"description": "A, B or C"})
    score = fields.Integer(allow_none=True)
    source = fields.String(metadata={"description": "computed (daily), override (a regulator's), provisional"})
    reason = fields.String(allow_none=True)
    as_of = fields.String()
    now = fields.Dict(metadata={"description": "Staff and owner: the inputs and points as of now"})
    history = fields.List(fields.Dict())


class PrepaidOverrideSchema(StrictSchema):
    grade = fields.String(required=True, allow_none=True, validate=validate.OneOf(("A", "B", "C")),
                          metadata={"description": "null clears the override"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PrepaidComplaintSchema(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class ComplaintOut(StrictSchema):
    id = fields.Integer()
    contract_id = fields.Integer()
    prepaid_merchant_id = Id(strict=False)
    text = fields.String()
    created_at = fields.String()


class SupervisionOut(StrictSchema):
    as_of = fields.String()
    merchants = fields.List(fields.Dict())
    industries = fields.List(fields.Dict())


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>/grade", methods=["GET"])
@requires()
@blp.response(200, GradeOut)
@problems(404)
def get_grade(prepaid_merchant_id):
    """The merchant's credit grade (信用等级) with its source; staff and the owner also see the documented inputs
    and points as of now, and the history of computations and overrides."""
    from prepaid import grades

    user = current_user()
    pm, merchant = service.get_merchant(user, prepaid_merchant_id)
    body = grades.effective(pm)
    if user.role in REVIEWERS or merchant.owner_user_id == user.id:
        from backend.clock import utcnow

        body["now"] = grades.evaluate(pm, utcnow())
        body["history"] = grades.history(pm.id)
    return respond(body, 200)


@blp.route("/prepaid/merchants/<id(bits=32):prepaid_merchant_id>/grade", methods=["POST"])
@requires(Role.INDUSTRY_REGULATOR, Role.PILOT_ADMIN)
@blp.arguments(PrepaidOverrideSchema)
@blp.response(201, GradeOut)
@problems(404, 422)
def override_grade(args, prepaid_merchant_id):
    """Override the grade with a written reason (kept in the history), or clear the override (grade null)."""
    from prepaid import grades

    user = current_user()
    pm, _ = service.get_merchant(user, prepaid_merchant_id)
    grades.override(user, pm, args["grade"], args["reason"])
    return respond({**grades.effective(pm), "history": grades.history(pm.id)}, 201)


@blp.route("/prepaid/contracts/<id:contract_id>/complaints", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(PrepaidComplaintSchema)
@blp.response(201, ComplaintOut)
@problems(404, 422)
def complain(args, contract_id):
    """Complain about the merchant of one of your contracts (regulators see it; it counts in the grade)."""
    c = service.complain(current_user(), contract_id, args["text"])
    return respond({"id": c.id, "contract_id": c.contract_id, "prepaid_merchant_id": c.prepaid_merchant_id,
                    "text": c.text, "created_at": _iso(c.created_at)}, 201)


@blp.route("/prepaid/complaints", methods=["GET"])
@requires(Role.MERCHANT_OWNER, *REVIEWERS)
@blp.arguments(PrepaidContractListQuery, location="query")
@blp.response(200, PrepaidListOut)
@problems(422)
def list_complaints(args):
    """Complaints about the prepaid merchants the caller may see, newest first."""
    from prepaid.models import Complaint, PrepaidMerchant

    ids = service.visible_merchants(current_user()).with_only_columns(PrepaidMerchant.id)
    q = select(Complaint).where(Complaint.prepaid_merchant_id.in_(ids))
    if args.get("prepaid_merchant_id"):
        q = q.where(Complaint.prepaid_merchant_id == args["prepaid_merchant_id"])
    return respond(_page(q, Complaint.id, args, lambda r: {
        "id": r[0].id, "contract_id": r[0].contract_id, "prepaid_merchant_id": r[0].prepaid_merchant_id,
        "text": r[0].text, "created_at": _iso(r[0].created_at)}), 200)


SUPERVISION_COLUMNS = ("prepaid_merchant_id", "merchant_id", "name_zh", "industry", "status", "credit_grade",
                       "outstanding_fen", "open_contracts", "sold_30d_fen", "released_30d_fen", "release_rate_bp",
                       "refunds_30d", "refunded_30d_fen", "refunds_7d", "complaints_30d", "warnings")


@blp.route("/prepaid/supervision", methods=["GET"])
@requires(*REVIEWERS)
@blp.doc(parameters=[{"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "csv"]}}])
@blp.response(200, SupervisionOut)
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
@problems(422)
def supervision(args=None):
    """The regulator's overview: outstanding prepaid liabilities per merchant and industry, 30-day sales, release
    rate, refunds, complaints and warning signs (sales_ahead_of_releases, refund_burst). ``?format=csv``."""
    import csv
    import io

    from flask import Response, request

    from backend.errors import ValidationFailed

    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed("format must be json or csv.", field="format")
    body = read_heavy(service.supervision, current_user())
    if fmt == "json":
        return respond(body, 200)
    out = io.StringIO()
    writer = csv.writer(out)
    # For people (regulators open it in a spreadsheet): money in yuan, its column named so (outstanding_yuan).
    writer.writerow([k.removesuffix("_fen") + "_yuan" if k.endswith("_fen") else k for k in SUPERVISION_COLUMNS])
    for row in body["merchants"]:
        writer.writerow([";".join(row[k]) if k == "warnings" else fen_to_yuan_str(row[k]) if k.endswith("_fen")
                         else row[k] for k in SUPERVISION_COLUMNS])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="prepaid-supervision.csv"'})


# ---------------------------------------------------------------- release requests (the consumer confirms)


class PrepaidRequestSchema(StrictSchema):
    units = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000_000))


class RequestOut(StrictSchema):
    id = fields.Integer()
    contract_id = fields.Integer()
    contract_number = fields.String()
    merchant_name_zh = fields.String()
    units = fields.Integer()
    amount_fen = fields.Integer(metadata={"description": "What the release would move out of escrow"})
    status = fields.String()
    created_at = fields.String()
    expires_at = fields.String()
    decided_at = fields.String(allow_none=True)
    release = fields.Dict(allow_none=True)


def request_json(req, contract, release=None) -> dict:
    from backend.merchants.models import Merchant

    left = contract.units_left
    amount = (service.due(left, contract.price_fen, contract.units_total)
              - service.due(max(0, left - req.units), contract.price_fen, contract.units_total))
    body = {"id": req.id, "contract_id": contract.id, "contract_number": contract.number,
            "merchant_name_zh": db.session.get(Merchant, contract.merchant_id).name_zh, "units": req.units,
            "amount_fen": amount, "status": req.status, "created_at": _iso(req.created_at),
            "expires_at": _iso(req.expires_at), "decided_at": _iso(req.decided_at), "release": None}
    if release is not None:
        body["release"] = release_json(release, contract)
        body["amount_fen"] = release.amount_fen
    return body


@blp.route("/prepaid/contracts/<id:contract_id>/release-requests", methods=["POST"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(PrepaidRequestSchema)
@blp.response(201, RequestOut)
@problems(404, 409, 422)
def request_release(args, contract_id):
    """Ask the consumer to confirm releasing units in their app (valid 5 minutes); nothing moves until then."""
    req = service.request_release(current_user(), contract_id, args["units"])
    return respond(request_json(req, db.session.get(Contract, req.contract_id)), 201)


@blp.route("/prepaid/release-requests", methods=["GET"])
@requires(Role.CONSUMER, Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(PrepaidContractListQuery, location="query")
@blp.response(200, PrepaidListOut)
@problems(422)
def list_requests(args):
    """Release requests: a consumer's to answer, a shop's sent; ``status=pending`` for the open ones."""
    from prepaid.models import ReleaseRequest

    q = service.visible_requests(current_user())
    if args.get("status"):
        q = q.where(ReleaseRequest.status == args["status"])
    return respond(_page(q, ReleaseRequest.id, args, lambda r: request_json(r[0], r[1])), 200)


def _answer(request_id: int, confirm: bool):
    user = current_user()

    def action():
        req, rel = service.answer_request(user, request_id, confirm)
        return request_json(req, db.session.get(Contract, req.contract_id), rel), 200

    return respond(*idempotency.run(user.id, {"request_id": request_id, "confirm": confirm}, action))


@blp.route("/prepaid/release-requests/<id:request_id>/confirm", methods=["POST"])
@requires(Role.CONSUMER)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(200, RequestOut)
@problems(404, 409, 422)
def confirm_request(request_id):
    """Confirm the shop's request (idempotent): the units are released from escrow now."""
    return _answer(request_id, True)


@blp.route("/prepaid/release-requests/<id:request_id>/decline", methods=["POST"])
@requires(Role.CONSUMER)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(200, RequestOut)
@problems(404, 409, 422)
def decline_request(request_id):
    """Decline the shop's request; nothing moves."""
    return _answer(request_id, False)


class PrepaidReleasesQuery(StrictSchema):
    day = fields.Date(metadata={"description": "Local day (YYYY-MM-DD); default today"})


class ReleasesOut(StrictSchema):
    day = fields.String(allow_none=True)
    count = fields.Integer()
    total_fen = fields.Integer()
    items = fields.List(fields.Nested(ReleaseOut))


@blp.route("/prepaid/releases", methods=["GET"])
@requires(Role.MERCHANT_OWNER, Role.CASHIER)
@blp.arguments(PrepaidReleasesQuery, location="query")
@blp.response(200, ReleasesOut)
@problems(422)
def list_releases(args):
    """The shop's releases (核销) of one local day, newest first, with their total."""
    from backend.clock import local_today
    from backend.payments.service import local_day_bounds
    from prepaid.models import PrepaidMerchant, Release

    day = args.get("day") or local_today()
    start, end = local_day_bounds(day)
    shops = service.visible_merchants(current_user()).with_only_columns(PrepaidMerchant.id)
    rows = db.session.execute(
        select(Release, Contract).join(Contract, Contract.id == Release.contract_id)
        .where(Release.prepaid_merchant_id.in_(shops), Release.created_at >= start, Release.created_at < end)
        .order_by(Release.id.desc()).limit(500)).all()
    items = [release_json(r, c) for r, c in rows]
    return respond({"day": day.isoformat(), "count": len(items), "total_fen": sum(i["amount_fen"] for i in items),
                    "items": items}, 200)


@blp.route("/prepaid/contracts/<id:contract_id>/releases", methods=["GET"])
@requires()
@blp.response(200, ReleasesOut)
@problems(404)
def contract_releases(contract_id):
    """A contract's history: every release (核销) of it, newest first, with their total."""
    from prepaid.models import Release

    contract = service.get_contract(current_user(), contract_id)
    rows = db.session.execute(select(Release).where(Release.contract_id == contract.id)
                              .order_by(Release.id.desc()).limit(500)).scalars().all()
    items = [release_json(r, contract) for r in rows]
    return respond({"day": None, "count": len(items), "total_fen": sum(i["amount_fen"] for i in items),
                    "items": items}, 200)
