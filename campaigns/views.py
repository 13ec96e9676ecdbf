"""``/campaigns…``, ``/wallets/me/red-packets`` and ``/wallets/me/coupons``."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend import idempotency
from backend.auth.models import Role
from backend.auth.service import current_user, requires
from backend.clock import as_utc, utcnow
from backend.errors import PROBLEM_MIME, Forbidden, ValidationFailed
from backend.http import respond
from backend.merchants import service as merchants
from backend.merchants.models import SCENARIOS
from backend.schemas import Fen, Id, Phone, ProblemSchema, StrictSchema
from backend.wallets.views import IDEMPOTENCY_DOC
from campaigns import control, eligibility, lifecycle, lottery, service, settlement
from campaigns import responses as out
from campaigns import simulate as simulator
from campaigns import split as splitter
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Split

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1",
                description="Promotions: red packets (grab and lottery), coupons, the claim gate")

STAFF = (Role.ZONE_MANAGER, Role.PILOT_ADMIN)
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"}}
CLAIM_BUSY_DOC = ("`claim_busy`: this worker is already handling as many claims as it admits at once "
                  "(CLAIM_MAX_IN_FLIGHT), or the claim queued too long (CLAIM_MAX_QUEUE_MS). Refused before "
                  "authentication, the gate or the database: no packet taken, nothing recorded under the "
                  "Idempotency-Key. Wait Retry-After seconds plus jitter and send the same request with the "
                  "same key.")
DEVICE_DOC = {"parameters": [{"in": "header", "name": "X-Device-Id", "required": False,
                              "schema": {"type": "string", "pattern": service.DEVICE_RE.pattern},
                              "description": "The consumer's device (counts against the campaign's device cap)"}]}


class CreateCampaignSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    kind = fields.String(required=True, validate=validate.OneOf(CampaignKind.ALL))
    split = fields.String(validate=validate.OneOf(Split.ALL),
                          metadata={"description": "Red packets: random (double mean, default) or fixed"})
    funder_id = Id(required=True)
    zone_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=20))
    merchant_ids = fields.List(Id(), validate=validate.Length(max=1000),
                               metadata={"description": "If given, only these merchants accept it"})
    scenarios = fields.List(fields.String(validate=validate.OneOf(tuple(SCENARIOS))),
                            metadata={"description": "If given, only merchants of these scenarios accept it"})
    packet_count = fields.Integer(required=True, strict=True,
                                  validate=validate.Range(min=1, max=service.MAX_PACKETS))
    budget_fen = Fen(metadata={"description": "Red packets: the whole budget, escrowed at launch"})
    discount_fen = Fen(metadata={"description": "Coupons: the Y of 满X减Y"})
    min_spend_fen = Fen(metadata={"description": "Coupons: the X of 满X减Y"})
    stackable = fields.Boolean(load_default=False)
    device_cap = fields.Integer(strict=True, allow_none=True, load_default=None,
                                validate=validate.Range(min=1, max=100))
    wallet_classes = fields.List(fields.Integer(strict=True, validate=validate.OneOf((1, 2, 3, 4))),
                                 validate=validate.Length(min=1, max=4))
    wallet_opened_after = fields.AwareDateTime(allow_none=True)
    claim_starts_at = fields.AwareDateTime()
    claim_ends_at = fields.AwareDateTime()
    registration_starts_at = fields.AwareDateTime()
    registration_ends_at = fields.AwareDateTime()
    spend_ends_at = fields.AwareDateTime(required=True)


class SimulateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(CampaignKind.ALL))
    split = fields.String(validate=validate.OneOf(Split.ALL))
    zone_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=20))
    packet_count = fields.Integer(required=True, strict=True,
                                  validate=validate.Range(min=1, max=service.MAX_PACKETS))
    budget_fen = Fen()
    discount_fen = Fen()
    min_spend_fen = Fen()
    wallet_classes = fields.List(fields.Integer(strict=True, validate=validate.OneOf((1, 2, 3, 4))),
                                 validate=validate.Length(min=1, max=4),
                                 metadata={"description": "Classes taking part: packets over their balance cap "
                                                          "are flagged (default all)"})
    trials = fields.Integer(load_default=200, strict=True, validate=validate.Range(min=1, max=2000))
    seed = fields.Integer(load_default=0, strict=True)


class ListQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(CampaignStatus.ALL))
    zone_id = Id(strict=False)
    merchant_id = Id(strict=False, metadata={"description": "Say for each campaign whether this merchant takes "
                                                            "its red packets and coupons (``accepted_here``)."})
    before = Id(strict=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ClaimSchema(StrictSchema):
    device_id = fields.String(validate=validate.Length(min=1, max=64),
                              metadata={"description": "Or the X-Device-Id header",
                                        "pattern": service.DEVICE_RE.pattern})


class LotteryRegistrationSchema(ClaimSchema):
    commitment = fields.String(validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"), metadata={
        "description": "sha256 (hex) of a 32-byte secret your device keeps and reveals after registration "
                       "closes: your entropy for the draw, so the operator cannot steer it (see the draw document)"})


class RevealSchema(StrictSchema):
    secret = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"),
                           metadata={"description": "The 32-byte secret (hex) whose sha256 you sent at registration"})


class EditCampaignSchema(CreateCampaignSchema):
    """The fields of a draft to change (any of ``POST /campaigns`` but ``kind``)."""

    class Meta(StrictSchema.Meta):
        exclude = ("kind",)

    name = fields.String(validate=validate.Length(min=1, max=80))
    funder_id = fields.Integer(strict=True)
    zone_ids = fields.List(fields.Integer(strict=True), validate=validate.Length(min=1, max=20))
    packet_count = fields.Integer(strict=True, validate=validate.Range(min=1, max=service.MAX_PACKETS))
    stackable = fields.Boolean()
    device_cap = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=100))
    spend_ends_at = fields.AwareDateTime()


class CancelSchema(StrictSchema):
    reclaim_claimed = fields.Boolean(load_default=False, metadata={
        "description": "Also take back the red packets consumers hold and void unused coupons now (default: "
                       "they stay spendable until the spend deadline)"})


def documented(success: int, success_doc: str, schema=None, **errors: str):
    """Document a view's success response (``schema``; none for an empty answer) and its problem+json
    refusals (``_409="…"``)."""
    def wrap(view):
        for code, text in errors.items():
            view = blp.alt_response(int(code.lstrip("_")), schema=ProblemSchema, description=text,
                                    content_type=PROBLEM_MIME)(view)
        return blp.alt_response(success, schema=schema, description=success_doc, success=True)(view)
    return wrap


class FunderSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    phone = Phone(required=True, metadata={"description": "The phone of the wallet that pays budgets"})
    zone_id = Id(allow_none=True, load_default=None,
                             metadata={"description": "Only for campaigns in this zone; none = any zone"})


def _iso(value):
    return as_utc(value).isoformat() if value else None


def campaign_json(c: Campaign, *, staff: bool = True) -> dict:
    """A campaign as the API shows it (staff also see the funder and the escrow account)."""
    lottery_kind = c.kind == CampaignKind.LOTTERY
    windows = ({"registration_starts_at": _iso(c.opens_at), "registration_ends_at": _iso(c.closes_at)}
               if lottery_kind else {"claim_starts_at": _iso(c.opens_at), "claim_ends_at": _iso(c.closes_at)})
    windows["spend_ends_at"] = _iso(c.spend_ends_at)
    status = lifecycle.state(c)
    body = {
        "id": c.id, "name": c.name, "kind": c.kind, "split": c.split, "status": status,
        "zone_ids": sorted(service.zone_ids_of(c.id)), "merchant_ids": service.merchants_of(c.id),
        "scenarios": c.scenarios.split(",") if c.scenarios else None,
        "packet_count": c.packet_count, "budget_fen": c.budget_fen,
        "discount_fen": c.discount_fen, "min_spend_fen": c.min_spend_fen, "stackable": c.stackable,
        "per_user_cap": 1, "device_cap": c.device_cap,
        "eligibility": {"wallet_classes": [int(x) for x in c.wallet_classes],
                        "wallet_opened_after": _iso(c.wallet_opened_after)},
        "windows": windows,
        "seed_sha256": c.seed_sha256, "drawn_at": _iso(c.drawn_at),
        "draw_at": lifecycle.draw_due_at(c).isoformat() if lottery_kind else None,
        "created_at": _iso(c.created_at), "launched_at": _iso(c.launched_at), "settled_at": _iso(c.settled_at),
        "paused_at": _iso(c.paused_at), "cancelled_at": _iso(c.cancelled_at), "cancel_reclaimed": c.cancel_reclaimed,
    }
    if staff:
        funder = service.funder_of(c)
        body.update(funder={"id": funder.id, "name": funder.name}, account_id=c.account_id,
                    escrow_transfer_id=c.escrow_transfer_id, created_by_user_id=c.created_by_user_id)
    return body


def _device_id(args: dict) -> str | None:
    header = request.headers.get("X-Device-Id")
    body = args.get("device_id")
    if header and body and header != body:
        raise ValidationFailed("X-Device-Id and device_id disagree.", field="device_id")
    return body or header or None


# ---------------------------------------------------------------- campaigns


@blp.route("/campaigns", methods=["POST"])
@requires(*STAFF)
@blp.arguments(CreateCampaignSchema)
@blp.response(201, out.CampaignSchema)
def create_campaign(args):
    """Create a draft campaign in zones you manage (the pilot office: any zone). Launch it to escrow its budget."""
    return respond(campaign_json(service.create(current_user(), args)), 201)


@blp.route("/campaigns", methods=["GET"])
@requires()
@blp.arguments(ListQuery, location="query")
@blp.response(200, out.CampaignPageSchema)
@blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM_MIME,
                  description="merchant_not_found: no merchant ``merchant_id`` you may see")
def list_campaigns(args):
    """Campaigns: staff see those of their zones (drafts too); everyone else the launched ones."""
    user = current_user()
    items = service.list_for(user, args.get("status"), args.get("zone_id"), args["limit"], args.get("before"))
    staff = user.role in STAFF
    more = len(items) == args["limit"]
    bodies = [campaign_json(c, staff=staff) for c in items]
    if args.get("merchant_id"):
        merchant = merchants.get_visible(user, args["merchant_id"])
        accepting = eligibility.accepting_campaigns(merchant.id, merchant.scenario,
                                                    {c.id: c.scenarios for c in items})
        for body in bodies:
            body["accepted_here"] = body["id"] in accepting
    return respond({"items": bodies,
                    "next_before": items[-1].id if more and items else None}, 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>", methods=["GET"])
@requires()
@blp.response(200, out.CampaignSchema)
def get_campaign(campaign_id):
    """One campaign. A consumer also sees their own part (claimed, registered)."""
    user = current_user()
    campaign = service.get_visible(user, campaign_id)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SETTLED):
        service.advance(campaign_id)
        campaign = service.get_visible(user, campaign_id)
    staff = user.role in STAFF
    body = campaign_json(campaign, staff=staff)
    if user.role == Role.CONSUMER:
        body["me"] = service.my_part(user.id, campaign_id)
    return respond(body, 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/launch", methods=["POST"])
@requires(*STAFF)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(200, out.CampaignSchema)
def launch_campaign(campaign_id):
    """Launch a draft: escrow the whole budget from the funder (refused if unfunded), split the packets,
    publish the lottery seed's SHA-256. Idempotent."""
    user = current_user()
    body, status = service.launch(user, campaign_id, campaign_json,
                                  run=lambda action: idempotency.run(user.id, {"campaign_id": campaign_id}, action))
    return respond(body, status)


