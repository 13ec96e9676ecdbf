"""The pilot office manages a zone's outline in the console: a GeoJSON file previewed over the current outline,
saved through PATCH /zones/{id} (the server checks it), its refusal shown in the screen's language."""

from __future__ import annotations

import json
import re

from backend.auth.models import Role
from backend.extensions import db
from tests.console.test_console import text_of, zone_id
from tests.factories import PASSWORD
from zones.models import Zone

# A square of about 400 m around Baiyun Mountain's south gate, and a bow tie (its edges cross).
SQUARE = {"type": "Polygon", "coordinates": [[[113.290, 23.170], [113.294, 23.170], [113.294, 23.174],
                                              [113.290, 23.174], [113.290, 23.170]]]}
BOW_TIE = {"type": "Polygon", "coordinates": [[[113.290, 23.170], [113.294, 23.174], [113.294, 23.170],
                                               [113.290, 23.174], [113.290, 23.170]]]}


def _file(geometry: dict) -> dict:
    return {"name": "outline.geojson", "mimeType": "application/geo+json",
            "buffer": json.dumps(geometry).encode()}


def test_the_pilot_office_replaces_a_zone_outline_from_a_geojson_file(console, factory):
    admin = factory.user(Role.PILOT_ADMIN, display_name="试点工作办公室")
    zone = zone_id("baiyunshan")
    before = db.session.get(Zone, zone).boundary_geojson
    for size in ("desktop", "phone"):
        page = console.page(size)
        console.login(page, admin.phone, PASSWORD)
        console.open(page, f"/zones/{zone}")
        page.click("#outline-edit summary")
        # The file button speaks the page's language, not the browser's ("Choose File").
        picker = text_of(page, "#outline-edit .file-picker")
        assert "选择文件" in picker and "未选择文件" in picker and "Choose" not in picker
        # Not JSON at all: said at once, nothing sent.
        page.set_input_files("#outline-file", {"name": "x.geojson", "mimeType": "text/plain", "buffer": b"not json"})
        page.wait_for_selector("#outline-edit .banner-error")
        assert page.is_disabled("#outline-save")
        # Edges that cross: previewed, and refused by the server in Chinese.
        console.log.expect_refusal(rf"/api/v1/zones/{zone}$", 422)
        page.set_input_files("#outline-file", _file(BOW_TIE))
        page.wait_for_selector("#outline-preview-note")
        page.click("#outline-save")
        page.wait_for_selector("#outline-edit .banner-error[data-code=invalid_geometry]")
        banner = text_of(page, "#outline-edit .banner-error")
        assert "区域边界不正确" in banner and not re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", banner)
        db.session.rollback()
        assert db.session.get(Zone, zone).boundary_geojson == before
        if size == "desktop":
            console.shot(page, "zone-outline-refused")
    # A good outline: previewed dashed, saved, and the dashboard shows it as the zone's outline.
    page.set_input_files("#outline-file", _file(SQUARE))
    page.wait_for_selector("#outline-preview-note")
    assert "未选择文件" not in text_of(page, "#outline-edit .file-picker")  # the chosen file's name instead
    console.shot(page, "zone-outline-preview")
    page.click("#outline-save")
    page.wait_for_selector("#outline-preview-note", state="detached")
    db.session.rollback()
    assert json.loads(db.session.get(Zone, zone).boundary_geojson)["coordinates"] == SQUARE["coordinates"]


def test_the_pilot_office_assigns_managers_and_funders_to_a_zone(console, factory, http):
    admin = factory.user(Role.PILOT_ADMIN, display_name="试点工作办公室")
    manager = factory.user(Role.ZONE_MANAGER, display_name="白云山管理员")
    fund_owner = factory.consumer(balance_fen=300_000)
    zone = zone_id("baiyunshan")
    page = console.page("desktop")
    console.login(page, admin.phone, PASSWORD)
    console.open(page, f"/zones/{zone}")
    page.fill("#manager-phone", manager.phone)
    page.click("#manager-form-submit")
    page.wait_for_selector(f"[data-manager='{manager.id}']")
    assert manager.phone[:3] + "****" + manager.phone[-4:] in text_of(page, f"[data-manager='{manager.id}']")
    # A phone without a wallet is refused on its field, in Chinese.
    console.log.expect_refusal(r"/api/v1/campaigns/funders$", 422)
    page.fill("#funder-name", "白云山景区促消费资金")
    page.fill("#funder-phone", "13999999998")
    page.click("#funder-form-submit")
    page.wait_for_selector("#funder-phone[aria-invalid=true]")
    assert "这个手机号没有开立钱包" in text_of(page, "#funder-form")
    page.fill("#funder-phone", fund_owner.phone)
    page.click("#funder-form-submit")
    page.wait_for_selector("#zone-funders li")
    assert text_of(page, "#zone-funders li") == "白云山景区促消费资金 · 余额 ¥3,000.00"
    console.shot(page, "zone-admin")
    # The new manager's wizard now offers that fund, named with its zone.
    funders = http.ok("GET", "/campaigns/funders", manager)["items"]
    assert [f["name"] for f in funders if f["zone_id"] == zone] == ["白云山景区促消费资金"]
