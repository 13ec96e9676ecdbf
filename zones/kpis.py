"""Zone KPIs: what each figure means, how it is kept up to date, how it is rebuilt from the ledger.

Definitions — per zone and per local day (``Asia/Shanghai``, the app's
``TIMEZONE``). A merchant's payments count in the zone it is placed in now
(``zone_merchants``); merchants in no zone count nowhere.

``payment_count`` / ``payment_fen``
    Orders paid at the zone's merchants, on the local day of the order's
    payment transfer (= ``orders.paid_at``), and their full price
    (``orders.amount_fen``: every leg — the consumer's balance plus any red
    packet or coupon — so the figure is what consumers spent).
``refund_count`` / ``refund_fen``
    Refunds of those merchants' orders, on the day of the refund (not of the
    order). ``net_fen = payment_fen - refund_fen``.
``average_ticket_fen``
    ``payment_fen / payment_count``, rounded half up to a whole fen (0 when no payment).
``active_wallets``
    Distinct wallets (payers) that paid at the zone's merchants that day. For
    a period: distinct wallets over the whole period, not the sum of the days.
``wallets_opened``
    Wallets whose *first-ever* merchant payment — the lowest payment transfer
    id over all their paid orders, anywhere in the city — was made at one of
    the zone's merchants that day. A wallet is opened at an operator bank,
    which has no location, and a wallet that is opened but never used
    promotes nothing; what a zone can claim is bringing a wallet into use.
    Each wallet is credited to at most one zone, once, so sums over zones and
    days never double count (a zone's "new users").
``merchants_accepting``
    Distinct merchants of the zone that accepted at least one payment that
    day (for a period: distinct over the period). ``merchants_enrolled``,
    reported beside it, is the number of approved merchants placed in the zone now.
Scenario coverage
    A scenario (食住行游购娱医) is covered in a period when at least one
    merchant of that scenario in the zone accepted a payment in the period;
    the others are missing. ``scenarios_enrolled`` says which have at least
    an approved merchant, to tell "no merchant" from "no use".
``subsidy_fen``
    The part of those payments that campaigns paid (red packets, coupon
    discounts): payment legs into the merchant's wallet that share the
    order's batch (``transfers.batch_id`` = the order reference) and are
    debited from a ``campaign`` or ``restricted`` account.
``subsidised_payment_count`` / ``subsidy_driven_fen``
    The payments with any subsidy leg, and their full price: the consumption
    the subsidy drove. ``campaign_leverage = subsidy_driven_fen / subsidy_fen``.

How the campaigns plug-in feeds the subsidy columns: it does not call zones.
It pays its part of an order as legs that (1) credit the merchant's wallet,
(2) carry the order's reference as ``batch_id`` and (3) debit a ``campaign``
(budget) or ``restricted`` (red-packet) account — which is what
``backend.payments.funding`` does for every ``SubsidyLeg`` a provider
returns. The figures then come from the ledger like every other figure, so
the live update and the rebuild agree. Until campaigns exist they are 0.

Keeping up to date: settled payments are counted in batches, off the
payment path. The ``payment_settled`` receiver appends the order id to a
Redis list and, when no batch is already due, schedules ``apply_pending``
``BATCH_DELAY`` ahead — one Redis round trip per payment, at most about one
job a second however busy the merchants are (inline at once on the embedded
default, so figures are live there too). ``apply_pending`` pops up to ``BATCH`` ids at a time and counts them
in one transaction with a handful of multi-row statements. A payment is
counted once — ``zone_kpi_applied`` records its transfer in the same
transaction as the increments, so a job run twice, an id listed twice, or a
sweep that finds it again changes nothing — and the aggregates move by
atomic UPSERTs (``x = x + :d``), in a fixed order of tables and keys so
concurrent batches wait for each other instead of deadlocking; "first payer
of the day" and "first payment at this merchant today" are unique keys,
never read-modify-write. Ids lost with Redis (a restart) or with a worker
killed mid-batch are found by ``sweep`` (every minute, from ``backend.cron``):
orders paid in the last ``SWEEP_WINDOW`` whose payment is not yet counted.
Refunds are rare and are counted one job per refunded order
(``apply_refunds``). A dashboard reads days (``zone_kpi_daily``), never
transactions.

Rebuilding: ``rebuild(day_from, day_to, zone_ids)`` (``flask zones
rebuild-kpis``) recomputes the same tables from the ledger (transfers, with
orders and refunds saying which merchant and payer) in one transaction that
first locks the aggregate tables against the live updates, and must agree
exactly with them. It reads the window only: payments by ``orders.paid_at``
and refunds by ``refunds.created_at`` (both indexed, and each the instant of
its transfer, written with it), the window's payments once, and each payer
of the window once (by ``orders.payer_user_id``) to tell a first payment
ever. It is also what repairs a receiver that failed (receivers are logged
and swallowed, never allowed to undo a payment) and what follows a merchant
into its new zone when an outline changes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from rq.job import JobStatus
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

from backend.clock import as_utc, local_today, local_zone, utcnow
from backend.extensions import db, get_redis
from backend.jobs import enqueue, with_app
from backend.ledger.models import Account, AccountKind, Transfer
from backend.merchants.models import SCENARIOS, Merchant
from backend.payments.models import Order, Refund
from backend.payments.service import local_day_bounds
from backend.sql import fen_sum, insert_for
from zones import registry
from zones.models import (
    Zone,
    ZoneDailyPayer,
    ZoneKpiApplied,
    ZoneKpiDaily,
    ZoneMerchant,
    ZoneMerchantDaily,
)

KD = ZoneKpiDaily.__table__
MD = ZoneMerchantDaily.__table__
PAYERS = ZoneDailyPayer.__table__
APPLIED = ZoneKpiApplied.__table__
ZM = ZoneMerchant.__table__
O = Order.__table__  # noqa: E741
O2 = O.alias("payer_orders")
R = Refund.__table__
T = Transfer.__table__
A = Account.__table__
M = Merchant.__table__

#: Accounts whose money reaching a merchant is a subsidy (campaign budgets, red-packet balances).
SUBSIDY_ACCOUNT_KINDS = (AccountKind.CAMPAIGN, AccountKind.RESTRICTED)

#: The daily columns, in the order the API and the CSV list them.
DAILY_COLUMNS = ("payment_count", "payment_fen", "refund_count", "refund_fen", "active_wallets", "wallets_opened",
                 "merchants_accepting", "subsidy_fen", "subsidised_payment_count", "subsidy_driven_fen")
#: The columns that add up over days (the others are distinct counts).
ADDITIVE = ("payment_count", "payment_fen", "refund_count", "refund_fen", "wallets_opened", "subsidy_fen",
            "subsidised_payment_count", "subsidy_driven_fen")
#: Aggregate tables in the order every writer locks them (live updates and the rebuild), so they cannot deadlock.
TABLES_IN_LOCK_ORDER = ("zone_kpi_applied", "zone_merchant_daily", "zone_daily_payers", "zone_kpi_daily")

MAX_SPAN_DAYS = 366

log = logging.getLogger(__name__)


def local_day_of(instant: datetime) -> date:
    """Return the local (pilot time zone) day of a stored instant."""
    return as_utc(instant).astimezone(local_zone()).date()


def average_ticket(payment_fen: int, payment_count: int) -> int:
    """Return the average payment in fen, rounded half up; 0 without payments."""
    if not payment_count:
        return 0
    return (2 * payment_fen + payment_count) // (2 * payment_count)


def leverage(driven_fen: int, subsidy_fen: int) -> float | None:
    """Return consumption driven per fen of subsidy (2 decimals), or ``None`` without subsidy."""
    return round(driven_fen / subsidy_fen, 2) if subsidy_fen else None


# ---------------------------------------------------------------- live updates


def _enqueue(func, *args, delay: timedelta | None = None) -> None:
    """Enqueue a job (after ``delay``); when it ran inline and failed, log it (RQ's inline mode keeps the
    error to itself)."""
    job = enqueue(func, *args, delay=delay)
    if job.get_status(refresh=False) == JobStatus.FAILED:
        result = job.latest_result()
        log.error("zones job %s%r failed; `flask zones rebuild-kpis` repairs the figures\n%s", func.__name__,
                  args, result.exc_string if result else "")


#: Redis list of settled orders waiting to be counted, and the flag that a batch job is queued.
PENDING_KEY = "zones:kpi:pending"
KICK_KEY = "zones:kpi:kick"
#: Orders counted per transaction.
BATCH = 500
#: How long a batch gathers payments before its job runs (RQ's scheduler moves it to the queue).
BATCH_DELAY = timedelta(seconds=1)
#: How far back ``sweep`` looks for paid orders that were never counted (lost ids).
SWEEP_WINDOW = timedelta(minutes=15)


def on_payment_settled(sender, *, order_id: int, **_) -> None:
    """Receiver of ``backend.hooks.payment_settled``: list the payment for the next batch, queue one if none is."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.rpush(PENDING_KEY, order_id)
    # The flag expires in case its job is lost; apply_pending clears it before it looks at the list, so
    # an id listed after the clear queues a new job and an id listed before it is seen by the running one.
    pipe.set(KICK_KEY, 1, nx=True, ex=60)
    _, kicked = pipe.execute()
    if kicked:
        _enqueue(apply_pending, delay=BATCH_DELAY)


