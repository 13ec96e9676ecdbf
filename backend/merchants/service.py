"""Merchant onboarding, review by the operator bank, and cashiers."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.auth.service import create_user
from backend.clock import utcnow
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.merchants.models import SCENARIOS, Merchant, MerchantStaff, MerchantStatus
from backend.merchants.uscc import validate_uscc
from backend.wallets.service import get_bank


def apply(owner: User, data: dict) -> Merchant:
    """File a merchant application for review by the chosen operator bank; commit; return it.

    Raises ``ValidationFailed`` (uscc, scenario, bank_code, coordinates) or
    ``Conflict`` (``uscc_taken``) when the code is already registered.
    """
    if data["scenario"] not in SCENARIOS:
        raise ValidationFailed(f"Scenario must be one of {', '.join(SCENARIOS)}.", field="scenario")
    merchant = Merchant(
        owner_user_id=owner.id,
        name_zh=data["name_zh"].strip(),
        name_en=data["name_en"].strip(),
        uscc=validate_uscc(data["uscc"]),
        mcc=data["mcc"],
        scenario=data["scenario"],
        address=data["address"].strip(),
        city=data.get("city") or "Guangzhou",
        latitude=data["latitude"],
        longitude=data["longitude"],
        bank_id=get_bank(data["bank_code"]).id,
        status=MerchantStatus.PENDING,
        created_at=utcnow(),
    )
    db.session.add(merchant)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("A merchant with this unified social credit code is already registered.",
                       code="uscc_taken", field="uscc") from None
    return merchant


def staff_record(user: User) -> MerchantStaff | None:
    """Return the cashier's staff record, or ``None`` for anyone else."""
    if user.role != Role.CASHIER:
        return None
    return db.session.execute(select(MerchantStaff).where(MerchantStaff.user_id == user.id)).scalar_one_or_none()


def visible_query(user: User):
    """Return a select of the merchants ``user`` may see.

    Owners see theirs, cashiers their shop, reviewers their bank's
    applications, the pilot office all, consumers (and zone managers, until
    zones place merchants) the approved ones.
    """
    q = select(Merchant)
    if user.role == Role.MERCHANT_OWNER:
        return q.where(Merchant.owner_user_id == user.id)
    if user.role == Role.CASHIER:
        return q.join(MerchantStaff, MerchantStaff.merchant_id == Merchant.id).where(MerchantStaff.user_id == user.id)
    if user.role == Role.BANK_REVIEWER:
        return q.where(Merchant.bank_id == user.bank_id)
    if user.role == Role.PILOT_ADMIN:
        return q
    return q.where(Merchant.status == MerchantStatus.APPROVED)


def matching(text: str):
    """Return the condition of a search: part of either name or of the USCC, or the merchant number."""
    from suiyuan_protocol.profile import merchant_id_of_number

    needle = text.strip()
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cond = or_(Merchant.name_zh.ilike(pattern, escape="\\"), Merchant.name_en.ilike(pattern, escape="\\"),
               Merchant.uscc.ilike(pattern, escape="\\"))
    number = merchant_id_of_number(needle.upper())
    return or_(cond, Merchant.id == number) if number is not None else cond


def get_visible(user: User, merchant_id: int) -> Merchant:
    """Return the merchant if ``user`` may see it; raise ``NotFound`` otherwise (no existence leak)."""
    merchant = db.session.execute(visible_query(user).where(Merchant.id == merchant_id)).scalar_one_or_none()
    if merchant is None:
        raise NotFound("No such merchant.", code="merchant_not_found")
    return merchant


def can_manage(user: User, merchant: Merchant) -> bool:
    """Return True for the merchant's owner."""
    return user.role == Role.MERCHANT_OWNER and merchant.owner_user_id == user.id


def can_collect(user: User, merchant: Merchant) -> bool:
    """Return True for the owner and the merchant's cashiers."""
    if can_manage(user, merchant):
        return True
    staff = staff_record(user)
    return staff is not None and staff.merchant_id == merchant.id


def collecting_merchant(user: User, merchant_id: int) -> Merchant:
    """Return an approved merchant that ``user`` may collect for.

    Raises ``NotFound``, ``Forbidden`` (``not_your_merchant``) or ``Conflict``
    (``merchant_not_active``).
    """
    merchant = get_visible(user, merchant_id)
    if not can_collect(user, merchant):
        raise Forbidden("Only the merchant's owner and cashiers can do this.", code="not_your_merchant")
    if merchant.status != MerchantStatus.APPROVED:
        raise Conflict("The merchant is not approved to accept payments.", code="merchant_not_active")
    return merchant


