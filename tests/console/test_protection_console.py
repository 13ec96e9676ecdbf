"""The protection pages of the console in Debian's Chromium (issue #16): the pilot office freezes a wallet and
lifts the freeze, switches the platform to read-only and back, opens an incident and moves it along its
timeline, confirms a scam report, searches and exports the audit log; a bank reviewer sees the same pages for
its own bank (no switch, no audit log); a zone manager stops every campaign of their zone and resumes it.
Each action is checked against the API; screenshots at 1280 and 390 wide, Chinese and English."""

from __future__ import annotations

import uuid

from backend.auth.models import Role
from campaigns import service as campaign_service
from tests.console.test_campaign_stopping import campaign, claim
from tests.console.test_console import YONGQINGFANG, manager_of, shops, text_of, wait_text, zone_id
from tests.factories import PASSWORD


def test_pilot_office_freezes_switches_read_only_handles_an_incident_reviews_reports_and_audits(
        console, factory, http):
    pilot = factory.user(Role.PILOT_ADMIN, display_name="试点办 Pilot office")
    suspect = factory.consumer(balance_fen=50_000)
    wallet_id = factory.wallet(suspect).id
    reporter = factory.consumer()
    http.ok("POST", "/protection/reports", reporter, status=201,
            json={"kind": "url", "value": "http://e-cny-refund.example/pay", "note": "冒充客服退款"})

    page = console.page("desktop")
    console.login(page, pilot.phone, PASSWORD)
    console.open(page, "/protection")
    page.wait_for_selector("#freeze-form")
    page.select_option("#freeze-kind", "wallet")
    page.fill("#freeze-target", str(wallet_id))
    page.fill("#freeze-reason", "客户来电报失，疑似被盗")
    page.click("#freeze-form-submit")
    page.wait_for_selector("[data-lift]")
    assert [f["target_id"] for f in http.ok("GET", "/protection/freezes", pilot)["items"]] == [wallet_id]
    assert http.call("POST", "/transfers", suspect, json={"to_phone": reporter.phone, "amount_fen": 100},
                     key=uuid.uuid4().hex).json()["code"] == "wallet_frozen"

    page.fill("#freeze-target", str(wallet_id))  # a refused freeze shows why next to the form
    page.fill("#freeze-reason", "再次冻结")
    console.log.expect_refusal(r"/api/v1/protection/freezes$", 409)
    page.click("#freeze-form-submit")
    page.wait_for_selector("#freeze-form .banner")
    assert "已经冻结" in text_of(page, "#freeze-form .banner") or "already" in text_of(page, "#freeze-form .banner")

    page.click("#read-only-toggle")
    page.wait_for_selector("#dialog-form")
    page.fill("#dialog-reason", "演练：系统升级前只读")
    page.click("#dialog-form-submit")
    wait_text(page, "#read-only-state .badge", "只读中")
    assert http.call("GET", "/protection/status").json()["read_only"] is True
    console.shot(page, "protection-emergency")
    phone = console.page("phone")
    console.login(phone, pilot.phone, PASSWORD)
    console.open(phone, "/protection")
    phone.wait_for_selector("#read-only-state")
    console.shot(phone, "protection-emergency")
    page.click("#read-only-toggle")
    page.fill("#dialog-reason", "演练结束，恢复正常")
    page.click("#dialog-form-submit")
    wait_text(page, "#read-only-state .badge", "正常运行")

    page.click("[data-lift]")
    page.fill("#dialog-reason", "核实为本人操作，解冻")
    page.click("#dialog-form-submit")
    page.wait_for_function("() => !document.querySelector('[data-lift]')")
    assert http.call("POST", "/transfers", suspect, json={"to_phone": reporter.phone, "amount_fen": 100},
                     key=uuid.uuid4().hex).status_code == 201

    page.click(".form-details > summary")
    page.fill("#incident-title", "永庆坊出现仿冒收款码")
    page.select_option("#incident-kind", "counterfeit_codes")
    page.select_option("#incident-severity", "high")
    page.fill("#incident-note", "多名顾客反映扫码后跳转到仿冒网站")
    page.click("#incident-form-submit")
    page.wait_for_selector("#incident-timeline li")
    page.select_option("#event-status", "contained")
    page.fill("#event-note", "已下架可疑二维码并冻结相关商户")
    page.click("#event-form-submit")
    page.wait_for_function("() => document.querySelectorAll('#incident-timeline li').length === 2")
    console.shot(page, "protection-incident")
    incident_url = page.url
    phone.goto(incident_url)
    phone.wait_for_function("() => document.querySelectorAll('#incident-timeline li').length === 2")
    console.shot(phone, "protection-incident")

    console.open(page, "/protection/reports")
    page.wait_for_selector("[data-review][data-decision=confirm]")
    console.shot(page, "protection-reports")
    page.click("[data-review][data-decision=confirm]")
    page.fill("#dialog-reason", "多人举报，核实为仿冒网站")
    page.click("#dialog-form-submit")
    page.wait_for_selector("#reports-list .empty")
    entries = http.ok("GET", "/protection/reports", pilot)["items"]
    assert [e["status"] for e in entries] == ["confirmed"]

    console.open(page, "/protection/audit")
    page.wait_for_selector("[data-audit]")
    page.fill("#audit-action", "freeze")
    page.click("#audit-search")
    page.wait_for_function("() => document.querySelectorAll('[data-audit]').length === 1")
    assert "客户来电报失" in text_of(page, "#audit-list")
    page.fill("#audit-action", "")
    page.click("#audit-search")
    page.wait_for_function("() => document.querySelectorAll('[data-audit]').length >= 7")
    console.shot(page, "protection-audit")
    with page.expect_download() as download:
        page.click("#audit-export")
    path = download.value.path()
    text = open(path, encoding="utf-8-sig").read()
    assert text.startswith("id,at,actor_user_id") and "read_only_on" in text and "fraud_confirm" in text
    console.open(phone, "/protection/audit")
    phone.wait_for_selector("[data-audit]")
    console.shot(phone, "protection-audit")

    page.click("#lang-switch")
    console.open(page, "/protection")
    wait_text(page, "#page-title", "Consumer protection and emergency response")
    console.shot(page, "protection-emergency-en")


