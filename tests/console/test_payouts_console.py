"""The payouts pages of the console in Debian's Chromium (issue #14): the finance officer uploads a file (a
malformed one is refused with line numbers, nothing created) and reads the validation report; the approver —
never the uploader — approves; the progress shows each line's status, a line over the payee's wallet cap fails
and is cancelled, the reserve's leftover goes back; exports as CSV. The pilot office registers an organisation,
marks member units and reads the member units tracker. Each test fails on any browser console error."""

from __future__ import annotations

import csv
import io
import uuid

from backend.auth.models import Role
from tests.factories import PASSWORD, next_phone
from tests.payouts.helpers import ORG_ACCOUNT, csv_bytes, uscc

API = "/payouts"


def _org(http, pilot, name="越秀区财政局", member_unit=True) -> tuple[int, dict]:
    org = http.ok("POST", f"{API}/organisations", pilot, status=201, json={
        "name": name, "kind": "department", "uscc": uscc(), "district": "越秀区", "member_unit": member_unit,
        "bank_code": "ICBC", "bank_account_number": ORG_ACCOUNT})
    staff = {}
    for role, display in (("officer", "张会计"), ("approver", "王处长")):
        phone = next_phone()
        http.ok("POST", f"{API}/organisations/{org['id']}/members", pilot, status=201,
                json={"phone": phone, "role": role, "display_name": display, "password": PASSWORD})
        staff[role] = phone
    return org["id"], staff


