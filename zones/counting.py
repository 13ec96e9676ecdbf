"""Zone KPIs kept live: settled payments counted in batches off the payment path, refunds one job per order,
and merchants placed (and their zones' figures rebuilt) when they are approved or an outline moves.

See ``docs/ARCHITECTURE.md`` (zone KPIs) for how a payment is counted once and what ``sweep`` recovers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta

from rq.job import JobStatus
from sqlalchemy import func, select

from backend.clock import utcnow
from backend.extensions import db, get_redis
from backend.jobs import enqueue, with_app
from backend.sql import insert_for
from zones import placement
from zones.kpis import APPLIED, DAILY_COLUMNS, KD, MD, O2, PAYERS, ZM, M, O, R, T, as_date, local_day_of, subsidy_fen_of
from zones.models import Zone
from zones.rebuild import rebuild_everything

log = logging.getLogger(__name__)



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


def _zone_of(row) -> int | None:
    """Return the zone of the merchant of ``row`` (which has ``placed``, ``zone_id``, ``merchant_id``),
    placing the merchant first if it never was (e.g. approved while a receiver was failing)."""
    if row.placed is not None:
        return row.zone_id
    placed = placement.place_merchant(row.merchant_id)
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
               subsidy_fen_of(O.c.reference, M.c.account_id).correlate(O, M).scalar_subquery().label("subsidy_fen"),
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
            by_zone[(zone_id, as_date(day))]["active_wallets"] += 1
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
    placed = _in_own_transaction(placement.place_merchant, merchant_id)
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
    for merchant_id in placement.merchants_to_replace(zone_id, boxes):
        placed = placement.place_merchant(merchant_id)
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
