"""The pilot office manages staff accounts in the console (issue #20 item 4): creates a bank reviewer who can
then log in, finds accounts by role and name, disables one with a reason (its open session ends at once) and
enables it again; in Chinese at 1280 and 390 wide, and in English."""

from __future__ import annotations

from sqlalchemy import select

from backend.auth.models import Role, User
from backend.extensions import db
from tests.console.test_console import text_of
from tests.factories import PASSWORD

TOKEN_KEY = "suiyuan.console.token"  # static/console/api.js


def test_the_pilot_office_creates_finds_disables_and_enables_staff(console, factory, http):
    admin = factory.user(Role.PILOT_ADMIN, display_name="试点工作办公室")
    factory.user(Role.ZONE_MANAGER, display_name="永庆坊管理员")
    page = console.page("desktop")
    console.login(page, admin.phone, PASSWORD)
    console.open(page, "/staff")
    page.wait_for_selector("#staff-results table")
    assert "永庆坊管理员" in text_of(page, "#staff-results")
    assert "（您本人）" in text_of(page, f"#staff-{admin.id}")  # no disable button on one's own row

    # A bank reviewer needs a bank: said on the field before anything is sent.
    page.click("#staff-new summary")
    page.fill("#staff-name", "陈审核")
    page.fill("#staff-phone", "13700002222")
    page.select_option("#staff-role", "bank_reviewer")
    page.fill("#staff-password", "Review2026x")
    page.click("#staff-create")
    page.wait_for_selector("#staff-bank[aria-invalid=true]")
    assert "须选择所属运营机构" in text_of(page, "#staff-form")
    page.select_option("#staff-bank", "BOC")
    page.click("#staff-create")
    page.wait_for_selector("#staff-results tr:has-text('陈审核')")
    db.session.rollback()
    made = db.session.execute(select(User).where(User.phone == "13700002222")).scalar_one()
    assert (made.role, made.display_name, made.is_active) == (Role.BANK_REVIEWER, "陈审核", True)
    assert "中国银行" in text_of(page, f"#staff-{made.id}")
    # The new reviewer logs in (another browser): the account works.
    reviewer_page = console.page("desktop")
    console.login(reviewer_page, "13700002222", "Review2026x")
    reviewer_page.wait_for_selector("#page-title")

    # Find by role and name.
    page.select_option("#staff-filter-role", "bank_reviewer")
    page.wait_for_selector("#staff-results tr[data-role=zone_manager]", state="detached")
    page.fill("#staff-search", "陈")
    page.click("#staff-search-go")
    page.wait_for_function("document.querySelectorAll('#staff-results tbody tr').length === 1")
    console.shot(page, "staff")

    # Disable with a reason: a short one is refused in the dialog, then the account is off at once.
    page.click(f"#staff-disable-{made.id}")
    page.fill("#staff-disable-reason", "调岗")
    page.click("#staff-disable-dialog-confirm")
    page.wait_for_selector("#staff-disable-dialog .banner-error")
    page.fill("#staff-disable-reason", "已调离审核岗位")
    console.shot(page, "staff-disable")
    page.click("#staff-disable-dialog-confirm")
    page.wait_for_selector(f"#staff-{made.id}[data-active=false]")
    db.session.rollback()
    assert db.session.get(User, made.id).is_active is False
    assert http.call("GET", "/me", None, headers={"Authorization": f"Bearer {reviewer_token(reviewer_page)}"}
                     ).status_code == 401

    page.click(f"#staff-enable-{made.id}")
    page.fill("#staff-enable-reason", "回到审核岗位")
    page.click("#staff-enable-dialog-confirm")
    page.wait_for_selector(f"#staff-{made.id}[data-active=true]")

    # The narrow screen and English.
    narrow = console.page("phone")
    console.login(narrow, admin.phone, PASSWORD)
    console.open(narrow, "/staff")
    narrow.wait_for_selector("#staff-results table")
    console.shot(narrow, "staff")
    narrow.click("#lang-switch")
    narrow.wait_for_selector("#page-title:has-text('Staff accounts')")
    narrow.wait_for_selector("#staff-results table")
    assert "陈审核" in text_of(narrow, "#staff-results") and "审核员" not in text_of(narrow, "#staff-results")
    console.shot(narrow, "staff-en")


def reviewer_token(page) -> str:
    """The access token the console keeps for this tab."""
    token = page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')")
    assert token
    return token
