"""The campaigns' ``FundingProvider``: which red packets and coupons pay part of a payment.

For a payment of ``amount_fen`` at a merchant, inside the payment transaction:

1. Coupons (满减) are priced first, on the order amount: among the payer's
   unused coupons whose campaign accepts this merchant, is within its spend
   deadline and whose ``min_spend_fen`` ≤ the order amount, the best
   non-stackable one (largest discount, then earliest deadline) plus every
   stackable one, as long as the discounts fit in the amount. Each is marked
   used by a conditional UPDATE (so two payments cannot both use it).
2. Red packets then pay what the discount leaves, from the payer's
   restricted balances of campaigns accepting this merchant, earliest spend
   deadline first.
3. The payer's main balance pays the rest (``backend.payments``).

The legs are returned red packets first, then coupons: each red-packet leg
debits the consumer's restricted account (RED_PACKET_SPEND), each coupon leg
the campaign account (COUPON_SUBSIDY), and all of them credit the merchant,
who always receives the full price. Discounting first and spending red
packets on the remainder is what 满减 means (the coupon lowers the price),
and it never leaves red-packet money unused that a smaller coupon would
have left.

Every leg is recorded in ``campaign_redemptions`` (for refunds and the
zone's leverage figures). A refund reverses legs into their source; this
provider is told and, for a coupon whose discount came back in full, makes
it usable again; money refunded after the spend deadline or after
settlement is forwarded at once (RECLAIM to the campaign account, RETURN to
the funder), so every fen ends where the settlement report says. After a
cancel (``campaigns.control``) a coupon's refunded discount goes on to the
funder and the coupon is not made usable again: the cancel kept escrowed
only the coupons unused at that moment.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, or_, select, update

from backend import clock
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Account
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant
from backend.payments.funding import SubsidyLeg
from campaigns import lifecycle
from campaigns.eligibility import accepting_campaigns
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Claim, ClaimStatus, Redemption


def leg_ref(campaign_id: int, claim_id: int) -> str:
    return f"campaign:{campaign_id}:claim:{claim_id}"


def parse_ref(ref: str) -> tuple[int, int] | None:
    parts = (ref or "").split(":")
    if len(parts) == 4 and parts[0] == "campaign" and parts[2] == "claim" and parts[1].isdigit() \
            and parts[3].isdigit():
        return int(parts[1]), int(parts[3])
    return None


# Built once (every payment asks): a claim of the payer that could pay part of a payment now.
_SPENDABLE_CLAIM = (
    select(Claim.id).join(Campaign, Campaign.id == Claim.campaign_id)
    .outerjoin(Account, Account.id == Claim.restricted_account_id)
    .where(Claim.user_id == bindparam("payer"),
           or_(*(Campaign.status == s for s in CampaignStatus.SPENDABLE)),
           Campaign.spend_ends_at > bindparam("at"),
           or_(and_(Campaign.kind == CampaignKind.COUPON, Claim.status == ClaimStatus.CLAIMED),
               and_(Campaign.kind != CampaignKind.COUPON, Account.balance_fen > 0)))
    .limit(1)
)


def _compiled(stmt) -> tuple[str, dict]:
    from sqlalchemy.dialects.postgresql.base import PGDialect

    compiled = stmt.compile(dialect=PGDialect(paramstyle="named"))
    return str(compiled), {k: v for k, v in compiled.params.items() if k not in {"payer", "at"}}


_SPENDABLE_SQL = _compiled(_SPENDABLE_CLAIM)


class CampaignFunding:
    """Registered with ``backend.payments.funding.register`` in ``campaigns.init_app``."""

    def legs(self, *, order_id: int, payer_user_id: int, merchant_id: int, amount_fen: int) -> list[SubsidyLeg]:
        """Reserve and return the subsidy legs of a payment (sum ≤ ``amount_fen``); see the module doc."""
        return self._plan(payer_user_id, merchant_id, amount_fen, order_id=order_id)

    def quote(self, *, payer_user_id: int, merchant_id: int, amount_fen: int) -> list[SubsidyLeg]:
        """Return the legs a payment made now would get, reserving and writing nothing (for a preview).

        The same choice as ``legs``; a payment racing with another may still get less."""
        return self._plan(payer_user_id, merchant_id, amount_fen, order_id=None)

    def _plan(self, payer_user_id: int, merchant_id: int, amount_fen: int, *, order_id: int | None) \
            -> list[SubsidyLeg]:
        """Choose the legs; with an ``order_id`` mark the coupons used and record the redemptions."""
        at = clock.utcnow()
        rows = db.session.execute(
            select(Claim.id, Claim.campaign_id, Claim.restricted_account_id, Claim.status,
                   Account.balance_fen, Campaign.kind, Campaign.scenarios, Campaign.spend_ends_at,
                   Campaign.discount_fen, Campaign.min_spend_fen, Campaign.stackable, Campaign.account_id)
            .join(Campaign, Campaign.id == Claim.campaign_id)
            .outerjoin(Account, Account.id == Claim.restricted_account_id)
            .where(Claim.user_id == payer_user_id, Campaign.status.in_(CampaignStatus.SPENDABLE),
                   Campaign.spend_ends_at > at)
            .order_by(Campaign.spend_ends_at, Claim.id)
        ).all()
        rows = [r for r in rows if (r.kind == CampaignKind.COUPON and r.status == ClaimStatus.CLAIMED)
                or (r.kind != CampaignKind.COUPON and (r.balance_fen or 0) > 0)]
        if not rows:
            return []
        merchant = db.session.get(Merchant, merchant_id)
        accepting = accepting_campaigns(merchant_id, merchant.scenario, {r.campaign_id: r.scenarios for r in rows})
        rows = [r for r in rows if r.campaign_id in accepting]
        reachable = [r for r in rows if r.kind == CampaignKind.COUPON and r.min_spend_fen <= amount_fen]
        coupons = self._use_coupons(order_id, amount_fen, reachable)
        left = amount_fen - sum(r.discount_fen for r in coupons)
        legs, records = [], []
        for r in rows:
            if r.kind == CampaignKind.COUPON or left == 0:
                continue
            part = min(r.balance_fen, left)
            legs.append(SubsidyLeg(r.restricted_account_id, part, TransferCode.RED_PACKET_SPEND,
                                   leg_ref(r.campaign_id, r.id)))
            records.append((r, part))
            left -= part
        for r in coupons:
            legs.append(SubsidyLeg(r.account_id, r.discount_fen, TransferCode.COUPON_SUBSIDY,
                                   leg_ref(r.campaign_id, r.id)))
            records.append((r, r.discount_fen))
        if records and order_id is not None:
            db.session.execute(insert(Redemption), [
                {"order_id": order_id, "campaign_id": r.campaign_id, "claim_id": r.id, "amount_fen": part,
                 "order_amount_fen": amount_fen, "refunded_fen": 0, "created_at": at}
                for r, part in records
            ])
        return legs

    def may_fund_sql(self) -> tuple[str, dict]:
        """``may_fund``'s own statement as SQL text (``:payer``, ``:at``) with its fixed parameters, for
        PostgreSQL's one-call payment (``backend.payments.express``): a payer it matches takes the general path."""
        return _SPENDABLE_SQL

    def may_fund(self, *, payer_user_id: int) -> bool:
        """Whether the payer holds anything spendable now: an unused coupon or a red-packet balance of a
        campaign within its spend deadline (whether this merchant accepts it is for ``legs`` to say)."""
        return db.session.execute(_SPENDABLE_CLAIM, {"payer": payer_user_id, "at": clock.utcnow()}).first() \
            is not None

    @staticmethod
    def _use_coupons(order_id: int | None, amount_fen: int, candidates: list) -> list:
        """Pick the coupons for an order (best non-stackable + all stackable that fit); mark them used
        (only with an ``order_id``: a quote picks the same ones and marks nothing)."""
        best_first = sorted(candidates, key=lambda r: (-r.discount_fen, r.spend_ends_at, r.id))
        single = next((r for r in best_first if not r.stackable), None)
        chosen, total = [], 0
        for r in ([single] if single else []) + [r for r in best_first if r.stackable]:
            if total + r.discount_fen > amount_fen:
                continue
            taken = 1 if order_id is None else db.session.execute(
                update(Claim.__table__).where(Claim.id == r.id, Claim.status == ClaimStatus.CLAIMED)
                .values(status=ClaimStatus.USED, used_order_id=order_id)
            ).rowcount
            if taken == 1:
                chosen.append(r)
                total += r.discount_fen
        return chosen

    def leg_refunded(self, *, order_id: int, ref: str, amount_fen: int) -> None:
        """Record that ``amount_fen`` of leg ``ref`` went back to its source (in the refund transaction)."""
        parsed = parse_ref(ref)
        if parsed is None:
            return
        campaign_id, claim_id = parsed
        row = db.session.execute(
            update(Redemption.__table__)
            .where(Redemption.order_id == order_id, Redemption.claim_id == claim_id,
                   Redemption.refunded_fen + amount_fen <= Redemption.amount_fen)
            .values(refunded_fen=Redemption.refunded_fen + amount_fen)
            .returning(Redemption.amount_fen, Redemption.refunded_fen)
        ).one_or_none()
        if row is None:
            raise RuntimeError(f"refund of {amount_fen} fen on {ref} of order {order_id} exceeds its redemption")
        campaign = db.session.execute(
            select(Campaign.kind, Campaign.status, Campaign.spend_ends_at, Campaign.account_id,
                   Campaign.reclaimed_at, Campaign.funder_id).where(Campaign.id == campaign_id)
        ).one()
        claim = db.session.execute(select(Claim.restricted_account_id).where(Claim.id == claim_id)).one()
        cancelled = campaign.status == CampaignStatus.CANCELLED
        if campaign.kind == CampaignKind.COUPON and row.refunded_fen == row.amount_fen and not cancelled:
            db.session.execute(
                update(Claim.__table__)
                .where(Claim.id == claim_id, Claim.status == ClaimStatus.USED, Claim.used_order_id == order_id)
                .values(status=ClaimStatus.CLAIMED, used_order_id=None)
            )
        memo = f"campaign:{campaign_id}:refund:order:{order_id}"
        past_deadline = clock.as_utc(campaign.spend_ends_at) <= clock.utcnow()
        if claim.restricted_account_id and (past_deadline or campaign.reclaimed_at is not None
                                            or campaign.status == CampaignStatus.SETTLED):
            ledger.transfer(claim.restricted_account_id, campaign.account_id, amount_fen, TransferCode.RECLAIM,
                            memo=memo, limited=False)
        # A settled campaign returns what comes back; so does a cancelled one for coupon money (a cancel
        # keeps escrowed only the coupons still unused, and a refunded coupon is not made usable again).
        if campaign.status == CampaignStatus.SETTLED or (cancelled and campaign.kind == CampaignKind.COUPON):
            ledger.transfer(campaign.account_id, lifecycle.funder_account(campaign.funder_id), amount_fen,
                            TransferCode.RETURN, memo=memo, limited=False)
