"""Controllable anonymity and audit: masked payers, audited identity look-ups, an append-only audit log."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from backend.auth.models import Role
from backend.clock import local_today
from backend.extensions import db
from protection.masking import mask_name, mask_phone
from protection.models import AuditEntry
from tests.campaigns.helpers import grab, live, make_world, pay_order
from tests.payments.helpers import add_cashier, new_order, ok, pay, refund, refused, static_payload

REASON = "消费者投诉退款纠纷，核实付款人"


def lookup(api, who, **body):
    return api.post("/protection/identity-lookups", who, json={"reason": REASON, **body})


def test_masks_keep_first_and_last_of_a_name_and_hide_the_middle_of_a_phone():
    names = [mask_name(n) for n in ("李小明", "李明", "欧阳娜娜", "")]
    assert names == ["李*明", "李*", "欧**娜", ""]
    assert mask_phone("13800000001") == "138****0001"


def test_an_identity_look_up_needs_a_reason_and_a_role_and_is_audited(api, factory, shop):
    pilot = factory.user(Role.PILOT_ADMIN)
    icbc, boc = factory.user(Role.BANK_REVIEWER, bank_code="ICBC"), factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    consumer = factory.consumer(balance_fen=5_000, wallet_class=3, bank_code="ICBC")
    order = new_order(api, shop.owner, shop.merchant_id, 1_200)
    ok(pay(api, consumer, order["payload"]), 201)
    wallet = factory.wallet(consumer)

    for who in (shop.owner, factory.user(Role.ZONE_MANAGER), consumer):
        refused(lookup(api, who, order_id=order["id"]), 403, "role_forbidden")
    refused(api.post("/protection/identity-lookups", pilot, json={"order_id": order["id"], "reason": "查"}), 422,
            "reason_required", field="reason")
    refused(lookup(api, pilot, order_id=order["id"], wallet_id=wallet.id), 422, "validation_failed", field="wallet_id")
    refused(lookup(api, boc, wallet_id=wallet.id), 404, "wallet_not_found")  # another bank's customer
    assert ok(api.get("/protection/audit", pilot, query_string={"action": "identity_lookup"}))["items"] == []

    who = ok(lookup(api, pilot, order_id=order["id"], case_ref="TS-2026-0001"), 201)
    assert (who["phone"], who["real_name"], who["wallet_number"]) == (consumer.phone, wallet.real_name,
                                                                     wallet.wallet_number)
    assert who["masked"] == {"phone": mask_phone(consumer.phone), "name": mask_name(wallet.real_name)}
    ok(lookup(api, icbc, wallet_id=wallet.id), 201)

    lines = ok(api.get("/protection/audit", pilot, query_string={"action": "identity_lookup"}))["items"]
    assert [(e["actor_user_id"], e["actor_role"], e["target_kind"], e["target_id"], e["reason"]) for e in lines] == [
        (icbc.id, "bank_reviewer", "wallet", str(wallet.id), REASON),
        (pilot.id, "pilot_admin", "wallet", str(wallet.id), REASON)]
    assert lines[1]["detail"] == {"case_ref": "TS-2026-0001", "order_id": order["id"]}


def test_the_audit_log_records_staff_actions_and_is_searchable_and_exportable(api, factory):
    world = make_world(factory)
    consumer = factory.consumer()
    wallet_id = factory.wallet(consumer).id
    campaign = live(api, world)  # a staff action on money: the budget moves into escrow
    frozen = ok(api.post("/protection/freezes", world.pilot, json={"target_kind": "wallet", "target_id": wallet_id,
                                                                   "reason": "疑似薅羊毛账户"}), 201)
    ok(api.post(f"/protection/freezes/{frozen['id']}/lift", world.pilot, json={"reason": "核实为正常用户"}))
    ok(api.call("PUT", "/protection/read-only", world.pilot, json={"read_only": True, "reason": "演练只读模式"}))
    ok(api.call("PUT", "/protection/read-only", world.pilot, json={"read_only": False, "reason": "演练结束恢复"}))

    everything = ok(api.get("/protection/audit", world.pilot))["items"]
    assert [e["action"] for e in everything] == ["read_only_off", "read_only_on", "unfreeze", "freeze",
                                                 "campaign_launch"]
    launch = everything[-1]
    assert (launch["actor_user_id"], launch["target_id"]) == (world.manager.id, str(campaign["id"]))
    assert launch["detail"]["budget_fen"] == campaign["budget_fen"]
    mine = ok(api.get("/protection/audit", world.pilot, query_string={"target_kind": "wallet",
                                                                      "target_id": str(wallet_id)}))["items"]
    assert [e["action"] for e in mine] == ["unfreeze", "freeze"]
    page = ok(api.get("/protection/audit", world.pilot, query_string={"limit": 2}))["items"]
    older = ok(api.get("/protection/audit", world.pilot, query_string={"limit": 2, "before": page[-1]["id"]}))
    assert [e["action"] for e in older["items"]] == ["unfreeze", "freeze"]
    since = ok(api.get("/protection/audit", world.pilot, query_string={"since": everything[0]["at"]}))["items"]
    assert everything[0] in since and everything[-1] not in since

    resp = api.get("/protection/audit.csv", world.pilot, query_string={"action": "freeze"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["action"], r["target_id"], r["reason"]) for r in rows] == [("freeze", str(wallet_id), "疑似薅羊毛账户")]

    for who in (world.manager, factory.user(Role.BANK_REVIEWER), consumer):
        refused(api.get("/protection/audit", who), 403, "role_forbidden")
        refused(api.get("/protection/audit.csv", who), 403, "role_forbidden")


def test_the_audit_log_cannot_be_changed(api, factory):
    pilot = factory.user(Role.PILOT_ADMIN)
    consumer = factory.consumer()
    ok(api.post("/protection/freezes", pilot, json={"target_kind": "wallet", "target_id": factory.wallet(consumer).id,
                                                    "reason": "测试审计不可改"}), 201)
    entry = ok(api.get("/protection/audit", pilot))["items"][0]
    # No endpoint changes it: every other method on the log is refused.
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/protection/audit", "/protection/audit.csv", f"/protection/audit/{entry['id']}"):
            assert api.call(method, path, pilot, json={}).status_code in (404, 405), (method, path)
    if db.engine.dialect.name == "postgresql":
        # The database itself refuses, whoever asks (the application's own role included).
        for stmt in (sa.update(AuditEntry.__table__).values(reason="改掉"), sa.delete(AuditEntry.__table__)):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                with db.engine.begin() as conn:
                    conn.execute(stmt)
    assert ok(api.get("/protection/audit", pilot))["items"] == [entry]


SKIP = re.compile(r"/(openapi\.json|docs|swagger-ui/.*|orders/<int:order_id>/events|health)$")


def test_no_endpoint_shows_a_payer_unmasked_to_merchants_or_zone_managers(api, factory, app):
    """Scan every GET endpoint as the merchant's owner, its cashier and the zone's manager, with the ids of
    real payments, refunds and red packets filled in: the payer's phone, name, wallet number and ID never
    appear."""
    world = make_world(factory)
    shop = world.shop
    cashier = add_cashier(api, shop.owner, shop.merchant_id, refund_limit_fen=10_000)
    payer = factory.consumer(balance_fen=20_000, wallet_class=3)
    campaign = live(api, world)
    ok(grab(api, payer, campaign["id"]), 201)
    paid = pay_order(api, world, payer, 1_500)  # red packet + balance
    ok(pay(api, payer, static_payload(api, shop.owner, shop.merchant_id), 800), 201)
    ok(refund(api, shop.owner, paid["id"], 300), 201)
    wallet = factory.wallet(payer)
    secrets = {payer.phone, wallet.real_name, wallet.wallet_number, wallet.id_number_masked}
    assert all(secrets)

    values = {"merchant_id": shop.merchant_id, "order_id": paid["id"], "zone_id": world.zone_id,
              "campaign_id": campaign["id"], "reference": paid["reference"], "day": local_today().isoformat(),
              "code": "ICBC", "report_id": 1}
    query = {"merchant_id": shop.merchant_id, "date": local_today().isoformat()}
    seen_ok = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith("/api/v1/") or SKIP.search(rule.rule):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), 1)), rule.rule)[len("/api/v1"):]
        for who in (shop.owner, cashier, world.manager):
            resp = api.get(path, who, query_string=query)
            text = resp.get_data(as_text=True) if resp.mimetype != "image/png" else ""
            leaked = {s for s in secrets if s in text}
            assert not leaked, (rule.rule, who.user.role, leaked)
            seen_ok += resp.status_code == 200
    assert seen_ok >= 20  # the scan really read data, not only refusals