def on_refund_settled(sender, *, order_id: int, **_) -> None:
    """Receiver of ``backend.hooks.refund_settled``: count the order's new refunds (through the job queue)."""
    _enqueue(apply_refunds, order_id)


def on_merchant_approved(sender, *, merchant_id: int, **_) -> None:
    """Receiver of ``backend.hooks.merchant_approved``: place the merchant in its zone."""
    _enqueue(place_merchant, merchant_id)


def _subsidy_fen(reference, merchant_account_id):
    """Return SQL for the fen of an order's subsidy legs (see the module docstring)."""
    return (
        select(fen_sum(T.c.amount_fen))
        .select_from(T.join(A, A.c.id == T.c.debit_account_id))
        .where(T.c.batch_id == reference, T.c.credit_account_id == merchant_account_id, T.c.reverses_id.is_(None),
               A.c.kind.in_(SUBSIDY_ACCOUNT_KINDS))
    )


def _zone_of(row) -> int | None:
    """Return the zone of the merchant of ``row`` (which has ``placed``, ``zone_id``, ``merchant_id``),
    placing the merchant first if it never was (e.g. approved while a receiver was failing)."""
    if row.placed is not None:
        return row.zone_id
    placed = registry.place_merchant(row.merchant_id)
    return placed[1] if placed else None


