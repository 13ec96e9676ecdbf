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
    # Past: 800 of 2,000 spent (40 %); 2,800 of payments on 800 of subsidy (leverage 3.5). One campaign a
    # fifth of this one's size weighs a sixth: 10,000 × (800 + 10,000) ÷ (2,000 + 10,000).
    assert f["history"]["campaigns"] == 1 and f["expected_cost_fen"] == 9_000
    assert f["cost_basis_detail"] == {"similar_campaigns": 1, "spent": 800, "issued": 2_000, "unit": "fen",
                                      "history_weight": round(2_000 / 12_000, 4)}
    assert f["expected_leverage"] == 3.5 and f["expected_subsidised_volume_fen"] == 31_500
    # A campaign as small as the history leans on it more; history much larger than the campaign decides.
    small = ok(simulate(api, world.manager, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=4,
                        budget_fen=2_000))
    assert small["expected_cost_fen"] == 2_000 * 2_800 // 4_000 == 1_400
    tiny = ok(simulate(api, world.manager, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=1,
                       budget_fen=20))
    assert tiny["expected_cost_fen"] == 20 * 820 // 2_020  # ≈ the history's 40 %
    assert ledger.verify() == []


def test_one_tiny_unspent_precedent_does_not_forecast_a_free_campaign(api, world, factory):
    c = live(api, world, packet_count=1, budget_fen=100)
    ok(grab(api, factory.consumer(), c["id"]), 201)  # claimed, never spent
    pass_spend_deadline(c["id"])
    settle_job(c["id"])
    f = ok(simulate(api, world.manager, kind="grab", split="random", zone_ids=[world.zone_id], packet_count=1_000,
                    budget_fen=5_000_000))
    assert f["history"]["campaigns"] == 1 and f["cost_basis_detail"]["spent"] == 0
    assert f["expected_cost_fen"] == 5_000_000 * 5_000_000 // 5_000_100 == 4_999_900  # ¥49,999.00, not ¥0
    assert f["expected_leverage"] is None and f["expected_subsidised_volume_fen"] is None


def test_packets_over_a_wallet_class_balance_cap_are_flagged(api, world):
    # ¥50,000 in 4 random packets: the largest is at least ¥12,500, over a class-4 wallet's ¥10,000.
    f = ok(simulate(api, world.manager, kind="grab", split="random", zone_ids=[world.zone_id], packet_count=4,
                    budget_fen=5_000_000, wallet_classes=[3, 4]))
    by_class = {w["wallet_class"]: w for w in f["wallet_cap_warnings"]}
    assert set(by_class) <= {3, 4} and 4 in by_class
    assert by_class[4]["balance_cap_fen"] == 1_000_000 and by_class[4]["largest_packet_fen"] > 1_000_000
    assert 0 < by_class[4]["share_over"] <= 1
    fixed = ok(simulate(api, world.manager, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=4,
                        budget_fen=5_000_000, wallet_classes=[2]))
    assert fixed["wallet_cap_warnings"] == []  # ¥12,500 packets fit a class-2 wallet
    fixed4 = ok(simulate(api, world.manager, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=4,
                         budget_fen=5_000_000, wallet_classes=[4]))
    assert fixed4["wallet_cap_warnings"] == [{"wallet_class": 4, "balance_cap_fen": 1_000_000,
                                              "largest_packet_fen": 1_250_000, "share_over": 1.0}]
    low = ok(simulate(api, world.manager, kind="grab", split="fixed", zone_ids=[world.zone_id], packet_count=10,
                      budget_fen=100_000))
    assert low["wallet_cap_warnings"] == []
