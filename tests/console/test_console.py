"""The web console end to end: Debian's Chromium against a live server, every page at 1280 and 390 px.

- a bank reviewer approves (and rejects, with a reason) applications of their bank;
- a zone manager sees their zone's dashboard, launches a red-packet campaign after the forecast,
  watches claims arrive live (made through the API during the test) and sees the final settlement;
- a zone manager cannot open another zone;
- the pilot office ranks the zones, reads and downloads the application summary and downloads a report.

Each test fails on any error in the browser console (see ``conftest.console``).
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

from backend.auth.models import Role
from backend.extensions import db
from backend.merchants.models import Merchant, MerchantStatus
from campaigns.models import Campaign
from tests.factories import PASSWORD
from tests.payments.helpers import valid_uscc
from zones import placement
from zones.models import Zone, ZoneManager

BEIJING = ZoneInfo("Asia/Shanghai")

#: Points inside the Yongqingfang and Tianhe Road outlines (zones/data/zones.geojson).
YONGQINGFANG = [(23.1186, 113.2442), (23.1195, 113.2452), (23.1180, 113.2433), (23.1200, 113.2438)]
TIANHE = [(23.1345, 113.3260), (23.1350, 113.3300)]


def zone_id(code: str) -> int:
    return db.session.execute(select(Zone.id).where(Zone.code == code)).scalar_one()


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def manager_of(factory, *codes: str, name: str = "永庆坊管理员 Yongqingfang manager"):
    person = factory.user(Role.ZONE_MANAGER, display_name=name)
    for code in codes:
        db.session.add(ZoneManager(user_id=person.id, zone_id=zone_id(code)))
    db.session.commit()
    return person


def shops(factory, points, scenarios, names):
    """Approved merchants at ``points`` (placed in their zone as an approval would), with their owners."""
    out = []
    for (lat, lon), scenario, (zh, en) in zip(points, scenarios, names, strict=True):
        owner = factory.user(Role.MERCHANT_OWNER)
        m = factory.merchant(owner=owner, scenario=scenario, latitude=lat, longitude=lon, name_zh=zh, name_en=en)
        placement.place_merchant(m.id)
        db.session.commit()
        out.append((owner, m))
    return out


def pay(http, owner, merchant_id: int, consumer, amount_fen: int) -> dict:
    """A dynamic-QR order paid by ``consumer``, over HTTP like the apps do; return the payment."""
    order = http.ok("POST", "/orders", owner, json={"merchant_id": merchant_id, "amount_fen": amount_fen}, status=201)
    return http.ok("POST", "/payments", consumer, json={"payload": order["payload"]}, key=uuid.uuid4().hex, status=201)


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def wait_text(page, selector: str, expected: str, timeout_ms: int = 15_000) -> None:
    """Wait until the element's text is ``expected`` (the page updates itself; no reload)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "([sel, want]) => { const el = document.querySelector(sel);"
            " return !!el && el.textContent.trim() === want; }",
            arg=[selector, expected], timeout=timeout_ms)
    except PlaywrightTimeout:
        now = page.locator(selector).all_inner_texts()
        banners = page.locator(".banner-error").all_inner_texts()
        raise AssertionError(f"{selector}: wanted {expected!r}, page shows {now!r}; errors: {banners!r}") from None


def assert_no_server_english(page) -> None:
    """A zh screen shows no English sentence from the server and no status or code line ("HTTP 401 · …")."""
    import re

    for text in page.locator(".banner-error").all_inner_texts():
        assert not re.search(r"HTTP \d{3}|[A-Za-z]{2,}\s+[A-Za-z]{2,}|\b[a-z]+_[a-z_]+\b", text), text


