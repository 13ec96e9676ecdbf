"""Complaints and disputes (消费者投诉与争议处理): a consumer complains, the merchant answers, the bank decides.

A consumer opens a complaint on a payment they made, a prepaid contract they
bought or a merchant, in a category of :data:`CATEGORIES`, with text and up to
:data:`MAX_PHOTOS` photos. The merchant's owner answers within
``PROTECTION_COMPLAINT_ANSWER_DAYS``; a reviewer of the merchant's operator
bank (or the pilot office) decides within ``PROTECTION_COMPLAINT_DECISION_DAYS``
of the opening: upheld (with a refund of at most what is still refundable of the
payment) or rejected, with a reason. The refund goes through the payments'
refund rule (``backend.payments.service.refund_order``: the money gate, never
more than was paid, the ledger), in the decision's transaction. A periodic job
marks overdue answers and escalates overdue decisions to the pilot office.

Who sees what: the consumer their own complaints; the merchant's owner those
against their merchants, the payer masked (李*明, 138****0001); a bank
reviewer their bank's merchants' (others are ``not found``); the pilot office
all. The counts by category and outcome feed the zone report and the
merchant's standing.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import column, func, select, table, update
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.clock import as_utc, utcnow
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.guards import audit
from backend.jobs import with_app
from backend.merchants.models import Merchant, MerchantStatus
from backend.payments.models import Order, OrderStatus
from backend.sql import fen_sum
from backend.wallets.models import Wallet
from protection.disputes_models import Complaint, ComplaintPhoto, ComplaintStatus, SubjectKind
from protection.masking import mask_name, mask_phone

#: The complaint categories (data): code → (中文, English). Reports and standing count by these codes.
CATEGORIES: dict[str, tuple[str, str]] = {
    "not_delivered": ("商品或服务未提供", "Goods or service not provided"),
    "overcharged": ("多收费或重复扣款", "Overcharged or charged twice"),
    "quality": ("商品或服务质量问题", "Poor quality of goods or service"),
    "refund_refused": ("拒绝退款", "Refund refused"),
    "prepaid_breach": ("预付卡不履约", "Prepaid contract not honoured"),
    "unauthorised": ("非本人交易", "A payment I did not make"),
    "misleading": ("虚假宣传", "Misleading advertising"),
    "other": ("其他", "Other"),
}
OUTCOMES = ComplaintStatus.ALL
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 2 * 1024 * 1024
MIN_TEXT_LEN = 4
#: Deadlines (days from the opening), unless the app's config says otherwise.
ANSWER_DAYS = 3
DECISION_DAYS = 7
#: The merchant standing's window.
STANDING_DAYS = 90

_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))

# Other plug-ins' rows this one reads, named by table and column only (plug-ins never import each other):
# a prepaid contract's buyer and merchant, and the zone a merchant is placed in.
_CONTRACTS = table("prepaid_contracts", column("id"), column("merchant_id"), column("consumer_user_id"))
_ZONE_MERCHANTS = table("zone_merchants", column("merchant_id"), column("zone_id"))


def _days(key: str, default: int) -> timedelta:
    return timedelta(days=int(current_app.config.get(key, default)))


def _text(value: str | None, field: str, min_len: int = MIN_TEXT_LEN) -> str:
    value = (value or "").strip()
    if len(value) < min_len:
        raise ValidationFailed(f"Write at least {min_len} characters.", field=field, code="reason_required")
    return value


# ---------------------------------------------------------------- who sees what


def _visible(user: User, complaint: Complaint) -> bool:
    if user.role == Role.PILOT_ADMIN:
        return True
    if user.role == Role.CONSUMER:
        return complaint.consumer_user_id == user.id
    if user.role == Role.BANK_REVIEWER:
        return complaint.bank_id == user.bank_id
    if user.role == Role.MERCHANT_OWNER:
        return db.session.execute(select(Merchant.owner_user_id).where(Merchant.id == complaint.merchant_id)
                                  ).scalar() == user.id
    return False


def get(user: User, complaint_id: int) -> Complaint:
    """Return a complaint ``user`` may see; raise ``NotFound`` (complaint_not_found) otherwise."""
    row = db.session.get(Complaint, complaint_id)
    if row is None or not _visible(user, row):
        raise NotFound("No such complaint.", code="complaint_not_found")
    return row


def list_for(user: User, *, status: str | None, escalated: bool | None, merchant_id: int | None, limit: int,
             before: int | None) -> list[Complaint]:
    """Return the complaints ``user`` may see, newest first (a reviewer's queue, a merchant's, a consumer's)."""
    q = select(Complaint)
    if user.role == Role.CONSUMER:
        q = q.where(Complaint.consumer_user_id == user.id)
    elif user.role == Role.BANK_REVIEWER:
        q = q.where(Complaint.bank_id == user.bank_id)
    elif user.role == Role.MERCHANT_OWNER:
        q = q.where(Complaint.merchant_id.in_(select(Merchant.id).where(Merchant.owner_user_id == user.id)))
    elif user.role != Role.PILOT_ADMIN:
        raise Forbidden("Your role does not handle complaints.", code="role_forbidden")
    if status:
        q = q.where(Complaint.status == status)
    if escalated is not None:
        q = q.where(Complaint.escalated_at.is_not(None) if escalated else Complaint.escalated_at.is_(None))
    if merchant_id is not None:
        q = q.where(Complaint.merchant_id == merchant_id)
    if before:
        q = q.where(Complaint.id < before)
    return list(db.session.execute(q.order_by(Complaint.id.desc()).limit(limit)).scalars())


# ---------------------------------------------------------------- opening


def _subject(consumer: User, kind: str, subject_id: int) -> Merchant:
    """Return the merchant a consumer's complaint is against; raise ``NotFound`` for what is not theirs."""
    merchant_id = None
    if kind == SubjectKind.PAYMENT:
        order = db.session.get(Order, subject_id)
        if order is not None and order.payer_user_id == consumer.id and order.payment_transfer_id is not None:
            merchant_id = order.merchant_id
        if merchant_id is None:
            raise NotFound("No payment of yours with this id.", code="order_not_found", field="subject_id")
    elif kind == SubjectKind.CONTRACT:
        merchant_id = db.session.execute(select(_CONTRACTS.c.merchant_id).where(
            _CONTRACTS.c.id == subject_id, _CONTRACTS.c.consumer_user_id == consumer.id)).scalar()
        if merchant_id is None:
            raise NotFound("No prepaid contract of yours with this id.", code="contract_not_found",
                           field="subject_id")
    else:
        merchant = db.session.get(Merchant, subject_id)
        if merchant is not None and merchant.status in (MerchantStatus.APPROVED, MerchantStatus.SUSPENDED):
            merchant_id = merchant.id
        if merchant_id is None:
            raise NotFound("No such merchant.", code="merchant_not_found", field="subject_id")
    return db.session.get(Merchant, merchant_id)


def open_complaint(consumer: User, subject_kind: str, subject_id: int, category: str, text: str) -> Complaint:
    """Open a complaint (status ``open``, both deadlines set); commit; return it.

    Raises ``ValidationFailed`` (category_unknown, reason_required on ``text``), ``NotFound``
    (order_not_found, contract_not_found, merchant_not_found), ``Conflict`` (complaint_already_open: this
    consumer has one pending on the same subject, ``complaint_id`` names it).
    """
    if category not in CATEGORIES:
        raise ValidationFailed(f"category must be one of {', '.join(CATEGORIES)}.", field="category",
                               code="category_unknown")
    text = _text(text, "text")
    merchant = _subject(consumer, subject_kind, subject_id)
    pending = db.session.execute(select(Complaint.id).where(
        Complaint.consumer_user_id == consumer.id, Complaint.subject_kind == subject_kind,
        Complaint.subject_id == subject_id, Complaint.status.in_(ComplaintStatus.PENDING))).scalar()
    if pending is not None:
        raise Conflict("You already have an open complaint about this; add to it or wait for the decision.",
                       code="complaint_already_open", complaint_id=pending)
    now = utcnow()
    row = Complaint(subject_kind=subject_kind, subject_id=subject_id, merchant_id=merchant.id,
                    bank_id=merchant.bank_id, consumer_user_id=consumer.id, category=category, text=text,
                    status=ComplaintStatus.OPEN, created_at=now,
                    answer_due_at=now + _days("PROTECTION_COMPLAINT_ANSWER_DAYS", ANSWER_DAYS),
                    decision_due_at=now + _days("PROTECTION_COMPLAINT_DECISION_DAYS", DECISION_DAYS),
                    refund_fen=0)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent twin got in first (the partial unique index)
        db.session.rollback()
        raise Conflict("You already have an open complaint about this.", code="complaint_already_open") from None
    db.session.commit()
    return row


def photo_type(data: bytes) -> str | None:
    """Return ``image/jpeg`` or ``image/png`` when ``data`` starts like one (its bytes, not its name), else None."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    return None


def add_photo(consumer: User, complaint_id: int, data: bytes) -> ComplaintPhoto:
    """Attach a photo (JPEG or PNG, at most ``MAX_PHOTO_BYTES``) to the consumer's pending complaint; commit.

    Raises ``NotFound`` (complaint_not_found), ``Conflict`` (illegal_transition once decided or withdrawn,
    too_many_photos), ``ValidationFailed`` (photo_too_large 413, photo_type_unsupported 415).
    """
    row = get(consumer, complaint_id)
    if row.consumer_user_id != consumer.id:
        raise NotFound("No such complaint.", code="complaint_not_found")
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationFailed(f"A photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB.", status=413,
                               code="photo_too_large", field="file")
    mime = photo_type(data)
    if mime is None:
        raise ValidationFailed("Send a JPEG or PNG photo.", status=415, code="photo_type_unsupported", field="file")
    # Lock the complaint, so two uploads at once cannot pass the count together.
    status = db.session.execute(select(Complaint.status).where(Complaint.id == row.id).with_for_update()).scalar_one()
    if status not in ComplaintStatus.PENDING:
        raise Conflict(f"A {status} complaint takes no more photos.", code="illegal_transition")
    count = db.session.execute(select(func.count()).select_from(ComplaintPhoto)
                               .where(ComplaintPhoto.complaint_id == row.id)).scalar_one()
    if count >= MAX_PHOTOS:
        db.session.rollback()
        raise Conflict(f"A complaint takes at most {MAX_PHOTOS} photos.", code="too_many_photos")
    photo = ComplaintPhoto(complaint_id=row.id, content_type=mime, size=len(data),
                           sha256=hashlib.sha256(data).hexdigest(), data=data, created_at=utcnow())
    db.session.add(photo)
    db.session.commit()
    return photo


def get_photo(user: User, complaint_id: int, photo_id: int) -> ComplaintPhoto:
    """Return a photo of a complaint ``user`` may see; raise ``NotFound`` (photo_not_found)."""
    row = get(user, complaint_id)
    photo = db.session.get(ComplaintPhoto, photo_id)
    if photo is None or photo.complaint_id != row.id:
        raise NotFound("No such photo.", code="photo_not_found")
    return photo


def photos_of(complaint_id: int) -> list[ComplaintPhoto]:
    return list(db.session.execute(select(ComplaintPhoto).where(ComplaintPhoto.complaint_id == complaint_id)
                                   .order_by(ComplaintPhoto.id)).scalars())


# ---------------------------------------------------------------- state changes


def _move(row: Complaint, target: str, **values) -> None:
    """Move ``row`` to ``target`` with one conditional UPDATE; raise ``Conflict`` (illegal_transition)."""
    moved = db.session.execute(
        update(Complaint.__table__)
        .where(Complaint.id == row.id, Complaint.status.in_(ComplaintStatus.sources_of(target)))
        .values(status=target, **values)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        current = db.session.execute(select(Complaint.status).where(Complaint.id == row.id)).scalar_one()
        raise Conflict(f"A {current} complaint cannot become {target}.", code="illegal_transition",
                       status_now=current)


def answer(owner: User, complaint_id: int, text: str) -> Complaint:
    """The merchant's owner answers (once); commit; return the complaint. Raises ``NotFound``,
    ``Forbidden`` (not_your_merchant), ``Conflict`` (illegal_transition)."""
    row = get(owner, complaint_id)
    if owner.role != Role.MERCHANT_OWNER:
        raise Forbidden("Only the merchant's owner answers a complaint.", code="not_your_merchant")
    text = _text(text, "answer")
    _move(row, ComplaintStatus.ANSWERED, answer=text, answered_by_user_id=owner.id, answered_at=utcnow())
    db.session.commit()
    db.session.refresh(row)
    return row


def withdraw(consumer: User, complaint_id: int) -> Complaint:
    """The complainant withdraws a pending complaint; commit; return it."""
    row = get(consumer, complaint_id)
    if row.consumer_user_id != consumer.id:
        raise NotFound("No such complaint.", code="complaint_not_found")
    _move(row, ComplaintStatus.WITHDRAWN, withdrawn_at=utcnow())
    db.session.commit()
    db.session.refresh(row)
    return row


def decide(staff: User, complaint_id: int, outcome: str, reason: str, refund_fen: int):
    """Decide a complaint: ``upheld`` (refunding ``refund_fen`` of the payment, 0 for none) or ``rejected``.

    Runs inside ``idempotency.run`` (it does not commit). Returns (complaint, refund row or None). The
    refund is the payments' refund rule (``refund_order``): the money gate, never more than paid minus
    already refunded, exactly once with the decision (a second decision is ``illegal_transition``).
    Raises ``NotFound``, ``Forbidden`` (role_forbidden), ``ValidationFailed`` (reason_required,
    refund_not_applicable), ``Conflict`` (illegal_transition, refund_exceeds_paid, order_not_refundable,
    merchant_insufficient_funds) and the gate's refusals (423 frozen, 503 read-only).
    """
    from backend.payments.service import refund_order

    row = get(staff, complaint_id)
    if staff.role not in (Role.BANK_REVIEWER, Role.PILOT_ADMIN):
        raise Forbidden("Only the merchant's operator bank or the pilot office decides a complaint.",
                        code="role_forbidden")
    reason = _text(reason, "reason")
    if outcome == ComplaintStatus.REJECTED and refund_fen:
        raise ValidationFailed("A rejected complaint refunds nothing.", field="refund_fen",
                               code="refund_not_applicable")
    if refund_fen and row.subject_kind != SubjectKind.PAYMENT:
        raise ValidationFailed("Only a complaint about a payment is refunded here; a prepaid contract is "
                               "refunded by its own rules.", field="refund_fen", code="refund_not_applicable")
    now = utcnow()
    _move(row, outcome, decision_reason=reason, decided_by_user_id=staff.id, decided_at=now, refund_fen=refund_fen)
    refund_row = None
    if refund_fen:
        order = db.session.execute(select(Order).where(Order.id == row.subject_id).with_for_update()
                                   .execution_options(populate_existing=True)).scalar_one()
        merchant = db.session.get(Merchant, order.merchant_id)
        _order, refund_row = refund_order(order, merchant, refund_fen, staff, f"complaint {row.id}")
        db.session.execute(update(Complaint.__table__).where(Complaint.id == row.id)
                           .values(refund_id=refund_row.id))
    audit("complaint_" + outcome, actor_user_id=staff.id, target_kind="complaint", target_id=row.id,
          reason=reason, detail={"refund_fen": refund_fen, "refund_id": refund_row.id if refund_row else None,
                                 "merchant_id": row.merchant_id})
    db.session.refresh(row)
    return row, refund_row


def refundable_fen(row: Complaint) -> int | None:
    """What a decision could still refund of the complaint's payment (None: not a payment)."""
    if row.subject_kind != SubjectKind.PAYMENT:
        return None
    order = db.session.get(Order, row.subject_id)
    if order is None or order.status not in OrderStatus.sources_of(OrderStatus.REFUNDED):
        return 0
    return order.amount_fen - order.refunded_fen


# ---------------------------------------------------------------- the deadlines (a periodic job)


@with_app
def escalate_overdue() -> dict:
    """Mark complaints whose merchant let the answer deadline pass and escalate those whose bank let the
    decision deadline pass (the pilot office's queue: ``escalated=true``); audit each; commit. Safe to
    run twice (each mark is set once). Return the counts."""
    now = utcnow()
    T = Complaint.__table__
    late_answers = db.session.execute(
        update(T).where(T.c.status == ComplaintStatus.OPEN, T.c.answer_due_at <= now, T.c.answer_overdue_at.is_(None))
        .values(answer_overdue_at=now).returning(T.c.id, T.c.merchant_id)).all()
    escalated = db.session.execute(
        update(T).where(T.c.status.in_(ComplaintStatus.PENDING), T.c.decision_due_at <= now,
                        T.c.escalated_at.is_(None))
        .values(escalated_at=now).returning(T.c.id, T.c.bank_id)).all()
    for complaint_id, merchant_id in late_answers:
        audit("complaint_answer_overdue", actor_user_id=None, target_kind="complaint", target_id=complaint_id,
              reason="the merchant did not answer in time", detail={"merchant_id": merchant_id})
    for complaint_id, bank_id in escalated:
        audit("complaint_escalated", actor_user_id=None, target_kind="complaint", target_id=complaint_id,
              reason="the bank did not decide in time", detail={"bank_id": bank_id})
    db.session.commit()
    return {"answer_overdue": len(late_answers), "escalated": len(escalated)}


def verify_refunds() -> list[str]:
    """The ``flask ledger verify`` check of decisions: every refund a decision made is one refund row of the
    complaint's own order, for exactly the decided amount; only an upheld payment complaint refunds. Return
    the violations (empty = sound)."""
    from backend.payments.models import Refund

    problems = []
    rows = db.session.execute(
        select(Complaint.id, Complaint.status, Complaint.subject_kind, Complaint.subject_id, Complaint.refund_fen,
               Refund.order_id, Refund.amount_fen)
        .outerjoin(Refund, Refund.id == Complaint.refund_id)
        .where((Complaint.refund_fen != 0) | Complaint.refund_id.is_not(None)).order_by(Complaint.id)).all()
    for cid, status, kind, subject_id, refund_fen, order_id, amount in rows:
        if status != ComplaintStatus.UPHELD or kind != SubjectKind.PAYMENT:
            problems.append(f"complaint {cid} ({status}, about a {kind}) refunded {refund_fen} fen")
        elif order_id != subject_id or amount != refund_fen:
            problems.append(f"complaint {cid} decided a refund of {refund_fen} fen of order {subject_id}, but its "
                            f"refund row is {amount} fen of order {order_id}")
        if len(problems) >= 20:
            problems.append("… and more complaints whose refund disagrees with their decision")
            break
    return problems


# ---------------------------------------------------------------- figures


def _counts(where) -> dict:
    """Counts by category and outcome (status) of the complaints matching ``where``, with refunded fen."""
    rows = db.session.execute(
        select(Complaint.category, Complaint.status, func.count(), fen_sum(Complaint.refund_fen))
        .where(*where).group_by(Complaint.category, Complaint.status)).all()
    out: dict = {}
    for category, status, count, refunded in rows:
        c = out.setdefault(category, {**{s: 0 for s in OUTCOMES}, "total": 0, "refund_fen": 0})
        c[status] += count
        c["total"] += count
        c["refund_fen"] += int(refunded)
    return out


def standing(merchant_id: int, now=None) -> dict:
    """A merchant's complaint standing over the last ``STANDING_DAYS`` days (opened then): complaints,
    upheld, rejected, pending, refunded fen, by category; the upheld ones count against it."""
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("No such merchant.", code="merchant_not_found")
    now = now or utcnow()
    since = now - timedelta(days=STANDING_DAYS)
    by_category = _counts([Complaint.merchant_id == merchant_id, Complaint.created_at >= since])
    total = {k: sum(c[k] for c in by_category.values()) for k in (*OUTCOMES, "total", "refund_fen")}
    return {"merchant_id": merchant_id, "days": STANDING_DAYS, "since": as_utc(since).isoformat(),
            "complaints": total["total"], "upheld": total[ComplaintStatus.UPHELD],
            "rejected": total[ComplaintStatus.REJECTED],
            "pending": total[ComplaintStatus.OPEN] + total[ComplaintStatus.ANSWERED],
            "withdrawn": total[ComplaintStatus.WITHDRAWN], "refund_fen": total["refund_fen"],
            "by_category": [{"category": code, "label_zh": CATEGORIES[code][0], "label_en": CATEGORIES[code][1],
                             "complaints": c["total"], "upheld": c[ComplaintStatus.UPHELD]}
                            for code, c in sorted(by_category.items()) if code in CATEGORIES]}


REPORT_COLUMNS = (
    ("total", "投诉数", "Complaints", "count"),
    (ComplaintStatus.UPHELD, "支持投诉", "Upheld", "count"),
    (ComplaintStatus.REJECTED, "驳回", "Rejected", "count"),
    (ComplaintStatus.WITHDRAWN, "撤回", "Withdrawn", "count"),
    ("pending", "处理中", "Pending", "count"),
    ("refund_fen", "判定退款", "Refunded by decision", "fen"),
)


def report_section(zone_id: int, day_from: date, day_to: date) -> dict:
    """The periodic report's section (``backend.hooks.register_report_section``): complaints against the
    zone's merchants opened in the period, by category (问题细化梳理和分类汇总), with their outcomes so far."""
    from backend.payments.service import local_day_bounds

    start, _ = local_day_bounds(day_from)
    _, end = local_day_bounds(day_to)
    in_zone = select(_ZONE_MERCHANTS.c.merchant_id).where(_ZONE_MERCHANTS.c.zone_id == zone_id)
    by_category = _counts([Complaint.merchant_id.in_(in_zone), Complaint.created_at >= start,
                           Complaint.created_at < end])
    rows = []
    for code, (zh, en) in CATEGORIES.items():
        c = by_category.get(code)
        if c is None:
            continue
        c["pending"] = c[ComplaintStatus.OPEN] + c[ComplaintStatus.ANSWERED]
        rows.append([f"{zh} {en}", *(c[k] for k, *_ in REPORT_COLUMNS)])
    total = sum(r[1] for r in rows)
    return {
        "key": "complaints", "title_zh": "消费者投诉分类汇总", "title_en": "Consumer complaints by category",
        "note_zh": f"本期对区内商户的投诉共 {total} 件，按类别列出截至报告生成时的处理结果；"
                   "判定退款经账本原路退回。",
        "note_en": f"{total} complaints about the zone's merchants opened in the period, by category, with their "
                   "outcomes as of the report's building; refunds decided are returned through the ledger.",
        "columns": [{"key": "category", "zh": "类别", "en": "Category", "unit": ""},
                    *({"key": k, "zh": zh, "en": en, "unit": unit} for k, zh, en, unit in REPORT_COLUMNS)],
        "rows": rows,
    }


# ---------------------------------------------------------------- answers


def _iso(value):
    return as_utc(value).isoformat() if value else None


def payer_masked(row: Complaint) -> dict:
    """The complainant as a merchant, reviewer or the pilot office sees them: masked (controllable anonymity)."""
    user = db.session.get(User, row.consumer_user_id)
    name = db.session.execute(select(Wallet.real_name).where(Wallet.user_id == user.id)).scalar() \
        or user.display_name or None
    return {"name": mask_name(name), "phone": mask_phone(user.phone)}


def complaint_json(row: Complaint, viewer: User, *, with_photos: bool = True) -> dict:
    now = utcnow()
    pending = row.status in ComplaintStatus.PENDING
    body = {
        "id": row.id, "subject_kind": row.subject_kind, "subject_id": row.subject_id, "merchant_id": row.merchant_id,
        "merchant_name_zh": db.session.execute(select(Merchant.name_zh).where(Merchant.id == row.merchant_id)
                                               ).scalar_one(),
        "category": row.category, "category_zh": CATEGORIES.get(row.category, ("", ""))[0],
        "category_en": CATEGORIES.get(row.category, ("", ""))[1],
        "text": row.text, "status": row.status, "created_at": _iso(row.created_at),
        "answer_due_at": _iso(row.answer_due_at), "decision_due_at": _iso(row.decision_due_at),
        "answer": row.answer, "answered_at": _iso(row.answered_at),
        "decision_reason": row.decision_reason, "refund_fen": row.refund_fen, "refund_id": row.refund_id,
        "decided_at": _iso(row.decided_at), "decided_by_user_id": row.decided_by_user_id,
        "withdrawn_at": _iso(row.withdrawn_at),
        "answer_overdue": row.answer is None and pending and as_utc(row.answer_due_at) <= now,
        "decision_overdue": pending and as_utc(row.decision_due_at) <= now,
        "escalated_at": _iso(row.escalated_at),
        "payer": None if viewer.id == row.consumer_user_id else payer_masked(row),
    }
    if with_photos:
        body["photos"] = [{"id": p.id, "content_type": p.content_type, "size": p.size, "sha256": p.sha256}
                          for p in photos_of(row.id)]
        if viewer.role in (Role.BANK_REVIEWER, Role.PILOT_ADMIN) and pending:
            body["refundable_fen"] = refundable_fen(row)
    return body


# ---------------------------------------------------------------- demo data


DEMO_COMPLAINT = ("13800000001", "91440103MA59XK2J4W", "quality",
                  "点的虾饺是凉的，叫店员换也没人理 The dumplings were served cold and nobody came to change them")


def seed_demo(users_by_phone: dict, managers: dict) -> list[str]:
    """The demo's complaint (``make run``): 李小明 about 永庆坊茶居, open, for the ICBC reviewer's queue.
    Idempotent: nothing if that consumer has a complaint already."""
    phone, uscc, category, text = DEMO_COMPLAINT
    consumer = users_by_phone.get(phone)
    merchant_id = db.session.execute(select(Merchant.id).where(Merchant.uscc == uscc)).scalar()
    if consumer is None or merchant_id is None or db.session.execute(
            select(Complaint.id).where(Complaint.consumer_user_id == consumer.id)).first() is not None:
        return []
    open_complaint(consumer, SubjectKind.MERCHANT, merchant_id, category, text)
    return ["a consumer's complaint about 永庆坊茶居"]
