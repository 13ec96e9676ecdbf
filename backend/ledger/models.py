"""Ledger tables: accounts and append-only transfers.

A transfer moves ``amount_fen`` from one debit account to one credit account,
so every transfer is balanced by construction (TigerBeetle's model). A use
case that needs several legs (a payment split over a red packet and the main
balance) writes several transfers in one database transaction, sharing a
``batch_id``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db


class AccountKind:
    ISSUANCE = "issuance"  # an operator bank's issuance account; the only kind allowed below zero
    WALLET = "wallet"  # a consumer's e-CNY wallet
    MERCHANT = "merchant"  # a merchant's e-CNY wallet
    CAMPAIGN = "campaign"  # a campaign's escrowed budget
    RESTRICTED = "restricted"  # red-packet money held for one consumer, spendable only where allowed
    CORPORATE = "corporate"  # a paying organisation's corporate wallet (对公钱包)
    PAYOUT = "payout"  # one approved payout batch's reserve: the unpaid lines' money

    PREPAID = "prepaid"  # one prepaid contract's escrow: the consumer's money until each use releases it

    ALL = (ISSUANCE, WALLET, MERCHANT, CAMPAIGN, RESTRICTED, CORPORATE, PAYOUT, PREPAID)


class Account(db.Model):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("allow_negative OR balance_fen >= 0", name="balance_not_negative"),
        CheckConstraint("allow_negative = (kind = 'issuance')", name="only_issuance_negative"),
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in AccountKind.ALL) + ")", name="kind_known"),
        CheckConstraint("balance_cap_fen IS NULL OR balance_fen <= balance_cap_fen", name="balance_under_cap"),
        CheckConstraint("day_spent_fen >= 0 AND year_spent_fen >= 0", name="spent_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Effective limits of this account (copied from the wallet tier); NULL = none.
    balance_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    single_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    day_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    year_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    # Running spend for the caps, reset lazily when the day/year rolls over.
    spend_day: Mapped[date | None] = mapped_column(Date)
    day_spent_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    spend_year: Mapped[int | None] = mapped_column(Integer)
    year_spent_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Transfer(db.Model):
    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint("reversed_fen >= 0 AND reversed_fen <= amount_fen", name="reversal_bounded"),
        Index("ix_transfers_debit_account_id_id", "debit_account_id", "id"),
        Index("ix_transfers_credit_account_id_id", "credit_account_id", "id"),
        # An account's transfers of one day (a merchant's daily statement; migration l001).
        Index("ix_transfers_credit_account_id_created_at", "credit_account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), index=True)
    # How much of this transfer later reversals have returned; the one column
    # ever updated, and only through ``service.reverse`` under its CHECK.
    reversed_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    memo: Mapped[str | None] = mapped_column(String(140))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
