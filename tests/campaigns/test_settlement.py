"""Expiry reclaim and settlement: every fen of the budget accounted for, from the ledger, and the
jobs safe to run twice."""

from __future__ import annotations

import pytest

from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from campaigns import settlement
from campaigns.tasks import reclaim_job, scan_campaigns, settle_job
from tests.campaigns.helpers import (
    balance_of,
    campaign_account,
    grab,
    live,
    pass_spend_deadline,
    pay_order,
    restricted_balance,
    transfers_with,
)
from tests.payments.helpers import ok, refused


@pytest.fixture
def spent(api, world, factory):
    """4 red packets of 500: three claimed; one spent in full, one 200 of it, one not at all."""
    c = live(api, world, packet_count=4, budget_fen=2_000)
    a, b, idle = (factory.consumer(balance_fen=5_000) for _ in range(3))
    for p in (a, b, idle):
        ok(grab(api, p, c["id"]), 201)
    pay_order(api, world, a, 800)  # 500 red packet + 300 wallet
    pay_order(api, world, b, 200)
    return c, a, b, idle


def test_reclaim_after_the_deadline_then_settle_returns_the_rest(api, world, spent):
    c, a, b, idle = spent
    escrow = campaign_account(c["id"])
    funder_before = balance_of(world.funder_account)
    with pytest.raises(settlement.NotDue):
        reclaim_job(c["id"])
    pass_spend_deadline(c["id"])
    assert reclaim_job(c["id"]) == 300 + 500
    assert [restricted_balance(p.id, c["id"]) for p in (a, b, idle)] == [0, 0, 0]
    assert balance_of(escrow) == 500 + 800  # the unclaimed packet and what was reclaimed
    assert reclaim_job(c["id"]) == 0  # safe twice
    assert settle_job(c["id"]) == 1_300
    assert balance_of(escrow) == 0 and balance_of(world.funder_account) == funder_before + 1_300
    assert settle_job(c["id"]) == 0
    assert [t.amount_fen for t in transfers_with(TransferCode.RETURN)] == [1_300]
    assert sorted(t.amount_fen for t in transfers_with(TransferCode.RECLAIM)) == [300, 500]
    report = ok(api.get(f"/campaigns/{c['id']}/settlement", world.manager))
    assert report["status"] == "settled" and report["settled_at"]
    figures = {k: report[k] for k in ("issued_fen", "claimed_fen", "red_packets_spent_fen", "reclaimed_fen",
                                      "returned_fen", "spent_net_fen", "held_by_campaign_fen",
                                      "held_by_consumers_fen", "packets_claimed", "subsidised_orders",
                                      "subsidised_volume_fen", "subsidy_net_fen")}
    assert figures == {"issued_fen": 2_000, "claimed_fen": 1_500, "red_packets_spent_fen": 700,
                       "reclaimed_fen": 800, "returned_fen": 1_300, "spent_net_fen": 700,
                       "held_by_campaign_fen": 0, "held_by_consumers_fen": 0, "packets_claimed": 3,
                       "subsidised_orders": 2, "subsidised_volume_fen": 1_000, "subsidy_net_fen": 700}
    assert report["leverage"] == pytest.approx(1_000 / 700, abs=1e-4)
    assert report["balanced"] and all(check["ok"] for check in report["checks"])
    assert ledger.verify() == []


def test_the_report_balances_before_settlement_with_money_still_held(api, world, spent):
    c, *_ = spent
    report = settlement.report(c["id"])
    assert (report["issued_fen"], report["spent_net_fen"], report["held_by_campaign_fen"],
            report["held_by_consumers_fen"], report["returned_fen"]) == (2_000, 700, 500, 800, 0)
    assert report["balanced"]


def test_the_minute_scan_moves_campaigns_along_and_settles(api, world, spent, factory):
    c, *_ = spent
    pass_spend_deadline(c["id"])
    done = scan_campaigns()
    assert done["settled"] == 1 and done["failed"] == 0
    assert ok(api.get(f"/campaigns/{c['id']}", world.manager))["status"] == "settled"
    assert scan_campaigns()["settled"] == 0  # safe twice
    assert settlement.report(c["id"])["returned_fen"] == 1_300
    refused(grab(api, factory.consumer(), c["id"]), 409, "campaign_not_live")


def test_a_coupon_campaign_returns_the_unused_discounts(api, world, factory):
    c = live(api, world, kind="coupon", packet_count=3, discount_fen=500, min_spend_fen=2_000)
    user, idle = factory.consumer(balance_fen=5_000), factory.consumer()
    ok(grab(api, user, c["id"]), 201)
    ok(grab(api, idle, c["id"]), 201)
    pay_order(api, world, user, 2_000)
    pass_spend_deadline(c["id"])
    assert settle_job(c["id"]) == 1_000
    report = settlement.report(c["id"])
    assert (report["issued_fen"], report["coupons_spent_fen"], report["returned_fen"], report["claimed_fen"]) == \
        (1_500, 500, 1_000, 0)
    assert report["balanced"]
    coupons = ok(api.get("/wallets/me/coupons", idle))["items"]
    assert [x["state"] for x in coupons] == ["expired"]
