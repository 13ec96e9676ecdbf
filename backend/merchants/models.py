"""A merchant, reviewed by its operator bank before it may collect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

#: The seven scenarios (场景) the pilot counts per zone.
SCENARIOS = {
    "food": "食",
    "lodging": "住",
    "transport": "行",
    "tourism": "游",
    "shopping": "购",
    "entertainment": "娱",
    "medical": "医",
}


class MerchantStatus:
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"

    ALL = (PENDING, APPROVED, REJECTED, SUSPENDED)
    #: Allowed moves; anything else raises. A rejected applicant applies again.
    TRANSITIONS = {
        PENDING: {APPROVED, REJECTED},
        APPROVED: {SUSPENDED},
        SUSPENDED: {APPROVED},
        REJECTED: set(),
    }

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


class Merchant(db.Model):
    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'suspended')", name="status_known"),
        CheckConstraint(
            "scenario IN ('food', 'lodging', 'transport', 'tourism', 'shopping', 'entertainment', 'medical')",
            name="scenario_known",
        ),
        CheckConstraint("status <> 'approved' OR account_id IS NOT NULL", name="approved_has_wallet"),
        CheckConstraint("refund_approval_above_fen IS NULL OR refund_approval_above_fen >= 0",
                        name="refund_approval_above_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(25))
    name_en: Mapped[str] = mapped_column(String(25))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)  # unified social credit code
    mcc: Mapped[str] = mapped_column(String(4))
    scenario: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(15), default="Guangzhou", server_default="Guangzhou")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    bank_id: Mapped[int] = mapped_column(ForeignKey("operator_banks.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=MerchantStatus.PENDING)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), unique=True)
    reviewed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Refunds above this need the owner's password (an approval, ``backend.payments.refund_approval``);
    #: ``None``: no password is asked. Set by the owner.
    refund_approval_above_fen: Mapped[int | None] = mapped_column(BigInteger)


class MerchantStaff(db.Model):
    """A cashier of one merchant, with the refund limit the owner set."""

    __tablename__ = "merchant_staff"
    __table_args__ = (CheckConstraint("refund_limit_fen >= 0", name="refund_limit_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    refund_limit_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
