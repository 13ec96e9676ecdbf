"""A zone-wide stop of every running campaign (emergency response, issue #16): a zone manager (own zone) or
the pilot office stops a zone with a reason; its live campaigns are paused at once (claims and registrations
refused with 409 ``zone_campaigns_stopped``, the Redis gate hands out no packet), a campaign that opens during
the stop is paused as it opens, what was claimed stays spendable, no money moves; resuming the stop resumes
what it paused. Both are audited."""

from __future__ import annotations

from datetime import timedelta

from backend.clock import utcnow
from backend.ledger import service as ledger
from campaigns.gate import Gate
from tests.campaigns.helpers import (
    close_window,
    create,
    grab,
    launch,
    live,
    pay_order,
    place,
    restricted_balance,
    set_times,
)
from tests.payments.helpers import ledger_untouched, ok, open_shop, refused

REASON = "发现仿冒红包链接，全区暂停核查"


def stop(api, who, zone_id, reason=REASON):
    return api.post("/campaigns/zone-stops", who, json={"zone_id": zone_id, "reason": reason})


def test_a_zone_stop_pauses_every_live_campaign_of_the_zone_and_resume_restores_them(api, world, factory):
    first, second = live(api, world, packet_count=4, budget_fen=2_000), live(api, world)
    shop = open_shop(factory)
    place(shop.merchant_id, world.other_zone_id)
    elsewhere = ok(launch(api, world.other_manager, create(api, world.other_manager, world, zone_ids=[
        world.other_zone_id], merchant_ids=[shop.merchant_id])["id"]))
    already_paused = live(api, world)
    ok(api.post(f"/campaigns/{already_paused['id']}/pause", world.manager, json={}))
    early, late = factory.consumer(balance_fen=5_000), factory.consumer()
    ok(grab(api, early, first["id"]), 201)

    refused(stop(api, world.other_manager, world.zone_id), 403, "campaign_forbidden")  # not their zone
    refused(stop(api, world.manager, world.zone_id, reason="  "), 422, "reason_required")
    refused(stop(api, world.manager, 999_999), 404, "zone_not_found")
    with ledger_untouched():
        body = ok(stop(api, world.manager, world.zone_id), 201)
    assert body["active"] and body["reason"] == REASON and body["stopped_at"]
    assert body["stopped_by_user_id"] == world.manager.id
    assert sorted(body["changed_campaign_ids"]) == sorted([first["id"], second["id"]])
    refused(stop(api, world.pilot, world.zone_id), 409, "zone_already_stopped")

    with ledger_untouched():
        refused(grab(api, late, first["id"]), 409, "zone_campaigns_stopped")
        refused(grab(api, late, second["id"]), 409, "zone_campaigns_stopped")
        refused(api.post(f"/campaigns/{first['id']}/resume", world.manager, json={}), 409, "zone_campaigns_stopped")
    assert Gate(first["id"]).stopped_reason() == "paused"  # the gate hands out nothing
    assert Gate(first["id"]).take(late.id, None, None)[0] == "stopped"
    ok(grab(api, late, elsewhere["id"]), 201)  # another zone goes on
    pay_order(api, world, early, 800)  # what was claimed is still spent
    assert restricted_balance(early.id, first["id"]) == 0

    audit = ok(api.get("/protection/audit", world.pilot, query_string={"action": "zone_campaigns_stop"}))["items"]
    assert audit[0]["reason"] == REASON and audit[0]["actor_user_id"] == world.manager.id
    assert ok(api.get("/campaigns/zone-stops", world.other_manager))["items"] == []  # not their zone
    listed = ok(api.get("/campaigns/zone-stops", world.manager, query_string={"active": "true"}))["items"]
    assert [s["id"] for s in listed] == [body["id"]]

    refused(api.post(f"/campaigns/zone-stops/{body['id']}/resume", world.other_manager, json={"reason": "核查完毕"}),
            403, "campaign_forbidden")
    resumed = ok(api.post(f"/campaigns/zone-stops/{body['id']}/resume", world.pilot, json={"reason": "核查完毕，恢复"}))
    assert not resumed["active"] and resumed["resumed_by_user_id"] == world.pilot.id
    assert sorted(resumed["changed_campaign_ids"]) == sorted([first["id"], second["id"]])
    refused(api.post(f"/campaigns/zone-stops/{body['id']}/resume", world.pilot, json={"reason": "再次恢复"}),
            409, "zone_stop_ended")
    assert ok(api.get(f"/campaigns/{already_paused['id']}", world.manager))["status"] == "paused"  # its own pause
    assert ok(grab(api, late, first["id"]), 201)["amount_fen"] == 500
    assert ok(api.get("/protection/audit", world.pilot, query_string={"action": "zone_campaigns_resume"}))["items"]
    assert ledger.verify() == []


def test_a_campaign_that_opens_during_a_zone_stop_is_paused_as_it_opens(api, world, factory):
    now = utcnow()
    later = ok(launch(api, world.manager, create(api, world.manager, world,
                                                 claim_starts_at=(now + timedelta(minutes=5)).isoformat())["id"]))
    assert later["status"] == "scheduled"
    stopped = ok(stop(api, world.pilot, world.zone_id), 201)
    assert stopped["changed_campaign_ids"] == []
    set_times(later["id"], opens_at=now - timedelta(seconds=1))  # it opens
    consumer = factory.consumer()
    with ledger_untouched():
        refused(grab(api, consumer, later["id"]), 409, "zone_campaigns_stopped")
    assert Gate(later["id"]).take(factory.consumer().id, None, None)[0] == "stopped"
    resumed = ok(api.post(f"/campaigns/zone-stops/{stopped['id']}/resume", world.manager,
                          json={"reason": "核查完毕，恢复"}))
    assert resumed["changed_campaign_ids"] == [later["id"]]
    ok(grab(api, factory.consumer(), later["id"]), 201)


def test_resuming_a_zone_stop_leaves_a_campaign_whose_window_closed_ended(api, world):
    c = live(api, world)
    stopped = ok(stop(api, world.manager, world.zone_id), 201)
    close_window(c["id"])
    resumed = ok(api.post(f"/campaigns/zone-stops/{stopped['id']}/resume", world.manager,
                          json={"reason": "核查完毕，恢复"}))
    assert resumed["changed_campaign_ids"] == []
    assert ok(api.get(f"/campaigns/{c['id']}", world.manager))["status"] == "ended"
