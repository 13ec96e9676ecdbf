"""The prepaid pages of the console in Debian's Chromium: the bank's prepaid review queue, the regulator's
overview (its industries only, warning signs, CSV) and a merchant's page (grade override with a reason,
suspension with the refund run's progress). Each test fails on any browser console error."""

from __future__ import annotations

import uuid

from backend.auth.models import Role
from backend.extensions import db
from prepaid.models import PrepaidMerchant
from tests.factories import PASSWORD


def _prepaid(factory, industry: str, status: str = "approved", bank_code: str = "ICBC", **merchant):
    owner = factory.user(Role.MERCHANT_OWNER)
    m = factory.merchant(owner=owner, bank_code=bank_code, **merchant)
    pm = PrepaidMerchant(merchant_id=m.id, industry=industry, status=status, applied_by_user_id=owner.id,
                         created_at=m.created_at, reviewed_at=m.created_at if status == "approved" else None)
    db.session.add(pm)
    db.session.commit()
    return owner, m, pm


def test_bank_reviewer_approves_and_rejects_prepaid_applications(console, factory):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC", display_name="工行审核员")
    _, _, gym = _prepaid(factory, "sports_fitness", "pending", name_zh="越秀力量健身", name_en="Yuexiu Gym")
    _, _, salon = _prepaid(factory, "beauty", "pending", name_zh="北京路美发沙龙", name_en="Beijing Rd Salon")
    _, _, other_bank = _prepaid(factory, "laundry", "pending", bank_code="BOC", name_zh="中行洗衣店")
    page = console.page()
    console.login(page, reviewer.phone, PASSWORD)
    page.click("#nav a[data-nav=prepaid_review]")
    page.wait_for_selector(f"#prepaid-application-{gym.id}")
    assert page.locator(f"#prepaid-application-{other_bank.id}").count() == 0
    console.shot(page, "prepaid-review")
    page.click(f"#prepaid-application-{salon.id} [data-action=reject]")  # no reason: refused in the form
    page.wait_for_selector(f"#prepaid-application-{salon.id} .field-error")
    page.fill(f"#prepaid-reason-{salon.id}", "经营范围不含美容美发")
    page.click(f"#prepaid-application-{salon.id} [data-action=reject]")
    page.wait_for_selector(f"#prepaid-application-{salon.id}", state="detached")
    page.click(f"#prepaid-application-{gym.id} [data-action=approve]")
    page.wait_for_selector(".empty")
    db.session.expire_all()
    assert (db.session.get(PrepaidMerchant, gym.id).status, db.session.get(PrepaidMerchant, salon.id).status) == (
        "approved", "rejected")
    phone = console.page("phone")
    console.login(phone, reviewer.phone, PASSWORD)
    phone.goto(phone.url.split("#")[0] + "#/prepaid/review")
    phone.wait_for_selector(".empty")
    console.shot(phone, "prepaid-review")


def test_regulator_watches_its_industry_overrides_a_grade_and_suspends_a_merchant(console, factory, http, tmp_path):
    owner, _, gym = _prepaid(factory, "sports_fitness", name_zh="越秀力量健身", name_en="Yuexiu Gym")
    _, _, school = _prepaid(factory, "education_training", name_zh="天河英语培训")
    pilot = factory.user(Role.PILOT_ADMIN)
    regulator_phone = "13400009001"
    http.ok("POST", "/prepaid/regulators", pilot, status=201, json={
        "phone": regulator_phone, "password": PASSWORD, "display_name": "体育局监管员", "authority": "广州市体育局",
        "industries": ["sports_fitness"]})
    plan = http.ok("POST", f"/prepaid/merchants/{gym.id}/plans", owner, status=201, json={
        "kind": "sessions", "name": "私教20节", "units": 20, "unit_price_fen": 15_000})
    buyers = [factory.consumer(balance_fen=600_000, wallet_class=3) for _ in range(4)]
    contracts = [http.ok("POST", f"/prepaid/plans/{plan['id']}/purchase", b, status=201, key=uuid.uuid4().hex)
                 for b in buyers]
    http.ok("POST", "/prepaid/releases", owner, status=201, key=uuid.uuid4().hex,
            json={"code": contracts[0]["code"], "units": 1})
    http.ok("POST", f"/prepaid/contracts/{contracts[1]['id']}/complaints", buyers[1], status=201,
            json={"text": "教练多次临时取消课程"})

    page = console.page()
    console.login(page, regulator_phone, PASSWORD)
    page.wait_for_selector(f"#prepaid-row-{gym.id}")
    assert page.locator(f"#prepaid-row-{school.id}").count() == 0  # another industry's merchant
    assert "¥11,850.00" in page.locator("#prepaid-outstanding").inner_text()
    assert "售卡远超核销" in page.locator(f"#prepaid-row-{gym.id}").inner_text()
    console.shot(page, "prepaid-overview")
    with page.expect_download() as dl:
        page.click("#prepaid-csv")
    saved = tmp_path / "prepaid.csv"
    dl.value.save_as(saved)
    assert "sales_ahead_of_releases" in saved.read_text(encoding="utf-8")

    page.click(f"#prepaid-row-{gym.id} a")
    page.wait_for_selector("#grade-form")
    assert "是" in page.locator("#prepaid-ties-out").inner_text()
    console.log.expect_refusal(r"/prepaid/merchants/\d+/grade$", 422)
    page.select_option("#grade-select", "C")
    page.click("#grade-submit")  # no reason: the server refuses, the form says why
    page.wait_for_selector("#grade-form .field-error")
    page.fill("#grade-reason", "投诉未整改")
    page.click("#grade-submit")
    page.wait_for_selector("#prepaid-grade:has-text('投诉未整改') [data-grade=C]")
    console.shot(page, "prepaid-merchant")
    page.fill("#status-reason", "门店停业，启动退款")
    page.click("#status-submit")
    page.wait_for_selector("#closure-progress .banner")
    assert "已退 4 份" in page.locator("#closure-progress").inner_text()
    for b in buyers[1:]:
        assert factory.balance(b) == 600_000
    phone = console.page("phone")
    console.login(phone, regulator_phone, PASSWORD)
    phone.wait_for_selector(f"#prepaid-row-{gym.id}")
    console.shot(phone, "prepaid-overview")