def review(reviewer: User, merchant_id: int, decision: str, reason: str) -> Merchant:
    """Approve or reject a pending application of the reviewer's bank; commit; return it.

    Approval opens the merchant's e-CNY wallet. Raises ``NotFound`` (other
    banks' applications are invisible), ``Conflict`` (``illegal_transition``).
    """
    merchant = get_visible(reviewer, merchant_id)
    if reviewer.role != Role.BANK_REVIEWER or merchant.bank_id != reviewer.bank_id:
        raise Forbidden("Only a reviewer of the merchant's operator bank can review it.", code="not_your_bank")
    target = MerchantStatus.APPROVED if decision == "approve" else MerchantStatus.REJECTED
    values = {"status": target, "reviewed_by_user_id": reviewer.id, "review_reason": reason, "reviewed_at": utcnow()}
    if target == MerchantStatus.APPROVED and merchant.account_id is None:
        values["account_id"] = ledger.open_account(AccountKind.MERCHANT)
    # The status guard makes two racing reviews of one application resolve to one decision.
    moved = db.session.execute(
        update(Merchant.__table__)
        # Review decides applications only: a suspended merchant is not reinstated through it.
        .where(Merchant.id == merchant.id, Merchant.status == MerchantStatus.PENDING)
        .values(**values)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(f"A {merchant.status} application cannot be {target}.", code="illegal_transition")
    db.session.commit()
    db.session.refresh(merchant)
    return merchant


def add_cashier(owner: User, merchant_id: int, phone: str, password: str, name: str,
                refund_limit_fen: int) -> tuple[User, MerchantStaff]:
    """Create a cashier login for the owner's merchant; commit; return user and staff record."""
    merchant = get_visible(owner, merchant_id)
    if not can_manage(owner, merchant):
        raise Forbidden("Only the merchant's owner can add cashiers.", code="not_your_merchant")
    user = create_user(phone, password, Role.CASHIER, display_name=name)
    staff = MerchantStaff(merchant_id=merchant.id, user_id=user.id, refund_limit_fen=refund_limit_fen,
                          created_at=utcnow())
    db.session.add(staff)
    db.session.commit()
    return user, staff


def cashiers(owner: User, merchant_id: int) -> list[tuple[User, MerchantStaff]]:
    """Return the merchant's cashiers (owner only)."""
    merchant = get_visible(owner, merchant_id)
    if not can_manage(owner, merchant):
        raise Forbidden("Only the merchant's owner can list cashiers.", code="not_your_merchant")
    rows = db.session.execute(
        select(User, MerchantStaff).join(MerchantStaff, MerchantStaff.user_id == User.id)
        .where(MerchantStaff.merchant_id == merchant.id).order_by(MerchantStaff.id)
    ).all()
    return [(u, s) for u, s in rows]


def set_cashier_refund_limit(owner: User, merchant_id: int, user_id: int, refund_limit_fen: int
                             ) -> tuple[User, MerchantStaff]:
    """Change one of the owner's cashiers' refund limit; commit; return the cashier and staff record.

    Raises ``NotFound`` (``cashier_not_found``: not a cashier of this shop), ``Forbidden`` (not_your_merchant).
    """
    merchant = get_visible(owner, merchant_id)
    if not can_manage(owner, merchant):
        raise Forbidden("Only the merchant's owner can set cashiers' refund limits.", code="not_your_merchant")
    row = db.session.execute(
        select(User, MerchantStaff).join(MerchantStaff, MerchantStaff.user_id == User.id)
        .where(MerchantStaff.merchant_id == merchant.id, MerchantStaff.user_id == user_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No such cashier at this shop.", code="cashier_not_found")
    user, staff = row
    staff.refund_limit_fen = refund_limit_fen
    db.session.commit()
    return user, staff


def set_refund_approval_limit(owner: User, merchant_id: int, above_fen: int | None, password: str) -> Merchant:
    """Set the amount above which refunds need the owner's password (``None``: never); commit; return the
    merchant. The owner types their password to change it (a phone left unlocked must not lift it).

    Raises ``NotFound``, ``Forbidden`` (not_your_merchant, password_wrong), ``TooManyRequests``.
    """
    from backend.auth.service import confirm_password

    merchant = get_visible(owner, merchant_id)
    if not can_manage(owner, merchant):
        raise Forbidden("Only the merchant's owner can set the refund approval limit.", code="not_your_merchant")
    confirm_password(owner, password)
    merchant.refund_approval_above_fen = above_fen
    db.session.commit()
    return merchant
