"""Creating and launching campaigns: who may, escrow to the fen, the state machine, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.auth.models import Role
from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from campaigns import service
from campaigns.models import Campaign, CampaignStatus, Packet
from tests.campaigns.helpers import (
    balance_of,
    campaign_account,
    campaign_body,
    create,
    launch,
    live,
    set_times,
    transfers_with,
)
from tests.payments.helpers import ledger_untouched, ok, open_shop, refused


def test_launch_escrows_the_whole_budget_and_splits_it_exactly(api, world):
    before = balance_of(world.funder_account)
    c = create(api, world.manager, world, split="random", packet_count=100, budget_fen=88_800)
    assert (c["status"], c["budget_fen"], c["per_user_cap"]) == ("draft", 88_800, 1)
    launched = ok(launch(api, world.manager, c["id"]))
    assert launched["status"] == "live" and launched["account_id"] and launched["launched_at"]
    assert balance_of(world.funder_account) == before - 88_800
    assert balance_of(campaign_account(c["id"])) == 88_800
    escrow = transfers_with(TransferCode.ESCROW)
    assert [(t.debit_account_id, t.credit_account_id, t.amount_fen) for t in escrow] == \
        [(world.funder_account, launched["account_id"], 88_800)]
    amounts = db.session.execute(select(Packet.amount_fen).where(Packet.campaign_id == c["id"])).scalars().all()
    assert len(amounts) == 100 and sum(amounts) == 88_800 and min(amounts) >= 1
    assert ledger.verify() == []


def test_launch_is_idempotent(api, world):
    c = create(api, world.manager, world)
    first = launch(api, world.manager, c["id"], key="launch-1")
    again = launch(api, world.manager, c["id"], key="launch-1")
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    assert len(transfers_with(TransferCode.ESCROW)) == 1
    refused(launch(api, world.manager, c["id"]), 409, "illegal_transition")


def test_an_unfunded_launch_is_refused_and_the_campaign_stays_draft(api, world, factory):
    poor = factory.consumer(wallet_class=2, balance_fen=500)
    funder_id = service.add_funder("Poor fund", poor.phone, None).id
    c = create(api, world.manager, world, funder_id=funder_id, budget_fen=1_000)
    with ledger_untouched():
        body = refused(launch(api, world.manager, c["id"]), 422, "insufficient_funds")
    assert body["budget_fen"] == 1_000 and body["funder_balance_fen"] == 500
    assert ok(api.get(f"/campaigns/{c['id']}", world.manager))["status"] == "draft"
    assert db.session.execute(select(func.count()).select_from(Packet)).scalar_one() == 0


def test_a_launch_before_the_window_is_scheduled_then_goes_live_by_the_clock(api, world):
    now = utcnow()
    c = create(api, world.manager, world, claim_starts_at=(now + timedelta(hours=1)).isoformat(),
               claim_ends_at=(now + timedelta(hours=2)).isoformat(),
               spend_ends_at=(now + timedelta(hours=3)).isoformat())
    assert ok(launch(api, world.manager, c["id"]))["status"] == "scheduled"
    set_times(c["id"], opens_at=now - timedelta(seconds=1))
    # Lazily on access (and by the minute scan): scheduled → live.
    assert ok(api.get(f"/campaigns/{c['id']}", world.manager))["status"] == "live"
    assert db.session.get(Campaign, c["id"]).status == "live"


def test_the_transition_table_and_conditional_moves():
    S = CampaignStatus
    assert S.sources_of(S.SCHEDULED) == (S.DRAFT,)
    assert S.sources_of(S.LIVE) == (S.SCHEDULED, S.PAUSED)
    assert S.sources_of(S.PAUSED) == (S.LIVE,)
    assert S.sources_of(S.ENDED) == (S.LIVE, S.PAUSED)
    assert S.sources_of(S.CANCELLED) == (S.SCHEDULED, S.LIVE, S.PAUSED, S.ENDED)
    assert S.sources_of(S.SETTLED) == (S.ENDED, S.CANCELLED)
    assert S.sources_of(S.DRAFT) == ()
    t0 = utcnow()
    assert service.due_status(S.SCHEDULED, t0 - timedelta(hours=2), t0 - timedelta(hours=1), t0) == S.ENDED
    assert service.due_status(S.PAUSED, t0 - timedelta(hours=2), t0 - timedelta(hours=1), t0) == S.ENDED
    assert service.due_status(S.PAUSED, t0 - timedelta(hours=2), t0 + timedelta(hours=1), t0) == S.PAUSED
    assert service.due_status(S.CANCELLED, t0 - timedelta(hours=2), t0 - timedelta(hours=1), t0) == S.CANCELLED
    assert service.due_status(S.SCHEDULED, t0 + timedelta(hours=1), t0 + timedelta(hours=2), t0) == S.SCHEDULED
    assert service.due_status(S.DRAFT, t0 - timedelta(hours=2), t0 - timedelta(hours=1), t0) == S.DRAFT


def test_zone_managers_act_on_their_zones_only(api, world, factory):
    body = campaign_body(world)
    refused(api.post("/campaigns", world.other_manager, json=body), 403, "zone_forbidden")
    c = create(api, world.manager, world)
    # The other zone's manager neither sees nor launches it; the pilot office does both.
    refused(api.get(f"/campaigns/{c['id']}", world.other_manager), 404, "campaign_not_found")
    refused(launch(api, world.other_manager, c["id"]), 404, "campaign_not_found")
    assert [x["id"] for x in ok(api.get("/campaigns", world.other_manager))["items"]] == []
    assert [x["id"] for x in ok(api.get("/campaigns", world.pilot))["items"]] == [c["id"]]
    # A pilot-office campaign over two zones: each manager sees it, neither alone may launch it.
    both = create(api, world.pilot, world, zone_ids=[world.zone_id, world.other_zone_id])
    assert ok(api.get(f"/campaigns/{both['id']}", world.manager))["id"] == both["id"]
    refused(launch(api, world.manager, both["id"]), 403, "campaign_forbidden")
    consumer = factory.consumer()
    refused(api.post("/campaigns", consumer, json=body), 403, "role_forbidden")
    refused(api.get(f"/campaigns/{c['id']}", consumer), 404, "campaign_not_found")  # drafts are not public
    ok(launch(api, world.manager, c["id"]))
    public = ok(api.get(f"/campaigns/{c['id']}", consumer))
    assert "funder" not in public and "account_id" not in public and public["me"]["claimed"] is False
    refused(api.get(f"/campaigns/{c['id']}/stats", consumer), 403, "role_forbidden")
    refused(api.get(f"/campaigns/{c['id']}/settlement", world.other_manager), 404, "campaign_not_found")


def test_a_zone_funder_funds_only_its_zone(api, world, factory):
    zoned = factory.consumer(wallet_class=2, balance_fen=100_000)
    funder_id = service.add_funder("Tianhe fund", zoned.phone, world.other_zone_id).id
    refused(api.post("/campaigns", world.manager, json=campaign_body(world, funder_id=funder_id)), 403,
            "funder_forbidden")
    listed = ok(api.get("/campaigns/funders", world.manager))["items"]
    assert [f["id"] for f in listed] == [world.funder_id]
    assert {f["id"] for f in ok(api.get("/campaigns/funders", world.other_manager))["items"]} == \
        {world.funder_id, funder_id}
    refused(api.post("/campaigns/funders", world.manager, json={"name": "x", "phone": zoned.phone}), 403,
            "role_forbidden")
    made = ok(api.post("/campaigns/funders", world.pilot, json={"name": "Own", "phone": factory.consumer().phone}),
              201)
    assert made["zone_id"] is None


@pytest.mark.parametrize("overrides, field", [
    ({"packet_count": 11}, "budget_fen"),  # a fixed split must divide
    ({"split": "random", "budget_fen": 5}, "budget_fen"),  # < 1 fen a packet
    ({"budget_fen": 1.5}, "budget_fen"),
    ({"zone_ids": []}, "zone_ids"),
    ({"zone_ids": [99_999]}, "zone_ids"),
    ({"merchant_ids": [99_999]}, "merchant_ids"),
    ({"scenarios": ["gambling"]}, "scenarios.0"),
    ({"claim_ends_at": "2020-01-01T00:00:00+08:00"}, "claim_ends_at"),
    ({"claim_ends_at": "2099-01-01T00:00:00"}, "claim_ends_at"),  # naive
    ({"kind": "coupon", "discount_fen": 500, "min_spend_fen": 400}, "min_spend_fen"),
    ({"kind": "coupon", "discount_fen": 500, "min_spend_fen": 5_000, "budget_fen": 1}, "budget_fen"),
    ({"wallet_classes": [5]}, "wallet_classes.0"),
    ({"bonus": 1}, "bonus"),
])
def test_bad_campaigns_are_refused_by_field(api, world, overrides, field):
    body = campaign_body(world, **overrides)
    with ledger_untouched():
        refused(api.post("/campaigns", world.manager, json=body), 422, "validation_failed", field=field)
    assert db.session.execute(select(func.count()).select_from(Campaign)).scalar_one() == 0


def test_campaign_json_names_the_windows_by_kind(api, world):
    lottery = create(api, world.manager, world, kind="lottery")
    assert set(lottery["windows"]) == {"registration_starts_at", "registration_ends_at", "spend_ends_at"}
    coupon = create(api, world.manager, world, kind="coupon", discount_fen=500, min_spend_fen=3_000, packet_count=4)
    assert (coupon["budget_fen"], coupon["split"]) == (2_000, None)
    assert set(live(api, world)["windows"]) == {"claim_starts_at", "claim_ends_at", "spend_ends_at"}
    assert Role.PILOT_ADMIN


def test_every_view_of_a_campaign_shows_the_same_state(api, world, factory):
    """One function (``lifecycle.state``) says what a campaign is: stats, settlement, one campaign, the
    list and the consumer's red packets never disagree, also before anything wrote the clock's verdict back."""
    from tests.campaigns.helpers import close_window, grab

    c = live(api, world, packet_count=2, budget_fen=200)
    holder = factory.consumer()
    ok(grab(api, holder, c["id"]), 201)
    close_window(c["id"])  # stored: live; by the clock: ended
    assert db.session.get(Campaign, c["id"]).status == "live"
    views = [ok(api.get(f"/campaigns/{c['id']}/stats", world.manager))["status"],
             ok(api.get(f"/campaigns/{c['id']}/settlement", world.manager))["status"],
             *[x["status"] for x in ok(api.get("/campaigns", world.manager))["items"]],
             ok(api.get(f"/campaigns/{c['id']}", holder))["status"]]
    assert views == ["ended"] * 4
    assert [x["id"] for x in ok(api.get("/campaigns", holder, query_string={"status": "ended"}))["items"]] == [c["id"]]
    assert ok(api.get("/wallets/me/red-packets", holder))["items"][0]["state"] == "active"  # spendable after the close


def test_a_listing_for_one_merchant_says_which_campaigns_it_takes(api, world, factory):
    """``accepted_here`` comes from the one eligibility rule (listed merchants, else the zone, then scenarios)."""
    listed = live(api, world)  # lists world.shop
    zone_wide = live(api, world, merchant_ids=[])
    shopping_only = live(api, world, merchant_ids=[], scenarios=["shopping"])
    elsewhere = open_shop(factory)  # not placed in any zone, listed nowhere

    def accepted(who, merchant_id):
        body = ok(api.get("/campaigns", who, query_string={"merchant_id": merchant_id}))
        return {c["id"]: c["accepted_here"] for c in body["items"]}

    assert accepted(world.shop.owner, world.shop.merchant_id) == {
        listed["id"]: True, zone_wide["id"]: True, shopping_only["id"]: False}
    assert set(accepted(world.manager, elsewhere.merchant_id).values()) == {False}
    assert "accepted_here" not in ok(api.get("/campaigns", world.shop.owner))["items"][0]
    # Another owner's shop is not theirs to ask about: 404, no existence leak.
    refused(api.get("/campaigns", elsewhere.owner, query_string={"merchant_id": world.shop.merchant_id}),
            404, "merchant_not_found")
