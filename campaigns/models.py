"""Campaign tables: campaigns, their funders, packets, claims, registrations and redemptions.

PostgreSQL is the money of record and the only durable truth of the claim
gate: a packet is claimed iff a ``campaign_claims`` row names it (unique per
campaign and packet, and per campaign and user). Redis only mirrors it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class CampaignKind:
    GRAB = "grab"  # 拼手气/固定 red packets, first come first served through the claim gate
    LOTTERY = "lottery"  # register, then a verifiable draw awards the red packets
    COUPON = "coupon"  # 满减: spend ≥ min_spend_fen, discount_fen off, funded by the campaign

    ALL = (GRAB, LOTTERY, COUPON)
    RED_PACKETS = (GRAB, LOTTERY)


class Split:
    RANDOM = "random"  # the double-mean rule
    FIXED = "fixed"

    ALL = (RANDOM, FIXED)


class CampaignStatus:
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # launched: budget escrowed, packets split, window not yet open
    LIVE = "live"  # claiming (or registering, for a lottery)
    PAUSED = "paused"  # claims (registrations) refused for now; what was claimed stays spendable
    ENDED = "ended"  # window closed; red packets and coupons spendable until spend_ends_at
    CANCELLED = "cancelled"  # stopped for good: unclaimed budget returned; claimed packets spendable to the deadline
    SETTLED = "settled"  # unspent money reclaimed and returned to the funder

    ALL = (DRAFT, SCHEDULED, LIVE, PAUSED, ENDED, CANCELLED, SETTLED)
    #: The state machine. Every change is a conditional UPDATE whose WHERE lists
    #: the sources allowed here, so an illegal or concurrent move changes nothing.
    TRANSITIONS = {
        DRAFT: {SCHEDULED},
        SCHEDULED: {LIVE, CANCELLED},
        LIVE: {PAUSED, ENDED, CANCELLED},
        PAUSED: {LIVE, ENDED, CANCELLED},  # → ended when the window closes while paused
        ENDED: {SETTLED, CANCELLED},
        CANCELLED: {SETTLED},
        SETTLED: set(),
    }
    #: States in which claimed red packets and coupons may be spent (before spend_ends_at).
    SPENDABLE = (LIVE, PAUSED, ENDED, CANCELLED)

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


class ClaimStatus:
    CLAIMED = "claimed"  # a red packet held, or a coupon ready to use
    USED = "used"  # a coupon applied to a payment (back to claimed if that payment is refunded)

    ALL = (CLAIMED, USED)


class Funder(db.Model):
    """A wallet the pilot office allows to fund promotions (in one zone, or any when ``zone_id`` is NULL)."""

    __tablename__ = "campaign_funders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), unique=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Campaign(db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("kind IN ('grab', 'lottery', 'coupon')", name="kind_known"),
        CheckConstraint("status IN ('draft', 'scheduled', 'live', 'paused', 'ended', 'cancelled', 'settled')",
                        name="status_known"),
        CheckConstraint("split IS NULL OR split IN ('random', 'fixed')", name="split_known"),
        CheckConstraint("packet_count > 0 AND budget_fen >= packet_count", name="budget_covers_packets"),
        CheckConstraint("kind <> 'coupon' OR (discount_fen > 0 AND min_spend_fen >= discount_fen "
                        "AND budget_fen = discount_fen * packet_count)", name="coupon_terms"),
        CheckConstraint("kind = 'coupon' OR split IS NOT NULL", name="red_packets_split"),
        CheckConstraint("device_cap IS NULL OR device_cap > 0", name="device_cap_positive"),
        CheckConstraint("opens_at < closes_at AND closes_at <= spend_ends_at", name="windows_ordered"),
        CheckConstraint("status = 'draft' OR account_id IS NOT NULL", name="launched_has_account"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(8))
    split: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(10), default=CampaignStatus.DRAFT, index=True)
    funder_id: Mapped[int] = mapped_column(ForeignKey("campaign_funders.id"))
    #: The escrow: a ledger account of kind 'campaign', opened at launch.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), unique=True)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    packet_count: Mapped[int] = mapped_column(Integer)
    discount_fen: Mapped[int | None] = mapped_column(BigInteger)
    min_spend_fen: Mapped[int | None] = mapped_column(BigInteger)
    stackable: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    device_cap: Mapped[int | None] = mapped_column(Integer)
    #: Wallet classes allowed to take part, as digits ("1234" = all).
    wallet_classes: Mapped[str] = mapped_column(String(4), default="1234", server_default="1234")
    wallet_opened_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Scenarios whose merchants accept it, comma-separated; NULL = every scenario.
    scenarios: Mapped[str | None] = mapped_column(String(120))
    #: Claim window (grab, coupon) or registration window (lottery; the draw runs at closes_at).
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    spend_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seed_sha256: Mapped[str | None] = mapped_column(String(64))
    seed_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    seed_hex: Mapped[str | None] = mapped_column(String(64))  # revealed after the draw
    drawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    launched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escrow_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    reclaimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the current pause, if any
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The cancel also took back the claimed red packets and voided unused coupons (then settled at once).
    cancel_reclaimed: Mapped[bool | None] = mapped_column(Boolean)
    #: Lotteries: seconds after registration closes during which registrants may reveal their secrets;
    #: the draw runs when it ends (``lifecycle.draw_due_at``).
    reveal_s: Mapped[int | None] = mapped_column(Integer)
    #: Lotteries: SHA-256 of the final registration list, fixed at the draw (see ``campaigns.draw``).
    registrations_sha256: Mapped[str | None] = mapped_column(String(64))


class CampaignZone(db.Model):
    __tablename__ = "campaign_zones"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True, index=True)


class CampaignMerchant(db.Model):
    """An explicitly listed merchant: when a campaign lists any, only those accept it."""

    __tablename__ = "campaign_merchants"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)


class Packet(db.Model):
    """One red packet (or coupon) of a launched campaign; immutable once split."""

    __tablename__ = "campaign_packets"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Claim(db.Model):
    """A packet paid to a consumer: through the gate, by the draw, or granted."""

    __tablename__ = "campaign_claims"
    __table_args__ = (
        UniqueConstraint("campaign_id", "user_id", name="uq_campaign_claims_campaign_user"),
        UniqueConstraint("campaign_id", "packet_seq", name="uq_campaign_claims_campaign_packet"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('claimed', 'used')", name="status_known"),
        CheckConstraint("via IN ('gate', 'draw', 'grant')", name="via_known"),
        CheckConstraint("status = 'claimed' OR used_order_id IS NOT NULL", name="used_has_order"),
        Index("ix_campaign_claims_user_id", "user_id"),
        Index("ix_campaign_claims_campaign_id_created_at", "campaign_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    packet_seq: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    device_id: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default=ClaimStatus.CLAIMED)
    #: Red packets: the consumer's restricted account for this campaign (its one RED_PACKET_CLAIM
    #: transfer, memo ``campaign:{id}:claim:{claim id}``, holds the packet).
    restricted_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), unique=True)
    #: Coupons: the order the coupon is applied to while used.
    used_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignDevice(db.Model):
    """How many claims a device made in a campaign: the device cap, enforced in PostgreSQL too
    (the gate's Redis count is a fast filter that a rebuild racing an in-flight claim can undercount)."""

    __tablename__ = "campaign_devices"
    __table_args__ = (CheckConstraint("claims > 0", name="claims_positive"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    claims: Mapped[int] = mapped_column(Integer)


class Registration(db.Model):
    """A consumer registered for a lottery."""

    __tablename__ = "campaign_registrations"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id", name="uq_campaign_registrations_campaign_user"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: sha256(secret) in hex, sent by the registrant's device: its entropy for the draw (see ``campaigns.draw``).
    commitment: Mapped[str | None] = mapped_column(String(64))
    #: The secret behind ``commitment``, revealed after registration closed (hex), and when.
    secret_hex: Mapped[str | None] = mapped_column(String(64))
    revealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Redemption(db.Model):
    """One subsidy leg of a payment: which claim paid how much of which order (for refunds and leverage)."""

    __tablename__ = "campaign_redemptions"
    __table_args__ = (
        UniqueConstraint("order_id", "claim_id", name="uq_campaign_redemptions_order_claim"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_bounded"),
        Index("ix_campaign_redemptions_campaign_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    claim_id: Mapped[int] = mapped_column(ForeignKey("campaign_claims.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    order_amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ZoneStop(db.Model):
    """A zone-wide stop of every running campaign (emergency response, issue #16): active until resumed.

    At most one active stop per zone (a partial unique index). The campaigns it paused are
    :class:`ZoneStopCampaign` rows; a campaign of the zone that opens while the stop is active is paused
    (and listed) as it goes live.
    """

    __tablename__ = "campaign_zone_stops"
    __table_args__ = (
        CheckConstraint("(resumed_at IS NULL) = (resumed_by_user_id IS NULL)", name="resume_has_who"),
        Index("uq_campaign_zone_stops_active", "zone_id", unique=True,
              postgresql_where=text("resumed_at IS NULL"), sqlite_where=text("resumed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    reason: Mapped[str] = mapped_column(Text)
    stopped_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    stopped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resumed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resume_reason: Mapped[str | None] = mapped_column(Text)


class ZoneStopCampaign(db.Model):
    """A campaign a zone stop paused (resuming the stop resumes it)."""

    __tablename__ = "campaign_zone_stop_campaigns"

    stop_id: Mapped[int] = mapped_column(ForeignKey("campaign_zone_stops.id"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True, index=True)
