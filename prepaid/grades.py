"""Credit grades (信用等级标识) of prepaid merchants, computed daily from documented inputs.

Inputs, as of the end of a local day (all counts over the merchant's whole history unless said):

- ``months_on_platform``: whole 30-day months since the bank approved prepaid acceptance;
  20 × min(months, 12) / 12 points.
- ``release_ratio_bp``: released ÷ (released + still in escrow), how much of what stayed sold was
  served; 25 × min(ratio, 50 %) / 50 % points.
- ``late_refund_rate_bp``: contracts refunded after cooling-off ÷ contracts sold;
  20 − 20 × min(rate, 20 %) / 20 % points.
- ``complaint_rate_bp``: complaints in the last 90 days ÷ contracts sold; 20 − 20 × min(rate, 5 %) / 5 % points.
- ``escrow_coverage_bp``: what the escrow accounts hold ÷ what the contracts say they should;
  15 × min(coverage, 100 %) points.

Ratios are integer basis points; a merchant with nothing sold counts a 100 % release ratio and
coverage and 0 % rates. Points are rounded down per input. Grade **A** from 85 points, **B** from 65,
**C** below (so a clean newcomer starts at B and earns A with tenure). A regulator of the merchant's
industry (or the pilot office) may override the grade with a written reason; the override stands
until cleared, and every computation and override stays in the history.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import func, select

from backend.clock import as_utc, local_today, utcnow
from backend.errors import Forbidden, ValidationFailed
from backend.extensions import db
from backend.payments.service import local_day_bounds
from backend.sql import insert_for
from prepaid import statements
from prepaid.models import (
    Complaint,
    Contract,
    Grade,
    GradeKind,
    PrepaidMerchant,
    PrepaidMerchantStatus,
    RefundKind,
    Release,
)

A_FROM, B_FROM = 85, 65
BP = 10_000


def inputs(pm: PrepaidMerchant, instant) -> dict:
    """Return the documented inputs of ``pm``'s grade as of ``instant``."""
    C = Contract.__table__
    approved = as_utc(pm.reviewed_at) if pm.reviewed_at else None
    months = max(0, (instant - approved) // timedelta(days=30)) if approved and approved < instant else 0
    contracts = db.session.execute(select(func.count()).select_from(C).where(
        C.c.prepaid_merchant_id == pm.id, C.c.created_at < instant)).scalar_one()
    late = db.session.execute(select(func.count()).select_from(C).where(
        C.c.prepaid_merchant_id == pm.id, C.c.refund_kind == RefundKind.LATE, C.c.ended_at < instant)).scalar_one()
    released = int(db.session.execute(select(func.coalesce(func.sum(Release.amount_fen), 0)).where(
        Release.prepaid_merchant_id == pm.id, Release.created_at < instant)).scalar_one())
    complaints = db.session.execute(select(func.count()).select_from(Complaint).where(
        Complaint.prepaid_merchant_id == pm.id, Complaint.created_at < instant,
        Complaint.created_at >= instant - timedelta(days=90))).scalar_one()
    outstanding = statements._liability_at(pm.id, instant)
    held = statements._net_before(select(C.c.escrow_account_id).where(C.c.prepaid_merchant_id == pm.id), instant)
    return {
        "months_on_platform": months,
        "contracts_sold": contracts,
        "released_fen": released,
        "outstanding_fen": outstanding,
        "escrow_held_fen": held,
        "late_refunds": late,
        "complaints_90d": complaints,
        "release_ratio_bp": released * BP // (released + outstanding) if released + outstanding else BP,
        "late_refund_rate_bp": late * BP // contracts if contracts else 0,
        "complaint_rate_bp": complaints * BP // contracts if contracts else 0,
        "escrow_coverage_bp": held * BP // outstanding if outstanding else BP,
    }


def score(i: dict) -> tuple[int, dict]:
    """Return the score (0–100) of inputs ``i`` and the points of each input."""
    parts = {
        "months_on_platform": 20 * min(i["months_on_platform"], 12) // 12,
        "release_ratio_bp": 25 * min(i["release_ratio_bp"], 5_000) // 5_000,
        "late_refund_rate_bp": 20 - 20 * min(i["late_refund_rate_bp"], 2_000) // 2_000,
        "complaint_rate_bp": 20 - 20 * min(i["complaint_rate_bp"], 500) // 500,
        "escrow_coverage_bp": 15 * min(i["escrow_coverage_bp"], BP) // BP,
    }
    return sum(parts.values()), parts


def grade_of(points: int) -> str:
    """Return A, B or C for a score."""
    return "A" if points >= A_FROM else "B" if points >= B_FROM else "C"


def evaluate(pm: PrepaidMerchant, instant) -> dict:
    """Return ``{grade, score, points, inputs}`` of ``pm`` as of ``instant`` (nothing stored)."""
    i = inputs(pm, instant)
    points, parts = score(i)
    return {"grade": grade_of(points), "score": points, "points": parts, "inputs": i}


def compute_day(prepaid_merchant_id: int, day: date) -> bool:
    """Store ``day``'s computed grade of one merchant, as of the day's end; return whether this run stored it
    (a second run finds the row and stores nothing). Caller commits."""
    pm = db.session.get(PrepaidMerchant, prepaid_merchant_id)
    result = evaluate(pm, local_day_bounds(day)[1])
    G = Grade.__table__
    stored = db.session.execute(
        insert_for(G).values(prepaid_merchant_id=pm.id, kind=GradeKind.COMPUTED, grade=result["grade"],
                             score=result["score"], day=day, created_at=utcnow(),
                             inputs_json=json.dumps({"inputs": result["inputs"], "points": result["points"]}))
        .on_conflict_do_nothing(index_elements=["prepaid_merchant_id", "day"]).returning(G.c.id)
    ).scalar_one_or_none()
    return stored is not None


def effective(pm: PrepaidMerchant) -> dict:
    """Return the grade to show: an override standing, else the latest computed grade, else a provisional one
    computed now (a merchant approved since the last daily run)."""
    latest_override = db.session.execute(
        select(Grade).where(Grade.prepaid_merchant_id == pm.id, Grade.kind != GradeKind.COMPUTED)
        .order_by(Grade.id.desc()).limit(1)).scalar_one_or_none()
    if latest_override is not None and latest_override.kind == GradeKind.OVERRIDE:
        return {"grade": latest_override.grade, "score": None, "source": "override",
                "reason": latest_override.reason, "as_of": as_utc(latest_override.created_at).isoformat()}
    computed = db.session.execute(
        select(Grade).where(Grade.prepaid_merchant_id == pm.id, Grade.kind == GradeKind.COMPUTED)
        .order_by(Grade.day.desc()).limit(1)).scalar_one_or_none()
    if computed is not None:
        return {"grade": computed.grade, "score": computed.score, "source": "computed", "reason": None,
                "as_of": computed.day.isoformat()}
    now = evaluate(pm, utcnow())
    return {"grade": now["grade"], "score": now["score"], "source": "provisional", "reason": None,
            "as_of": local_today().isoformat()}


def override(user, pm: PrepaidMerchant, grade: str | None, reason: str) -> Grade:
    """Set (or with ``grade=None`` clear) a regulator's override with a written reason; commit; return the row.

    Raises ``Forbidden`` unless ``user`` regulates the merchant's industry or is the pilot office,
    ``ValidationFailed`` (``reason``).
    """
    from backend.auth.models import Role
    from prepaid.rules import regulator_industries

    if not (user.role == Role.PILOT_ADMIN or (user.role == Role.INDUSTRY_REGULATOR
                                              and pm.industry in regulator_industries(user.id))):
        raise Forbidden("Only the industry's regulator or the pilot office can override a grade.",
                        code="not_your_industry")
    if not reason.strip():
        raise ValidationFailed("An override needs a written reason.", field="reason")
    row = Grade(prepaid_merchant_id=pm.id, kind=GradeKind.OVERRIDE if grade else GradeKind.CLEARED, grade=grade,
                reason=reason.strip(), by_user_id=user.id, created_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


def history(prepaid_merchant_id: int, limit: int = 60) -> list[dict]:
    """Return the grade history, newest first."""
    rows = db.session.execute(select(Grade).where(Grade.prepaid_merchant_id == prepaid_merchant_id)
                              .order_by(Grade.id.desc()).limit(limit)).scalars()
    return [{"id": g.id, "kind": g.kind, "grade": g.grade, "score": g.score, "reason": g.reason,
             "day": g.day.isoformat() if g.day else None, "by_user_id": g.by_user_id,
             "created_at": as_utc(g.created_at).isoformat(),
             "detail": json.loads(g.inputs_json) if g.inputs_json else None} for g in rows]


def recompute_all(day: date | None = None) -> int:
    """Store ``day``'s (default yesterday's) grade of every approved or suspended prepaid merchant, each in its
    own transaction; return how many were stored. Safe to run twice."""
    day = day or local_today() - timedelta(days=1)
    ids = list(db.session.execute(select(PrepaidMerchant.id).where(PrepaidMerchant.status.in_(
        (PrepaidMerchantStatus.APPROVED, PrepaidMerchantStatus.SUSPENDED))).order_by(PrepaidMerchant.id)).scalars())
    stored = 0
    for pm_id in ids:
        stored += compute_day(pm_id, day)
        db.session.commit()
    return stored
