"""A zone manager edits a draft campaign in the wizard: opened from the list or the monitor, prefilled from
the API, saved by PATCH, the server's refusals shown on their fields; a launched campaign is not edited."""

from __future__ import annotations

from datetime import datetime, timedelta

from campaigns import service as campaign_service
from tests.console.test_campaign_stopping import campaign
from tests.console.test_console import BEIJING, YONGQINGFANG, manager_of, shops, text_of, wait_text, zone_id
from tests.factories import PASSWORD


def test_a_draft_is_edited_in_the_wizard(console, factory, http):
    yq = zone_id("yongqingfang")
    manager = manager_of(factory, "yongqingfang")
    fund_owner = factory.consumer(balance_fen=200_000)
    funder = campaign_service.add_funder("永庆坊商户联盟", fund_owner.phone, yq)
    (_, shop), = shops(factory, YONGQINGFANG[:1], ["food"], [("永庆坊茶居", "Yongqingfang Tea House")])
    now = datetime.now(BEIJING)
    draft = http.ok("POST", "/campaigns", manager, status=201, json={
        "name": "永庆坊周末红包", "kind": "grab", "split": "fixed", "funder_id": funder.id, "zone_ids": [yq],
        "merchant_ids": [shop.id], "packet_count": 10, "budget_fen": 1_000, "scenarios": ["food"],
        "claim_starts_at": (now + timedelta(hours=1)).isoformat(),
        "claim_ends_at": (now + timedelta(days=1)).isoformat(),
        "spend_ends_at": (now + timedelta(days=3)).isoformat()})

    page = console.page("desktop")
    console.login(page, manager.phone, PASSWORD)
    console.open(page, "/campaigns")
    page.click(f"[data-edit-campaign='{draft['id']}']")
    page.wait_for_selector("#wizard-save")
    assert text_of(page, "h1") == "编辑草稿：永庆坊周末红包"
    # Prefilled from GET /campaigns/{id}; the kind is fixed once created.
    assert page.input_value("#c-name") == "永庆坊周末红包"
    assert (page.input_value("#c-count"), page.input_value("#c-budget")) == ("10", "10.00")
    assert page.is_checked("input[name='split'][value='fixed']")
    assert page.is_checked("input[name='scenarios'][value='food']")
    assert page.is_checked("input[name='kind'][value='grab']")
    assert page.is_disabled("input[name='kind'][value='coupon']")
    assert page.input_value("#c-funder") == str(funder.id)
    assert page.input_value("#c-spend-ends").startswith((now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))

    # The server refuses a spend deadline before the claim window closes: shown on that field, nothing saved.
    page.fill("#c-name", "永庆坊周末红包（加码）")
    page.fill("#c-budget", "20.00")
    page.fill("#c-spend-ends", (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"))
    console.log.expect_refusal(rf"/api/v1/campaigns/{draft['id']}$", 422)
    page.click("#wizard-save")
    page.wait_for_selector("#c-spend-ends[aria-invalid='true']")
    assert page.locator("#c-spend-ends-error").count() == 1
    assert http.ok("GET", f"/campaigns/{draft['id']}", manager)["name"] == "永庆坊周末红包"
    console.shot(page, "campaign-draft-edit-refused")

    # Fixed and saved: PATCH, then the monitor of the changed draft.
    page.fill("#c-spend-ends", (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S"))
    page.uncheck("input[name='scenarios'][value='food']")
    page.click("#wizard-save")
    wait_text(page, "h1", "永庆坊周末红包（加码）")
    saved = http.ok("GET", f"/campaigns/{draft['id']}", manager)
    assert (saved["status"], saved["name"], saved["budget_fen"], saved["scenarios"]) == (
        "draft", "永庆坊周末红包（加码）", 2_000, None)
    assert saved["merchant_ids"] == [shop.id]  # what the wizard does not show is kept
    page.wait_for_selector("#monitor-edit")
    console.shot(page, "campaign-draft-saved")

    # From the monitor again, then launched from the wizard: the same draft, no second campaign.
    page.click("#monitor-edit")
    page.wait_for_selector("#wizard-save")
    assert page.input_value("#c-budget") == "20.00"
    console.shot(page, "campaign-draft-edit")
    page.click("#wizard-forecast")
    page.wait_for_selector("#wizard-to-launch")
    page.click("#wizard-to-launch")
    page.click("#wizard-launch")
    page.wait_for_selector("#monitor-cancel")
    assert http.ok("GET", f"/campaigns/{draft['id']}", manager)["status"] in ("scheduled", "live")

    # A launched campaign is not a draft: the edit page says so instead of a form.
    live = campaign(http, manager, funder.id, yq, shop.id)
    console.open(page, f"/campaigns/{live['id']}/edit")
    page.wait_for_selector("#edit-not-draft")
    assert page.locator("#wizard-save").count() == 0