def _mark_applied(transfer_id: int, kind: str, zone_id: int, day: date) -> bool:
    """Record that a transfer is counted; return False if it already was."""
    stmt = (insert_for(APPLIED).values(transfer_id=transfer_id, kind=kind, zone_id=zone_id, day=day)
            .on_conflict_do_nothing(index_elements=["transfer_id"]).returning(APPLIED.c.transfer_id))
    return db.session.execute(stmt).first() is not None


def _upsert_add(table, keys: dict, deltas: dict, extra: dict | None = None, returning=None):
    """INSERT the row with ``deltas`` as values, or add ``deltas`` to the existing row, atomically."""
    zero = {c: 0 for c in DAILY_COLUMNS if c in table.c and c not in deltas}
    stmt = insert_for(table).values(**keys, **(extra or {}), **zero, **deltas)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={c: table.c[c] + v for c, v in deltas.items()})
    if returning is not None:
        stmt = stmt.returning(returning)
    return db.session.execute(stmt)


def _count_payments(order_ids: list[int]) -> int:
    """Count the paid orders among ``order_ids`` not counted yet, in the caller's transaction; return how many."""
    if not order_ids:
        return 0
    first_of_payer = (select(func.min(O2.c.payment_transfer_id)).where(O2.c.payer_user_id == O.c.payer_user_id)
                      .scalar_subquery())
    rows = db.session.execute(
        select(O.c.merchant_id, O.c.amount_fen, O.c.payer_user_id, O.c.payment_transfer_id, T.c.created_at,
               ZM.c.merchant_id.label("placed"), ZM.c.zone_id, M.c.scenario,
               _subsidy_fen(O.c.reference, M.c.account_id).correlate(O, M).scalar_subquery().label("subsidy_fen"),
               first_of_payer.label("first_of_payer"))
        .select_from(O.join(T, T.c.id == O.c.payment_transfer_id).join(M, M.c.id == O.c.merchant_id)
                     .outerjoin(ZM, ZM.c.merchant_id == O.c.merchant_id))
        .where(O.c.id.in_(sorted(set(order_ids))))
        .order_by(O.c.payment_transfer_id)).all()  # not paid (or no such order): not selected, nothing to count
    placed = [(row, zone_id, local_day_of(row.created_at)) for row in rows
              if (zone_id := _zone_of(row)) is not None]
    if not placed:
        return 0
    applied = set(db.session.execute(
        insert_for(APPLIED).values([{"transfer_id": row.payment_transfer_id, "kind": "payment", "zone_id": zone_id,
                                     "day": day} for row, zone_id, day in placed])
        .on_conflict_do_nothing(index_elements=["transfer_id"]).returning(APPLIED.c.transfer_id)).scalars())
    by_merchant: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    by_zone: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    scenario: dict[tuple, str] = {}
    payers = set()
    for row, zone_id, day in placed:
        if row.payment_transfer_id not in applied:
            continue  # counted before
        amount, subsidy = row.amount_fen, row.subsidy_fen
        driven = amount if subsidy else 0
        key = (zone_id, day, row.merchant_id)
        scenario[key] = row.scenario
        for deltas in (by_merchant[key], by_zone[(zone_id, day)]):
            deltas["payment_count"] += 1
            deltas["payment_fen"] += amount
            deltas["subsidy_fen"] += subsidy
            deltas["subsidy_driven_fen"] += driven
        by_zone[(zone_id, day)]["subsidised_payment_count"] += 1 if subsidy else 0
        by_zone[(zone_id, day)]["wallets_opened"] += int(row.first_of_payer == row.payment_transfer_id)
        payers.add((zone_id, day, row.payer_user_id))
    # Tables in TABLES_IN_LOCK_ORDER, keys sorted: concurrent batches wait for each other, never deadlock.
    for key in sorted(by_merchant):
        zone_id, day, merchant_id = key
        deltas = by_merchant[key]
        now_paid = _upsert_add(MD, {"zone_id": zone_id, "day": day, "merchant_id": merchant_id}, dict(deltas),
                               extra={"scenario": scenario[key]}, returning=MD.c.payment_count).scalar_one()
        by_zone[(zone_id, day)]["merchants_accepting"] += int(now_paid == deltas["payment_count"])
    if payers:
        new_payers = db.session.execute(
            insert_for(PAYERS).values([{"zone_id": z, "day": d, "user_id": u} for z, d, u in sorted(payers)])
            .on_conflict_do_nothing(index_elements=["zone_id", "day", "user_id"])
            .returning(PAYERS.c.zone_id, PAYERS.c.day)).all()
        for zone_id, day in new_payers:
            by_zone[(zone_id, _as_date(day))]["active_wallets"] += 1
    for (zone_id, day) in sorted(by_zone):
        _upsert_add(KD, {"zone_id": zone_id, "day": day}, dict(by_zone[(zone_id, day)]))
    return len(applied)


