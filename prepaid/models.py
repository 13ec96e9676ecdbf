"""Prepaid tables: prepaid merchants and their regulators, the limits (as data), plans, contracts with
their escrow accounts, releases, and closure runs.

The ledger is the money of record: each contract's escrow is a ledger account of kind ``prepaid``;
``units_left`` here says how much of it is still the consumer's (``prepaid.service.escrow_due``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

BIGINT = BigInteger().with_variant(Integer, "sqlite")

#: Industries that sell prepaid plans (单用途预付卡 sectors), with their Chinese names.
INDUSTRIES = {
    "sports_fitness": "体育健身",
    "education_training": "教育培训",
    "beauty": "美容美发",
    "laundry": "洗衣洗护",
    "others": "其他",
}
TRAINING = "education_training"


def _in(column: str, values) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class PrepaidMerchantStatus:
    PENDING = "pending"  # applied; the merchant's operator bank reviews it
    APPROVED = "approved"  # may publish plans and sell
    REJECTED = "rejected"  # may apply again
    SUSPENDED = "suspended"  # by its bank or a regulator: open contracts are refunded, no sales or releases
    CLOSED = "closed"  # for good: open contracts are refunded

    ALL = (PENDING, APPROVED, REJECTED, SUSPENDED, CLOSED)
    TRANSITIONS = {
        PENDING: {APPROVED, REJECTED},
        APPROVED: {SUSPENDED, CLOSED},
        SUSPENDED: {APPROVED, CLOSED},
        REJECTED: {PENDING},
        CLOSED: set(),
    }
    #: States whose open contracts are refunded by a closure run.
    FAILED = (SUSPENDED, CLOSED)

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


class PrepaidMerchant(db.Model):
    """A merchant's acceptance for prepaid sales (预付费商户), reviewed by the merchant's operator bank."""

    __tablename__ = "prepaid_merchants"
    __table_args__ = (
        CheckConstraint(_in("industry", INDUSTRIES), name="industry_known"),
        CheckConstraint(_in("status", PrepaidMerchantStatus.ALL), name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), unique=True)
    industry: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(12), default=PrepaidMerchantStatus.PENDING)
    applied_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Regulator(db.Model):
    """An industry regulator's login (role ``industry_regulator``) and the authority it speaks for."""

    __tablename__ = "prepaid_regulators"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    authority: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RegulatorIndustry(db.Model):
    """An industry a regulator supervises; it sees that industry's prepaid merchants only."""

    __tablename__ = "prepaid_regulator_industries"
    __table_args__ = (CheckConstraint(_in("industry", INDUSTRIES), name="industry_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("prepaid_regulators.user_id"), primary_key=True)
    industry: Mapped[str] = mapped_column(String(24), primary_key=True)


class PrepaidRule(db.Model):
    """One limit of the single-purpose prepaid rules, as data (defaults in ``prepaid.rules.DEFAULTS``)."""

    __tablename__ = "prepaid_rules"
    __table_args__ = (CheckConstraint("value >= 0", name="value_not_negative"),)

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlanKind:
    SESSIONS = "sessions"  # N sessions at a unit price (次卡/课时包); one use releases one unit price
    STORED_VALUE = "stored_value"  # pay P, get P + bonus of value (储值卡); a use spends value, releases its share
    TIME_PASS = "time_pass"  # M months (30 days each) of service (期限卡); released day by day

    ALL = (SESSIONS, STORED_VALUE, TIME_PASS)


class PlanStatus:
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"

    ALL = (ACTIVE, WITHDRAWN)


class Plan(db.Model):
    """A plan a prepaid merchant sells. ``units``: sessions, fen of value, or days."""

    __tablename__ = "prepaid_plans"
    __table_args__ = (
        CheckConstraint(_in("kind", PlanKind.ALL), name="kind_known"),
        CheckConstraint(_in("status", PlanStatus.ALL), name="status_known"),
        CheckConstraint("price_fen > 0 AND units > 0", name="price_units_positive"),
        CheckConstraint("kind <> 'sessions' OR price_fen = units * unit_price_fen", name="sessions_priced"),
        CheckConstraint("kind <> 'stored_value' OR units = price_fen + bonus_fen", name="value_is_price_and_bonus"),
        CheckConstraint("bonus_fen >= 0", name="bonus_not_negative"),
        CheckConstraint("refund_fee_bp BETWEEN 0 AND 10000", name="fee_bounded"),
        CheckConstraint("cooling_off_days >= 0 AND valid_days > 0", name="periods_sane"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prepaid_merchant_id: Mapped[int] = mapped_column(ForeignKey("prepaid_merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(60))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    unit_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    bonus_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    months: Mapped[int | None] = mapped_column(Integer)
    valid_days: Mapped[int] = mapped_column(Integer)
    cooling_off_days: Mapped[int] = mapped_column(Integer)
    refund_fee_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The split rule, resolved: JSON ``[{"account_id", "share_bp", "label", "merchant_id"|"wallet_number"}]``,
    #: the selling merchant first; shares add up to 10,000 basis points.
    split_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=PlanStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractStatus:
    ACTIVE = "active"  # escrow holds the unreleased units
    COMPLETED = "completed"  # every unit released
    REFUNDED = "refunded"  # what was left went back to the consumer (cooling-off, late, or closure)

    ALL = (ACTIVE, COMPLETED, REFUNDED)


class RefundKind:
    COOLING_OFF = "cooling_off"  # within the cooling-off period: everything left, no fee
    LATE = "late"  # after it: the unused part minus the plan's fee
    CLOSURE = "closure"  # the merchant was suspended or closed: everything left, no fee

    ALL = (COOLING_OFF, LATE, CLOSURE)


class Contract(db.Model):
    """One purchase of a plan: its terms (hashed), its escrow account, and the units not yet released."""

    __tablename__ = "prepaid_contracts"
    __table_args__ = (
        CheckConstraint(_in("status", ContractStatus.ALL), name="status_known"),
        CheckConstraint("price_fen > 0 AND units_total > 0", name="price_units_positive"),
        CheckConstraint("units_left >= 0 AND units_left <= units_total", name="units_left_bounded"),
        CheckConstraint("status = 'active' OR units_left = 0", name="ended_has_nothing_left"),
        CheckConstraint("refund_kind IS NULL OR " + _in("refund_kind", RefundKind.ALL), name="refund_kind_known"),
        CheckConstraint("(status = 'refunded') = (refund_kind IS NOT NULL)", name="refunded_has_kind"),
        CheckConstraint("refunded_fen >= 0 AND fee_fen >= 0", name="refund_not_negative"),
        Index("ix_prepaid_contracts_merchant_status", "prepaid_merchant_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    #: The contract number printed on the terms (and hashed with them).
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: The secret the consumer's app shows as a QR for the merchant to scan (release).
    code: Mapped[str] = mapped_column(String(40), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("prepaid_plans.id"), index=True)
    prepaid_merchant_id: Mapped[int] = mapped_column(ForeignKey("prepaid_merchants.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    consumer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    wallet_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    escrow_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    units_total: Mapped[int] = mapped_column(BigInteger)
    units_left: Mapped[int] = mapped_column(BigInteger)
    refund_fee_bp: Mapped[int] = mapped_column(Integer)
    cooling_off_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terms_json: Mapped[str] = mapped_column(Text)
    terms_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=ContractStatus.ACTIVE)
    purchase_transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"))
    refund_kind: Mapped[str | None] = mapped_column(String(12))
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refund_batch_id: Mapped[str | None] = mapped_column(String(36))
    closure_id: Mapped[int | None] = mapped_column(ForeignKey("prepaid_closures.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Release(db.Model):
    """Units of a contract released to the merchant (核销), with the fen that moved out of escrow."""

    __tablename__ = "prepaid_releases"
    __table_args__ = (
        CheckConstraint("units > 0 AND amount_fen >= 0", name="units_positive"),
        CheckConstraint(_in("via", ("scan", "time")), name="via_known"),
        Index("ix_prepaid_releases_contract_id", "contract_id"),
        Index("ix_prepaid_releases_merchant_created_at", "prepaid_merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("prepaid_contracts.id"))
    prepaid_merchant_id: Mapped[int] = mapped_column(ForeignKey("prepaid_merchants.id"))
    units: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    units_left_after: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str] = mapped_column(String(36))
    via: Mapped[str] = mapped_column(String(6))
    released_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Closure(db.Model):
    """A run refunding every open contract of a suspended or closed merchant, with its progress."""

    __tablename__ = "prepaid_closures"
    __table_args__ = (
        CheckConstraint(_in("status", ("running", "done")), name="status_known"),
        CheckConstraint("counted >= 0 AND refunded >= 0 AND failed >= 0", name="progress_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prepaid_merchant_id: Mapped[int] = mapped_column(ForeignKey("prepaid_merchants.id"), index=True)
    target_status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text)
    requested_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(8), default="running")
    counted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Complaint(db.Model):
    """A consumer's complaint about a contract's merchant (counted in credit grades and supervision)."""

    __tablename__ = "prepaid_complaints"
    __table_args__ = (Index("ix_prepaid_complaints_merchant_created_at", "prepaid_merchant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("prepaid_contracts.id"), index=True)
    prepaid_merchant_id: Mapped[int] = mapped_column(ForeignKey("prepaid_merchants.id"))
    consumer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GradeKind:
    COMPUTED = "computed"  # the daily computation (``prepaid.grades``), one per merchant and day
    OVERRIDE = "override"  # a regulator's grade with a written reason; stands until cleared
    CLEARED = "cleared"  # a regulator lifted its override; the computed grade applies again

    ALL = (COMPUTED, OVERRIDE, CLEARED)


class Grade(db.Model):
    """The history of a prepaid merchant's credit grade (信用等级): computations and regulators' overrides."""

    __tablename__ = "prepaid_grades"
    __table_args__ = (
        CheckConstraint(_in("kind", GradeKind.ALL), name="kind_known"),
        CheckConstraint("grade IS NULL OR grade IN ('A', 'B', 'C')", name="grade_known"),
        CheckConstraint("(kind = 'cleared') = (grade IS NULL)", name="grade_unless_cleared"),
        CheckConstraint("kind = 'computed' OR (reason IS NOT NULL AND by_user_id IS NOT NULL)",
                        name="override_has_reason"),
        CheckConstraint("(kind = 'computed') = (day IS NOT NULL)", name="computed_has_day"),
        # Once per merchant and day: a second run of the daily job inserts nothing.
        UniqueConstraint("prepaid_merchant_id", "day", name="uq_prepaid_grades_merchant_day"),
        Index("ix_prepaid_grades_merchant_id", "prepaid_merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prepaid_merchant_id: Mapped[int] = mapped_column(ForeignKey("prepaid_merchants.id"))
    kind: Mapped[str] = mapped_column(String(10))
    grade: Mapped[str | None] = mapped_column(String(1))
    score: Mapped[int | None] = mapped_column(Integer)
    inputs_json: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    day: Mapped[date | None] = mapped_column(Date)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RequestStatus:
    PENDING = "pending"  # the shop asked; the consumer has not answered
    CONFIRMED = "confirmed"  # the consumer confirmed: the units were released
    DECLINED = "declined"  # the consumer said no; nothing moved

    ALL = (PENDING, CONFIRMED, DECLINED)


class ReleaseRequest(db.Model):
    """A shop's request to release units of a contract, which the consumer confirms in the app (the other way
    to 核销 besides scanning the consumer's code)."""

    __tablename__ = "prepaid_release_requests"
    __table_args__ = (
        CheckConstraint(_in("status", RequestStatus.ALL), name="status_known"),
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("(status = 'confirmed') = (release_id IS NOT NULL)", name="confirmed_has_release"),
        Index("ix_prepaid_release_requests_contract_status", "contract_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("prepaid_contracts.id"))
    units: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default=RequestStatus.PENDING)
    requested_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("prepaid_releases.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
