"""KPIs: a generated month of traffic counted live equals a direct computation from the ledger, and the
rebuild command reproduces it exactly."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from rq.registry import FailedJobRegistry
from sqlalchemy import delete, select

from backend.clock import local_today
from backend.extensions import db
from backend.jobs import queue
from backend.merchants.models import SCENARIOS
from backend.payments.models import Order, Refund
from tests.backend.helpers import assert_problem, url
from tests.zones.helpers import TEA_HOUSE, onboard, pay_over_http, placement, refund_over_http
from tests.zones.traffic import expected_from_ledger, generate, sqlite_without_fsync
from zones import counting, kpis, rebuild
from zones.models import ZoneDailyPayer, ZoneKpiApplied, ZoneKpiDaily, ZoneMerchantDaily

#: Merchants per zone, by scenario: Tianhe Road covers all seven, the others miss some.
ZONE_PLAN = {
    "yongqingfang": ["food", "food", "shopping", "tourism", "entertainment", "lodging"],
    "beijinglu": ["food", "food", "shopping", "shopping", "transport", "medical"],
    "tianhelu": ["shopping", "food", "entertainment", "lodging", "transport", "tourism", "medical"],
    "pazhou": ["lodging", "food"],
}
AGGREGATES = (ZoneKpiApplied, ZoneMerchantDaily, ZoneDailyPayer, ZoneKpiDaily)


def stored(day_from: date, day_to: date) -> dict:
    """Return the zone-day aggregate rows as ``{(zone, day): figures}``."""
    db.session.rollback()
    rows = db.session.execute(select(ZoneKpiDaily).where(ZoneKpiDaily.day >= day_from,
                                                         ZoneKpiDaily.day <= day_to)).scalars()
    return {(r.zone_id, r.day): {c: getattr(r, c) for c in kpis.DAILY_COLUMNS} for r in rows}


def month_before_last() -> date:
    return (local_today().replace(day=1) - timedelta(days=40)).replace(day=1)


def traffic_of(factory, monkeypatch, **kwargs):
    traffic = generate(factory, monkeypatch, month_start=month_before_last(), zone_plan=ZONE_PLAN, **kwargs)
    monkeypatch.undo()
    assert FailedJobRegistry(queue=queue()).count == 0, "a zones receiver failed"
    return traffic


@pytest.fixture
def month(app, factory, monkeypatch):
    """A month of traffic (the month before last): 2,000 payments at 27 merchants in four zones and two
    outside any zone, with refunds, coupons and red packets."""
    with sqlite_without_fsync():
        return traffic_of(factory, monkeypatch, payments=2_000)


def test_kpis_of_a_month_equal_the_ledger_and_the_rebuild_reproduces_them(app, client, month, admin, zone_ids):
    """The month test, in one piece because generating the month is the expensive part."""
    day_from, day_to = month.month_start - timedelta(days=1), month.month_end + timedelta(days=4)
    expected, payers, accepting = expected_from_ledger(month, day_from, day_to)
    # The traffic is what the test claims: thousands of payments, refunds, subsidies, four zones, every day.
    assert month.payments >= 2000 and month.refunds >= 120 and month.subsidised >= 200
    assert {zone for zone, _ in expected} == {zone_ids[c] for c in ZONE_PLAN}
    assert len({day for _, day in expected}) >= (month.month_end - month.month_start).days + 1
    assert sum(e["wallets_opened"] for e in expected.values()) > 50
    assert db.session.execute(select(Order.id).where(Order.paid_at.is_not(None))).all()
    assert len(db.session.execute(select(Refund.id)).all()) == month.refunds

    assert stored(day_from, day_to) == expected

    # The API reads the same days and adds them up; distinct counts are distinct over the period.
    for code in ZONE_PLAN:
        zid = zone_ids[code]
        body = client.get(url(f"/zones/{zid}/kpis"), headers=admin.auth,
                          query_string={"from": month.month_start.isoformat(),
                                        "to": month.month_end.isoformat()}).get_json()
        days = [d for d in body["days"] if d["payment_count"] or d["refund_count"]]
        mine = {day: e for (z, day), e in expected.items()
                if z == zid and month.month_start <= day <= month.month_end}
        assert len(body["days"]) == (month.month_end - month.month_start).days + 1
        assert {date.fromisoformat(d["day"]) for d in days} == set(mine)
        totals = body["totals"]
        for column in kpis.ADDITIVE:
            assert totals[column] == sum(e[column] for e in mine.values()), column
        assert totals["active_wallets"] == len(set().union(*(payers[(zid, d)] for d in mine if (zid, d) in payers)))
        assert totals["merchants_accepting"] == len(set().union(*(accepting[(zid, d)] for d in mine
                                                                  if (zid, d) in accepting)))
        assert totals["net_fen"] == totals["payment_fen"] - totals["refund_fen"]
        assert totals["merchants_enrolled"] == len(ZONE_PLAN[code])
        coverage = totals["scenario_coverage"]
        assert coverage["covered"] == [s for s in SCENARIOS if s in ZONE_PLAN[code]]
        assert coverage["missing"] == [s for s in SCENARIOS if s not in ZONE_PLAN[code]]
        assert totals["campaign_leverage"] == round(totals["subsidy_driven_fen"] / totals["subsidy_fen"], 2)

    # Counting again changes nothing: every receiver is idempotent.
    before = stored(day_from, day_to)
    for order_id in db.session.execute(select(Order.id).order_by(Order.id).limit(300)).scalars():
        counting.apply_payment(order_id)
        counting.apply_refunds(order_id)
    assert stored(day_from, day_to) == before

    # Wipe the aggregates; the rebuild command recomputes them from the ledger, exactly.
    for table in AGGREGATES:
        db.session.execute(delete(table))
    db.session.commit()
    assert stored(day_from, day_to) == {}
    result = app.test_cli_runner().invoke(args=["zones", "rebuild-kpis", "--from", day_from.isoformat(),
                                                "--to", day_to.isoformat()])
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output
    assert stored(day_from, day_to) == expected

    # A rebuild over data that is already right (one zone, part of the month) changes nothing either.
    mid = month.month_start + timedelta(days=10)
    rebuild.rebuild(mid, mid + timedelta(days=5), [zone_ids["beijinglu"]])
    assert stored(day_from, day_to) == expected
    # And live counting after a rebuild finds everything already counted.
    for order_id in db.session.execute(select(Order.id).order_by(Order.id.desc()).limit(100)).scalars():
        assert counting.apply_payment(order_id) is False
    assert stored(day_from, day_to) == expected

    # The ranking reads the same aggregates: every zone, ordered by the figure asked for.
    q = {"from": month.month_start.isoformat(), "to": month.month_end.isoformat()}
    body = client.get(url("/zones/ranking"), headers=admin.auth, query_string=q).get_json()
    assert len(body["items"]) == len(zone_ids)
    values = [i["value"] for i in body["items"]]
    assert values == sorted(values, reverse=True) and values[0] > 0
    assert body["items"][0]["rank"] == 1
    assert {i["zone"]["code"] for i in body["items"] if i["value"]} == set(ZONE_PLAN)
    quiet = [i for i in body["items"] if i["value"] == 0]
    assert len({i["rank"] for i in quiet}) == 1  # ties share a rank
    by_cov = client.get(url("/zones/ranking"), headers=admin.auth,
                        query_string={**q, "by": "scenarios_covered"}).get_json()
    assert by_cov["items"][0]["zone"]["code"] == "tianhelu" and by_cov["items"][0]["value"] == 7
    for item in body["items"]:
        kpi = client.get(url(f"/zones/{item['zone']['id']}/kpis"), headers=admin.auth, query_string=q).get_json()
        assert kpi["totals"] == item["totals"]


def test_a_payment_and_a_refund_over_http_count_in_their_zone_at_once(app, client, factory, manager_of, zone_ids):
    """The real views announce the settlement; the receivers count it before the manager looks."""
    shop = onboard(client, factory, *TEA_HOUSE, scenario="tourism")
    payer = factory.consumer(balance_fen=100_000)
    first = pay_over_http(client, factory, shop, 3_850, consumer=payer)
    pay_over_http(client, factory, shop, 1_200, consumer=payer)
    refund_over_http(client, shop, first["id"], 1_000)
    manager = manager_of("yongqingfang")
    today = local_today().isoformat()
    body = client.get(url(f"/zones/{zone_ids['yongqingfang']}/kpis"), headers=manager.auth,
                      query_string={"from": today, "to": today}).get_json()
    day = body["days"][0]
    assert {k: day[k] for k in ("payment_count", "payment_fen", "refund_count", "refund_fen", "net_fen",
                                "average_ticket_fen", "active_wallets", "wallets_opened", "merchants_accepting",
                                "scenarios_covered", "subsidy_fen")} == {
        "payment_count": 2, "payment_fen": 5_050, "refund_count": 1, "refund_fen": 1_000, "net_fen": 4_050,
        "average_ticket_fen": 2_525, "active_wallets": 1, "wallets_opened": 1, "merchants_accepting": 1,
        "scenarios_covered": 1, "subsidy_fen": 0}
    assert body["totals"]["scenario_coverage"]["covered"] == ["tourism"]
    assert body["totals"]["campaign_leverage"] is None
    before = stored(local_today(), local_today())
    rebuild.rebuild(local_today(), local_today())
    assert stored(local_today(), local_today()) == before

    path = url(f"/zones/{zone_ids['yongqingfang']}/kpis")
    assert_problem(client.get(path, headers=manager.auth, query_string={"from": today, "to": "2020-01-01"}),
                   422, "bad_period", field="from")
    assert_problem(client.get(path, headers=manager.auth, query_string={"from": "2020-01-01", "to": today}),
                   422, "bad_period", field="to")
    assert_problem(client.get(path, headers=manager.auth, query_string={"from": "yesterday"}),
                   422, "validation_failed", field="from")


def work_through(real_redis) -> None:
    """Run what is queued, and what is scheduled (the KPI batch waits ``BATCH_DELAY``), on a worker.

    The scheduled jobs are moved to the queue at once, as RQ's scheduler does when their time comes.
    """
    from rq import SimpleWorker

    scheduled = queue().scheduled_job_registry
    for job_id in scheduled.get_job_ids():
        scheduled.requeue(job_id)
    SimpleWorker([queue()], connection=real_redis).work(burst=True)


@pytest.mark.redis
def test_with_redis_the_counting_runs_on_an_rq_worker(app, client, factory, real_redis, monkeypatch, zone_ids):
    """Production shape: the receivers only enqueue; a worker places the merchant and counts the payment."""
    from rq import SimpleWorker

    monkeypatch.setitem(app.config, "REDIS_URL", "redis://real")  # any value: selects async queues
    shop = onboard(client, factory, *TEA_HOUSE)
    assert placement(shop.id) == (False, None)  # approval only enqueued the placement
    SimpleWorker([queue()], connection=real_redis).work(burst=True)
    assert placement(shop.id) == (True, zone_ids["yongqingfang"])
    pay_over_http(client, factory, shop, 2_000)
    assert stored(local_today(), local_today()) == {}
    work_through(real_redis)
    assert FailedJobRegistry(queue=queue()).count == 0
    (row,) = stored(local_today(), local_today()).values()
    assert (row["payment_count"], row["payment_fen"], row["wallets_opened"]) == (1, 2_000, 1)


@pytest.mark.redis
def test_payments_settled_meanwhile_are_counted_in_one_batch_job(app, client, factory, real_redis, monkeypatch,
                                                                  zone_ids):
    """However many payments settle while a batch is queued, they queue one job, and it counts each once."""
    from rq.registry import ScheduledJobRegistry

    shop = onboard(client, factory, *TEA_HOUSE)
    other = onboard(client, factory, *TEA_HOUSE, scenario="shopping", name="Second Shop")
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://real")  # any value: selects async queues
    payer = factory.consumer(balance_fen=500_000)
    for amount, where, who in [(1_000, shop, payer), (2_000, shop, payer), (3_000, other, payer),
                               (4_000, other, None), (5_000, shop, None)]:
        pay_over_http(client, factory, where, amount, consumer=who)
    assert ScheduledJobRegistry(queue=queue()).count == 1
    assert real_redis.llen(counting.PENDING_KEY) == 5
    work_through(real_redis)
    assert FailedJobRegistry(queue=queue()).count == 0
    assert real_redis.llen(counting.PENDING_KEY) == 0
    counted = stored(local_today(), local_today())
    (row,) = counted.values()
    assert {k: row[k] for k in ("payment_count", "payment_fen", "active_wallets", "wallets_opened",
                                "merchants_accepting")} == {
        "payment_count": 5, "payment_fen": 15_000, "active_wallets": 3, "wallets_opened": 3,
        "merchants_accepting": 2}
    rebuild.rebuild(local_today(), local_today())
    assert stored(local_today(), local_today()) == counted
    # The next payment queues the next job (the batch cleared its flag before reading the list).
    pay_over_http(client, factory, shop, 600, consumer=payer)
    assert ScheduledJobRegistry(queue=queue()).count == 1


@pytest.mark.redis
def test_the_sweep_counts_payments_whose_ids_were_lost(app, client, factory, real_redis, monkeypatch, zone_ids):
    """Redis restarted (or a worker died holding a batch): the minutely sweep finds the uncounted payments."""
    shop = onboard(client, factory, *TEA_HOUSE)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://real")
    payer = factory.consumer(balance_fen=500_000)
    for amount in (1_100, 2_200, 3_300):
        pay_over_http(client, factory, shop, amount, consumer=payer)
    real_redis.flushdb()  # the listed ids and the queued job are gone
    assert stored(local_today(), local_today()) == {}
    assert counting.sweep() == 3
    (row,) = stored(local_today(), local_today()).values()
    assert (row["payment_count"], row["payment_fen"], row["active_wallets"]) == (3, 6_600, 1)
    assert counting.sweep() == 0  # counted once
    before = stored(local_today(), local_today())
    rebuild.rebuild(local_today(), local_today())
    assert stored(local_today(), local_today()) == before


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_a_failed_count_never_undoes_the_payment_and_the_rebuild_command_repairs_it(app, client, factory,
                                                                                     monkeypatch):
    shop = onboard(client, factory, *TEA_HOUSE)

    def broken(order_ids):
        raise RuntimeError("database hiccup")

    records = Records()
    logging.getLogger("zones.counting").addHandler(records)
    monkeypatch.setattr(counting, "_count_payments", broken)
    try:
        pay_over_http(client, factory, shop, 4_200)  # the payment itself succeeds
    finally:
        logging.getLogger("zones.counting").removeHandler(records)
    assert any("zones job apply_pending" in line and "database hiccup" in line for line in records.lines)
    assert stored(local_today(), local_today()) == {}
    monkeypatch.undo()
    result = app.test_cli_runner().invoke(args=["zones", "rebuild-kpis"])
    assert result.exit_code == 0, result.output
    (row,) = stored(local_today(), local_today()).values()
    assert (row["payment_count"], row["payment_fen"], row["active_wallets"]) == (1, 4_200, 1)