def _count_refunds(order_id: int) -> int:
    rows = db.session.execute(
        select(R.c.transfer_id, R.c.amount_fen, T.c.created_at, O.c.merchant_id, ZM.c.merchant_id.label("placed"),
               ZM.c.zone_id, M.c.scenario)
        .select_from(R.join(O, O.c.id == R.c.order_id).join(T, T.c.id == R.c.transfer_id)
                     .join(M, M.c.id == O.c.merchant_id).outerjoin(ZM, ZM.c.merchant_id == O.c.merchant_id))
        .where(R.c.order_id == order_id).order_by(R.c.id)).all()
    counted = 0
    for r in rows:
        zone_id, scenario = _zone_of(r), r.scenario
        if zone_id is None:
            continue
        day = local_day_of(r.created_at)
        if not _mark_applied(r.transfer_id, "refund", zone_id, day):
            continue
        _upsert_add(MD, {"zone_id": zone_id, "day": day, "merchant_id": r.merchant_id},
                    {"refund_count": 1, "refund_fen": r.amount_fen}, extra={"scenario": scenario})
        _upsert_add(KD, {"zone_id": zone_id, "day": day}, {"refund_count": 1, "refund_fen": r.amount_fen})
        counted += 1
    return counted


def _in_own_transaction(func_, *args):
    try:
        result = func_(*args)
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise


