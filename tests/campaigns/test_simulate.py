"""The simulator: a forecast without spending — amounts, cost, leverage from the zone's history."""

from __future__ import annotations

from backend.ledger import service as ledger
from campaigns.tasks import settle_job
from tests.campaigns.helpers import grab, live, pass_spend_deadline, pay_order
from tests.payments.helpers import ledger_untouched, ok, refused


def simulate(api, who, **body):
    return api.post("/campaigns/simulate", who, json=body)


def test_a_random_split_forecast_is_reproducible_and_spends_nothing(api, world):
    body = {"kind": "grab", "split": "random", "zone_ids": [world.zone_id], "packet_count": 100,
            "budget_fen": 88_800, "trials": 300, "seed": 7}
    with ledger_untouched():
        f = ok(simulate(api, world.manager, **body))
    amounts = f["packet_amounts"]
    assert 1 <= amounts["min_fen"] <= amounts["p10_fen"] <= amounts["p50_fen"] <= amounts["p90_fen"] \
        <= amounts["p99_fen"] <= amounts["max_fen"]
    assert amounts["mean_fen"] == 888  # every split sums to the budget
    assert f["largest_packet"]["min_fen"] >= 888 and f["trials"] == 300
    assert (f["expected_cost_fen"], f["expected_leverage"], f["history"]["campaigns"]) == (88_800, None, 0)
    assert ok(simulate(api, world.manager, **body)) == f
    assert ok(simulate(api, world.manager, **{**body, "seed": 8}))["packet_amounts"] != amounts


def test_fixed_and_coupon_forecasts(api, world):
    fixed = ok(simulate(api, world.pilot, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=4,
                        budget_fen=2_000))
    assert fixed["packet_amounts"]["min_fen"] == fixed["packet_amounts"]["max_fen"] == 500
    coupon = ok(simulate(api, world.pilot, kind="coupon", zone_ids=[world.zone_id], packet_count=10,
                         discount_fen=500, min_spend_fen=3_000))
    assert (coupon["packet_amounts"], coupon["budget_fen"], coupon["expected_cost_fen"]) == (None, 5_000, 5_000)
    refused(simulate(api, world.pilot, kind="grab", zone_ids=[world.zone_id], packet_count=10, budget_fen=5), 422,
            "validation_failed", field="budget_fen")
    refused(simulate(api, world.manager, kind="grab", zone_ids=[world.other_zone_id], packet_count=1,
                     budget_fen=100), 403, "zone_forbidden")


def test_history_gives_the_expected_cost_and_leverage(api, world, factory):
    c = live(api, world, packet_count=4, budget_fen=2_000)
    a, b = factory.consumer(balance_fen=10_000), factory.consumer(balance_fen=10_000)
    ok(grab(api, a, c["id"]), 201)
    ok(grab(api, b, c["id"]), 201)
    pay_order(api, world, a, 2_500)  # 500 of subsidy brings a 2,500 payment
    pay_order(api, world, b, 300)  # 300 of subsidy, a 300 payment
    pass_spend_deadline(c["id"])
    settle_job(c["id"])
    f = ok(simulate(api, world.manager, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=10,
                    budget_fen=10_000))
    # Past: 800 of 2,000 spent (40 %); 2,800 of payments on 800 of subsidy (leverage 3.5).
    assert f["history"]["campaigns"] == 1 and f["expected_cost_fen"] == 4_000
    assert f["expected_leverage"] == 3.5 and f["expected_subsidised_volume_fen"] == 14_000
    assert ledger.verify() == []