def _file(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": data}


def test_officer_uploads_approver_approves_and_failed_lines_are_recovered(console, factory, http, tmp_path):
    pilot = factory.user(Role.PILOT_ADMIN)
    org_id, staff = _org(http, pilot)
    officer_login = http.ok("POST", "/auth/login", json={"phone": staff["officer"], "password": PASSWORD})
    http.ok("POST", f"{API}/organisations/{org_id}/topup", None, status=201, key=uuid.uuid4().hex,
            json={"amount_fen": 5_000_000}, headers={"Authorization": f"Bearer {officer_login['token']}"})
    li = factory.consumer(display_name="李小明")
    chen = factory.consumer(display_name="陈静")
    full = factory.consumer(display_name="黄大伟", balance_fen=990_000)  # ¥9,900 of a class-4 wallet's ¥10,000

    page = console.page()
    console.login(page, staff["officer"], PASSWORD)
    page.wait_for_selector("#upload-form")  # one organisation: its page is the officer's home
    assert "¥50,000.00" in page.locator("#org-balance").inner_text()

    # A malformed file: each problem with its line number, and no batch is created.
    console.log.expect_refusal(rf"/payouts/organisations/{org_id}/batches$", 422)
    page.fill("#batch-reference", "2026-03-A")
    page.set_input_files("#batch-file", _file("bad.csv", csv_bytes([
        [li.phone, "李小明", "100.005", "salary", ""], [chen.phone, "陈静", "50", "bonus", ""]])))
    page.click("#batch-submit")
    page.wait_for_selector("#upload-problems [data-problem-line='2'][data-problem-code=amount_precision]")
    assert page.locator("#upload-problems [data-problem-line='3'][data-problem-code=category_unknown]").count() == 1
    assert "金额超过两位小数" in page.locator("#upload-problems").inner_text()
    console.shot(page, "payouts-upload-refused")

    page.fill("#batch-title", "三月工资")
    page.set_input_files("#batch-file", _file("2026-03-工资.csv", "\ufeff".encode() + csv_bytes([
        [li.phone, "李小明", "3850.50", "工资", "三月工资"],
        [chen.phone, "林静", "1200", "allowance", "交通补贴"],        # not the holder: 林* against 陈*
        ["13999999999", "赵六", "680", "subsidy", "试点补贴"],          # nobody's wallet
        [li.phone, "李小明", "3850.50", "salary", "三月工资"],          # the same line again
        [full.phone, "黄大伟", "500", "subsidy", "试点补贴"],           # over the payee's wallet cap
    ], header=["手机号", "姓名", "金额", "类别", "备注"])))
    page.click("#batch-submit")
    page.wait_for_selector("#report-issues")
    for code in ("payee_unknown", "name_mismatch", "duplicate_line"):
        assert page.locator(f"#report-issues [data-issue={code}]").count() == 1, code
    assert page.locator("#report-warnings [data-warning=would_exceed_cap]").count() == 1
    assert "¥4,350.50" in page.locator("#report-total").inner_text()
    assert page.locator("#awaiting").count() == 1 and page.locator("#batch-approve").count() == 0  # maker ≠ checker
    batch_url = page.url
    batch_id = int(batch_url.rsplit("/", 1)[1])
    console.shot(page, "payouts-report")

    approver = console.page()
    console.login(approver, staff["approver"], PASSWORD)
    approver.goto(batch_url)
    approver.wait_for_selector("#batch-approve")
    approver.click("#batch-approve")  # the job runs inline in the tests: paid, and one line over the cap fails
    approver.wait_for_selector("#recovery-form")
    assert approver.locator("#line-2[data-status=paid]").count() == 1
    assert approver.locator("#line-6[data-status=failed]").count() == 1
    assert "钱包余额已达上限" in approver.locator("#line-6").inner_text()
    assert "¥3,850.50" in approver.locator("#progress-paid").inner_text()
    console.shot(approver, "payouts-progress")

    with approver.expect_download() as dl:
        approver.click("#export-failed")
    saved = tmp_path / "failed.csv"
    dl.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [(r["line_no"], r["amount"], r["status"], r["issue"]) for r in rows] == [
        ("6", "500.00", "failed", "payee_balance_cap")]

    approver.click("#lines-cancel")
    approver.wait_for_selector("#batch-returned")
    assert "¥500.00" in approver.locator("#batch-returned").inner_text()
    assert factory.balance(li) == 385_050 and factory.balance(full) == 990_000
    approver.select_option("#lines-filter", "invalid")
    approver.wait_for_selector("#line-2", state="detached")  # the paid line leaves the filtered list
    assert approver.locator("#batch-lines tbody tr").count() == 3

    phone = console.page("phone")
    console.login(phone, staff["approver"], PASSWORD)
    phone.goto(batch_url.replace(page.url.split("#")[0], phone.url.split("#")[0]))
    phone.wait_for_selector("#batch-returned")
    console.shot(phone, "payouts-progress")
    phone.goto(phone.url.split("#")[0] + f"#/payouts/orgs/{org_id}")
    phone.wait_for_selector(f"#payouts-batch-{batch_id}")
    console.shot(phone, "payouts-org")
    page.goto(page.url.split("#")[0] + f"#/payouts/orgs/{org_id}")
    page.wait_for_selector(f"#payouts-batch-{batch_id}")
    console.shot(page, "payouts-org")


def test_pilot_office_registers_organisations_and_follows_member_units(console, factory, http, tmp_path):
    pilot_phone = next_phone()
    pilot = factory.user(Role.PILOT_ADMIN, phone=pilot_phone, display_name="试点办")
    paying_id, staff = _org(http, pilot, "南沙区人力资源和社会保障局")
    officer = http.ok("POST", "/auth/login", json={"phone": staff["officer"], "password": PASSWORD})
    approver = http.ok("POST", "/auth/login", json={"phone": staff["approver"], "password": PASSWORD})
    as_officer = {"Authorization": f"Bearer {officer['token']}"}
    http.ok("POST", f"{API}/organisations/{paying_id}/topup", None, status=201, key=uuid.uuid4().hex,
            json={"amount_fen": 100_000}, headers=as_officer)
    payee = factory.consumer(display_name="李小明")
    upload = http.session.post(f"{http.base}{API}/organisations/{paying_id}/batches", headers=as_officer,
                               data={"reference": "NS-01", "title": "补贴"},
                               files={"file": ("b.csv", csv_bytes([[payee.phone, "李小明", "80", "subsidy", ""]]))},
                               timeout=30)
    assert upload.status_code == 201, upload.text
    batch = upload.json()
    http.ok("POST", f"{API}/batches/{batch['id']}/approve", None, key=uuid.uuid4().hex,
            json={"expected_total_fen": 8_000, "expected_line_count": 1},
            headers={"Authorization": f"Bearer {approver['token']}"})

    page = console.page()
    console.login(page, pilot_phone, PASSWORD)
    page.click("#nav a[data-nav=payouts]")
    page.wait_for_selector(f"#payouts-org-{paying_id}")
    console.log.expect_refusal(r"/payouts/organisations$", 422)
    page.fill("#org-name", "广州地铁集团")
    page.select_option("#org-kind", "soe")
    page.fill("#org-uscc", "not-a-code")
    page.fill("#org-account", ORG_ACCOUNT)
    page.click("#org-submit")  # a wrong credit code: the server says which field
    page.wait_for_selector("#org-form .field-error")
    code = uscc()
    page.fill("#org-uscc", code)
    page.fill("#org-district", "天河区")
    page.uncheck("#org-member")
    page.click("#org-submit")
    page.wait_for_selector("#org-balance")
    assert "广州地铁集团" in page.locator("#page-title").inner_text()
    page.click("#nav a[data-nav=payouts]")
    page.wait_for_selector("text=广州地铁集团")
    metro = page.locator("tr", has_text="广州地铁集团")
    assert "非成员单位" in metro.inner_text()
    metro.locator("[data-action=toggle-member]").click()
    page.wait_for_selector("tr:has-text('广州地铁集团') >> text=取消成员单位")
    console.shot(page, "payouts-orgs")

    page.click("#nav a[data-nav=member_units]")
    page.wait_for_selector(f"#unit-{paying_id}")
    assert "已达标" in page.locator(f"#unit-{paying_id}").inner_text()
    assert "1 / 1" in page.locator(f"#unit-{paying_id}").inner_text()  # its one payee has a wallet
    assert "未落地" in page.locator("tr", has_text="广州地铁集团").inner_text()
    assert "1 / 2" in page.locator("#units-met").inner_text()
    with page.expect_download() as dl:
        page.click("#units-csv")
    saved = tmp_path / "units.csv"
    dl.value.save_as(saved)
    assert "南沙区人力资源和社会保障局" in saved.read_text(encoding="utf-8-sig")
    console.shot(page, "payouts-units")
    phone = console.page("phone")
    console.login(phone, pilot_phone, PASSWORD)
    phone.goto(phone.url.split("#")[0] + "#/payouts/units")
    phone.wait_for_selector(f"#unit-{paying_id}")
    console.shot(phone, "payouts-units")


def test_the_batch_page_follows_the_job_live_over_server_sent_events(console, factory, http, monkeypatch):
    """With the job not yet run (as when the RQ worker is busy), the page shows the batch processing and
    follows its event stream; when the job pays the lines, the page moves to the closed batch by itself."""
    from payouts import tasks

    monkeypatch.setattr("payouts.views.enqueue", lambda *args, **kwargs: None)  # the worker has not started it
    pilot = factory.user(Role.PILOT_ADMIN)
    org_id, staff = _org(http, pilot)
    tokens = {role: http.ok("POST", "/auth/login", json={"phone": phone, "password": PASSWORD})["token"]
              for role, phone in staff.items()}
    http.ok("POST", f"{API}/organisations/{org_id}/topup", None, status=201, key=uuid.uuid4().hex,
            json={"amount_fen": 100_000}, headers={"Authorization": f"Bearer {tokens['officer']}"})
    payee = factory.consumer(display_name="李小明")
    upload = http.session.post(f"{http.base}{API}/organisations/{org_id}/batches",
                               headers={"Authorization": f"Bearer {tokens['officer']}"},
                               data={"reference": "LIVE-1", "title": "四月补贴"},
                               files={"file": ("b.csv", csv_bytes([[payee.phone, "李小明", "120", "subsidy", ""]]))},
                               timeout=30)
    batch = upload.json()
    http.ok("POST", f"{API}/batches/{batch['id']}/approve", None, key=uuid.uuid4().hex,
            json={"expected_total_fen": 12_000, "expected_line_count": 1},
            headers={"Authorization": f"Bearer {tokens['approver']}"})

    page = console.page()
    console.login(page, staff["approver"], PASSWORD)
    page.goto(page.url.split("#")[0] + f"#/payouts/batches/{batch['id']}")
    page.wait_for_selector("#batch-progress[data-status=processing]")
    page.wait_for_selector("#batch-live:has-text('正在实时更新')")
    result = tasks.run_batch(batch["id"])  # the worker's turn
    assert (result["paid"], result["status"]) == (1, "closed")
    page.wait_for_selector("#batch-returned", timeout=20_000)  # the stream said closed: the page reloaded
    assert page.locator("#line-2[data-status=paid]").count() == 1
    assert factory.balance(payee) == 12_000
