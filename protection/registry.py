"""The fraud registry: consumers report (举报), bank reviewers or the pilot office confirm, the list is published.

Confirmed entries are checked by the money gate on every payment, charge
and transfer (:func:`gate_clause`), and published as hashes for the apps'
offline checks (:func:`published`).
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.clock import utcnow
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind, audit
from backend.merchants.models import Merchant
from backend.payments import keys
from backend.sql import insert_for
from backend.wallets.models import Wallet
from protection.models import EntryStatus, FraudEntry, FraudKind, FraudReport
from suiyuan_protocol import fraud

E = FraudEntry.__table__

#: Movements that pay someone chosen by the payer: the payee is checked against the confirmed list.
PAYEE_CHECKED = frozenset({MoveKind.PAYMENT, MoveKind.CHARGE, MoveKind.TRANSFER, MoveKind.PREPAID_PURCHASE})


def _normalize(kind: str, value: str) -> str:
    try:
        return fraud.normalize(kind, value)
    except ValueError as exc:
        raise ValidationFailed(f"Not a valid {kind}: {exc}.", field="value", code="invalid_value") from None


def _subject(kind: str, value: str) -> dict:
    """Return our merchant's or wallet's ids for a normalised value (nothing for unknown ones)."""
    if kind == FraudKind.MERCHANT:
        merchant = db.session.get(Merchant, int(value[1:]))
        if merchant is not None:
            return {"merchant_id": merchant.id, "bank_id": merchant.bank_id}
    if kind == FraudKind.WALLET:
        wallet = db.session.execute(select(Wallet).where(Wallet.wallet_number == value)).scalar_one_or_none()
        if wallet is not None:
            return {"user_id": wallet.user_id, "bank_id": wallet.bank_id}
    if kind == FraudKind.PHONE:
        wallet = db.session.execute(select(Wallet).join(User, User.id == Wallet.user_id)
                                    .where(User.phone == value)).scalar_one_or_none()
        if wallet is not None:
            return {"user_id": wallet.user_id, "bank_id": wallet.bank_id}
    return {}


def report(reporter: User, kind: str, value: str, note: str) -> tuple[FraudEntry, bool]:
    """File a consumer's report; commit; return the entry and whether this reporter is new to it.

    A second report by the same person changes nothing (idempotent). Raises
    ``ValidationFailed`` (invalid_value).
    """
    normalized = _normalize(kind, value)
    digest = fraud.entry_hash(kind, normalized)
    now = utcnow()
    db.session.execute(insert_for(E).values(
        kind=kind, value=normalized, value_hash=digest, status=EntryStatus.PENDING, report_count=0,
        first_reported_at=now, **_subject(kind, normalized)).on_conflict_do_nothing(index_elements=["value_hash"]))
    entry = db.session.execute(select(FraudEntry).where(FraudEntry.value_hash == digest)).scalar_one()
    try:
        with db.session.begin_nested():
            db.session.add(FraudReport(entry_id=entry.id, reporter_user_id=reporter.id, note=(note or "")[:500],
                                       created_at=now))
    except IntegrityError:
        db.session.commit()
        return entry, False
    db.session.execute(update(E).where(E.c.id == entry.id).values(report_count=E.c.report_count + 1))
    db.session.commit()
    db.session.refresh(entry)
    return entry, True


def _reviewable(staff: User):
    if staff.role == Role.PILOT_ADMIN:
        return True
    return or_(FraudEntry.bank_id.is_(None), FraudEntry.bank_id == staff.bank_id)


def entries(staff: User, status: str | None, kind: str | None, limit: int, before: int | None) -> list[FraudEntry]:
    """Return entries ``staff`` may review (reviewers: their bank's subjects and the unattached), newest first."""
    q = select(FraudEntry).where(_reviewable(staff))
    if status:
        q = q.where(FraudEntry.status == status)
    if kind:
        q = q.where(FraudEntry.kind == kind)
    if before:
        q = q.where(FraudEntry.id < before)
    return list(db.session.execute(q.order_by(FraudEntry.id.desc()).limit(limit)).scalars())


DECISIONS = {"confirm": EntryStatus.CONFIRMED, "reject": EntryStatus.REJECTED, "withdraw": EntryStatus.WITHDRAWN}


def review(staff: User, entry_id: int, decision: str, reason: str) -> FraudEntry:
    """Confirm, reject or withdraw an entry; audit; commit; return it.

    Raises ``NotFound`` (entry_not_found: also another bank's subject),
    ``Conflict`` (illegal_transition), ``ValidationFailed`` (reason_required).
    """
    from protection.service import _reason

    reason = _reason(reason)
    entry = db.session.execute(select(FraudEntry).where(FraudEntry.id == entry_id, _reviewable(staff))
                               ).scalar_one_or_none()
    if entry is None:
        raise NotFound("No such entry.", code="entry_not_found")
    target = DECISIONS[decision]
    moved = db.session.execute(
        update(E).where(E.c.id == entry.id, E.c.status.in_(EntryStatus.sources_of(target)))
        .values(status=target, reviewed_by_user_id=staff.id, reviewed_at=utcnow(), review_reason=reason)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(f"A {entry.status} entry cannot be {target}.", code="illegal_transition", field="decision")
    audit(f"fraud_{decision}", actor_user_id=staff.id, target_kind=f"fraud_{entry.kind}", target_id=entry.id,
          reason=reason, detail={"value_hash": entry.value_hash})
    db.session.commit()
    db.session.refresh(entry)
    return entry


def published() -> tuple[dict, str]:
    """Return the published list (confirmed entries as kind + hash, sorted) and its ETag."""
    rows = db.session.execute(select(FraudEntry.kind, FraudEntry.value_hash)
                              .where(FraudEntry.status == EntryStatus.CONFIRMED)
                              .order_by(FraudEntry.value_hash)).all()
    items = [{"kind": k, "hash": h} for k, h in rows]
    version = hashlib.sha256(json.dumps(items, separators=(",", ":")).encode()).hexdigest()[:16]
    return {"version": version, "entries": items}, f'"{version}"'


def confirmed_list() -> fraud.FraudList:
    """Return the confirmed list as the app sees it."""
    return fraud.FraudList.from_json(published()[0])


def assess(text: str) -> fraud.Verdict:
    """Classify a scanned text with the live keys and the live list (the online check)."""
    listed = confirmed_list()
    verdict = fraud.assess(text, keys.public_keys(), listed)
    if verdict.kind == "unknown_key":
        keys.forget_cached()  # a key created or rotated in another process since the cache was filled
        verdict = fraud.assess(text, keys.public_keys(), listed)
    return verdict


def payee_hashes(move: MoneyMove) -> list[str]:
    """Return the published hashes naming the payee of ``move`` (the scanned code, the phone paid)."""
    hashes = []
    if move.payload:
        hashes.append(fraud.entry_hash(FraudKind.QR_PAYLOAD, move.payload.strip()))
    if move.payee_phone:
        hashes.append(fraud.entry_hash(FraudKind.PHONE, move.payee_phone))
    return hashes
