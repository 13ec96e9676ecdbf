"""The console's campaign pages, stopping and truths: a manager pauses, resumes and cancels a campaign
from its monitor (the confirmation names the amounts); the forecast agrees with itself, does not promise
a free campaign from one tiny precedent and warns about packets over a wallet class's cap; a coupon's
confirmation talks about coupons; a drawn lottery shows its revealed seed and winners."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from datetime import datetime, timedelta

from backend.clock import utcnow
from backend.extensions import db
from campaigns import service as campaign_service
from campaigns import settlement
from campaigns.models import Campaign
from tests.campaigns.helpers import pass_spend_deadline, set_times
from tests.console.test_console import (
    BEIJING,
    YONGQINGFANG,
    manager_of,
    shops,
    text_of,
    wait_text,
    yuan,
    zone_id,
)
from tests.factories import PASSWORD


def campaign(http, manager, funder_id: int, zone: int, merchant_id: int, **overrides) -> dict:
    now = datetime.now(BEIJING)
    body = {"name": "永庆坊周末红包", "kind": "grab", "split": "fixed", "funder_id": funder_id, "zone_ids": [zone],
            "merchant_ids": [merchant_id], "packet_count": 10, "budget_fen": 1_000,
            "claim_starts_at": (now - timedelta(minutes=1)).isoformat(),
            "claim_ends_at": (now + timedelta(hours=1)).isoformat(),
            "spend_ends_at": (now + timedelta(hours=2)).isoformat(), **overrides}
    if body["kind"] == "lottery":
        body["registration_starts_at"] = body.pop("claim_starts_at")
        body["registration_ends_at"] = body.pop("claim_ends_at")
    c = http.ok("POST", "/campaigns", manager, json=body, status=201)
    return http.ok("POST", f"/campaigns/{c['id']}/launch", manager, json={}, key=uuid.uuid4().hex)


def claim(http, consumer, campaign_id: int):
    return http.call("POST", f"/campaigns/{campaign_id}/claims", consumer, json={}, key=uuid.uuid4().hex)


def test_manager_pauses_resumes_and_cancels_from_the_monitor(console, factory, http):
    yq = zone_id("yongqingfang")
    manager = manager_of(factory, "yongqingfang")
    fund_owner = factory.consumer(balance_fen=200_000)
    funder = campaign_service.add_funder("永庆坊商户联盟", fund_owner.phone, yq)
    (_, shop), = shops(factory, YONGQINGFANG[:1], ["food"], [("永庆坊茶居", "Yongqingfang Tea House")])
    c = campaign(http, manager, funder.id, yq, shop.id)
    for _ in range(3):
        assert claim(http, factory.consumer(), c["id"]).status_code == 201

    page = console.page("desktop")
    console.login(page, manager.phone, PASSWORD)
    console.open(page, f"/campaigns/{c['id']}")
    wait_text(page, "#campaign-status", "进行中")
    page.wait_for_selector("#monitor-cancel")
    page.click("#monitor-pause")
    page.wait_for_selector("#pause-dialog")
    assert "已领取的红包和消费券仍可照常使用" in text_of(page, "#pause-dialog")
    console.shot(page, "campaign-pause-confirm")
    page.click("#pause-dialog-confirm")
    wait_text(page, "#campaign-status", "已暂停")
    refused = claim(http, factory.consumer(), c["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "campaign_paused"
    page.wait_for_selector("#monitor-resume")
    console.shot(page, "campaign-paused")
    page.click("#monitor-resume")
    wait_text(page, "#campaign-status", "进行中")
    assert claim(http, factory.consumer(), c["id"]).status_code == 201  # 4 claimed: ¥4.00 with consumers

    page.click("#monitor-cancel")
    page.wait_for_selector("#cancel-dialog")
    assert text_of(page, "#cancel-dialog [data-amount=returned] dd") == yuan(600)
    assert text_of(page, "#cancel-dialog [data-amount=stays] dd") == yuan(400)
    assert text_of(page, "#cancel-dialog-confirm") == f"确认撤销，退还 {yuan(600)}"
    page.check("#cancel-reclaim")
    assert text_of(page, "#cancel-dialog-confirm") == f"确认撤销，退还 {yuan(1_000)}"
    assert text_of(page, "#cancel-dialog [data-amount=stays] dd") == yuan(0)
    page.uncheck("#cancel-reclaim")
    console.shot(page, "campaign-cancel-confirm")
    phone = console.page("phone")
    console.login(phone, manager.phone, PASSWORD)
    console.open(phone, f"/campaigns/{c['id']}")
    phone.wait_for_selector("#monitor-cancel")
    phone.click("#monitor-cancel")
    phone.wait_for_selector("#cancel-dialog")
    console.shot(phone, "campaign-cancel-confirm")
    phone.click("#cancel-dialog-cancel")

    page.click("#cancel-dialog-confirm")
    wait_text(page, "#campaign-status", "已撤销")
    wait_text(page, "[data-settlement=returned_fen] .tile-value", yuan(600))
    wait_text(page, "[data-live=claimed] .tile-value", "4 / 10")  # the figures follow at once
    assert text_of(page, "[data-live=remaining_fen] .tile-value") == yuan(0)  # nothing left to claim
    assert "已于" in text_of(page, "#settlement") and "撤销" in text_of(page, "#settlement")
    assert page.locator("#monitor-cancel").count() == 0 and page.locator("#monitor-pause").count() == 0
    db.session.rollback()
    report = settlement.report(c["id"])
    assert (report["status"], report["returned_fen"], report["held_by_consumers_fen"], report["balanced"]) == \
        ("cancelled", 600, 400, True)
    console.shot(page, "campaign-cancelled")


def test_the_forecast_and_the_confirmations_tell_the_truth_and_a_drawn_lottery_shows_its_winners(
        console, factory, http):
    yq = zone_id("yongqingfang")
    manager = manager_of(factory, "yongqingfang")
    fund_owner = factory.consumer(balance_fen=6_000_000, wallet_class=2)
    funder = campaign_service.add_funder("永庆坊商户联盟", fund_owner.phone, yq)
    (_, shop), = shops(factory, YONGQINGFANG[:1], ["food"], [("永庆坊茶居", "Yongqingfang Tea House")])
    # One tiny precedent: a ¥1.00 red packet claimed and never spent, settled.
    tiny = campaign(http, manager, funder.id, yq, shop.id, name="试水小红包", packet_count=1, budget_fen=100)
    assert claim(http, factory.consumer(), tiny["id"]).status_code == 201
    pass_spend_deadline(tiny["id"])
    settlement.settle(tiny["id"])
    db.session.rollback()

    page = console.page("desktop")
    console.login(page, manager.phone, PASSWORD)
    console.open(page, "/campaigns/new")
    page.wait_for_selector("#c-name")
    page.fill("#c-name", "永庆坊五万元大红包")
    page.check(f"input[name=zone_ids][value='{yq}']")
    page.select_option("#c-funder", str(funder.id))
    page.fill("#c-count", "4")
    page.fill("#c-budget", "50000.00")
    page.click("#wizard-forecast")
    page.wait_for_selector("#forecast-tiles")
    assert text_of(page, "[data-forecast=history] .tile-value") == "1"
    leverage_note = text_of(page, "[data-forecast=expected_leverage]")
    assert "暂无" not in leverage_note and "以往 1 个活动尚无补贴消费" in leverage_note
    cost = text_of(page, "[data-forecast=expected_cost_fen] .tile-value")
    assert cost == yuan(5_000_000 * 5_000_000 // 5_000_100)  # ≈ the whole budget, not ¥0
    assert "同类以往活动 1 个" in text_of(page, "#forecast-basis")
    page.wait_for_selector("[data-cap-warning='4']")
    assert "超过 4 类钱包余额上限 ¥10,000.00" in text_of(page, "[data-cap-warning='4']")
    console.shot(page, "campaign-forecast-truths")

    # A coupon's confirmation speaks of coupons, not of splitting red packets.
    page.click("#wizard-back-to-details")
    page.check("input[name=kind][value=coupon]")
    page.fill("#c-name", "永庆坊夜市消费券")
    page.fill("#c-count", "100")
    page.click("#wizard-forecast")
    page.wait_for_selector("#wizard-forecast-step:not([hidden]) #forecast-tiles")
    assert page.locator("[data-cap-warning]").count() == 0
    page.click("#wizard-to-launch")
    page.wait_for_selector("#launch-note")
    note = text_of(page, "#launch-note")
    assert "消费券" in note and "红包" not in note and yuan(100_000) in note
    console.shot(page, "campaign-coupon-confirm")

    # A lottery, drawn: the seed revealed, the list hash, the winners.
    lottery = campaign(http, manager, funder.id, yq, shop.id, kind="lottery", name="永庆坊新春抽签", split="random",
                       packet_count=3, budget_fen=3_000)
    people = [factory.consumer() for _ in range(5)]
    secrets = [os.urandom(32).hex() for _ in people]
    for p, s in zip(people, secrets, strict=True):
        commitment = hashlib.sha256(bytes.fromhex(s)).hexdigest()
        http.ok("POST", f"/campaigns/{lottery['id']}/registrations", p, json={"commitment": commitment}, status=201)
    now = utcnow()
    set_times(lottery["id"], opens_at=now - timedelta(hours=2), closes_at=now - timedelta(seconds=1))
    for p, s in zip(people[:4], secrets[:4], strict=True):
        http.ok("POST", f"/campaigns/{lottery['id']}/registrations/reveal", p, json={"secret": s})
    # Registration closed, the reveal window still open: the monitor says when the draw can run.
    console.open(page, f"/campaigns/{lottery['id']}")
    page.wait_for_selector("#draw-now[disabled]")
    assert "后可开奖" in text_of(page, "#draw")
    console.shot(page, "campaign-lottery-pending")
    reveal_s = db.session.get(Campaign, lottery["id"]).reveal_s
    set_times(lottery["id"], closes_at=utcnow() - timedelta(seconds=reveal_s + 1))
    db.session.rollback()
    doc = http.ok("GET", f"/campaigns/{lottery['id']}/draw", manager)
    assert doc["status"] == "drawn" and doc["revealed"] == 4
    page.reload()  # the monitor opened above, read again
    page.wait_for_selector("#draw-seed")
    assert text_of(page, "#draw-seed") == doc["seed"]
    assert page.locator("[data-winner]").count() == 3
    for w in doc["winners"]:
        assert text_of(page, f"[data-winner='{w['user_id']}'] td:last-child") == yuan(w["amount_fen"])
    assert "5 人（5 人提交随机数承诺，4 人已公开）" in text_of(page, "#draw")
    assert re.search(r"python -m campaigns\.verify_draw", text_of(page, "#draw"))
    console.shot(page, "campaign-lottery-drawn")
    phone = console.page("phone")
    console.login(phone, manager.phone, PASSWORD)
    console.open(phone, f"/campaigns/{lottery['id']}")
    phone.wait_for_selector("#draw-seed")
    console.shot(phone, "campaign-lottery-drawn")
