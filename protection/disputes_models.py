"""Complaint and dispute tables (消费者投诉与争议): the complaint, its state, deadlines and decision; its photos."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.payments.models import BIGINT


class SubjectKind:
    PAYMENT = "payment"  # an order the consumer paid
    CONTRACT = "contract"  # a prepaid contract the consumer bought
    MERCHANT = "merchant"  # a merchant as such (no particular payment)

    ALL = (PAYMENT, CONTRACT, MERCHANT)


class ComplaintStatus:
    OPEN = "open"  # waiting for the merchant's answer (and the bank's decision)
    ANSWERED = "answered"  # the merchant answered; waiting for the bank's decision
    UPHELD = "upheld"  # the bank found for the consumer (with or without a refund)
    REJECTED = "rejected"  # the bank found for the merchant
    WITHDRAWN = "withdrawn"  # the consumer withdrew it

    ALL = (OPEN, ANSWERED, UPHELD, REJECTED, WITHDRAWN)
    PENDING = (OPEN, ANSWERED)
    DECIDED = (UPHELD, REJECTED)
    #: The state machine: every change is a conditional UPDATE whose WHERE lists the sources allowed here.
    #: The bank may decide before the merchant answered (the merchant's deadline may have passed).
    TRANSITIONS = {OPEN: {ANSWERED, UPHELD, REJECTED, WITHDRAWN}, ANSWERED: {UPHELD, REJECTED, WITHDRAWN},
                   UPHELD: set(), REJECTED: set(), WITHDRAWN: set()}

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


def _in(column: str, values) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Complaint(db.Model):
    """A consumer's complaint on a payment, a prepaid contract or a merchant, until the bank decides it.

    ``bank_id`` is the merchant's operator bank: its reviewers decide (others see nothing). One complaint
    per consumer and subject may be pending at a time (a partial unique index).
    """

    __tablename__ = "protection_complaints"
    __table_args__ = (
        CheckConstraint(_in("subject_kind", SubjectKind.ALL), name="subject_known"),
        CheckConstraint(_in("status", ComplaintStatus.ALL), name="status_known"),
        CheckConstraint("refund_fen >= 0", name="refund_not_negative"),
        CheckConstraint("(status IN ('upheld', 'rejected')) = (decided_at IS NOT NULL)", name="decided_has_when"),
        Index("uq_protection_complaints_pending", "consumer_user_id", "subject_kind", "subject_id", unique=True,
              postgresql_where=text("status IN ('open', 'answered')"),
              sqlite_where=text("status IN ('open', 'answered')")),
        Index("ix_protection_complaints_bank_status", "bank_id", "status"),
        Index("ix_protection_complaints_merchant_created_at", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(10))
    #: The order's, contract's or merchant's id (as ``subject_kind`` says).
    subject_id: Mapped[int] = mapped_column(BigInteger)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("operator_banks.id"))
    consumer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    category: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=ComplaintStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answer_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decision_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set by the periodic job when the merchant let its answer deadline pass unanswered.
    answer_overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set by the periodic job when the bank let its decision deadline pass: the pilot office takes it up.
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ComplaintPhoto(db.Model):
    """A photo attached by the complainant: JPEG or PNG (checked by its bytes), kept in the database."""

    __tablename__ = "protection_complaint_photos"
    __table_args__ = (CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="type_known"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("protection_complaints.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