@with_app
def apply_payment(order_id: int) -> bool:
    """Count one settled payment in its zone's figures now; return False if there was nothing (new) to count."""
    return _in_own_transaction(_count_payments, [order_id]) == 1


@with_app
def apply_pending() -> int:
    """Job: count every payment listed by ``on_payment_settled``, ``BATCH`` per transaction; return how many."""
    redis = get_redis()
    redis.delete(KICK_KEY)
    counted = 0
    while ids := redis.lpop(PENDING_KEY, BATCH):
        counted += _in_own_transaction(_count_payments, [int(i) for i in ids])
    return counted


@with_app
def sweep(window: timedelta = SWEEP_WINDOW) -> int:
    """Job: count orders paid within ``window`` whose payment was never counted (ids lost); return how many."""
    counted = 0
    after = 0
    while True:
        ids = list(db.session.execute(
            select(O.c.id).where(O.c.paid_at >= utcnow() - window, O.c.id > after,
                                 ~select(APPLIED.c.transfer_id).where(APPLIED.c.transfer_id == O.c.payment_transfer_id)
                                 .exists())
            .order_by(O.c.id).limit(BATCH)).scalars())
        if not ids:
            return counted
        counted += _in_own_transaction(_count_payments, ids)
        after = ids[-1]


@with_app
def apply_refunds(order_id: int) -> int:
    """Job: count the order's refunds not yet counted; return how many were new."""
    return _in_own_transaction(_count_refunds, order_id)


@with_app
def place_merchant(merchant_id: int) -> int | None:
    """Job: place an approved merchant in its zone; if that moved it, rebuild the zones' figures.

    Returns the zone id (None: in no zone, or not approved).
    """
    placed = _in_own_transaction(registry.place_merchant, merchant_id)
    if placed is None:
        return None
    old, new = placed
    if old != new and _has_history(merchant_id):
        rebuild_everything(zone_ids=[z for z in (old, new) if z is not None])
    return new


@with_app
def replace_around_zone(zone_id: int, old_bbox: list | None = None) -> list[int]:
    """Job: after a zone's outline changed, place again the merchants it may have gained or lost,
    and rebuild the figures of every zone that lost or gained one. Returns the affected zone ids."""
    zone = db.session.get(Zone, zone_id)
    boxes = [old_bbox, [zone.min_lon, zone.min_lat, zone.max_lon, zone.max_lat]]
    affected: set[int] = set()
    for merchant_id in registry.merchants_to_replace(zone_id, boxes):
        placed = registry.place_merchant(merchant_id)
        if placed and placed[0] != placed[1]:
            affected.update(z for z in placed if z is not None)
    db.session.commit()
    if affected:
        rebuild_everything(zone_ids=sorted(affected))
    return sorted(affected)


def _has_history(merchant_id: int) -> bool:
    return db.session.execute(
        select(O.c.id).where(O.c.merchant_id == merchant_id, O.c.payment_transfer_id.is_not(None)).limit(1)
    ).first() is not None


# ---------------------------------------------------------------- rebuild from the ledger


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
    subsidy = _subsidy_fen(O.c.reference, M.c.account_id).correlate(O, M).scalar_subquery()
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
    registry.place_unplaced()
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
        key = (zone_id, _as_date(day), merchant_id)
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
            zone_figures[(r.zone_id, _as_date(r.day))][column] = r.n

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


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def rebuild_everything(zone_ids: list[int] | None = None) -> dict:
    """Rebuild from the first paid order to today (the zones given, or all); commit."""
    first = first_activity_day() or local_today()
    return rebuild(min(first, local_today()), local_today(), zone_ids)