def beijing_input(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------- bank reviewer


def test_bank_reviewer_approves_and_rejects_applications_of_their_bank(console, factory):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC", display_name="工行审核员")
    tea_owner = factory.user(Role.MERCHANT_OWNER, display_name="陈老板")
    tea = factory.merchant(status=MerchantStatus.PENDING, name_zh="恩宁路凉茶铺", name_en="Enning Herbal Tea",
                           owner=tea_owner, uscc=valid_uscc(), scenario="food", address="广州市荔湾区恩宁路128号",
                           latitude=23.1190, longitude=113.2445)
    inn = factory.merchant(status=MerchantStatus.PENDING, name_zh="西关大屋民宿", name_en="Xiguan House Inn",
                           owner=factory.user(Role.MERCHANT_OWNER, display_name="何女士"), uscc=valid_uscc(),
                           scenario="lodging", mcc="7011", address="广州市荔湾区多宝路36号", latitude=23.1201,
                           longitude=113.2430)
    other_bank = factory.merchant(status=MerchantStatus.PENDING, bank_code="BOC", name_zh="北京路书店",
                                  name_en="Beijing Rd Books", scenario="shopping")

    phone = console.page("phone")
    console.open(phone, "/login")
    phone.wait_for_selector("#login-phone")
    console.shot(phone, "login")
    console.login(phone, reviewer.phone, PASSWORD, keyboard=True)
    phone.wait_for_selector(f"#application-{inn.id}")
    console.shot(phone, "review-queue")

    page = console.page("desktop")
    console.open(page, "/login")
    page.wait_for_selector("#login-phone")
    console.shot(page, "login")
    console.login(page, reviewer.phone, PASSWORD, keyboard=True)
    assert page.url.endswith("#/review")
    page.wait_for_selector(f"#application-{tea.id}")
    # Only this bank's applications are in the queue.
    assert page.locator(f"#application-{other_bank.id}").count() == 0
    assert text_of(page, "#pending-count") == "待审核 2 件"
    # Each card says who applied (masked phone), whether the licence number's check character holds,
    # and the zone the shop lands in once approved.
    card = text_of(page, f"#application-{tea.id}")
    assert "陈老板 · " + tea_owner.phone[:3] + "****" + tea_owner.phone[-4:] in card and tea_owner.phone not in card
    assert "校验位正确" in card
    wait_text(page, f"[data-zone-of='{tea.id}']", "永庆坊")
    console.shot(page, "review-queue")

    # Approve with the keyboard only: the button, the reason, Tab to "approve", Enter.
    page.locator(f"#application-{tea.id} [data-action=approve]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open] #review-reason")
    page.keyboard.type("材料齐全，准予受理数字人民币")
    console.shot(page, "review-dialog")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "review-confirm"
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#application-{tea.id}", state="detached")
    assert "已批准「恩宁路凉茶铺」" in text_of(page, ".banner-success")

    # A rejection needs a reason: the form says so before anything is sent.
    page.click(f"#application-{inn.id} [data-action=reject]")
    page.click("#review-confirm")
    page.wait_for_selector("dialog[open] .field-error")
    assert page.get_attribute("#review-reason", "aria-invalid") == "true"
    page.fill("#review-reason", "营业执照照片不清晰，请重新上传")
    page.click("#review-confirm")
    page.wait_for_selector(f"#application-{inn.id}", state="detached")
    page.wait_for_selector(".empty")

    db.session.rollback()
    tea_row, inn_row = db.session.get(Merchant, tea.id), db.session.get(Merchant, inn.id)
    assert (tea_row.status, tea_row.reviewed_by_user_id) == (MerchantStatus.APPROVED, reviewer.id)
    assert tea_row.account_id is not None  # approval opened the merchant's wallet
    assert tea_row.review_reason == "材料齐全，准予受理数字人民币"
    assert (inn_row.status, inn_row.review_reason) == (MerchantStatus.REJECTED, "营业执照照片不清晰，请重新上传")
    assert db.session.get(Merchant, other_bank.id).status == MerchantStatus.PENDING

    # Decided applications stay findable: by decision, and by name or code.
    for p in (page, phone):
        console.open(p, "/review/approved")
        p.wait_for_selector(f"#approved-{tea.id}")
        assert p.locator(f"#approved-{inn.id}").count() == 0  # approved ones first
        p.select_option("#history-status", "rejected")
        p.wait_for_selector(f"#approved-{inn.id}[data-status=rejected]")
        assert "营业执照照片不清晰" in text_of(p, f"#approved-{inn.id}")
        p.select_option("#history-status", "")
        p.fill("#history-search", "凉茶")
        p.press("#history-search", "Enter")
        p.wait_for_selector(f"#approved-{inn.id}", state="detached")
        p.wait_for_selector(f"#approved-{tea.id}")
        console.shot(p, "review-approved")
    page.fill("#history-search", "没有这家店")
    page.press("#history-search", "Enter")
    page.wait_for_selector(".empty")


def test_log_in_refusals_and_an_expired_session_are_explained(console, factory):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC", display_name="工行审核员")
    consumer = factory.consumer()
    page = console.page("desktop")
    console.log.expect_refusal(r"/api/v1/auth/login$", 401)
    console.open(page, "/login")
    page.fill("#login-phone", reviewer.phone)
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    page.wait_for_selector(".banner-error[data-code=bad_credentials]")
    assert "手机号或密码不正确" in text_of(page, ".banner-error")
    assert_no_server_english(page)
    console.shot(page, "login-error")
    # Consumers and merchants use the apps: the console says so and drops the token it was given.
    page.fill("#login-phone", consumer.phone)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector(".banner-error[data-code=console_not_staff]")
    assert page.evaluate("sessionStorage.length") == 0
    # A session that ended elsewhere (logged out, expired) brings the person back to log in, told why.
    console.login(page, reviewer.phone, PASSWORD)
    page.wait_for_selector("#pending-count")
    token = page.evaluate("sessionStorage.getItem('suiyuan.console.token')")
    assert requests.post(f"{console.base_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).status_code == 204
    console.log.expect_refusal(r"/api/v1/merchants\?status=approved", 401)
    page.click("#nav a[data-nav=approved]")
    page.wait_for_selector(".login-card .banner-error[data-code=token_revoked]")
    assert page.url.endswith("#/login")
    assert "您已退出登录" in text_of(page, ".login-card .banner-error")


def test_the_console_keeps_working_through_an_access_token_refresh(app, console, factory, monkeypatch):
    """The short-lived access token expires while the page is open: the next call refreshes it with the
    session's refresh token and goes through, with no log-in screen in between."""
    from datetime import timedelta

    from backend.auth import service, tokens
    from backend.clock import utcnow
    from backend.payments import keys

    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC", display_name="工行审核员 ICBC reviewer")
    shop_id = factory.merchant().id
    page = console.page("desktop")
    console.login(page, reviewer.phone, PASSWORD)
    page.wait_for_selector("#pending-count")
    first = page.evaluate("sessionStorage.getItem('suiyuan.console.token')")
    assert page.evaluate("sessionStorage.getItem('suiyuan.console.refresh')")
    moved = utcnow() + app.config["ACCESS_TOKEN_TTL"] + timedelta(seconds=1)
    for module in (tokens, keys, service):
        monkeypatch.setattr(module, "utcnow", lambda: moved)
    console.log.expect_refusal(r"/api/v1/merchants\?status=approved", 401)  # the expired token, once
    page.click("#nav a[data-nav=approved]")
    page.wait_for_selector(f"#approved-{shop_id}")
    assert page.locator(".login-card").count() == 0 and page.url.endswith("#/review/approved")
    assert page.evaluate("sessionStorage.getItem('suiyuan.console.token')") != first
    # Logging out with an expired token ends the session too (refreshed first).
    moved = moved + app.config["ACCESS_TOKEN_TTL"] + timedelta(seconds=1)
    console.log.expect_refusal(r"/api/v1/auth/logout$", 401)
    refresh = page.evaluate("sessionStorage.getItem('suiyuan.console.refresh')")
    page.click("#logout")
    page.wait_for_selector("#login-phone")
    assert requests.post(f"{console.base_url}/api/v1/auth/refresh", json={"refresh_token": refresh},
                         timeout=10).json()["code"] == "token_revoked"


# ---------------------------------------------------------------- zone manager


def test_zone_manager_launches_a_red_packet_campaign_and_watches_it_live_to_settlement(console, factory, http):
    from campaigns import service as campaign_service
    from campaigns import settlement, tasks

    yq = zone_id("yongqingfang")
    manager = manager_of(factory, "yongqingfang")
    fund_owner = factory.consumer(balance_fen=200_000)
    funder = campaign_service.add_funder("永庆坊商户联盟", fund_owner.phone, yq)
    placed = shops(factory, YONGQINGFANG[:3], ["food", "shopping", "tourism"],
                   [("永庆坊茶居", "Yongqingfang Tea House"), ("粤剧艺术品店", "Cantonese Opera Gifts"),
                    ("西关骑楼导览", "Xiguan Arcade Tours")])
    payers = [factory.consumer(balance_fen=100_000) for _ in range(3)]
    for (owner, m), consumer, amount in zip(placed, payers, (3850, 12800, 6600), strict=True):
        pay(http, owner, m.id, consumer, amount)

    page = console.page("desktop")
    phone = console.page("phone")
    console.login(page, manager.phone, PASSWORD)
    assert page.url.endswith("#/zones")
    page.wait_for_selector(f"a[data-zone='{yq}']")
    console.shot(page, "zones")
    page.click(f"a[data-zone='{yq}']")
    wait_text(page, "[data-kpi=payment_count] .tile-value", "3")
    assert text_of(page, "[data-kpi=payment_fen] .tile-value") == yuan(3850 + 12800 + 6600)
    assert text_of(page, "[data-kpi=scenarios] .tile-value") == "3 / 7"
    assert page.get_attribute("[data-scenario=food]", "data-state") == "covered"
    assert page.get_attribute("[data-scenario=medical]", "data-state") == "missing"
    # The outline and one dot per merchant are drawn on the map.
    page.wait_for_function("() => document.querySelectorAll('#zone-map path.leaflet-interactive').length >= 3")
    assert page.locator("#zone-map path").count() == 1 + len(placed)
    # Compared with the period before (环比: nothing was paid then), and the figures export for people.
    page.wait_for_selector("[data-change=payment_fen]")
    assert text_of(page, "[data-change=payment_fen]") == "环比：上期为 0"
    with page.expect_download() as dl:
        page.click("#kpi-export")
    rows = list(csv.reader(io.StringIO(open(dl.value.path(), encoding="utf-8-sig").read())))
    assert rows[0][0] == "指标" and rows[1][0] == "交易金额（元）" and rows[1][3] == "环比：上期为 0"
    assert rows[1][1] == f"{(3850 + 12800 + 6600) / 100:.2f}"
    console.shot(page, "zone-dashboard")

    page.click("#nav a[data-nav=campaigns]")
    page.wait_for_selector(".empty")
    page.click("#new-campaign")
    page.wait_for_selector("#c-name")
    now = datetime.now(BEIJING)
    claim_ends = now + timedelta(seconds=30)
    spend_ends = claim_ends + timedelta(seconds=4)
    page.fill("#c-name", "永庆坊周末红包")
    page.check(f"input[name=zone_ids][value='{yq}']")
    page.select_option("#c-funder", str(funder.id))
    page.fill("#c-count", "5")
    page.fill("#c-closes", beijing_input(claim_ends))
    page.fill("#c-spend-ends", beijing_input(spend_ends))
    # The dropdown says whose fund it is and all of its balance.
    assert page.locator("#c-funder option:checked").inner_text() == "永庆坊商户联盟（永庆坊专用）· 余额 ¥2,000.00"
    # A budget the funder cannot cover: the forecast says so and the wizard does not go on to launch.
    page.fill("#c-budget", "2000.01")
    page.click("#wizard-forecast")
    page.wait_for_selector("#forecast-funder-short")
    assert page.is_disabled("#wizard-to-launch")
    console.shot(page, "campaign-forecast-short")
    page.click("#wizard-back-to-details")
    page.fill("#c-budget", "8.88")
    console.shot(page, "campaign-wizard")
    page.click("#wizard-forecast")
    wait_text(page, "[data-forecast=budget_fen] .tile-value", "¥8.88")
    assert page.locator("#forecast-funder-short").count() == 0 and not page.is_disabled("#wizard-to-launch")
    assert text_of(page, "[data-forecast=expected_cost_fen] .tile-value") == "¥8.88"  # no history: all of it
    console.shot(page, "campaign-forecast")
    page.click("#wizard-to-launch")
    page.wait_for_selector("#launch-review")
    console.shot(page, "campaign-launch")
    page.click("#wizard-launch")
    page.wait_for_url(re.compile(r"#/campaigns/\d+$"))
    campaign_id = int(page.url.rsplit("/", 1)[1])
    wait_text(page, "#campaign-status", "进行中")
    wait_text(page, "[data-live=remaining_packets] .tile-value", "5")
    page.evaluate("window.__sameDocument = true")
    console.login(phone, manager.phone, PASSWORD)

    # Consumers grab the red packets through the API while the monitor is open.
    grabbers = [factory.consumer(balance_fen=5_000) for _ in range(6)]
    claims = []
    for i, consumer in enumerate(grabbers[:5]):
        resp = http.call("POST", f"/campaigns/{campaign_id}/claims", consumer, json={}, key=uuid.uuid4().hex,
                         headers={"X-Device-Id": f"test-phone-{i}"})
        assert resp.status_code == 201, resp.text
        claims.append(resp.json())
        # The monitor shows each claim before the next one is made.
        wait_text(page, "[data-live=remaining_packets] .tile-value", str(4 - i))
    sold_out = http.call("POST", f"/campaigns/{campaign_id}/claims", grabbers[5], json={}, key=uuid.uuid4().hex,
                         headers={"X-Device-Id": "test-phone-5"})
    assert sold_out.status_code == 409 and sold_out.json()["code"] == "sold_out"
    wait_text(page, "[data-live=remaining_packets] .tile-value", "0")
    wait_text(page, "[data-live=remaining_fen] .tile-value", "¥0.00")
    claimed_fen = sum(c["amount_fen"] for c in claims)
    assert claimed_fen == 888
    assert text_of(page, "[data-live=claimed] .tile-value") == "5 / 5"
    assert page.evaluate("window.__sameDocument === true")  # updated in place, never reloaded
    # One winner spends a red packet at a zone merchant before the deadline.
    pay(http, placed[0][0], placed[0][1].id, grabbers[0], 2000)
    wait_text(page, "[data-live=subsidised] .tile-value", "1")
    wait_text(page, "[data-settlement=packets_claimed] .tile-value", "5 / 5")
    console.shot(page, "campaign-monitor")
    console.open(phone, f"/campaigns/{campaign_id}")
    wait_text(phone, "[data-live=subsidised] .tile-value", "1")
    console.shot(phone, "campaign-monitor")

    # After the spend deadline the minute job (rq cron in production) reclaims and settles.
    time.sleep(max(0.0, (spend_ends - datetime.now(BEIJING)).total_seconds()) + 0.5)
    db.session.rollback()
    tasks.scan_campaigns()
    db.session.rollback()
    report = settlement.report(campaign_id)
    assert report["status"] == "settled" and report["balanced"]
    wait_text(page, "#settlement-title", "最终结算", timeout_ms=20_000)
    wait_text(page, "#campaign-status", "已结算")
    assert text_of(page, "[data-settlement=packets_claimed] .tile-value") == "5 / 5"
    assert text_of(page, "[data-settlement=returned_fen] .tile-value") == yuan(report["returned_fen"])
    assert text_of(page, "[data-settlement=spent_net_fen] .tile-value") == yuan(report["spent_net_fen"])
    assert report["spent_net_fen"] > 0 and report["returned_fen"] == 888 - report["spent_net_fen"]
    assert text_of(page, "[data-figure=reclaimed_fen] td") == yuan(report["reclaimed_fen"])
    assert "账目平衡" in text_of(page, "#settlement")
    console.shot(page, "campaign-settlement")

    console.open(phone, "/zones")
    phone.wait_for_selector(f"a[data-zone='{yq}']")
    console.shot(phone, "zones")
    console.open(phone, f"/zones/{yq}")
    wait_text(phone, "[data-kpi=payment_count] .tile-value", "4")
    phone.wait_for_function("() => document.querySelectorAll('#zone-map path.leaflet-interactive').length >= 3")
    console.shot(phone, "zone-dashboard")
    console.open(phone, "/campaigns")
    phone.wait_for_selector(f"[data-campaign-row='{campaign_id}']")
    console.shot(phone, "campaigns")
    console.open(phone, "/campaigns/new")
    phone.wait_for_selector("#c-name")
    phone.fill("#c-name", "永庆坊夜市消费券")
    phone.check("input[name=kind][value=coupon]")
    phone.check(f"input[name=zone_ids][value='{yq}']")
    phone.select_option("#c-funder", str(funder.id))
    console.shot(phone, "campaign-wizard")
    phone.click("#wizard-forecast")
    phone.wait_for_selector("#forecast-tiles")
    console.shot(phone, "campaign-forecast")
    phone.click("#wizard-to-launch")
    phone.wait_for_selector("#launch-review")
    console.shot(phone, "campaign-launch")
    # A mistake only the server catches (满 5 减 10) comes back with the field it is about, in words.
    console.log.expect_refusal(r"/api/v1/campaigns$", 422)
    phone.click("#wizard-back-to-forecast")
    phone.click("#wizard-back-to-details")
    phone.fill("#c-min-spend", "5.00")
    phone.click("#wizard-forecast")
    phone.click("#wizard-to-launch")
    phone.click("#wizard-launch")
    phone.wait_for_selector("#wizard-launch-step .banner-error[data-code=validation_failed]")
    problem = text_of(phone, "#wizard-launch-step .banner-error")
    # In the screen's language, under the form's own label; the API's field name is for programs.
    assert "满额门槛（元）" in problem and "满额门槛不能低于优惠金额" in problem and "min_spend_fen" not in problem
    assert_no_server_english(phone)
    console.shot(phone, "campaign-launch-error")
    phone.click("#wizard-back-to-forecast")
    phone.click("#wizard-back-to-details")
    assert phone.get_attribute("#c-min-spend", "aria-invalid") == "true"  # the field itself is marked
    db.session.rollback()
    assert db.session.execute(select(Campaign.id).where(Campaign.name == "永庆坊夜市消费券")).first() is None
    console.open(phone, f"/campaigns/{campaign_id}")
    wait_text(phone, "#settlement-title", "最终结算")
    console.shot(phone, "campaign-settlement")
    console.open(page, "/campaigns")
    page.wait_for_selector(f"[data-campaign-row='{campaign_id}'][data-status=settled]")
    console.shot(page, "campaigns")


def test_zone_manager_cannot_open_another_zone(console, factory, http):
    manager = manager_of(factory, "tianhelu", name="天河路管理员 Tianhe Road manager")
    yq = zone_id("yongqingfang")
    # The server refuses, whatever the page does.
    assert http.call("GET", f"/zones/{yq}/kpis", manager).status_code == 403
    asked = []
    for size in ("desktop", "phone"):
        page = console.page(size)
        page.on("request", lambda r: asked.append(r.url))
        console.log.expect_refusal(rf"/api/v1/zones/{yq}$", 403)
        console.login(page, manager.phone, PASSWORD)
        console.open(page, f"/zones/{yq}")
        page.wait_for_selector(".banner-error[data-code=zone_forbidden]")
        assert "您不是该示范区的管理员" in text_of(page, ".banner-error")
        assert_no_server_english(page)  # one language at a time
        # Nothing of the zone is shown, and nothing else about it was asked.
        assert page.locator("#kpi-tiles").count() == 0 and page.locator("#zone-map").count() == 0
        console.shot(page, "zone-forbidden")
    assert [u for u in asked if f"/zones/{yq}/" in u] == []


# ---------------------------------------------------------------- pilot office


def test_pilot_office_ranks_zones_and_downloads_the_summary_and_a_report(console, factory, http, tmp_path):
    admin = factory.user(Role.PILOT_ADMIN, display_name="试点工作办公室")
    yq, th = zone_id("yongqingfang"), zone_id("tianhelu")
    placed = shops(factory, YONGQINGFANG[:2] + TIANHE, ["food", "shopping", "food", "entertainment"],
                   [("永庆坊茶居", "Yongqingfang Tea House"), ("粤剧艺术品店", "Cantonese Opera Gifts"),
                    ("天河城美食广场", "Teemall Food Court"), ("天河影城", "Tianhe Cinema")])
    consumer = factory.consumer(balance_fen=500_000)
    for (owner, m), amount in zip(placed, (3850, 12800, 56000, 9900), strict=True):
        pay(http, owner, m.id, consumer, amount)
    zones_total = db.session.execute(select(Zone.id)).scalars().all()

    page = console.page("desktop")
    console.login(page, admin.phone, PASSWORD)
    assert page.url.endswith("#/ranking")
    page.wait_for_selector("[data-rank-zone]")
    assert page.locator("[data-rank-zone]").count() == len(zones_total)
    first = page.locator("[data-rank-zone]").first
    assert first.get_attribute("data-rank-zone") == str(th)  # Tianhe Road took the most this month
    # The zones with no payment share the last rank, and the table says they are tied.
    last = page.locator("[data-rank-zone]").last
    assert last.get_attribute("data-rank") == "3" and last.locator("th").inner_text().strip() == "并列 3"
    console.shot(page, "ranking")

    page.click("#lang-switch")
    wait_text(page, "#page-title", "Zone ranking")
    assert page.evaluate("document.documentElement.lang") == "en"
    console.shot(page, "ranking-en")
    page.click("#lang-switch")
    wait_text(page, "#page-title", "示范区排名")

    page.click("#nav a[data-nav=summary]")
    page.wait_for_selector(f"[data-summary-zone='{yq}']")
    console.shot(page, "summary")
    with page.expect_download() as dl:
        page.click("#summary-csv")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name.startswith("zone-application-summary-") and path.suffix == ".csv"
    assert "永庆坊" in path.read_text(encoding="utf-8")

    # The pilot office sets the thresholds in the console (volume in yuan); the summary follows at once.
    assert page.get_attribute(f"[data-summary-zone='{yq}']", "data-ready") == "false"
    page.click("#thresholds-edit summary")
    page.fill("#threshold-payment_fen", "一百")
    page.click("#thresholds-save")
    page.wait_for_selector("#threshold-payment_fen[aria-invalid=true]")
    low = {"scenarios_covered": "2", "merchants_enrolled": "2", "merchants_accepting": "2", "active_wallets": "1",
           "wallets_opened": "0", "payment_count": "2", "payment_fen": "100.00"}
    for key, value in low.items():
        page.fill(f"#threshold-{key}", value)
    console.shot(page, "thresholds")
    page.click("#thresholds-save")
    page.wait_for_selector(f"[data-summary-zone='{yq}'][data-ready=true]")
    assert http.ok("GET", "/zones/application-thresholds", admin)["payment_fen"] == 10_000

    page.click("#nav a[data-nav=reports]")
    page.wait_for_selector("#reports-zone")
    page.select_option("#reports-zone", str(yq))
    page.wait_for_selector(f"#report-build-{yq}")
    today = datetime.now(BEIJING).date()
    monday = today - timedelta(days=today.weekday())
    page.fill(f"#report-start-{yq}", monday.isoformat())
    page.click(f"#report-build-{yq}")
    page.wait_for_selector("[data-report-row][data-status=ready]", timeout=30_000)
    with page.expect_download() as dl:
        page.click("[data-download=pdf]")
    pdf = tmp_path / dl.value.suggested_filename
    dl.value.save_as(pdf)
    assert pdf.name == f"zone-yongqingfang-weekly-{monday.isoformat()}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    with page.expect_download() as dl:
        page.click("[data-download=csv]")
    csv_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(csv_path)
    assert csv_path.suffix == ".csv" and csv_path.stat().st_size > 0
    console.shot(page, "reports")

    phone = console.page("phone")
    console.login(phone, admin.phone, PASSWORD)
    phone.wait_for_selector("[data-rank-zone]")
    console.shot(phone, "ranking")
    phone.click("#lang-switch")
    wait_text(phone, "#page-title", "Zone ranking")
    console.shot(phone, "ranking-en")
    phone.click("#lang-switch")
    wait_text(phone, "#page-title", "示范区排名")
    console.open(phone, "/summary")
    phone.wait_for_selector(f"[data-summary-zone='{yq}']")
    console.shot(phone, "summary")
    console.open(phone, "/reports")
    phone.select_option("#reports-zone", str(yq))
    phone.wait_for_selector("[data-report-row][data-status=ready]")
    console.shot(phone, "reports")

