"""Protection tables: freezes, the platform switch, incidents and their timeline, the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db


class FreezeTarget:
    WALLET = "wallet"
    MERCHANT = "merchant"
    DEVICE = "device"  # a pay-code device

    ALL = (WALLET, MERCHANT, DEVICE)


class Freeze(db.Model):
    """A freeze of one wallet, merchant or pay-code device: active until ``lifted_at`` is set.

    At most one active freeze per target (a partial unique index), so two staff
    freezing the same wallet at once get one freeze and one ``already_frozen``.
    """

    __tablename__ = "protection_freezes"
    __table_args__ = (
        CheckConstraint("target_kind IN ('wallet', 'merchant', 'device')", name="target_known"),
        CheckConstraint("(lifted_at IS NULL) = (lifted_by_user_id IS NULL)", name="lift_has_who"),
        Index("uq_protection_freezes_active", "target_kind", "target_id", unique=True,
              postgresql_where=text("lifted_at IS NULL"), sqlite_where=text("lifted_at IS NULL")),
        Index("ix_protection_freezes_user_active", "user_id",
              postgresql_where=text("lifted_at IS NULL"), sqlite_where=text("lifted_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[int] = mapped_column(Integer)
    #: For a wallet: its owner (the money gate names consumer wallets by user).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The operator bank whose customer the target is (who besides the pilot office may act on it).
    bank_id: Mapped[int] = mapped_column(ForeignKey("operator_banks.id"))
    reason: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("protection_incidents.id"))
    frozen_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    frozen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lifted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class PlatformState(db.Model):
    """The platform-wide switches (one row, id 1): ``read_only`` refuses every new money movement."""

    __tablename__ = "protection_platform"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentStatus:
    DETECTED = "detected"
    CONTAINED = "contained"
    RESOLVED = "resolved"

    ALL = (DETECTED, CONTAINED, RESOLVED)
    #: Allowed moves; an incident may be resolved straight from detected (a false alarm).
    TRANSITIONS = {DETECTED: {CONTAINED, RESOLVED}, CONTAINED: {RESOLVED}, RESOLVED: set()}

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


INCIDENT_KINDS = ("fraud_wave", "counterfeit_codes", "account_takeover", "ledger_mismatch", "outage",
                  "data_leak", "other")
SEVERITIES = ("low", "medium", "high", "critical")


class Incident(db.Model):
    __tablename__ = "protection_incidents"
    __table_args__ = (
        CheckConstraint("status IN ('detected', 'contained', 'resolved')", name="status_known"),
        CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=IncidentStatus.DETECTED)
    #: The operator bank of the reviewer who opened it (``None``: the pilot office).
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("operator_banks.id"))
    opened_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    contained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentEvent(db.Model):
    """One line of an incident's timeline: a status change or a note, with who and when."""

    __tablename__ = "protection_incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("protection_incidents.id"), index=True)
    status: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(db.Model):
    """One line of the append-only audit log (PostgreSQL refuses UPDATE and DELETE by trigger)."""

    __tablename__ = "protection_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: the log outlives accounts
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_kind: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON



class FraudKind:
    QR_PAYLOAD = "qr_payload"
    MERCHANT = "merchant"
    WALLET = "wallet"
    PHONE = "phone"
    URL = "url"

    ALL = (QR_PAYLOAD, MERCHANT, WALLET, PHONE, URL)


class EntryStatus:
    PENDING = "pending"  # reported, not yet reviewed
    CONFIRMED = "confirmed"  # on the published list; payments and transfers to it are refused
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # was confirmed, taken off the list

    ALL = (PENDING, CONFIRMED, REJECTED, WITHDRAWN)
    TRANSITIONS = {PENDING: {CONFIRMED, REJECTED}, REJECTED: {CONFIRMED}, CONFIRMED: {WITHDRAWN},
                   WITHDRAWN: {CONFIRMED}}

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


class FraudEntry(db.Model):
    """One reported thing (a code, merchant, wallet, phone number or web host), however many reports it has.

    ``value`` is normalised (``suiyuan_protocol.fraud.normalize``) and ``value_hash`` is what the published list
    carries. Our own merchants and wallets also carry their ids, so the money gate matches them directly.
    """

    __tablename__ = "protection_fraud_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('qr_payload', 'merchant', 'wallet', 'phone', 'url')", name="kind_known"),
        CheckConstraint("status IN ('pending', 'confirmed', 'rejected', 'withdrawn')", name="status_known"),
        UniqueConstraint("value_hash", name="uq_protection_fraud_entries_value_hash"),
        Index("ix_protection_fraud_entries_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    value: Mapped[str] = mapped_column(String(1000))
    value_hash: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # a wallet's owner
    #: Whose customer the subject is (its reviewers may decide); ``None``: any reviewer or the pilot office.
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("operator_banks.id"))
    status: Mapped[str] = mapped_column(String(10), default=EntryStatus.PENDING)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    first_reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviewed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_reason: Mapped[str | None] = mapped_column(Text)


class FraudReport(db.Model):
    """One consumer's report (举报) of an entry: once per reporter and entry."""

    __tablename__ = "protection_fraud_reports"
    __table_args__ = (UniqueConstraint("entry_id", "reporter_user_id", name="uq_protection_fraud_reports_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("protection_fraud_entries.id"), index=True)
    reporter_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskConfirmation(db.Model):
    """A used risk-confirmation token (its id): a token confirms one transfer, once."""

    __tablename__ = "protection_risk_confirmations"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rules: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HeldStatus:
    PENDING = "pending"  # waiting out its cooling period; the payer may cancel
    COMPLETED = "completed"  # posted through the ledger (``transfer_id``)
    CANCELLED = "cancelled"  # by the payer: no money moved
    FAILED = "failed"  # refused at completion (frozen, funds, caps): no money moved

    ALL = (PENDING, COMPLETED, CANCELLED, FAILED)


class HeldTransfer(db.Model):
    """A first-time transfer above the cooling level, accepted and held: no money moved until it completes.

    The payer's balance is not touched while it waits (it is not reserved twice: the
    money leaves the wallet only when the transfer is posted at completion, through the
    same rule as any transfer, which checks funds, caps, freezes and the read-only switch
    again). A cancelled or failed one never moved money.
    """

    __tablename__ = "protection_held_transfers"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'completed', 'cancelled', 'failed')", name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("(status = 'completed') = (transfer_id IS NOT NULL)", name="completed_has_transfer"),
        Index("ix_protection_held_transfers_due", "due_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    payee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    payee_phone: Mapped[str | None] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Integer)
    memo: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=HeldStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    failure_detail: Mapped[str | None] = mapped_column(Text)


class KnownDevice(db.Model):
    """A device (the apps' ``X-Device-Id``, hashed) a consumer has moved money from: the "new device" rule."""

    __tablename__ = "protection_known_devices"
    __table_args__ = (UniqueConstraint("user_id", "device_hash", name="uq_protection_known_devices_user_device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
