"""Payout tables: paying organisations, their members, batches and lines, payees' preferences.

Money lives in the ledger: an organisation's corporate wallet (对公钱包) is an
account of kind ``corporate``; an approved batch reserves its total into an
account of kind ``payout`` (so execution can never overdraw the organisation),
and each line is paid out of it exactly once. The invariant checked by
``service.check_reserves``: a batch account holds exactly the amounts of its
reserved lines not yet paid (pending, failed, cancelled) minus what went back
to the organisation when the batch closed.
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
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.ledger.models import Transfer

BIGINT = BigInteger().with_variant(Integer, "sqlite")


def _in(column: str, values) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class OrgKind:
    DEPARTMENT = "department"  # a government department (机关事业单位)
    SOE = "soe"  # a state-owned enterprise (国有企业)
    OTHER = "other"

    ALL = (DEPARTMENT, SOE, OTHER)


class MemberRole:
    OFFICER = "officer"  # 财务经办: prepares (uploads) batches
    APPROVER = "approver"  # 审批人: approves or rejects them; never the batch's preparer

    ALL = (OFFICER, APPROVER)


class Category:
    SALARY = "salary"
    ALLOWANCE = "allowance"
    SUBSIDY = "subsidy"
    REIMBURSEMENT = "reimbursement"

    ALL = (SALARY, ALLOWANCE, SUBSIDY, REIMBURSEMENT)
    ZH = {SALARY: "工资", ALLOWANCE: "津贴", SUBSIDY: "补贴", REIMBURSEMENT: "报销"}
    #: What people type in the file's category column, in Chinese or English.
    ALIASES = {"salary": SALARY, "工资": SALARY, "薪酬": SALARY, "allowance": ALLOWANCE, "津贴": ALLOWANCE,
               "subsidy": SUBSIDY, "补贴": SUBSIDY, "reimbursement": REIMBURSEMENT, "报销": REIMBURSEMENT}


class BatchStatus:
    VALIDATED = "validated"  # uploaded and checked; waiting for an approver
    REJECTED = "rejected"  # the approver said no; nothing moved
    PROCESSING = "processing"  # approved: the total is reserved and the job pays the pending lines
    REVIEW = "review"  # the job finished with failed lines: retry or cancel them
    CLOSED = "closed"  # every reserved line paid or cancelled; the reserve's leftover went back

    ALL = (VALIDATED, REJECTED, PROCESSING, REVIEW, CLOSED)
    #: The state machine. Every change is a conditional UPDATE whose WHERE lists the sources allowed
    #: here, so an illegal or concurrent move changes nothing.
    TRANSITIONS = {
        VALIDATED: {PROCESSING, REJECTED},
        PROCESSING: {REVIEW, CLOSED},
        REVIEW: {PROCESSING, CLOSED},
        REJECTED: set(),
        CLOSED: set(),
    }
    #: States in which the batch's money is reserved in its account.
    RESERVED = (PROCESSING, REVIEW, CLOSED)

    @classmethod
    def sources_of(cls, target: str) -> tuple[str, ...]:
        """Return the states from which ``target`` may be reached."""
        return tuple(s for s, targets in cls.TRANSITIONS.items() if target in targets)


class LineStatus:
    INVALID = "invalid"  # refused by validation (unknown payee, name mismatch, duplicate): never reserved
    PENDING = "pending"  # to be paid (once the batch is approved)
    PAID = "paid"
    FAILED = "failed"  # refused when paying (code in ``issue``); reserved money still in the batch account
    CANCELLED = "cancelled"  # a failed line given up; its money goes back when the batch closes

    ALL = (INVALID, PENDING, PAID, FAILED, CANCELLED)
    #: Lines whose money sits in the batch account.
    UNPAID_RESERVED = (PENDING, FAILED, CANCELLED)


class PayoutCode:
    """Ledger transfer codes of this plug-in."""

    RESERVE = "payout_reserve"  # organisation wallet → batch account, at approval
    PAYOUT = "payout"  # batch account → payee wallet
    TO_BANK = "payout_to_bank"  # batch account → the payee bank's issuance (redeemed to the linked account)
    RETURN = "payout_return"  # batch account → organisation wallet, the leftover at close
    TOPUP = "topup"  # the organisation's bank account → its corporate wallet (the core's code)
    PUBLIC_FUNDS = "public_funds"  # one organisation's corporate wallet → another's (a fund transfer)


class Organisation(db.Model):
    """A paying organisation: a department or state-owned enterprise with a corporate wallet."""

    __tablename__ = "payout_orgs"
    __table_args__ = (CheckConstraint(_in("kind", OrgKind.ALL), name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(12))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    district: Mapped[str | None] = mapped_column(String(20))
    #: A member unit of the pilot's leading group (领导小组成员单位), tracked by the pilot office.
    member_unit: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    bank_id: Mapped[int] = mapped_column(ForeignKey("operator_banks.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    wallet_number: Mapped[str] = mapped_column(String(16), unique=True)
    #: The organisation's deposit account at the operator bank that funds top-ups (token + masked, never the number).
    bank_account_token: Mapped[str] = mapped_column(String(64))
    bank_account_masked: Mapped[str] = mapped_column(String(24))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgMember(db.Model):
    __tablename__ = "payout_org_members"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id", name="uq_payout_org_members_org_user"),
        CheckConstraint(_in("role", MemberRole.ALL), name="role_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("payout_orgs.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PayeePreference(db.Model):
    """A payee's choice: what a payout would put above the wallet's balance cap goes to the linked account."""

    __tablename__ = "payout_payee_prefs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    overflow_to_bank: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Batch(db.Model):
    __tablename__ = "payout_batches"
    __table_args__ = (
        UniqueConstraint("org_id", "reference", name="uq_payout_batches_org_reference"),
        CheckConstraint(_in("status", BatchStatus.ALL), name="status_known"),
        # Maker-checker, in the database too: whoever prepared a batch never approves it.
        CheckConstraint("approved_by_user_id IS NULL OR approved_by_user_id <> created_by_user_id",
                        name="maker_is_not_checker"),
        CheckConstraint("status IN ('validated', 'rejected') OR account_id IS NOT NULL", name="reserved_has_account"),
        CheckConstraint("total_fen >= 0 AND returned_fen >= 0", name="amounts_not_negative"),
        Index("ix_payout_batches_org_id_id", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("payout_orgs.id"))
    #: The organisation's own batch number (like WeChat Pay's out_batch_no): a resubmission is refused.
    reference: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default=BatchStatus.VALIDATED)
    file_name: Mapped[str | None] = mapped_column(String(120))
    file_format: Mapped[str] = mapped_column(String(8))
    file_encoding: Mapped[str | None] = mapped_column(String(12))
    file_sha256: Mapped[str] = mapped_column(String(64))
    line_count: Mapped[int] = mapped_column(Integer)
    valid_count: Mapped[int] = mapped_column(Integer)
    #: The sum of the valid lines: what approval reserves.
    total_fen: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), unique=True)
    reserve_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    returned_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    return_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Line(db.Model):
    """One line of a batch. Its id is the payment's idempotency key: its status moves from pending to
    paid in the same transaction as the ledger transfers, by a conditional UPDATE, so it is paid once."""

    __tablename__ = "payout_lines"
    __table_args__ = (
        UniqueConstraint("batch_id", "line_no", name="uq_payout_lines_batch_line_no"),
        CheckConstraint(_in("status", LineStatus.ALL), name="status_known"),
        CheckConstraint(_in("category", Category.ALL), name="category_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status <> 'paid' OR wallet_fen + bank_fen = amount_fen", name="paid_in_full"),
        CheckConstraint("wallet_fen >= 0 AND bank_fen >= 0", name="parts_not_negative"),
        Index("ix_payout_lines_batch_id_status_id", "batch_id", "status", "id"),
        Index("ix_payout_lines_payee_user_id_id", "payee_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payout_batches.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    phone: Mapped[str] = mapped_column(String(20))
    payee_name: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(16))
    memo: Mapped[str | None] = mapped_column(String(140))
    payee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id"))
    status: Mapped[str] = mapped_column(String(10))
    #: Why the line is invalid (validation) or failed (payment): a stable code, and words for people.
    issue: Mapped[str | None] = mapped_column(String(32))
    issue_detail: Mapped[str | None] = mapped_column(String(200))
    #: A warning that does not stop the line (name_unverified, would_exceed_cap, overflow_to_bank, wallet_frozen).
    warning: Mapped[str | None] = mapped_column(String(32))
    #: The holder's name as the organisation may see it (李*明).
    holder_masked: Mapped[str | None] = mapped_column(String(64))
    wallet_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    bank_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    bank_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    #: The operator bank's reference once the overflow reached the payee's linked account.
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Purpose:
    """Purpose codes of public-fund transfers between organisations (kept as data, shown in both languages)."""

    LABELS = {
        "appropriation": ("财政拨款", "Budget appropriation"),
        "special_fund": ("专项资金", "Special-purpose fund"),
        "subsidy_transfer": ("补贴资金划拨", "Subsidy funds passed on"),
        "service_settlement": ("服务费用结算", "Settlement for services"),
        "refund": ("资金退回", "Funds returned"),
        "other": ("其他", "Other"),
    }
    ALL = tuple(LABELS)


class FundTransferStatus:
    PENDING = "pending"  # prepared by an officer of the paying organisation, waiting for its approver
    EXECUTED = "executed"  # approved and moved in the same transaction
    REJECTED = "rejected"

    ALL = (PENDING, EXECUTED, REJECTED)


class FundTransfer(db.Model):
    """A public-fund transfer from one organisation's corporate wallet to another's, with maker-checker."""

    __tablename__ = "payout_fund_transfers"
    __table_args__ = (
        CheckConstraint("from_org_id <> to_org_id", name="distinct_orgs"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("purpose_code", Purpose.ALL), name="purpose_known"),
        CheckConstraint(_in("status", FundTransferStatus.ALL), name="status_known"),
        CheckConstraint("approved_by_user_id IS NULL OR approved_by_user_id <> created_by_user_id",
                        name="maker_is_not_checker"),
        CheckConstraint("status <> 'executed' OR transfer_id IS NOT NULL", name="executed_has_transfer"),
        Index("ix_payout_fund_transfers_from_org_id_id", "from_org_id", "id"),
        Index("ix_payout_fund_transfers_to_org_id_id", "to_org_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_org_id: Mapped[int] = mapped_column(ForeignKey("payout_orgs.id"))
    to_org_id: Mapped[int] = mapped_column(ForeignKey("payout_orgs.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    purpose_code: Mapped[str] = mapped_column(String(24))
    memo: Mapped[str | None] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(10), default=FundTransferStatus.PENDING)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))


# Belt and braces on the ledger's side: a payout line's key (``payout-line-{id}``, the transfers' batch_id) can
# carry at most one wallet leg and one bank leg, whatever a bug above might try. Declared here, on the
# core's table, so that the schema the models describe is the one the migration (p14_0001) builds.
Index("uq_transfers_payout_line_leg", Transfer.__table__.c.batch_id, Transfer.__table__.c.code, unique=True,
      postgresql_where=text("code IN ('payout', 'payout_to_bank')"),
      sqlite_where=text("code IN ('payout', 'payout_to_bank')"))
