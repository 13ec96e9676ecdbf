"""Transit tables: operators (merchants of their own kind), their terminals, hard wallets (cards),
loads, the card-signed records settled, the batches terminals uploaded, the blacklist and incidents.

A record is stored once per card and counter (a unique constraint): that is what makes "nothing is
settled twice" a fact of the database, whatever order or how often batches arrive.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
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


class OperatorKind:
    METRO = "metro"
    BUS = "bus"
    TAXI = "taxi"
    ALL = (METRO, BUS, TAXI)


class CardStatus:
    ACTIVE = "active"
    BLACKLISTED = "blacklisted"  # double-spending or fraud seen: terminals refuse it
    LOST = "lost"  # reported lost: blacklisted, its provable balance refunded after the hold
    ALL = (ACTIVE, BLACKLISTED, LOST)
    #: Legal moves (an illegal one raises): a lost card stays lost; fraud seen on a lost card keeps it lost.
    TRANSITIONS = {ACTIVE: {BLACKLISTED, LOST}, BLACKLISTED: {LOST}, LOST: set()}


class TransitOperator(db.Model):
    __tablename__ = "transit_operators"
    __table_args__ = (CheckConstraint("kind IN ('metro', 'bus', 'taxi')", name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TransitTerminal(db.Model):
    __tablename__ = "transit_terminals"
    __table_args__ = (CheckConstraint("mode IN ('bus', 'metro_in', 'metro_out')", name="mode_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(40), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("transit_operators.id"), index=True)
    mode: Mapped[str] = mapped_column(String(10))
    place: Mapped[str] = mapped_column(String(40))
    #: Where the stop or station is (WGS 84): its taps count in the zone KPIs of the zone it lies in.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HardWallet(db.Model):
    __tablename__ = "transit_cards"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'blacklisted', 'lost')", name="status_known"),
        CheckConstraint("loaded_fen >= 0 AND settled_fen >= 0 AND unloaded_fen >= 0 AND loss_fen >= 0"
                        " AND refunded_fen >= 0", name="totals_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    ytc_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=CardStatus.ACTIVE)
    loads_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # fares paid to operators
    unloaded_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # back to the soft wallet by the card
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # back to the soft wallet after a loss report
    loss_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # accepted offline, never payable
    #: The most the card has said it spent (a record's spending before it plus its amount).
    max_spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    last_counter: Mapped[int] = mapped_column(Integer, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CardLoad(db.Model):
    __tablename__ = "transit_loads"
    __table_args__ = (UniqueConstraint("card_pk", "seq", name="uq_transit_loads_card_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_pk: Mapped[int] = mapped_column(ForeignKey("transit_cards.id"))
    seq: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
    transfer_id: Mapped[int] = mapped_column(BIGINT)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TransitBatch(db.Model):
    __tablename__ = "transit_batches"
    __table_args__ = (UniqueConstraint("terminal_pk", "batch_id", name="uq_transit_batches_terminal_batch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terminal_pk: Mapped[int] = mapped_column(ForeignKey("transit_terminals.id"))
    batch_id: Mapped[str] = mapped_column(String(80))
    request_sha256: Mapped[str] = mapped_column(String(64))
    ledger_batch_id: Mapped[str] = mapped_column(String(36))
    response_json: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TransitRecord(db.Model):
    __tablename__ = "transit_records"
    __table_args__ = (
        UniqueConstraint("card_pk", "counter", name="uq_transit_records_card_counter"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("kind IN ('fare', 'unload')", name="kind_known"),
        Index("ix_transit_records_operator_at", "operator_id", "at"),
        Index("ix_transit_records_terminal_at", "terminal_id", "at"),  # a zone's taps (transit.figures)
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    card_pk: Mapped[int] = mapped_column(ForeignKey("transit_cards.id"))
    counter: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    terminal_id: Mapped[str] = mapped_column(String(40))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("transit_operators.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trip: Mapped[str] = mapped_column(String(80))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), index=True)
    spent_before_fen: Mapped[int] = mapped_column(BigInteger)
    loaded_fen: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(100))
    batch_pk: Mapped[int | None] = mapped_column(ForeignKey("transit_batches.id"))
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BlacklistEntry(db.Model):
    """One card on the blacklist; the highest id is the list's version (terminals download when it grows)."""

    __tablename__ = "transit_blacklist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_pk: Mapped[int] = mapped_column(ForeignKey("transit_cards.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TransitIncident(db.Model):
    """Fraud or double-spending seen in uploaded records: kept as evidence (the offending record), with
    the loss it caused (accepted offline by a terminal, never payable from the card)."""

    __tablename__ = "transit_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_pk: Mapped[int | None] = mapped_column(ForeignKey("transit_cards.id"), index=True)
    card_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(24))
    counter: Mapped[int | None] = mapped_column(Integer)
    terminal_id: Mapped[str | None] = mapped_column(String(40))
    loss_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
