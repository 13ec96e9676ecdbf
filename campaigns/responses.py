"""The campaigns endpoints' response bodies, for the OpenAPI document (the views build the JSON)."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.merchants.models import SCENARIOS
from backend.schemas import OpenSchema, StrictSchema
from campaigns.models import CampaignKind, CampaignStatus, ClaimStatus, Split


class EligibilitySchema(StrictSchema):
    wallet_classes = fields.List(fields.Integer(validate=validate.OneOf((1, 2, 3, 4))), required=True)
    wallet_opened_after = fields.DateTime(required=True, allow_none=True)


class WindowsSchema(StrictSchema):
    """Claim window (grab, coupon) or registration window (lottery), and the spending deadline."""

    claim_starts_at = fields.DateTime()
    claim_ends_at = fields.DateTime()
    registration_starts_at = fields.DateTime()
    registration_ends_at = fields.DateTime()
    spend_ends_at = fields.DateTime(required=True)


class FunderRefSchema(StrictSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class MyClaimSchema(StrictSchema):
    claim_id = fields.Integer(required=True)
    amount_fen = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ClaimStatus.ALL))


class MyPartSchema(StrictSchema):
    claimed = fields.Boolean(required=True)
    registered = fields.Boolean(required=True)
    claim = fields.Nested(MyClaimSchema, required=True, allow_none=True)


class CampaignSchema(OpenSchema):
    """A campaign. Staff also see ``funder``, ``account_id``, ``escrow_transfer_id`` and
    ``created_by_user_id``; a consumer asking for one campaign also sees ``me``."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CampaignKind.ALL))
    split = fields.String(required=True, allow_none=True, validate=validate.OneOf(Split.ALL))
    status = fields.String(required=True, validate=validate.OneOf(CampaignStatus.ALL))
    zone_ids = fields.List(fields.Integer(), required=True)
    merchant_ids = fields.List(fields.Integer(), required=True)
    scenarios = fields.List(fields.String(validate=validate.OneOf(tuple(SCENARIOS))), required=True, allow_none=True)
    packet_count = fields.Integer(required=True)
    budget_fen = fields.Integer(required=True, allow_none=True)
    discount_fen = fields.Integer(required=True, allow_none=True)
    min_spend_fen = fields.Integer(required=True, allow_none=True)
    stackable = fields.Boolean(required=True)
    per_user_cap = fields.Integer(required=True)
    device_cap = fields.Integer(required=True, allow_none=True)
    eligibility = fields.Nested(EligibilitySchema, required=True)
    windows = fields.Nested(WindowsSchema, required=True)
    seed_sha256 = fields.String(required=True, allow_none=True)
    drawn_at = fields.DateTime(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    launched_at = fields.DateTime(required=True, allow_none=True)
    settled_at = fields.DateTime(required=True, allow_none=True)
    funder = fields.Nested(FunderRefSchema)
    account_id = fields.Integer(allow_none=True)
    escrow_transfer_id = fields.Integer(allow_none=True)
    created_by_user_id = fields.Integer(allow_none=True)
    me = fields.Nested(MyPartSchema)
    accepted_here = fields.Boolean(metadata={"description": "Listed with ``merchant_id``: whether that merchant "
                                                            "takes this campaign's red packets and coupons."})


class CampaignPageSchema(StrictSchema):
    items = fields.List(fields.Nested(CampaignSchema), required=True)
    next_before = fields.Integer(required=True, allow_none=True)


class ClaimResultSchema(StrictSchema):
    claim_id = fields.Integer(required=True)
    campaign_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CampaignKind.ALL))
    packet_seq = fields.Integer(required=True)
    amount_fen = fields.Integer(required=True)
    via = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ClaimStatus.ALL))
    discount_fen = fields.Integer(required=True, allow_none=True)
    min_spend_fen = fields.Integer(required=True, allow_none=True)
    spend_ends_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)


class RegistrationSchema(StrictSchema):
    id = fields.Integer(required=True)
    campaign_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class MyRegistrationSchema(StrictSchema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class RegistrationsSchema(StrictSchema):
    """Staff: ``count``. A consumer: ``registered`` and their own registration in ``items``."""

    count = fields.Integer()
    registered = fields.Boolean()
    items = fields.List(fields.Nested(MyRegistrationSchema))


class DrawSchema(OpenSchema):
    """The published draw: enough to recompute the winners (``python -m campaigns.verify_draw``)."""

    campaign_id = fields.Integer(required=True)
    status = fields.String(required=True)
    seed_sha256 = fields.String(required=True, allow_none=True)
    seed = fields.String(required=True, allow_none=True, metadata={"description": "Revealed once drawn"})
    packets = fields.List(fields.Dict(), required=True)
    registrants = fields.List(fields.Dict(), required=True)
    winners = fields.List(fields.Dict(), required=True)


class StatsSchema(OpenSchema):
    campaign_id = fields.Integer(required=True)
    status = fields.String(required=True)
    kind = fields.String(required=True)
    packet_count = fields.Integer(required=True)
    claimed_count = fields.Integer(required=True)
    claimed_fen = fields.Integer(required=True)
    as_of = fields.DateTime(required=True)


class SettlementCheckSchema(StrictSchema):
    name = fields.String(required=True)
    left_fen = fields.Integer(required=True)
    right_fen = fields.Integer(required=True)
    ok = fields.Boolean(required=True)


class SettlementReportSchema(OpenSchema):
    """Every figure from the ledger, with the identities that account for every fen."""

    campaign_id = fields.Integer(required=True)
    status = fields.String(required=True)
    issued_fen = fields.Integer(required=True)
    balanced = fields.Boolean(required=True)
    checks = fields.List(fields.Nested(SettlementCheckSchema), required=True)


class SimulationSchema(OpenSchema):
    kind = fields.String(required=True, validate=validate.OneOf(CampaignKind.ALL))
    packet_count = fields.Integer(required=True)
    trials = fields.Integer(required=True)
    seed = fields.Integer(required=True)


class FunderOutSchema(StrictSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    zone_id = fields.Integer(required=True, allow_none=True)


class FunderBalanceSchema(FunderOutSchema):
    balance_fen = fields.Integer(required=True)


class FunderListSchema(StrictSchema):
    items = fields.List(fields.Nested(FunderBalanceSchema), required=True)


class CampaignRefSchema(StrictSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(validate=validate.OneOf(CampaignKind.ALL))


class RedPacketSchema(StrictSchema):
    claim_id = fields.Integer(required=True)
    campaign = fields.Nested(CampaignRefSchema, required=True)
    amount_fen = fields.Integer(required=True)
    balance_fen = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(("active", "spent", "expired")))
    via = fields.String(required=True)
    claimed_at = fields.DateTime(required=True)
    spend_ends_at = fields.DateTime(required=True)


class RedPacketsSchema(StrictSchema):
    items = fields.List(fields.Nested(RedPacketSchema), required=True)
    spendable_fen = fields.Integer(required=True)


class CouponSchema(StrictSchema):
    claim_id = fields.Integer(required=True)
    campaign = fields.Nested(CampaignRefSchema, required=True)
    discount_fen = fields.Integer(required=True)
    min_spend_fen = fields.Integer(required=True)
    stackable = fields.Boolean(required=True)
    state = fields.String(required=True, validate=validate.OneOf((*ClaimStatus.ALL, "expired")))
    used_order_id = fields.Integer(required=True, allow_none=True)
    claimed_at = fields.DateTime(required=True)
    spend_ends_at = fields.DateTime(required=True)


class CouponsSchema(StrictSchema):
    items = fields.List(fields.Nested(CouponSchema), required=True)
