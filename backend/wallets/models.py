"""A consumer's e-CNY wallet, opened at one operator bank."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db


class WalletStatus:
    ACTIVE = "active"
    FROZEN = "frozen"


class Wallet(db.Model):
    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("wallet_class BETWEEN 1 AND 4", name="class_known"),
        CheckConstraint("wallet_class = 4 OR id_number_hash IS NOT NULL", name="class3_has_identity"),
        CheckConstraint("wallet_class > 2 OR bank_account_masked IS NOT NULL", name="class2_has_account"),
        CheckConstraint("status IN ('active', 'frozen')", name="status_known"),
        UniqueConstraint("bank_id", "id_number_hash", name="uq_wallets_bank_identity"),
        CheckConstraint("password_free_limit_fen >= 0", name="password_free_limit_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("operator_banks.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    wallet_number: Mapped[str] = mapped_column(String(16), unique=True)
    wallet_class: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(12), default=WalletStatus.ACTIVE)
    real_name: Mapped[str | None] = mapped_column(String(64))
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    # One identity backs at most one wallet per bank: a salted hash, never the number.
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    bank_account_masked: Mapped[str | None] = mapped_column(String(24))
    card_token: Mapped[str | None] = mapped_column(String(64))
    card_masked: Mapped[str | None] = mapped_column(String(24))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    upgraded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The payment password (支付密码, six digits): a KDF hash like log-in passwords (backend/wallets/paypass.py).
    pay_password_hash: Mapped[str | None] = mapped_column(String(255))
    # Payments up to this amount need no payment password (免密); the consumer chooses it.
    password_free_limit_fen: Mapped[int] = mapped_column(BigInteger, default=100_000, server_default=text("100000"))
