"""Use cases of emergency response and controllable anonymity. Each commits once, with its audit line.

Who may do what: the pilot office acts on every wallet, merchant and
device; a bank reviewer on its own bank's customers only (others are
``not found``, so a reviewer cannot probe other banks' customers). Only the
pilot office switches the platform to read-only and reads the audit log.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from sqlalchemy import select, update

from backend.auth.models import Role, User
from backend.banks.models import OperatorBank
from backend.clock import as_utc, utcnow
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.guards import audit
from backend.merchants.models import Merchant
from backend.payments.models import Order, PaycodeDevice
from backend.sql import insert_for
from backend.wallets.models import Wallet
from protection.masking import mask_name, mask_phone
from protection.models import (
    AuditEntry,
    Freeze,
    FreezeTarget,
    Incident,
    IncidentEvent,
    IncidentStatus,
    PlatformState,
)

MIN_REASON_LEN = 4
MIN_LOOKUP_REASON_LEN = 8


def _reason(text: str | None, field: str = "reason", min_len: int = MIN_REASON_LEN) -> str:
    text = (text or "").strip()
    if len(text) < min_len:
        raise ValidationFailed(f"State the reason in at least {min_len} characters.", field=field,
                               code="reason_required")
    return text


def _in_scope(staff: User, bank_id: int | None) -> bool:
    return staff.role == Role.PILOT_ADMIN or (staff.role == Role.BANK_REVIEWER and bank_id == staff.bank_id)


# ---------------------------------------------------------------- freezes


def _resolve(staff: User, target_kind: str, target_id: int) -> tuple[int, int | None]:
    """Return (bank id, wallet owner's user id) of a freeze target ``staff`` may act on; raise ``NotFound``."""
    bank_id = user_id = None
    if target_kind == FreezeTarget.WALLET:
        wallet = db.session.get(Wallet, target_id)
        if wallet is not None:
            bank_id, user_id = wallet.bank_id, wallet.user_id
    elif target_kind == FreezeTarget.MERCHANT:
        merchant = db.session.get(Merchant, target_id)
        if merchant is not None:
            bank_id = merchant.bank_id
    elif target_kind == FreezeTarget.DEVICE:
        device = db.session.get(PaycodeDevice, target_id)
        if device is not None:
            bank_id = db.session.execute(select(Wallet.bank_id).where(Wallet.user_id == device.user_id)).scalar()
    else:
        raise ValidationFailed(f"target_kind must be one of {', '.join(FreezeTarget.ALL)}.", field="target_kind")
    if bank_id is None or not _in_scope(staff, bank_id):
        raise NotFound(f"No such {target_kind}.", code="target_not_found", field="target_id")
    return bank_id, user_id


def freeze(staff: User, target_kind: str, target_id: int, reason: str, incident_id: int | None = None) -> Freeze:
    """Freeze a wallet, merchant or device; commit; return the freeze.

    From the commit on, the money gate refuses every movement it is party to
    (423 ``wallet_frozen``/``merchant_frozen``/``device_frozen``); its balance
    stays readable. Raises ``NotFound`` (target_not_found, incident_not_found),
    ``Conflict`` (already_frozen), ``ValidationFailed`` (reason_required).
    """
    reason = _reason(reason)
    bank_id, user_id = _resolve(staff, target_kind, target_id)
    if incident_id is not None:
        get_incident(staff, incident_id)
    now = utcnow()
    freeze_id = db.session.execute(
        insert_for(Freeze.__table__).values(
            target_kind=target_kind, target_id=target_id, user_id=user_id, bank_id=bank_id, reason=reason,
            incident_id=incident_id, frozen_by_user_id=staff.id, frozen_at=now)
        .on_conflict_do_nothing().returning(Freeze.id)
    ).scalar_one_or_none()
    if freeze_id is None:
        db.session.rollback()
        raise Conflict(f"This {target_kind} is already frozen.", code="already_frozen")
    audit("freeze", actor_user_id=staff.id, target_kind=target_kind, target_id=target_id, reason=reason,
          detail={"freeze_id": freeze_id, "incident_id": incident_id})
    db.session.commit()
    return db.session.get(Freeze, freeze_id)


def _visible_freeze(staff: User, freeze_id: int) -> Freeze:
    row = db.session.get(Freeze, freeze_id)
    if row is None or not _in_scope(staff, row.bank_id):
        raise NotFound("No such freeze.", code="freeze_not_found")
    return row


def lift(staff: User, freeze_id: int, reason: str) -> Freeze:
    """Lift (unfreeze) an active freeze; commit; return it. Raises ``NotFound``, ``Conflict`` (already_lifted)."""
    reason = _reason(reason)
    row = _visible_freeze(staff, freeze_id)
    moved = db.session.execute(
        update(Freeze.__table__).where(Freeze.id == row.id, Freeze.lifted_at.is_(None))
        .values(lifted_at=utcnow(), lifted_by_user_id=staff.id, lift_reason=reason)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict("This freeze was already lifted.", code="already_lifted")
    audit("unfreeze", actor_user_id=staff.id, target_kind=row.target_kind, target_id=row.target_id, reason=reason,
          detail={"freeze_id": row.id})
    db.session.commit()
    db.session.refresh(row)
    return row


def list_freezes(staff: User, *, active: bool | None, target_kind: str | None, target_id: int | None,
                 limit: int, before: int | None) -> list[Freeze]:
    """Return freezes ``staff`` may see, newest first."""
    q = select(Freeze)
    if staff.role != Role.PILOT_ADMIN:
        q = q.where(Freeze.bank_id == staff.bank_id)
    if active is not None:
        q = q.where(Freeze.lifted_at.is_(None) if active else Freeze.lifted_at.is_not(None))
    if target_kind:
        q = q.where(Freeze.target_kind == target_kind)
    if target_id is not None:
        q = q.where(Freeze.target_id == target_id)
    if before:
        q = q.where(Freeze.id < before)
    return list(db.session.execute(q.order_by(Freeze.id.desc()).limit(limit)).scalars())


# ---------------------------------------------------------------- the platform switch


def platform_state() -> PlatformState:
    """Return the platform's switches (a fresh row, all off, if never set; not added to the session)."""
    return db.session.get(PlatformState, 1) or PlatformState(id=1, read_only=False)


def set_read_only(pilot: User, on: bool, reason: str) -> PlatformState:
    """Switch the platform to read-only (``on``) or back; commit; return the state. Pilot office only."""
    if pilot.role != Role.PILOT_ADMIN:
        raise Forbidden("Only the pilot office switches the platform to read-only.", code="role_forbidden")
    reason = _reason(reason)
    now = utcnow()
    table = PlatformState.__table__
    values = {"read_only": on, "reason": reason, "changed_by_user_id": pilot.id, "changed_at": now}
    db.session.execute(insert_for(table).values(id=1, **values)
                       .on_conflict_do_update(index_elements=["id"], set_=values))
    audit("read_only_on" if on else "read_only_off", actor_user_id=pilot.id, target_kind="platform", target_id=1,
          reason=reason)
    db.session.commit()
    db.session.expire_all()
    return platform_state()


# ---------------------------------------------------------------- incidents


def open_incident(staff: User, title: str, kind: str, severity: str, note: str) -> Incident:
    """Open an incident (status ``detected``) with its first timeline line; commit; return it."""
    now = utcnow()
    incident = Incident(title=title.strip(), kind=kind, severity=severity, status=IncidentStatus.DETECTED,
                        bank_id=staff.bank_id if staff.role == Role.BANK_REVIEWER else None,
                        opened_by_user_id=staff.id, detected_at=now)
    db.session.add(incident)
    db.session.flush()
    db.session.add(IncidentEvent(incident_id=incident.id, status=IncidentStatus.DETECTED, note=_reason(note, "note"),
                                 user_id=staff.id, at=now))
    audit("incident_open", actor_user_id=staff.id, target_kind="incident", target_id=incident.id, reason=note,
          detail={"kind": kind, "severity": severity})
    db.session.commit()
    return incident


def get_incident(staff: User, incident_id: int) -> Incident:
    """Return an incident ``staff`` may see (reviewers: their bank's and the pilot office's); raise ``NotFound``."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or (staff.role != Role.PILOT_ADMIN and incident.bank_id not in (None, staff.bank_id)):
        raise NotFound("No such incident.", code="incident_not_found")
    return incident


def incident_events(incident_id: int) -> list[IncidentEvent]:
    """Return the incident's timeline, oldest first."""
    return list(db.session.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                                   .order_by(IncidentEvent.id)).scalars())


def list_incidents(staff: User, status: str | None, limit: int, before: int | None) -> list[Incident]:
    """Return incidents ``staff`` may see, newest first."""
    q = select(Incident)
    if staff.role != Role.PILOT_ADMIN:
        q = q.where((Incident.bank_id.is_(None)) | (Incident.bank_id == staff.bank_id))
    if status:
        q = q.where(Incident.status == status)
    if before:
        q = q.where(Incident.id < before)
    return list(db.session.execute(q.order_by(Incident.id.desc()).limit(limit)).scalars())


def add_incident_event(staff: User, incident_id: int, status: str | None, note: str) -> Incident:
    """Add a line to the timeline, moving the incident to ``status`` if given; commit; return it.

    Raises ``Conflict`` (illegal_transition) for a move the table does not allow.
    """
    incident = get_incident(staff, incident_id)
    note = _reason(note, "note")
    now = utcnow()
    if status is not None:
        stamp = {IncidentStatus.CONTAINED: "contained_at", IncidentStatus.RESOLVED: "resolved_at"}.get(status)
        moved = db.session.execute(
            update(Incident.__table__)
            .where(Incident.id == incident.id, Incident.status.in_(IncidentStatus.sources_of(status)))
            .values(status=status, **({stamp: now} if stamp else {}))
        ).rowcount if stamp else 0
        if moved != 1:
            db.session.rollback()
            raise Conflict(f"A {incident.status} incident cannot become {status}.", code="illegal_transition",
                           field="status")
    db.session.add(IncidentEvent(incident_id=incident.id, status=status, note=note, user_id=staff.id, at=now))
    audit("incident_" + (status or "note"), actor_user_id=staff.id, target_kind="incident", target_id=incident.id,
          reason=note)
    db.session.commit()
    db.session.refresh(incident)
    return incident


# ---------------------------------------------------------------- audit log


AUDIT_COLUMNS = ("id", "at", "actor_user_id", "actor_role", "action", "target_kind", "target_id", "reason", "detail")


def search_audit(*, action: str | None = None, actor_user_id: int | None = None, target_kind: str | None = None,
                 target_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 limit: int = 100, before: int | None = None) -> list[AuditEntry]:
    """Return audit lines matching every given filter, newest first."""
    q = select(AuditEntry)
    for column, value in ((AuditEntry.action, action), (AuditEntry.actor_user_id, actor_user_id),
                          (AuditEntry.target_kind, target_kind), (AuditEntry.target_id, target_id)):
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    if before:
        q = q.where(AuditEntry.id < before)
    return list(db.session.execute(q.order_by(AuditEntry.id.desc()).limit(limit)).scalars())


def audit_json(e: AuditEntry) -> dict:
    return {"id": e.id, "at": as_utc(e.at).isoformat(), "actor_user_id": e.actor_user_id, "actor_role": e.actor_role,
            "action": e.action, "target_kind": e.target_kind, "target_id": e.target_id, "reason": e.reason,
            "detail": json.loads(e.detail or "{}")}


def audit_csv(entries: list[AuditEntry]) -> str:
    """Return the entries as CSV (UTF-8 text, header first), ``detail`` as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    for e in entries:
        row = audit_json(e)
        row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
        writer.writerow([row[c] for c in AUDIT_COLUMNS])
    return out.getvalue()


# ---------------------------------------------------------------- identity look-up


def lookup_identity(staff: User, *, wallet_id: int | None, order_id: int | None, reason: str,
                    case_ref: str | None) -> dict:
    """Unmask a payer: who owns a wallet, or who paid an order; audit it; commit; return the identity.

    Needs a stated reason (at least 8 characters) and a role that allows it:
    the pilot office, or a reviewer of the wallet's own bank. Raises
    ``ValidationFailed`` (reason_required, subject), ``NotFound``.
    """
    reason = _reason(reason, min_len=MIN_LOOKUP_REASON_LEN)
    if (wallet_id is None) == (order_id is None):
        raise ValidationFailed("Name exactly one of wallet_id and order_id.", field="wallet_id")
    if order_id is not None:
        order = db.session.get(Order, order_id)
        if order is None or order.payer_user_id is None:
            raise NotFound("No such paid order.", code="order_not_found", field="order_id")
        wallet = db.session.execute(select(Wallet).where(Wallet.user_id == order.payer_user_id)).scalar_one_or_none()
    else:
        wallet = db.session.get(Wallet, wallet_id)
    if wallet is None or not _in_scope(staff, wallet.bank_id):
        raise NotFound("No such wallet.", code="wallet_not_found", field="wallet_id" if wallet_id else "order_id")
    owner = db.session.get(User, wallet.user_id)
    bank = db.session.get(OperatorBank, wallet.bank_id)
    audit("identity_lookup", actor_user_id=staff.id, target_kind="wallet", target_id=wallet.id, reason=reason,
          detail={"case_ref": case_ref, "order_id": order_id})
    db.session.commit()
    return {
        "wallet_id": wallet.id, "wallet_number": wallet.wallet_number, "wallet_class": wallet.wallet_class,
        "bank_code": bank.code, "phone": owner.phone, "real_name": wallet.real_name,
        "id_number_masked": wallet.id_number_masked,
        "masked": {"phone": mask_phone(owner.phone), "name": mask_name(wallet.real_name)},
        "order_id": order_id,
    }


# ---------------------------------------------------------------- Confirmation of Payee


def payee_check(payer: User, phone: str) -> dict:
    """Return the masked holder of the wallet registered to ``phone``, for the payer to check before a transfer.

    Raises ``ValidationFailed`` (field ``phone``) or ``NotFound`` (payee_not_found).
    """
    from backend.auth.service import normalize_phone

    number = normalize_phone(phone, field="phone")
    row = db.session.execute(select(Wallet, User).join(User, User.id == Wallet.user_id)
                             .where(User.phone == number)).one_or_none()
    if row is None or row[1].id == payer.id:
        raise NotFound("No e-CNY wallet is registered to that phone number.", code="payee_not_found", field="phone")
    wallet, owner = row
    return {"masked_name": mask_name(wallet.real_name or owner.display_name) or None,
            "masked_phone": mask_phone(owner.phone), "verified_name": wallet.real_name is not None,
            "wallet_class": wallet.wallet_class}