@blp.route("/campaigns/<id(bits=32):campaign_id>/claims", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(ClaimSchema)
@blp.doc(parameters=IDEMPOTENCY_DOC["parameters"] + DEVICE_DOC["parameters"])
@blp.alt_response(429, description=CLAIM_BUSY_DOC, headers=RETRY_AFTER)
@blp.response(201, out.ClaimResultSchema)
def claim(args, campaign_id):
    """Grab a red packet or claim a coupon: one atomic step at the gate, durable in the ledger before 201.
    Refusals: campaign_not_live, not_eligible, already_claimed, device_cap, sold_out, gate_unavailable (503),
    claim_busy (429: admission control turned the attempt away before it touched anything; retry the same
    request with the same Idempotency-Key after Retry-After seconds, with jitter)."""
    user = current_user()
    device_id = _device_id(args)
    body, status = service.claim(
        user.id, campaign_id, device_id,
        run=lambda action: idempotency.run(user.id, {"campaign_id": campaign_id, "device_id": device_id}, action))
    return respond(body, status)


@blp.route("/campaigns/<id(bits=32):campaign_id>/registrations", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(LotteryRegistrationSchema)
@blp.doc(**DEVICE_DOC)
@blp.response(201, out.RegistrationSchema)
def register(args, campaign_id):
    """Register for a lottery while registration is open (no money moves; a second time → already_registered).
    Send ``commitment`` = sha256(secret) and reveal the secret after registration closes to add your entropy
    to the draw. Paused: 409 campaign_paused."""
    reg = service.register(current_user().id, campaign_id, _device_id(args), args.get("commitment"))
    return respond({"id": reg.id, "campaign_id": reg.campaign_id, "user_id": reg.user_id,
                    "commitment": reg.commitment, "created_at": _iso(reg.created_at)}, 201)


class RevealedSchema(StrictSchema):
    campaign_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    commitment = fields.String(required=True, metadata={"description": "sha256 of the secret, hex"})
    revealed_at = fields.DateTime(required=True)


@blp.route("/campaigns/<id(bits=32):campaign_id>/registrations/reveal", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(RevealSchema)
@documented(200, "The secret is recorded; it enters the draw", RevealedSchema,
            _404="No such campaign", _409="reveal_not_open, not_registered, no_commitment, not_a_lottery, "
            "campaign_cancelled", _422="The secret is not 64 hex digits or does not hash to your commitment")
def reveal(args, campaign_id):
    """Reveal the secret you committed to at registration: only after registration closed and before the
    draw (``draw_at``). No money moves; sending the same secret again is harmless."""
    service.get_visible(current_user(), campaign_id)
    reg = lottery.reveal(current_user().id, campaign_id, args["secret"])
    return respond({"campaign_id": campaign_id, "user_id": reg.user_id, "commitment": reg.commitment,
                    "revealed_at": _iso(reg.revealed_at)}, 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/registrations", methods=["GET"])
@requires()
@blp.response(200, out.RegistrationsSchema)
def list_registrations(campaign_id):
    """Staff: how many registered. A consumer: their own registration."""
    user = current_user()
    service.get_visible(user, campaign_id)
    if user.role == Role.CONSUMER:
        regs = service.registrations_of(campaign_id, user.id)
        return respond({"registered": bool(regs), "items": [
            {"id": r.id, "created_at": _iso(r.created_at)} for r in regs]}, 200)
    if not service.is_staff_of(user, campaign_id):
        raise Forbidden("Only the campaign's zone managers see registrations.", code="campaign_forbidden")
    return respond({"count": len(service.registrations_of(campaign_id))}, 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/draw", methods=["GET"])
@requires()
@blp.response(200, out.DrawSchema)
@blp.alt_response(409, response="CONFLICT", description="Not a lottery")
def get_draw(campaign_id):
    """The lottery's draw, published: algorithm, seed hash (from launch), seed (after the draw), packets,
    registrants (user ids and device tags) and winners — enough to recompute the winners
    (``python -m campaigns.verify_draw``). Runs a due draw that has not run yet."""
    from campaigns import tasks

    user = current_user()
    campaign = service.get_visible(user, campaign_id)
    if (campaign.kind == CampaignKind.LOTTERY and campaign.drawn_at is None and campaign.launched_at
            and campaign.cancelled_at is None and lifecycle.draw_due_at(campaign) <= utcnow()):
        service.advance(campaign_id)
        tasks.schedule_draw(campaign_id)
    return respond(lottery.document(campaign_id), 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/draw", methods=["POST"])
@requires(*STAFF)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(200, out.DrawSchema)
def run_draw(campaign_id):
    """Run a lottery's draw now (after registration closed) instead of waiting for the scheduled job."""
    user = current_user()
    service.get_managed(user, campaign_id)
    service.advance(campaign_id)

    def action():
        lottery.draw(campaign_id, commit=False)
        return lottery.document(campaign_id), 200

    body, status = idempotency.run(user.id, {"campaign_id": campaign_id, "draw": True}, action)
    return respond(body, status)


@blp.route("/campaigns/<id(bits=32):campaign_id>", methods=["PATCH"])
@requires(*STAFF)
@blp.arguments(EditCampaignSchema)
@documented(200, "The changed draft", out.CampaignSchema, _403="campaign_forbidden, zone_forbidden, funder_forbidden",
            _404="No such campaign", _409="not_draft: only drafts can be edited",
            _422="A field is invalid (named in errors)")
def edit_campaign(args, campaign_id):
    """Edit a draft (any field of ``POST /campaigns`` but ``kind``); checked as a new campaign would be."""
    return respond(campaign_json(control.edit_draft(current_user(), campaign_id, args)), 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>", methods=["DELETE"])
@requires(*STAFF)
@documented(204, "Deleted", _403="campaign_forbidden", _404="No such campaign",
            _409="not_draft: a launched campaign is cancelled, not deleted")
def delete_campaign(campaign_id):
    """Delete a draft (it never held money)."""
    control.delete_draft(current_user(), campaign_id)
    return "", 204


@blp.route("/campaigns/<id(bits=32):campaign_id>/pause", methods=["POST"])
@requires(*STAFF)
@documented(200, "The paused campaign", out.CampaignSchema, _403="campaign_forbidden", _404="No such campaign",
            _409="illegal_transition: only a live campaign can be paused")
def pause_campaign(campaign_id):
    """Pause a live campaign: claims and registrations answer 409 campaign_paused until it is resumed;
    red packets and coupons already claimed stay spendable. No money moves."""
    return respond(campaign_json(control.pause(current_user(), campaign_id)), 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/resume", methods=["POST"])
@requires(*STAFF)
@documented(200, "The live campaign", out.CampaignSchema, _403="campaign_forbidden", _404="No such campaign",
            _409="illegal_transition: only a paused campaign whose window is still open can be resumed")
def resume_campaign(campaign_id):
    """Resume a paused campaign (claims pass again)."""
    return respond(campaign_json(control.resume(current_user(), campaign_id)), 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/cancel", methods=["POST"])
@requires(*STAFF)
@blp.arguments(CancelSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@documented(200, "The cancelled campaign (settled at once with reclaim_claimed), with ``cancel``: returned_fen, "
            "reclaimed_fen, stays_spendable_fen, void_coupons", out.CampaignSchema,
            _403="campaign_forbidden", _404="No such campaign",
            _409="illegal_transition (a draft is deleted; a settled campaign is over), idempotency_key_reused",
            _422="idempotency_key_missing")
def cancel_campaign(args, campaign_id):
    """Cancel a scheduled, live, paused or ended campaign: the unclaimed budget goes back to the funder at
    once; claimed red packets and coupons stay spendable until the spend deadline unless ``reclaim_claimed``.
    Idempotent."""
    user = current_user()
    body, status = control.cancel(
        user, campaign_id, args["reclaim_claimed"], campaign_json,
        run=lambda action: idempotency.run(user.id, {"campaign_id": campaign_id, **args}, action))
    return respond(body, status)


@blp.route("/campaigns/<id(bits=32):campaign_id>/stats", methods=["GET"])
@requires(*STAFF)
@blp.response(200, out.StatsSchema)
def campaign_stats(campaign_id):
    """Live figures for the console monitor: claimed count and sum, remaining packets and budget,
    claims in the last 10 and 60 seconds, the gate's state in Redis, subsidised payments, and what a
    cancel would move now (``cancel_quote``, null when it cannot be cancelled)."""
    user = current_user()
    campaign = service.get_visible(user, campaign_id)
    body = service.stats(campaign_id)
    body["cancel_quote"] = control.quote(campaign)  # what the console's cancel confirmation names
    return respond(body, 200)


@blp.route("/campaigns/<id(bits=32):campaign_id>/settlement", methods=["GET"])
@requires(*STAFF)
@blp.response(200, out.SettlementReportSchema)
def campaign_settlement(campaign_id):
    """The settlement report: issued, claimed, spent, refunded, reclaimed, returned and held, from the
    ledger, with the identities that account for every fen."""
    service.get_visible(current_user(), campaign_id)
    return respond(settlement.report(campaign_id), 200)


@blp.route("/campaigns/simulate", methods=["POST"])
@requires(*STAFF)
@blp.arguments(SimulateSchema)
@blp.response(200, out.SimulationSchema)
def simulate(args):
    """Forecast a campaign without spending: packet amount percentiles, expected cost, and leverage
    from past campaigns in the zones."""
    allowed = service.managed_zone_ids(current_user())
    if allowed is not None and not set(args["zone_ids"]) <= allowed:
        raise Forbidden("You may only simulate campaigns in zones you manage.", code="zone_forbidden")
    if args["kind"] == CampaignKind.COUPON and not args.get("discount_fen"):
        raise ValidationFailed("A coupon needs discount_fen.", field="discount_fen")
    if args["kind"] != CampaignKind.COUPON and not args.get("budget_fen"):
        raise ValidationFailed("A red-packet campaign needs budget_fen.", field="budget_fen")
    try:
        return respond(simulator.simulate(args), 200)
    except splitter.SplitError as exc:
        raise ValidationFailed(str(exc), field="budget_fen") from None


@blp.route("/campaigns/funders", methods=["GET"])
@requires(*STAFF)
@blp.response(200, out.FunderListSchema)
def list_funders():
    """Wallets you may name as a campaign's funder, with their balance."""
    return respond({"items": [{"id": f.id, "name": f.name, "zone_id": f.zone_id, "balance_fen": balance}
                              for f, balance in service.funders_for(current_user())]}, 200)


@blp.route("/campaigns/funders", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(FunderSchema)
@blp.response(201, out.FunderOutSchema)
def add_funder(args):
    """The pilot office allows a wallet to fund promotions (in one zone, or any)."""
    f = service.add_funder(args["name"], args["phone"], args["zone_id"])
    return respond({"id": f.id, "name": f.name, "zone_id": f.zone_id}, 201)


# ---------------------------------------------------------------- a consumer's red packets and coupons


@blp.route("/wallets/me/red-packets", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, out.RedPacketsSchema)
def my_red_packets():
    """My red packets, in the order payments spend them (earliest spend deadline first)."""
    return respond(service.my_red_packets(current_user().id), 200)


@blp.route("/wallets/me/coupons", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, out.CouponsSchema)
def my_coupons():
    """My coupons: usable (claimed), used (on an order; a full refund makes it usable again), or expired."""
    return respond(service.my_coupons(current_user().id), 200)


# ---------------------------------------------------------------- zone-wide stop (emergency response, #16)


class ZoneStopSchema(StrictSchema):
    zone_id = Id(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "Why (at least 4 characters); kept in the audit log"})


class ZoneResumeSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ZoneStopQuery(StrictSchema):
    active = fields.Boolean(load_default=None)
    zone_id = Id(strict=False)


class ZoneStopOut(StrictSchema):
    id = fields.Integer()
    zone_id = fields.Integer()
    active = fields.Boolean()
    reason = fields.String()
    stopped_by_user_id = fields.Integer()
    stopped_at = fields.String()
    resumed_by_user_id = fields.Integer(allow_none=True)
    resumed_at = fields.String(allow_none=True)
    resume_reason = fields.String(allow_none=True)
    campaign_ids = fields.List(fields.Integer(), metadata={"description": "The campaigns this stop paused"})
    changed_campaign_ids = fields.List(fields.Integer(), metadata={
        "description": "The campaigns this request paused (stop) or resumed (resume)"})


class ZoneStopListOut(StrictSchema):
    items = fields.List(fields.Nested(ZoneStopOut))


def zone_stop_json(row, changed: list[int] | None = None) -> dict:
    from campaigns import zonestop

    return {"id": row.id, "zone_id": row.zone_id, "active": row.resumed_at is None, "reason": row.reason,
            "stopped_by_user_id": row.stopped_by_user_id, "stopped_at": _iso(row.stopped_at),
            "resumed_by_user_id": row.resumed_by_user_id, "resumed_at": _iso(row.resumed_at),
            "resume_reason": row.resume_reason, "campaign_ids": zonestop.campaigns_of(row.id),
            "changed_campaign_ids": changed or []}


@blp.route("/campaigns/zone-stops", methods=["POST"])
@requires(*STAFF)
@blp.arguments(ZoneStopSchema)
@documented(201, "The stop: every live campaign of the zone is paused (claims answer 409 "
                 "`zone_campaigns_stopped`), and so is any that opens while it lasts", ZoneStopOut,
            _403="campaign_forbidden: not a manager of this zone", _404="zone_not_found",
            _409="zone_already_stopped", _422="validation_failed, reason_required")
def stop_zone(args):
    """Stop every running campaign of a zone at once, with a reason (audited). No money moves; what was
    claimed stays spendable."""
    from campaigns import zonestop

    row, paused = zonestop.stop(current_user(), args["zone_id"], args["reason"])
    return respond(zone_stop_json(row, paused), 201)


@blp.route("/campaigns/zone-stops", methods=["GET"])
@requires(*STAFF)
@blp.arguments(ZoneStopQuery, location="query")
@documented(200, "`items`: zone stops of my zones (the pilot office: all), newest first", ZoneStopListOut,
            _403="role_forbidden")
def list_zone_stops(args):
    """Zone-wide campaign stops, active or ended."""
    from campaigns import zonestop

    rows = zonestop.stops(current_user(), args["active"], args.get("zone_id"))
    return respond({"items": [zone_stop_json(r) for r in rows]}, 200)


@blp.route("/campaigns/zone-stops/<id(bits=32):stop_id>/resume", methods=["POST"])
@requires(*STAFF)
@blp.arguments(ZoneResumeSchema)
@documented(200, "The ended stop: the campaigns it paused are live again (those still open and not in "
                 "another stopped zone)", ZoneStopOut,
            _403="campaign_forbidden", _404="zone_stop_not_found", _409="zone_stop_ended",
            _422="validation_failed, reason_required")
def resume_zone(args, stop_id):
    """End a zone-wide stop, with a reason (audited)."""
    from campaigns import zonestop

    row, resumed = zonestop.resume(current_user(), stop_id, args["reason"])
    return respond(zone_stop_json(row, resumed), 200)