@with_app
def rebuild_job(day_from_iso: str | None = None, day_to_iso: str | None = None,
                zone_ids: list[int] | None = None) -> dict:
    """Job: ``rebuild`` over the given days (default: from the first payment to today). Safe to run twice."""
    day_from = date.fromisoformat(day_from_iso) if day_from_iso else (first_activity_day() or local_today())
    day_to = date.fromisoformat(day_to_iso) if day_to_iso else local_today()
    return rebuild(day_from, day_to, zone_ids)


# ---------------------------------------------------------------- reading


def check_span(day_from: date, day_to: date) -> None:
    """Raise ``ValidationFailed`` unless ``day_from <= day_to`` and the span is at most a year."""
    from backend.errors import ValidationFailed

    if day_from > day_to:
        raise ValidationFailed("'from' must not be after 'to'.", field="from", code="bad_period")
    if (day_to - day_from).days + 1 > MAX_SPAN_DAYS:
        raise ValidationFailed(f"At most {MAX_SPAN_DAYS} days at a time.", field="to", code="bad_period")


def default_span(day_from: date | None, day_to: date | None, days: int = 30) -> tuple[date, date]:
    """Return the requested span, defaulting to the ``days`` days ending today."""
    day_to = day_to or local_today()
    return day_from or (day_to - timedelta(days=days - 1)), day_to


def _daterange(day_from: date, day_to: date):
    d = day_from
    while d <= day_to:
        yield d
        d += timedelta(days=1)


def totals_by_zone(day_from: date, day_to: date, zone_ids: list[int] | None = None) -> dict[int, dict]:
    """Return ``{zone_id: totals}`` over the period for the zones given (default all), read from the
    daily aggregates: sums of the additive columns, distinct wallets and merchants over the period,
    merchants enrolled now, and scenario coverage."""
    if zone_ids is None:
        zone_ids = list(db.session.execute(select(Zone.id).order_by(Zone.id)).scalars())

    def in_period(table):
        return (table.c.zone_id.in_(zone_ids), table.c.day >= day_from, table.c.day <= day_to)

    out = {z: {c: 0 for c in ADDITIVE} | {"active_wallets": 0, "merchants_accepting": 0} for z in zone_ids}
    for row in db.session.execute(
        select(KD.c.zone_id, *[fen_sum(KD.c[c]).label(c) for c in ADDITIVE])
        .where(*in_period(KD)).group_by(KD.c.zone_id)
    ).mappings():
        out[row["zone_id"]].update({c: row[c] for c in ADDITIVE})
    for zone_id, n in db.session.execute(
        select(PAYERS.c.zone_id, func.count(distinct(PAYERS.c.user_id))).where(*in_period(PAYERS))
        .group_by(PAYERS.c.zone_id)
    ):
        out[zone_id]["active_wallets"] = n
    accepting = (MD.c.payment_count > 0,)
    for zone_id, n in db.session.execute(
        select(MD.c.zone_id, func.count(distinct(MD.c.merchant_id))).where(*in_period(MD), *accepting)
        .group_by(MD.c.zone_id)
    ):
        out[zone_id]["merchants_accepting"] = n
    by_scenario: dict[int, dict[str, dict]] = defaultdict(dict)
    for zone_id, scenario, merchants, count, fen in db.session.execute(
        select(MD.c.zone_id, MD.c.scenario, func.count(distinct(MD.c.merchant_id)), fen_sum(MD.c.payment_count),
               fen_sum(MD.c.payment_fen)).where(*in_period(MD), *accepting)
        .group_by(MD.c.zone_id, MD.c.scenario)
    ):
        by_scenario[zone_id][scenario] = {"merchants_accepting": merchants, "payment_count": count,
                                          "payment_fen": fen}
    enrolled = registry.scenarios_enrolled(zone_ids)
    for zone_id, t in out.items():
        t["net_fen"] = t["payment_fen"] - t["refund_fen"]
        t["average_ticket_fen"] = average_ticket(t["payment_fen"], t["payment_count"])
        t["campaign_leverage"] = leverage(t["subsidy_driven_fen"], t["subsidy_fen"])
        zone_enrolled = enrolled.get(zone_id, {})
        t["merchants_enrolled"] = sum(zone_enrolled.values())
        used = by_scenario.get(zone_id, {})
        covered = [s for s in SCENARIOS if s in used]
        t["scenario_coverage"] = {
            "covered_count": len(covered),
            "of": len(SCENARIOS),
            "covered": covered,
            "missing": [s for s in SCENARIOS if s not in used],
            "enrolled": [s for s in SCENARIOS if s in zone_enrolled],
            "by_scenario": [
                {"scenario": s, "name_zh": SCENARIOS[s], "merchants_enrolled": zone_enrolled.get(s, 0),
                 **used.get(s, {"merchants_accepting": 0, "payment_count": 0, "payment_fen": 0})}
                for s in SCENARIOS
            ],
        }
    return out


