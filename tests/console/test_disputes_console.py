"""The complaints page of the console in Debian's Chromium (issue #16 item 3): a bank reviewer's queue of
complaints about their bank's merchants — the payer masked, the merchant's answer, the photos, the deadlines
— and a decision that upholds one with a refund through the ledger. Fails on any browser console error."""

from __future__ import annotations

import uuid

import requests

from backend.auth.models import Role
from backend.extensions import db
from backend.ledger import service as ledger
from backend.payments.models import Order
from tests.factories import PASSWORD
from tests.protection.test_disputes import png


def _paid(http, owner, merchant_id: int, consumer, amount_fen: int) -> int:
    order = http.ok("POST", "/orders", owner, status=201, json={"merchant_id": merchant_id, "amount_fen": amount_fen})
    http.ok("POST", "/payments", consumer, status=201, key=uuid.uuid4().hex, json={"payload": order["payload"]})
    return order["id"]


def _complain(http, consumer, kind: str, subject_id: int, category: str, text: str) -> dict:
    return http.ok("POST", "/protection/complaints", consumer, status=201, json={
        "subject_kind": kind, "subject_id": subject_id, "category": category, "text": text})


def test_bank_reviewer_decides_a_complaint_with_a_refund_from_the_queue(console, factory, http):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC", display_name="工行投诉专员")
    owner = factory.user(Role.MERCHANT_OWNER)
    shop = factory.merchant(owner=owner, name_zh="恩宁路老字号茶楼", name_en="Enning Rd Teahouse")
    boc_owner = factory.user(Role.MERCHANT_OWNER)
    boc_shop = factory.merchant(owner=boc_owner, bank_code="BOC", name_zh="中行水果店")
    li = factory.consumer(balance_fen=50_000, display_name="李小明")
    chen = factory.consumer(balance_fen=50_000, display_name="陈静")
    order_id = _paid(http, owner, shop.id, li, 2_000)
    paid_twice = _complain(http, li, "payment", order_id, "overcharged", "同一笔早茶被扣了两次款，店员说是系统故障")
    photo = requests.post(f"{http.base}/protection/complaints/{paid_twice['id']}/photos",
                          headers={"Authorization": f"Bearer {li.token}"},
                          files={"file": ("receipt.png", png(), "image/png")}, timeout=30)
    assert photo.status_code == 201, photo.text
    http.ok("POST", f"/protection/complaints/{paid_twice['id']}/answer", owner,
            json={"answer": "已核对收款记录，确有重复扣款，同意退还"})
    misleading = _complain(http, chen, "merchant", shop.id, "misleading", "门口写全场八折，结账时不给折扣")
    other_bank = _complain(http, chen, "merchant", boc_shop.id, "quality", "水果有坏的")

    page = console.page()
    console.login(page, reviewer.phone, PASSWORD)
    page.click("#nav a[data-nav=complaints]")
    page.wait_for_selector(f"#complaint-{paid_twice['id']} .dispute-photos img[src^='blob:']")
    page.wait_for_selector(f"#complaint-{misleading['id']}")
    assert page.locator(f"#complaint-{other_bank['id']}").count() == 0  # another bank's merchant
    card = page.locator(f"#complaint-{paid_twice['id']}").inner_text()
    assert "李*明" in card and li.phone not in card and "同意退还" in card and "¥20.00" in card
    assert "尚未答复" in page.locator(f"#complaint-{misleading['id']}").inner_text()
    assert "商户近 90 天投诉\n2 件，支持 0 件" in card  # the merchant's standing
    console.shot(page, "complaints")

    # Uphold with a refund above what is refundable: refused in the form; then ¥15.00 with a reason.
    page.click(f"#complaint-{paid_twice['id']} [data-action=uphold]")
    page.fill("#decision-refund", "25.00")
    page.fill("#decision-reason", "商户重复扣款属实")
    page.click("#decision-confirm")
    page.wait_for_selector("#decision-refund-error")
    page.fill("#decision-refund", "15.00")
    page.click("#decision-confirm")
    page.wait_for_selector(f"#complaint-{paid_twice['id']}", state="detached")  # no longer pending
    assert "支持投诉" in page.locator(".banner-success").inner_text()
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert (order.status, order.refunded_fen) == ("partially_refunded", 1_500)
    db.session.rollback()
    assert ledger.verify() == []
    page.select_option("#complaints-status", "upheld")
    page.wait_for_selector(f"#complaint-{paid_twice['id']}[data-status=upheld]")
    upheld = page.locator(f"#complaint-{paid_twice['id']}").inner_text()
    assert "已退款 ¥15.00" in upheld and "支持 1 件" in upheld

    phone = console.page("phone")
    console.login(phone, reviewer.phone, PASSWORD)
    phone.goto(phone.url.split("#")[0] + "#/complaints")
    phone.wait_for_selector(f"#complaint-{misleading['id']}")
    console.shot(phone, "complaints")
