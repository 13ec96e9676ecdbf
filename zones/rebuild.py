"""Zone KPIs rebuilt from the ledger: ``rebuild`` recomputes the aggregate tables for a window in one
transaction that locks them against the live updates, and must agree exactly with them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import (
    Date,
    case,
    delete,
    distinct,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    text,
    type_coerce,
    union_all,
)

from backend.clock import local_today, local_zone
from backend.extensions import db
from backend.payments.service import local_day_bounds
from backend.sql import fen_sum
from zones import placement
from zones.kpis import (
    APPLIED,
    DAILY_COLUMNS,
    KD,
    MD,
    O2,
    PAYERS,
    TABLES_IN_LOCK_ORDER,
    ZM,
    M,
    O,
    R,
    T,
    as_date,
    local_day_of,
    subsidy_fen_of,
)
from zones.models import Zone


def _day_expr(col):
    """Return SQL for the local day of a stored instant, exact on both engines.

    PostgreSQL converts with its time-zone database; SQLite (which stores UTC
    as text) calls a Python function registered on the connection, so both
    use the same zone rules as ``local_day_of``.
    """
    conn = db.session.connection()
    tz = str(local_zone())
    if conn.dialect.name == "postgresql":
        return func.date(func.timezone(tz, col))
    raw = conn.connection.driver_connection
    raw.create_function("suiyuan_local_day", 1, _sqlite_local_day, deterministic=True)
    return type_coerce(func.suiyuan_local_day(col), Date)


def _sqlite_local_day(value: str | None) -> str | None:
    if value is None:
        return None
    return local_day_of(datetime.fromisoformat(value)).isoformat()


def _lock_aggregates() -> None:
    """Take the aggregate tables from live writers for the rebuild's transaction (PostgreSQL), and turn JIT
    off for it.

    SHARE ROW EXCLUSIVE waits for in-flight live updates to commit and holds
    new ones until the rebuild commits; they then find their transfer already
    counted, or count it on top. SQLite has one writer at a time anyway.
    """
    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(text(f"LOCK TABLE {', '.join(TABLES_IN_LOCK_ORDER)} IN SHARE ROW EXCLUSIVE MODE"))
        # The per-payment sub-queries make the planner's cost estimate huge, so PostgreSQL would JIT-compile
        # (and optimise) the rebuild's statement: 0.64 s of a 1.6 s one-day rebuild at 1M payments, for
        # nothing — the work is index probes. For this transaction only.
        db.session.execute(text("SET LOCAL jit = off"))


def first_activity_day() -> date | None:
    """Return the local day of the first paid order, or None if nothing was ever paid."""
    first = db.session.execute(
        select(T.c.created_at).where(T.c.id == select(func.min(O.c.payment_transfer_id)).scalar_subquery())
    ).scalar_one_or_none()
    return local_day_of(first) if first else None


#: Tags of the rows the rebuild's payment query returns (see ``_rebuild_payments``).
_MERCHANT_DAY, _ACTIVE_WALLETS, _WALLETS_OPENED = 0, 1, 2


def _rebuild_payments(start: datetime, end: datetime, scoped) -> list:
    """Write the window's payments to ``zone_kpi_applied`` and ``zone_daily_payers``; return their figures.

    The window's payments at placed merchants (``paid``) are selected once,
    by ``orders.paid_at`` — the payment transfer's instant, set with it by
    ``payments.service._settle`` and ``payments.express`` — through
    ``ix_orders_paid_at``, so the ledger is read only for the window.
    Returns rows ``(tag, zone_id, day, merchant_id, scenario, n, payment_fen,
    subsidy_fen, subsidised_payment_count, subsidy_driven_fen)``: per
    merchant-day (``_MERCHANT_DAY``), and per zone-day the active wallets
    (``_ACTIVE_WALLETS``) and wallets opened (``_WALLETS_OPENED``) in ``n``.

    On PostgreSQL it is one statement: ``paid`` is a CTE (materialised, as it
    is read several times) and the two inserts are data-modifying CTEs of the
    same statement. SQLite has no INSERT in a CTE: there ``paid`` is a
    sub-query of each of five statements.
    """
    pg = db.session.connection().dialect.name == "postgresql"
    subsidy = subsidy_fen_of(O.c.reference, M.c.account_id).correlate(O, M).scalar_subquery()
    paid_q = scoped(
        select(ZM.c.zone_id, _day_expr(O.c.paid_at).label("day"), O.c.merchant_id, M.c.scenario,
               O.c.payer_user_id, O.c.amount_fen, O.c.payment_transfer_id.label("transfer_id"),
               subsidy.label("subsidy_fen"))
        .select_from(O.join(ZM, ZM.c.merchant_id == O.c.merchant_id).join(M, M.c.id == O.c.merchant_id))
        .where(O.c.paid_at >= start, O.c.paid_at < end, O.c.payment_transfer_id.is_not(None),
               ZM.c.zone_id.is_not(None)),
        ZM.c.zone_id,
    )
    paid = paid_q.cte("paid") if pg else paid_q.subquery("paid")

    def tagged(tag: int, zone_id, day, n, *sums):
        sums = sums or (null(),) * 4
        merchant = (null(), null()) if tag != _MERCHANT_DAY else (paid.c.merchant_id, paid.c.scenario)
        return select(literal_column(str(tag)).label("tag"), zone_id.label("zone_id"), day.label("day"), *merchant,
                      n.label("n"), *sums)

    subsidised = case((paid.c.subsidy_fen > 0, 1), else_=0)
    per_merchant = (
        tagged(_MERCHANT_DAY, paid.c.zone_id, paid.c.day, func.count(), fen_sum(paid.c.amount_fen),
               fen_sum(paid.c.subsidy_fen), fen_sum(subsidised), fen_sum(subsidised * paid.c.amount_fen))
        .group_by(paid.c.zone_id, paid.c.day, paid.c.merchant_id, paid.c.scenario))
    # Wallets opened: each payer's first payment in the window is their first ever when the payer has no
    # paid order with a lower payment transfer id (the live count's definition: the lowest one over all
    # their orders, anywhere). One probe of ix_orders_payer_user_id per payer of the window, stopping at
    # the first earlier order; EXISTS in the select list stays a per-row probe (never a scan of all orders).
    window_first = (select(paid.c.payer_user_id, func.min(paid.c.transfer_id).label("transfer_id"))
                    .where(paid.c.payer_user_id.is_not(None)).group_by(paid.c.payer_user_id)
                    .subquery("window_first"))
    earlier = (select(O2.c.id).where(O2.c.payer_user_id == window_first.c.payer_user_id,
                                     O2.c.payment_transfer_id < window_first.c.transfer_id).exists())
    opened = (
        tagged(_WALLETS_OPENED, paid.c.zone_id, paid.c.day, fen_sum(case((earlier, 0), else_=1)))
        .select_from(paid.join(window_first, window_first.c.transfer_id == paid.c.transfer_id))
        .group_by(paid.c.zone_id, paid.c.day))
    payers = select(paid.c.zone_id, paid.c.day, paid.c.payer_user_id).distinct()
    applied = select(paid.c.transfer_id, literal("payment"), paid.c.zone_id, paid.c.day)
    if pg:
        payers_cte = (insert(PAYERS).from_select(["zone_id", "day", "user_id"], payers)
                      .returning(PAYERS.c.zone_id, PAYERS.c.day).cte("payers"))
        active = (tagged(_ACTIVE_WALLETS, payers_cte.c.zone_id, payers_cte.c.day, func.count())
                  .group_by(payers_cte.c.zone_id, payers_cte.c.day))
        applied_cte = insert(APPLIED).from_select(["transfer_id", "kind", "zone_id", "day"], applied).cte("applied")
        return db.session.execute(union_all(per_merchant, active, opened).add_cte(applied_cte)).all()
    db.session.execute(insert(PAYERS).from_select(["zone_id", "day", "user_id"], payers))
    db.session.execute(insert(APPLIED).from_select(["transfer_id", "kind", "zone_id", "day"], applied))
    active = (tagged(_ACTIVE_WALLETS, paid.c.zone_id, paid.c.day, func.count(distinct(paid.c.payer_user_id)))
              .group_by(paid.c.zone_id, paid.c.day))
    return [row for stmt in (per_merchant, active, opened) for row in db.session.execute(stmt)]


def rebuild(day_from: date, day_to: date, zone_ids: list[int] | None = None) -> dict:
    """Recompute the aggregates of ``day_from``..``day_to`` (inclusive) from the ledger; commit.

    Only ``zone_ids`` when given, else every zone. Places any approved
    merchant that was never placed first. Returns counts of what was written.
    Reads the ledger for the window only: payments by ``orders.paid_at`` and
    refunds by ``refunds.created_at`` (each the instant of its transfer, by
    construction), both indexed; each payer of the window is then looked up
    once by ``orders.payer_user_id`` for wallets opened.
    """
    _lock_aggregates()
    placement.place_unplaced()
    start, end = local_day_bounds(day_from)[0], local_day_bounds(day_to)[1]

    def scoped(stmt, zone_col):
        return stmt.where(zone_col.in_(zone_ids)) if zone_ids is not None else stmt

    # Every aggregate row belongs to a zone (foreign key), so naming them all deletes the same rows as no
    # filter — and lets the primary keys (zone_id, day, ...) find the window's rows instead of a scan.
    in_zones = zone_ids if zone_ids is not None else list(db.session.execute(select(Zone.id)).scalars())
    for table in (APPLIED, MD, PAYERS, KD):
        db.session.execute(delete(table).where(table.c.zone_id.in_(in_zones), table.c.day >= day_from,
                                               table.c.day <= day_to))

    merchants: dict[tuple, dict] = {}

    def merchant_row(zone_id, day, merchant_id, scenario) -> dict:
        key = (zone_id, as_date(day), merchant_id)
        return merchants.setdefault(key, {"scenario": scenario, **{c: 0 for c in (
            "payment_count", "payment_fen", "refund_count", "refund_fen", "subsidy_fen", "subsidy_driven_fen")}})

    zone_figures: dict[tuple, dict] = defaultdict(dict)
    for r in _rebuild_payments(start, end, scoped):
        if r.tag == _MERCHANT_DAY:
            merchant_row(r.zone_id, r.day, r.merchant_id, r.scenario).update(
                payment_count=r.n, payment_fen=r[6], subsidy_fen=r[7], subsidised_payment_count=r[8],
                subsidy_driven_fen=r[9])
        else:
            column = "active_wallets" if r.tag == _ACTIVE_WALLETS else "wallets_opened"
            zone_figures[(r.zone_id, as_date(r.day))][column] = r.n

    # Refunds (few): by their own indexed instant, which is the refund transfer's (payments.service.refund).
    refunded = scoped(
        select(ZM.c.zone_id, _day_expr(R.c.created_at).label("day"), O.c.merchant_id, M.c.scenario, R.c.amount_fen,
               R.c.transfer_id)
        .select_from(R.join(O, O.c.id == R.c.order_id).join(ZM, ZM.c.merchant_id == O.c.merchant_id)
                     .join(M, M.c.id == O.c.merchant_id))
        .where(R.c.created_at >= start, R.c.created_at < end, ZM.c.zone_id.is_not(None)),
        ZM.c.zone_id,
    ).subquery("refunded")
    for r in db.session.execute(
        select(refunded.c.zone_id, refunded.c.day, refunded.c.merchant_id, refunded.c.scenario, func.count(),
               fen_sum(refunded.c.amount_fen))
        .group_by(refunded.c.zone_id, refunded.c.day, refunded.c.merchant_id, refunded.c.scenario)
    ):
        merchant_row(*r[:4]).update(refund_count=r[4], refund_fen=r[5])
    db.session.execute(insert(APPLIED).from_select(
        ["transfer_id", "kind", "zone_id", "day"],
        select(refunded.c.transfer_id, literal("refund"), refunded.c.zone_id, refunded.c.day)))

    zone_days: dict[tuple, dict] = defaultdict(lambda: {c: 0 for c in DAILY_COLUMNS})
    for (zone_id, day, _), m in merchants.items():
        z = zone_days[(zone_id, day)]
        for c in ("payment_count", "payment_fen", "refund_count", "refund_fen", "subsidy_fen", "subsidy_driven_fen"):
            z[c] += m[c]
        z["subsidised_payment_count"] += m.pop("subsidised_payment_count", 0)
        z["merchants_accepting"] += 1 if m["payment_count"] else 0
    for key, figures in zone_figures.items():
        zone_days[key].update(figures)

    if merchants:
        db.session.execute(insert(MD), [{"zone_id": k[0], "day": k[1], "merchant_id": k[2], **v}
                                        for k, v in merchants.items()])
    if zone_days:
        db.session.execute(insert(KD), [{"zone_id": k[0], "day": k[1], **v} for k, v in zone_days.items()])
    db.session.commit()
    return {"from": day_from.isoformat(), "to": day_to.isoformat(), "zone_days": len(zone_days),
            "merchant_days": len(merchants)}


def rebuild_everything(zone_ids: list[int] | None = None) -> dict:
    """Rebuild from the first paid order to today (the zones given, or all); commit."""
    first = first_activity_day() or local_today()
    return rebuild(min(first, local_today()), local_today(), zone_ids)
