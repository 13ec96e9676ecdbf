"""Staff accounts, managed by the pilot office (试点工作办公室) in the console: create a bank reviewer, a zone
manager or another pilot-office account, find them, disable and re-enable them, set a new password.

Every change commits once with its audit line (``backend.guards.audit``); disabling and a new password end
the account's sessions and refuse its access tokens on every worker at once (``service.revoke_user``), so
a staff member who leaves loses access within one request. Industry regulators (prepaid/) and paying
organisations' finance staff (payouts/) are created where their authority is defined, not here.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from backend.auth import service
from backend.auth.models import Role, User
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.guards import audit
from backend.wallets.service import get_bank

#: The roles this page creates.
MANAGED = (Role.BANK_REVIEWER, Role.ZONE_MANAGER, Role.PILOT_ADMIN)
#: The roles it lists (every staff role, so the pilot office sees and can disable any of them).
LISTED = (Role.BANK_REVIEWER, Role.ZONE_MANAGER, Role.PILOT_ADMIN, Role.INDUSTRY_REGULATOR, Role.ORG_STAFF)
MIN_REASON_LEN = 4


def _require_pilot(actor: User) -> None:
    if actor.role != Role.PILOT_ADMIN:
        raise Forbidden("Only the pilot office manages staff accounts.", code="role_forbidden")


def _reason(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) < MIN_REASON_LEN:
        raise ValidationFailed(f"Say why, in at least {MIN_REASON_LEN} characters (kept in the audit log).",
                               code="reason_required", field="reason")
    return text


def staff_query(*, role: str | None = None, q: str | None = None, active: bool | None = None):
    """Staff accounts matching the filters, newest first (no paging)."""
    stmt = select(User).where(User.role.in_((role,) if role else LISTED))
    if active is not None:
        stmt = stmt.where(User.is_active.is_(active))
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(User.display_name.ilike(like), User.phone.like(like)))
    return stmt.order_by(User.id.desc())


def get_staff(actor: User, user_id: int) -> User:
    _require_pilot(actor)
    user = db.session.get(User, user_id)
    if user is None or user.role not in LISTED:
        raise NotFound("No staff account with this id.", code="staff_not_found")
    return user


def create(actor: User, *, phone: str, display_name: str, role: str, password: str,
           bank_code: str | None = None) -> User:
    """Create a staff account; commit with its audit line. A bank reviewer needs its operator bank."""
    _require_pilot(actor)
    if role not in MANAGED:
        raise ValidationFailed("Staff accounts made here are bank reviewers, zone managers or pilot office.",
                               field="role")
    bank_id = None
    if role == Role.BANK_REVIEWER:
        if not bank_code:
            raise ValidationFailed("A bank reviewer works for an operator bank: give bank_code.",
                                   code="bank_required", field="bank_code")
        bank_id = get_bank(bank_code).id
    elif bank_code:
        raise ValidationFailed("Only bank reviewers belong to an operator bank.", field="bank_code")
    if not display_name.strip():
        raise ValidationFailed("Give the person's name, as colleagues know them.", field="display_name")
    user = service.create_user(phone, password, role, display_name=display_name.strip(), bank_id=bank_id)
    audit("staff_create", actor_user_id=actor.id, target_kind="user", target_id=user.id,
          reason=f"{role} {user.display_name}", detail={"role": role, "bank_id": bank_id})
    db.session.commit()
    return user


def disable(actor: User, user_id: int, reason: str) -> User:
    """Disable a staff account: no log-in, every session and token refused at once; audited; commits."""
    user = get_staff(actor, user_id)
    reason = _reason(reason)
    if user.id == actor.id:
        raise Conflict("You can't disable your own account; ask another pilot-office colleague.",
                       code="own_account")
    if not user.is_active:
        raise Conflict("This account is already disabled.", code="already_disabled")
    audit("staff_disable", actor_user_id=actor.id, target_kind="user", target_id=user.id, reason=reason)
    service.disable_user(user)  # commits, with the audit line, or rolls both back (AuthUnavailable)
    return user


def enable(actor: User, user_id: int, reason: str) -> User:
    """Let a disabled staff account log in again (its old sessions stay ended); audited; commits."""
    user = get_staff(actor, user_id)
    reason = _reason(reason)
    if user.is_active:
        raise Conflict("This account is active.", code="already_active")
    user.is_active = True
    audit("staff_enable", actor_user_id=actor.id, target_kind="user", target_id=user.id, reason=reason)
    db.session.commit()
    return user


def reset_password(actor: User, user_id: int, password: str, reason: str) -> User:
    """Give a staff account a new password (the person forgot theirs, or it may be known to others): every
    session of the old one ends at once; audited; commits."""
    user = get_staff(actor, user_id)
    reason = _reason(reason)
    audit("staff_password", actor_user_id=actor.id, target_kind="user", target_id=user.id, reason=reason)
    service.set_password(user, password)
    return user
