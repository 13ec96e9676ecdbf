"""Users and their bearer tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db


class Role:
    CONSUMER = "consumer"
    MERCHANT_OWNER = "merchant_owner"
    CASHIER = "cashier"
    BANK_REVIEWER = "bank_reviewer"
    ZONE_MANAGER = "zone_manager"
    PILOT_ADMIN = "pilot_admin"
    #: 行业主管部门 (商务局, 体育局, 教育局 …): sees the prepaid merchants of its industries only.
    INDUSTRY_REGULATOR = "industry_regulator"
    ORG_STAFF = "org_staff"  # 单位财务人员: a paying organisation's finance officer or approver (payouts/)

    ALL = (CONSUMER, MERCHANT_OWNER, CASHIER, BANK_REVIEWER, ZONE_MANAGER, PILOT_ADMIN, ORG_STAFF,
           INDUSTRY_REGULATOR)
    #: Roles a person may give themselves by registering; staff are created by the pilot office.
    SELF_SERVICE = (CONSUMER, MERCHANT_OWNER)
    STAFF = (BANK_REVIEWER, ZONE_MANAGER, PILOT_ADMIN, INDUSTRY_REGULATOR)


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in Role.ALL) + ")", name="role_known"),
        CheckConstraint("role <> 'bank_reviewer' OR bank_id IS NOT NULL", name="reviewer_has_bank"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # The operator bank a bank reviewer works for.
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("operator_banks.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Access tokens issued before this are refused (a staff revocation: disabled, password or role changed).
    tokens_revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthToken(db.Model):
    """A refresh token (one signed-in session): long-lived, revocable, the id is the session id ``sid`` that
    the short-lived access tokens it buys carry."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # SHA-256 of the bearer token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