def daily(zone_id: int, day_from: date, day_to: date) -> list[dict]:
    """Return one row per day of the period (days without activity as zeros), oldest first."""
    rows = {r["day"]: dict(r) for r in db.session.execute(
        select(KD).where(KD.c.zone_id == zone_id, KD.c.day >= day_from, KD.c.day <= day_to)).mappings()}
    scenarios = dict(db.session.execute(
        select(MD.c.day, func.count(distinct(MD.c.scenario)))
        .where(MD.c.zone_id == zone_id, MD.c.day >= day_from, MD.c.day <= day_to, MD.c.payment_count > 0)
        .group_by(MD.c.day)).all())
    out = []
    for d in _daterange(day_from, day_to):
        r = rows.get(d) or {c: 0 for c in DAILY_COLUMNS}
        item = {"day": d.isoformat(), **{c: int(r[c]) for c in DAILY_COLUMNS}}
        item["net_fen"] = item["payment_fen"] - item["refund_fen"]
        item["average_ticket_fen"] = average_ticket(item["payment_fen"], item["payment_count"])
        item["scenarios_covered"] = int(scenarios.get(d, 0))
        out.append(item)
    return out


def zone_kpis(zone: Zone, day_from: date, day_to: date) -> dict:
    """Return a zone's KPIs over the period: every day, and the period's totals."""
    check_span(day_from, day_to)
    return {
        "zone": {"id": zone.id, "code": zone.code, "name_zh": zone.name_zh, "name_en": zone.name_en},
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "timezone": str(local_zone()),
        "days": daily(zone.id, day_from, day_to),
        "totals": totals_by_zone(day_from, day_to, [zone.id])[zone.id],
        "as_of": utcnow().isoformat(),
    }


RANKING_METRICS = ("payment_fen", "net_fen", "payment_count", "active_wallets", "wallets_opened",
                   "merchants_accepting", "merchants_enrolled", "scenarios_covered", "average_ticket_fen",
                   "subsidy_driven_fen")


def ranking(day_from: date, day_to: date, by: str = "payment_fen") -> dict:
    """Return every zone's totals over the period, ranked by ``by`` (highest first; ties share a rank)."""
    check_span(day_from, day_to)
    zones = registry.all_zones()
    totals = totals_by_zone(day_from, day_to, [z.id for z in zones])

    def metric(zone_id):
        t = totals[zone_id]
        return t["scenario_coverage"]["covered_count"] if by == "scenarios_covered" else t[by]

    ordered = sorted(zones, key=lambda z: (-metric(z.id), z.id))
    items, rank, previous = [], 0, None
    for i, z in enumerate(ordered, start=1):
        if metric(z.id) != previous:
            rank, previous = i, metric(z.id)
        items.append({"rank": rank, "zone": {"id": z.id, "code": z.code, "name_zh": z.name_zh, "name_en": z.name_en,
                                             "kind": z.kind}, "value": metric(z.id), "totals": totals[z.id]})
    return {"from": day_from.isoformat(), "to": day_to.isoformat(), "by": by, "items": items}