def test_a_bank_reviewer_sees_its_own_freezes_and_no_switch(console, factory, http):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC", display_name="工行审核员")
    own = factory.consumer(bank_code="ICBC")
    other = factory.consumer(bank_code="CCB")
    page = console.page("desktop")
    console.login(page, reviewer.phone, PASSWORD)
    page.click("#nav a[data-nav=protection]")
    page.wait_for_selector("#freeze-form")
    assert page.locator("#read-only-toggle").count() == 0
    page.fill("#freeze-target", str(factory.wallet(other).id))
    page.fill("#freeze-reason", "他行客户，不应可见")
    console.log.expect_refusal(r"/api/v1/protection/freezes$", 404)
    page.click("#freeze-form-submit")
    page.wait_for_selector("#freeze-form .field-error, #freeze-form .banner")
    page.fill("#freeze-target", str(factory.wallet(own).id))
    page.fill("#freeze-reason", "本行客户，可疑交易")
    page.click("#freeze-form-submit")
    page.wait_for_selector("[data-lift]")
    assert [f["target_id"] for f in http.ok("GET", "/protection/freezes", reviewer)["items"]] == [
        factory.wallet(own).id]
    page.click("#nav a[data-nav=fraud_reports]")
    page.wait_for_selector("#reports-list")
    console.open(page, "/protection/audit")
    page.wait_for_selector(".banner-error")  # the audit log is the pilot office's


def test_a_zone_manager_stops_every_campaign_of_the_zone_and_resumes_it(console, factory, http):
    yq = zone_id("yongqingfang")
    manager = manager_of(factory, "yongqingfang")
    fund_owner = factory.consumer(balance_fen=200_000)
    funder = campaign_service.add_funder("永庆坊商户联盟", fund_owner.phone, yq)
    (_, shop), = shops(factory, YONGQINGFANG[:1], ["food"], [("永庆坊茶居", "Yongqingfang Tea House")])
    first = campaign(http, manager, funder.id, yq, shop.id)
    second = campaign(http, manager, funder.id, yq, shop.id, name="永庆坊夜市红包")
    page = console.page("desktop")
    console.login(page, manager.phone, PASSWORD)
    page.click("#nav a[data-nav=zone_stop]")
    page.wait_for_selector("#zone-stop-form")
    page.fill("#stop-reason", "发现仿冒红包链接，全区暂停核查")
    page.click("#zone-stop-form-submit")
    page.wait_for_selector("[data-resume]")
    for c in (first, second):
        refused = claim(http, factory.consumer(), c["id"])
        assert refused.status_code == 409 and refused.json()["code"] == "zone_campaigns_stopped"
    assert "2" in text_of(page, "[data-stop]")
    console.shot(page, "protection-zone-stop")
    phone = console.page("phone")
    console.login(phone, manager.phone, PASSWORD)
    console.open(phone, "/protection/zone-stop")
    phone.wait_for_selector("[data-resume]")
    console.shot(phone, "protection-zone-stop")
    page.click("[data-resume]")
    page.fill("#dialog-reason", "核查完毕，恢复活动")
    page.click("#dialog-form-submit")
    page.wait_for_function("() => !document.querySelector('[data-resume]')")
    assert claim(http, factory.consumer(), first["id"]).status_code == 201
