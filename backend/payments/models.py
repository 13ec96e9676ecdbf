"""Orders (one per collection, whatever the channel), refunds, QR keys, pay-code devices."""

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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class OrderStatus:
    CREATED = "created"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"

    ALL = (CREATED, PAID, EXPIRED, CANCELLED, PARTIALLY_REFUNDED, REFUNDED)
    FINAL_FOR_PAYMENT = (PAID, EXPIRED, CANCELLED, PARTIALLY_REFUNDED, REFUNDED)
    #: The state machine. Every status change is a conditional UPDATE whose
    #: WHERE lists the sources allowed here, so an illegal move changes nothing.
    TRANSITIONS = {
        CREATED: {PAID, EXPIRED, CANCELLED},
        PAID: {PARTIALLY_REFUNDED, REFUNDED},
        PARTIALLY_REFUNDED: {PARTIALLY_REFUNDED, REFUNDED},
        EXPIRED: set(),
        CANCELLED: set(),
        REFUNDED: set(),
    }

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


class OrderKind:
    DYNAMIC = "dynamic"  # merchant shows a signed code for an amount
    STATIC = "static"  # consumer scans the printed code and types the amount
    PAYCODE = "paycode"  # merchant scans the consumer's payment code


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_bounded"),
        CheckConstraint(
            "status IN ('created', 'paid', 'expired', 'cancelled', 'partially_refunded', 'refunded')",
            name="status_known",
        ),
        CheckConstraint("kind IN ('dynamic', 'static', 'paycode')", name="kind_known"),
        CheckConstraint("status IN ('created', 'expired', 'cancelled') OR payment_transfer_id IS NOT NULL",
                        name="paid_has_transfer"),
        Index("ix_orders_merchant_id_created_at", "merchant_id", "created_at"),
        Index("ix_orders_merchant_id_paid_at", "merchant_id", "paid_at"),
        Index("ix_orders_paid_at", "paid_at"),  # recently paid orders (the zones KPI sweep; migration 0005)
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    reference: Mapped[str] = mapped_column(String(25), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(25))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    payment_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Refund(db.Model):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(String(140))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SigningKey(db.Model):
    """An Ed25519 key that signs QR payloads (``use`` "qr") or access tokens ("access"). The private half is
    stored encrypted."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(25), primary_key=True)
    use: Mapped[str] = mapped_column(String(16), default="qr", server_default="qr")
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaticQrSpend(db.Model):
    """What a consumer paid through static codes on one local day (PBOC: ≤ ¥500)."""

    __tablename__ = "static_qr_spend"
    __table_args__ = (CheckConstraint("spent_fen >= 0", name="spent_not_negative"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class PaycodeDevice(db.Model):
    """A consumer device that generates payment codes offline from a shared secret."""

    __tablename__ = "paycode_devices"
    __table_args__ = (CheckConstraint("offline_count >= 0", name="offline_count_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Charges since the device last synced; the offline mode allows a few.
    offline_count: Mapped[int] = mapped_column(Integer, default=0)
    last_sync_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PaycodeUse(db.Model):
    """A spent (device, time step): each code pays at most once."""

    __tablename__ = "paycode_uses"
    __table_args__ = (UniqueConstraint("device_id", "counter", name="uq_paycode_uses_device_counter"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("paycode_devices.id"))
    counter: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Statement(db.Model):
    """A merchant's daily statement, built by a job; the sums equal the ledger."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("merchant_id", "day", name="uq_statements_merchant_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    payment_count: Mapped[int] = mapped_column(Integer)
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    refund_count: Mapped[int] = mapped_column(Integer)
    refunds_fen: Mapped[int] = mapped_column(BigInteger)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    body_json: Mapped[str] = mapped_column(Text)
    body_csv: Mapped[str] = mapped_column(Text)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
