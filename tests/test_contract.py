"""The OpenAPI document is the contract (issue #12.1), and hostile input is refused without moving money (#21.4).

Schemathesis reads ``/api/v1/openapi.json`` from the app and calls every operation in-process (WSGI), as
the role its ``x-roles`` names, on SQLite and PostgreSQL:

- ``test_every_operation_keeps_the_contract``: requests the document allows (and, for operations with a
  path id, some naming the rows of a small world built with ``tests/factories.py``), each response
  checked for server errors, status codes and content types the operation documents, and a body that
  conforms to the documented schema;
- ``test_every_documented_success_is_what_the_server_answers``: one valid request per operation through
  the same checks, so every success schema is compared with a real answer at least once;
- ``test_hostile_input_moves_no_money``: requests that break the document (schemathesis' negative mode:
  wrong types, out-of-range ids, missing or extra fields, odd unicode) plus huge and deep bodies; no 5xx,
  the ledger unchanged and sound (``ledger.verify``).

Examples per operation stay few (``CONTRACT_EXAMPLES``, default 6) and derandomized, so ``make test``
stays quick and a failure reproduces.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.auth.models import Role
from backend.auth.service import issue_token, open_session
from backend.clock import local_today, utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.wallets import paypass
from campaigns.models import Campaign
from tests.backend.helpers import ledger_snapshot
from tests.campaigns.helpers import close_window, create, grab, launch, make_world, set_times
from tests.factories import PASSWORD, next_phone
from tests.payments.helpers import Api, add_cashier, login, ok, paid_order, register_device, valid_uscc
from zones.models import ZoneManager, ZoneReport

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "6"))
ANY_SIGNED_IN, PUBLIC = "any signed-in user", "public"

#: The world's consumer's payment password (支付密码).
PAY_PASSWORD = "135790"


@dataclass
class World:
    people: dict  # role → Person who calls the operations of that role
    ids: dict  # path parameter name → a real row's id (or code, day)
    fresh_token: object  # () -> a new token of the pilot office (for POST /auth/logout)


@pytest.fixture
def world(app, client, factory, monkeypatch, tmp_path) -> World:
    """Every role, a paid order, a live red-packet campaign with a claim, a drawn lottery, a pay-code device,
    a ready zone report and a spare zone manager; a prepaid merchant with plans, contracts, release requests
    and a closure; a payouts organisation with members, batches and fund transfers; transit operators, a
    terminal with a batch to upload and loaded hard wallets; a freeze, an incident and a reported scam."""
    # Jobs run inline, as on the embedded default (CI exports REDIS_URL for the tests that want real Redis).
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    # A payout batch's event stream ends a moment after its last change (the world's batch stays in review).
    monkeypatch.setitem(app.config, "PAYOUT_EVENTS_POLL_S", 0.01)
    monkeypatch.setitem(app.config, "PAYOUT_EVENTS_TIMEOUT_S", 0.2)
    api = Api(app)
    w = make_world(factory)
    consumer = factory.consumer(wallet_class=2, balance_fen=1_000_000)
    cashier = add_cashier(api, w.shop.owner, w.shop.merchant_id, refund_limit_fen=10_000)
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    order = paid_order(api, w.shop, consumer, 2_000)
    campaign = ok(launch(api, w.manager, create(api, w.manager, w)["id"]))
    ok(grab(api, consumer, campaign["id"]), 201)
    lottery = ok(launch(api, w.manager, create(api, w.manager, w, kind="lottery", split="fixed")["id"]))
    ok(api.post(f"/campaigns/{lottery['id']}/registrations", consumer, json={}), 201)
    reveal_s = db.session.get(Campaign, lottery["id"]).reveal_s  # registration closed, and the reveal window after it
    set_times(lottery["id"], opens_at=utcnow() - timedelta(hours=2),
              closes_at=utcnow() - timedelta(seconds=reveal_s + 1))
    ok(api.post(f"/campaigns/{lottery['id']}/draw", w.manager, json={}, money=True))
    draft = create(api, w.manager, w)
    editable = create(api, w.manager, w)  # PATCHed, then DELETEd
    cancellable = ok(launch(api, w.manager, create(api, w.manager, w)["id"]))
    # A lottery whose registration closed a moment ago: its reveal window is open.
    revealing = ok(launch(api, w.manager, create(api, w.manager, w, kind="lottery", split="fixed")["id"]))
    secret = os.urandom(32).hex()
    ok(api.post(f"/campaigns/{revealing['id']}/registrations", consumer,
                json={"commitment": hashlib.sha256(bytes.fromhex(secret)).hexdigest()}), 201)
    close_window(revealing["id"])
    static_payload = ok(api.get(f"/merchants/{w.shop.merchant_id}/static-qr", w.shop.owner))["payload"]
    device_id, _ = register_device(api, consumer)
    spare = factory.user(Role.ZONE_MANAGER)
    db.session.add(ZoneManager(user_id=spare.id, zone_id=w.zone_id))
    report = ZoneReport(zone_id=w.zone_id, period="weekly", start=local_today() - timedelta(days=7),
                        end=local_today() - timedelta(days=1), status="ready", pdf=b"%PDF-1.4 test", csv="a,b\n",
                        requested_at=utcnow(), built_at=utcnow())
    db.session.add(report)
    db.session.commit()
    prepaid = _prepaid_world(api, factory, w, consumer, reviewer)
    payouts = _payouts_world(client, factory, w, consumer)
    transit = _transit_world(client, factory, consumer, tmp_path)
    protection = _protection_world(client, factory, reviewer, consumer)
    from campaigns.models import ZoneStop
    from tests.campaigns.helpers import zone_id as zone_by_code

    zone_stop = ZoneStop(zone_id=zone_by_code("tianhelu"), reason="契约测试：全区暂停", stopped_by_user_id=w.pilot.id,
                         stopped_at=utcnow())
    db.session.add(zone_stop)
    db.session.commit()
    protection |= {"stop_id": zone_stop.id, "gifc_zone_id": zone_by_code("gifc")}
    protection |= _disputes_world(client, consumer, order, w.shop.merchant_id)
    # The consumer's payment password (set last: the world's own money moves above need none).
    paypass.set_initial(factory.wallet(consumer), PAY_PASSWORD)
    db.session.commit()
    people = {Role.CONSUMER: consumer, Role.MERCHANT_OWNER: w.shop.owner, Role.CASHIER: cashier,
              Role.BANK_REVIEWER: reviewer, Role.ZONE_MANAGER: w.manager, Role.PILOT_ADMIN: w.pilot,
              ANY_SIGNED_IN: w.pilot, "funder": w.funder, Role.INDUSTRY_REGULATOR: prepaid.pop("regulator"),
              Role.ORG_STAFF: payouts.pop("officer"), "org_approver": payouts.pop("approver")}
    ids = {"order_id": order["id"], "merchant_id": w.shop.merchant_id, "campaign_id": campaign["id"],
           "zone_id": w.zone_id, "report_id": report.id, "user_id": spare.id, "device_id": device_id,
           "code": "ICBC", "day": (local_today() - timedelta(days=1)).isoformat(),
           # not path parameters: for the valid requests
           "lottery_id": lottery["id"], "draft_id": draft["id"], "editable_id": editable["id"],
           "cancellable_id": cancellable["id"], "revealing_id": revealing["id"], "secret": secret,
           "reference": order["reference"], "funder_id": w.funder_id,
           "static_payload": static_payload, "wallet_id": factory.wallet(consumer).id,
           **prepaid, **payouts, **transit, **protection}
    ids["refresh_token"] = open_session(consumer.user).refresh_token  # not for logout: that one ends its own session
    db.session.commit()

    def fresh_token() -> str:
        token = issue_token(w.pilot.user)
        db.session.commit()
        return token

    return World(people, ids, fresh_token)


def _prepaid_world(api, factory, w, consumer, reviewer) -> dict:
    """The shop's prepaid acceptance (approved) with two plans and two of the consumer's contracts, a pending
    release request and another, a pending application, an approved merchant not yet applied, one to suspend
    and one closed (its closure run); the sports regulator."""
    from tests.prepaid.helpers import apply_and_approve, plan_body

    owner = w.shop.owner

    def approved_merchant() -> int:
        return factory.merchant(owner=owner, name_zh="契约健身房", name_en="Contract Gym", mcc="7997",
                                scenario="entertainment").id

    pm = apply_and_approve(api, owner, w.shop.merchant_id, "sports_fitness", reviewer)
    phone = next_phone()
    ok(api.post("/prepaid/regulators", w.pilot, json={
        "phone": phone, "password": PASSWORD, "authority": "广州市体育局", "industries": ["sports_fitness"]}), 201)
    regulator = login(api, phone)
    small = plan_body(units=10, unit_price_fen=1_000)
    plan = ok(api.post(f"/prepaid/merchants/{pm['id']}/plans", owner, json=small), 201)
    spare_plan = ok(api.post(f"/prepaid/merchants/{pm['id']}/plans", owner, json=small), 201)
    contract = ok(api.post(f"/prepaid/plans/{plan['id']}/purchase", consumer, money=True), 201)
    refundable = ok(api.post(f"/prepaid/plans/{plan['id']}/purchase", consumer, money=True), 201)
    requests = [ok(api.post(f"/prepaid/contracts/{contract['id']}/release-requests", owner, json={"units": 1}), 201)
                for _ in range(2)]
    pending = ok(api.post("/prepaid/merchants", owner, json={"merchant_id": approved_merchant(),
                                                             "industry": "sports_fitness"}), 201)
    to_suspend = apply_and_approve(api, owner, approved_merchant(), "sports_fitness", reviewer)
    to_close = apply_and_approve(api, owner, approved_merchant(), "sports_fitness", reviewer)
    closed = ok(api.post(f"/prepaid/merchants/{to_close['id']}/status", reviewer,
                         json={"status": "closed", "reason": "契约测试：停业"}))
    return {"prepaid_merchant_id": pm["id"], "plan_id": plan["id"], "contract_id": contract["id"],
            "request_id": requests[0]["id"], "closure_id": closed["closure"]["id"], "regulator": regulator,
            # not path parameters: for the valid requests
            "spare_plan_id": spare_plan["id"], "refundable_contract_id": refundable["id"],
            "contract_code": contract["code"], "declinable_request_id": requests[1]["id"],
            "pending_prepaid_merchant_id": pending["id"], "suspendable_prepaid_merchant_id": to_suspend["id"],
            "unapplied_merchant_id": approved_merchant()}


def _payouts_world(client, factory, w, consumer) -> dict:
    """An organisation (officer, approver) with money, a batch in review whose two lines failed (the payee's
    wallet is full), two uploaded batches (to approve, to reject), a paid line of the world's consumer, and
    two pending fund transfers to a second organisation."""
    from tests.payouts.helpers import add_member, csv_bytes, make_org

    def post(path, person, body):
        headers = {**person.auth, "Idempotency-Key": uuid.uuid4().hex}
        resp = client.post(f"/api/v1/payouts{path}", json=body, headers=headers)
        assert resp.status_code < 300, resp.get_json()
        return resp.get_json()

    def upload(rows) -> dict:
        resp = client.post(f"/api/v1/payouts/organisations/{org_id}/batches", headers=officer.auth,
                           data={"reference": uuid.uuid4().hex[:12], "title": "契约工资",
                                 "file": (io.BytesIO(csv_bytes(rows)), "batch.csv")},
                           content_type="multipart/form-data")
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def approve(batch):
        return post(f"/batches/{batch['id']}/approve", approver, {"expected_total_fen": batch["total_fen"],
                                                                   "expected_line_count": batch["valid_count"]})

    org_id = make_org(client, factory, w.pilot, name="契约区财政局")
    other_org = make_org(client, factory, w.pilot, name="契约区人社局", district="南沙区")
    officer = add_member(client, factory, w.pilot, org_id, "officer", "张会计")
    approver = add_member(client, factory, w.pilot, org_id, "approver", "王处长")
    post(f"/organisations/{org_id}/topup", officer, {"amount_fen": 1_000_000})
    full = factory.consumer(balance_fen=1_000_000, display_name="李小明")  # a class-4 wallet at its cap
    name = consumer.user.display_name or "测试用户"
    paid = upload([[consumer.phone, name, "1.00", "salary", "契约"]])
    approve(paid)
    failing = upload([[full.phone, "李小明", "100", "salary", ""], [full.phone, "李小明", "50", "subsidy", ""]])
    approve(failing)
    to_approve = upload([[consumer.phone, name, "2.00", "salary", ""]])
    to_reject = upload([[consumer.phone, name, "3.00", "salary", ""]])
    lines = client.get(f"/api/v1/payouts/batches/{paid['id']}/lines", headers=officer.auth).get_json()
    line_id = lines["items"][0]["id"]
    transfers = [post(f"/organisations/{org_id}/fund-transfers", officer,
                      {"to_org_id": other_org, "amount_fen": 100, "purpose_code": "appropriation"}) for _ in range(2)]
    return {"org_id": org_id, "batch_id": failing["id"], "line_id": line_id, "ft_id": transfers[0]["id"],
            "officer": officer, "approver": approver,
            # not path parameters: for the valid requests
            "other_org_id": other_org, "approvable_batch": to_approve, "rejectable_batch_id": to_reject["id"],
            "rejectable_ft_id": transfers[1]["id"]}


def _transit_world(client, factory, consumer, tmp_path) -> dict:
    """A metro operator and a bus operator with a terminal that served a tap not yet uploaded; the consumer's
    hard wallets: one loaded with an unload record signed, one that tapped, one to report lost."""
    from tests.payclient.transit.test_fares import at
    from tests.transit.helpers import Transit

    transit = Transit(client, factory, tmp_path)
    metro = transit.operator("契约地铁", "metro")
    bus = transit.terminal("CT-BUS-01", "bus", "B1", "契约公交", "bus")
    card, rider, lost = (transit.issue(consumer) for _ in range(3))
    for c in (card, rider):
        assert transit.load(consumer, c, 10_000).status_code == 201
    assert bus.tap(rider, at("2026-03-02", "08:00")).charge_fen > 0
    return {"operator_id": metro["id"], "card_id": card.card_id, "terminal_id": "CT-BUS-01",
            # not path parameters: for the valid requests
            "lost_card_id": lost.card_id, "terminal_key": transit.keys["CT-BUS-01"], "batch": bus.pending_batch(),
            "unload_record": card.unload(1_000, at("2026-03-02", "20:00")).to_json()}


def _protection_world(client, factory, reviewer, consumer) -> dict:
    """Two wallets of the reviewer's bank (one frozen by the reviewer), an incident, a reported web address and
    a transfer of the consumer's held for its cooling period."""
    from protection.models import HeldTransfer
    def post(path, person, body):
        resp = client.post(f"/api/v1/protection{path}", json=body, headers=person.auth)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    frozen, spare = (factory.wallet(factory.consumer()).id for _ in range(2))
    freeze = post("/freezes", reviewer, {"target_kind": "wallet", "target_id": frozen, "reason": "契约测试：可疑交易"})
    incident = post("/incidents", reviewer, {"title": "契约测试事件", "kind": "fraud_wave", "severity": "low",
                                             "note": "发现可疑二维码"})
    entry = post("/reports", factory.consumer(), {"kind": "url", "value": "http://e-cny-refund.example/pay"})
    payee = factory.consumer()
    held = HeldTransfer(payer_user_id=consumer.user.id, payee_user_id=payee.user.id, payee_phone=payee.phone,
                        amount_fen=600_000, status="pending", created_at=utcnow(),
                        due_at=utcnow() + timedelta(minutes=30))
    db.session.add(held)
    db.session.commit()
    return {"freeze_id": freeze["id"], "incident_id": incident["id"], "entry_id": entry["entry_id"],
            "held_id": held.id,
            # not path parameters: for the valid requests
            "spare_wallet_id": spare}


def _disputes_world(client, consumer, order, merchant_id: int) -> dict:
    """The consumer's complaint about the world's paid order (with a photo) and one about its merchant."""
    from tests.protection.test_disputes import png

    def post(path, body):
        resp = client.post(f"/api/v1/protection{path}", json=body, headers=consumer.auth)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    paid = post("/complaints", {"subject_kind": "payment", "subject_id": order["id"], "category": "overcharged",
                                "text": "契约测试：重复扣款"})
    about_shop = post("/complaints", {"subject_kind": "merchant", "subject_id": merchant_id,
                                      "category": "misleading", "text": "契约测试：虚假宣传"})
    resp = client.post(f"/api/v1/protection/complaints/{paid['id']}/photos", headers=consumer.auth,
                       data={"file": (io.BytesIO(png()), "photo.png")}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return {"complaint_id": paid["id"], "photo_id": resp.get_json()["id"],
            # not path parameters: for the valid requests
            "withdrawable_complaint_id": about_shop["id"]}


def load(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def auth_headers(op, world: World) -> dict:
    """The bearer token of the first role the operation's ``x-roles`` names (none for public ones)."""
    role = op.definition.raw["x-roles"][0]
    if role == PUBLIC:
        return {}
    if op.label == "POST /api/v1/auth/logout":
        return {"Authorization": f"Bearer {world.fresh_token()}"}  # it revokes the token it is called with
    return world.people[role].auth


def strategy(op, world: World, mode: GenerationMode):
    """Cases of ``op``: generated entirely, and, for an operation with path parameters, also naming real rows."""
    generated = op.as_strategy(generation_mode=mode)
    names = [p.name for p in op.path_parameters]
    if not names or any(n not in world.ids for n in names):
        return generated
    return st.one_of(generated, op.as_strategy(generation_mode=mode,
                                               path_parameters={n: world.ids[n] for n in names}))


def call(op, case, world: World):
    """Send ``case`` as the operation's role; return the response (the request's session is ended, as in
    production: the test keeps one app context, which the WSGI requests share)."""
    headers = auth_headers(op, world)
    try:
        return case.call(headers=headers), headers
    finally:
        db.session.rollback()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    for sub in getattr(exc, "exceptions", ()):
        text += "\n  " + str(sub)
    return text[:2000]


def _runner(op, cases, on_case):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def run(case):
        on_case(op, case)

    return run


def explore(ops, world: World, mode: GenerationMode, on_case) -> tuple[list[str], dict[str, float]]:
    """Run ``on_case(op, case)`` on up to ``EXAMPLES`` cases of every operation; return the failures (one per
    operation: the first, not shrunk) and the seconds each operation took."""
    failures, seconds = [], {}
    for op in ops:
        started = time.perf_counter()

        try:
            _runner(op, strategy(op, world, mode), on_case)()
        except Unsatisfiable:
            pass  # nothing in this operation can be made invalid (GET /health has no input)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: one report for every operation
            failures.append(f"{op.label}: {type(exc).__name__}: {_describe(exc)}")
        seconds[op.label] = time.perf_counter() - started
    return failures, seconds


def test_every_operation_keeps_the_contract(app, world):
    ops = load(app)
    statuses: Counter = Counter()

    def check(op, case):
        response, headers = call(op, case, world)
        # A 401 from an operation that needs a token would mean the token did not reach it.
        secured = bool(op.definition.raw.get("security"))
        statuses["401 with a token" if secured and response.status_code == 401 else response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    failures, seconds = explore(ops, world, GenerationMode.POSITIVE, check)
    slow = sorted(seconds.items(), key=lambda kv: -kv[1])[:5]
    assert failures == [], "\n\n".join(failures) + f"\n\nslowest: {slow}"
    # Every call carried its role's token, and many got through to a success.
    assert statuses["401 with a token"] == 0, statuses
    assert sum(n for status, n in statuses.items() if isinstance(status, int) and status < 300) >= len(ops), statuses
    assert ledger.verify() == []


def test_the_document_declares_every_answer(client):
    """Each operation: a success response with its schema (or 204), its roles, and every error as
    application/problem+json of the one Problem schema; no catch-all ``default``."""
    spec = client.get("/api/v1/openapi.json").get_json()
    problem = {"$ref": "#/components/schemas/Problem"}
    for name, response in spec["components"]["responses"].items():
        assert response["content"] == {"application/problem+json": {"schema": problem}}, name
    count = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            count += 1
            label = f"{method.upper()} {path}"
            assert op.get("x-roles"), label
            assert "default" not in op["responses"], label
            successes = {k: v for k, v in op["responses"].items() if k.startswith("2")}
            assert successes, label
            for status, response in successes.items():
                assert status == "204" or all("schema" in media for media in response["content"].values()), label
            errors = {k: v for k, v in op["responses"].items() if k[0] in "45"}
            assert errors or path == "/api/v1/health", label  # liveness answers nothing else
            for status, response in errors.items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                assert response["content"] == {"application/problem+json": {"schema": problem}}, (label, status)
    assert count >= 71


# ---------------------------------------------------------------- one valid request per operation


def _campaign(world: World) -> dict:
    now = utcnow()
    return {"name": "契约测试红包", "kind": "grab", "split": "random", "funder_id": 1,
            "zone_ids": [world.ids["zone_id"]], "packet_count": 5, "budget_fen": 500,
            "claim_starts_at": (now + timedelta(hours=1)).isoformat(),
            "claim_ends_at": (now + timedelta(hours=2)).isoformat(),
            "spend_ends_at": (now + timedelta(hours=3)).isoformat()}


def valid_requests(world: World) -> dict[str, dict]:
    """One request each operation accepts: its path parameters, query and body (defaults: the world's rows)."""
    square = {"type": "Polygon", "coordinates": [[[113.60, 22.80], [113.61, 22.80], [113.61, 22.81],
                                                  [113.60, 22.81], [113.60, 22.80]]]}
    zone = {"code": "contract_zone", "name_zh": "契约区", "name_en": "Contract zone", "kind": "industrial_park",
            "district": "南沙区", "geometry": square}
    from tests.payouts.helpers import ORG_ACCOUNT, csv_bytes
    from tests.payouts.helpers import uscc as payouts_uscc
    from zones.reports import THRESHOLDS

    return {
        "GET /api/v1/health": {},
        "POST /api/v1/auth/register": {"body": {"phone": "+86 139-9999-0001", "password": "Passw0rd!"}},
        "POST /api/v1/auth/login": {"body": {"phone": world.people[Role.CONSUMER].phone, "password": "Passw0rd!"}},
        "POST /api/v1/auth/refresh": {"body": {"refresh_token": world.ids["refresh_token"]}},
        "POST /api/v1/auth/logout": {},
        "GET /api/v1/auth/keys": {},
        "GET /api/v1/me": {},
        "GET /api/v1/staff": {"query": {"role": "zone_manager", "active": "true"}},
        "POST /api/v1/staff": {"body": {"phone": "13988880001", "display_name": "契约审核员", "role": "bank_reviewer",
                                        "bank_code": "ICBC", "password": "Passw0rd!"}},
        "POST /api/v1/staff/{user_id}/password": {"body": {"password": "Passw0rd!2", "reason": "契约测试：重设密码"}},
        "POST /api/v1/staff/{user_id}/disable": {"body": {"reason": "契约测试：停用"}},
        "POST /api/v1/staff/{user_id}/enable": {"body": {"reason": "契约测试：恢复"}},
        "GET /api/v1/wallets/me": {},
        "POST /api/v1/wallets/me/upgrade": None,  # the world's consumer is class 2 already: no valid upgrade
        "POST /api/v1/wallets/me": None,  # the world's consumer has a wallet; opening one is in tests/backend
        "POST /api/v1/wallets/me/topup": {"body": {"amount_fen": 100, "payment_password": PAY_PASSWORD}},
        "POST /api/v1/wallets/me/redeem": {"body": {"amount_fen": 100, "payment_password": PAY_PASSWORD}},
        "POST /api/v1/transfers": {"body": {"to_phone": world.people["funder"].phone, "amount_fen": 100,
                                            "payment_password": PAY_PASSWORD}},
        # Changed to itself: the other requests of the world keep using it, in any order.
        "PUT /api/v1/wallets/me/payment-password": {"body": {"new_password": PAY_PASSWORD,
                                                             "current_password": PAY_PASSWORD}},
        "PUT /api/v1/wallets/me/password-free-limit": {"body": {"limit_fen": 50_000,
                                                                "payment_password": PAY_PASSWORD}},
        "GET /api/v1/wallets/me/transactions": {"query": {"limit": 2, "month": local_today().strftime("%Y-%m")}},
        "GET /api/v1/banks": {},
        "GET /api/v1/banks/{code}/settlements/{day}": {},
        "POST /api/v1/merchants": {"body": {
            "name_zh": "契约糖水铺", "name_en": "Contract Dessert", "uscc": valid_uscc(), "mcc": "5814",
            "scenario": "food", "address": "广州市荔湾区恩宁路1号", "latitude": 23.1191, "longitude": 113.2437,
            "bank_code": "ICBC"}},
        "GET /api/v1/merchants": {"query": {"limit": 5, "q": "茶"}},
        "GET /api/v1/merchants/{merchant_id}": {},
        "POST /api/v1/merchants/{merchant_id}/review": None,  # set up in tests/merchants (needs a pending one)
        "POST /api/v1/merchants/{merchant_id}/cashiers": {"body": {"phone": "13799990002", "password": "Passw0rd!"}},
        "GET /api/v1/merchants/{merchant_id}/cashiers": {},
        "PATCH /api/v1/merchants/{merchant_id}/cashiers/{user_id}": {
            "path": {"user_id": world.people[Role.CASHIER].id}, "body": {"refund_limit_fen": 10_000}},
        "GET /api/v1/merchants/{merchant_id}/static-qr": {},
        "GET /api/v1/merchants/{merchant_id}/statements/{day}": {},
        "POST /api/v1/orders": {"body": {"merchant_id": world.ids["merchant_id"], "amount_fen": 1_000}},
        "GET /api/v1/orders": {"query": {"merchant_id": world.ids["merchant_id"]}},
        "GET /api/v1/orders/{order_id}": {},
        "GET /api/v1/orders/{order_id}/qr.png": {},
        "POST /api/v1/orders/{order_id}/cancel": None,  # the world's order is paid; cancelling is in tests/payments
        "GET /api/v1/orders/{order_id}/events": {},
        "POST /api/v1/orders/{order_id}/refunds": {"body": {"amount_fen": 100}},
        "POST /api/v1/payments/preview": {"body": {"payload": world.ids["static_payload"]}},
        "POST /api/v1/payments": {"body": {"payload": world.ids["static_payload"], "amount_fen": 100}},
        "POST /api/v1/charges": None,  # needs a pay code of the moment: tests/payments
        "POST /api/v1/paycodes/devices": {"body": {"name": "契约手机"}},
        "GET /api/v1/paycodes/devices": {},
        "POST /api/v1/paycodes/devices/{device_id}/sync": {},
        "DELETE /api/v1/paycodes/devices/{device_id}": {},
        "GET /api/v1/keys": {},
        "GET /api/v1/zones": {"query": {"with_outline": "true"}},
        "POST /api/v1/zones": {"body": zone},
        "GET /api/v1/zones/{zone_id}": {},
        "PUT /api/v1/zones/{zone_id}": None,  # replacing a seeded zone's outline: tests/zones
        "PATCH /api/v1/zones/{zone_id}": {"body": {"name_en": "Yongqingfang"}},
        "GET /api/v1/zones/{zone_id}/managers": {},
        "POST /api/v1/zones/{zone_id}/managers": {"body": {"user_id": world.people[Role.ZONE_MANAGER].id}},
        "DELETE /api/v1/zones/{zone_id}/managers/{user_id}": {},
        "GET /api/v1/zones/locate": {"query": {"lat": 23.1184, "lon": 113.2446}},
        "GET /api/v1/zones/{zone_id}/merchants": {},
        "GET /api/v1/zones/{zone_id}/kpis": {},
        "GET /api/v1/zones/ranking": {},
        "POST /api/v1/zones/{zone_id}/reports": None,  # builds a PDF: tests/zones/test_reports
        "GET /api/v1/zones/{zone_id}/reports": {},
        "GET /api/v1/zones/{zone_id}/reports/{report_id}": {"query": {"format": "csv"}},
        "GET /api/v1/zones/application-thresholds": {},
        "PUT /api/v1/zones/application-thresholds": {
            "body": {k: default for k, (default, _, _) in THRESHOLDS.items()}},
        "GET /api/v1/zones/application-summary": {},
        "POST /api/v1/campaigns": {"body": {**_campaign(world), "funder_id": world.ids["funder_id"]}},
        "GET /api/v1/campaigns": {"query": {"merchant_id": world.ids["merchant_id"]}},
        "GET /api/v1/campaigns/{campaign_id}": {},
        "POST /api/v1/campaigns/{campaign_id}/launch": {"path": {"campaign_id": world.ids["draft_id"]}},
        "POST /api/v1/campaigns/{campaign_id}/claims": {"as": "funder", "body": {}},
        "POST /api/v1/campaigns/{campaign_id}/registrations": None,  # needs an open lottery: tests/campaigns
        "GET /api/v1/campaigns/{campaign_id}/registrations": {},
        "GET /api/v1/campaigns/{campaign_id}/draw": {"path": {"campaign_id": world.ids["lottery_id"]}},
        "POST /api/v1/campaigns/{campaign_id}/draw": {"path": {"campaign_id": world.ids["lottery_id"]}},
        "GET /api/v1/campaigns/{campaign_id}/stats": {},
        "GET /api/v1/campaigns/{campaign_id}/settlement": {},
        "POST /api/v1/campaigns/simulate": {"body": {"kind": "grab", "zone_ids": [world.ids["zone_id"]],
                                                     "packet_count": 5, "budget_fen": 500, "trials": 10}},
        "GET /api/v1/campaigns/funders": {},
        "POST /api/v1/campaigns/funders": {"body": {"name": "契约基金", "phone": world.people[Role.CONSUMER].phone}},
        "GET /api/v1/wallets/me/red-packets": {},
        "GET /api/v1/wallets/me/coupons": {},
        # campaign control (drafts, pause, resume, cancel) and the lottery's reveal window
        "PATCH /api/v1/campaigns/{campaign_id}": {"path": {"campaign_id": world.ids["editable_id"]},
                                                  "body": {"name": "契约测试红包（改）"}},
        "DELETE /api/v1/campaigns/{campaign_id}": {"path": {"campaign_id": world.ids["editable_id"]}},
        "POST /api/v1/campaigns/{campaign_id}/pause": {},
        "POST /api/v1/campaigns/{campaign_id}/resume": {},
        "POST /api/v1/campaigns/{campaign_id}/cancel": {"path": {"campaign_id": world.ids["cancellable_id"]},
                                                        "body": {}},
        "POST /api/v1/campaigns/{campaign_id}/registrations/reveal": {
            "path": {"campaign_id": world.ids["revealing_id"]}, "body": {"secret": world.ids["secret"]}},
        # owners' refund approvals, receipts, refund policy
        "POST /api/v1/orders/{order_id}/refund-approvals": {"body": {"amount_fen": 100, "owner_password": PASSWORD}},
        "GET /api/v1/payments/receipts/{reference}": {"path": {"reference": world.ids["reference"]}},
        "PUT /api/v1/merchants/{merchant_id}/refund-policy": {"body": {"refund_approval_above_fen": 50_000,
                                                                       "password": PASSWORD}},
        # prepaid
        "GET /api/v1/prepaid/rules": {},
        "PUT /api/v1/prepaid/rules/{code}": {"path": {"code": "named_purchase_cap_fen"}, "body": {"value": 500_000}},
        "POST /api/v1/prepaid/regulators": {"body": {
            "phone": next_phone(), "password": PASSWORD, "authority": "广州市教育局",
            "industries": ["education_training"]}},
        "GET /api/v1/prepaid/regulators/me": {},
        "POST /api/v1/prepaid/merchants": {"body": {"merchant_id": world.ids["unapplied_merchant_id"],
                                                    "industry": "beauty"}},
        "GET /api/v1/prepaid/merchants": {},
        "GET /api/v1/prepaid/merchants/{prepaid_merchant_id}": {},
        "POST /api/v1/prepaid/merchants/{prepaid_merchant_id}/review": {
            "path": {"prepaid_merchant_id": world.ids["pending_prepaid_merchant_id"]}, "body": {"decision": "approve"}},
        "GET /api/v1/prepaid/closures/{closure_id}": {},
        "POST /api/v1/prepaid/closures/{closure_id}/run": {},
        "POST /api/v1/prepaid/merchants/{prepaid_merchant_id}/plans": {"body": {
            "kind": "sessions", "name": "契约10节", "units": 10, "unit_price_fen": 1_000, "refund_fee_bp": 1000}},
        "GET /api/v1/prepaid/plans": {},
        "GET /api/v1/prepaid/plans/{plan_id}": {},
        "POST /api/v1/prepaid/plans/{plan_id}/purchase": {},
        "POST /api/v1/prepaid/plans/{plan_id}/withdraw": {"path": {"plan_id": world.ids["spare_plan_id"]}},
        "GET /api/v1/prepaid/contracts": {},
        "GET /api/v1/prepaid/contracts/{contract_id}": {},
        "POST /api/v1/prepaid/releases": {"body": {"code": world.ids["contract_code"], "units": 1}},
        "GET /api/v1/prepaid/releases": {},
        "GET /api/v1/prepaid/contracts/{contract_id}/releases": {},
        "GET /api/v1/prepaid/merchants/{prepaid_merchant_id}/statements/{day}": {},
        "GET /api/v1/prepaid/merchants/{prepaid_merchant_id}/grade": {},
        "POST /api/v1/prepaid/merchants/{prepaid_merchant_id}/grade": {"body": {"grade": "A", "reason": "契约测试"}},
        "POST /api/v1/prepaid/contracts/{contract_id}/complaints": {"body": {"text": "课程取消未通知"}},
        "GET /api/v1/prepaid/complaints": {},
        "GET /api/v1/prepaid/supervision": {},
        "POST /api/v1/prepaid/contracts/{contract_id}/release-requests": {"body": {"units": 1}},
        "GET /api/v1/prepaid/release-requests": {},
        "POST /api/v1/prepaid/release-requests/{request_id}/confirm": {},
        "POST /api/v1/prepaid/release-requests/{request_id}/decline": {
            "path": {"request_id": world.ids["declinable_request_id"]}},
        "POST /api/v1/prepaid/contracts/{contract_id}/refund": {
            "path": {"contract_id": world.ids["refundable_contract_id"]}},
        "POST /api/v1/prepaid/merchants/{prepaid_merchant_id}/status": {
            "path": {"prepaid_merchant_id": world.ids["suspendable_prepaid_merchant_id"]},
            "body": {"status": "suspended", "reason": "契约测试：暂停"}},
        # payouts
        "POST /api/v1/payouts/organisations": {"body": {
            "name": "契约区教育局", "kind": "department", "uscc": payouts_uscc(), "district": "越秀区",
            "member_unit": True, "bank_code": "ICBC", "bank_account_number": ORG_ACCOUNT}},
        "GET /api/v1/payouts/organisations": {},
        "GET /api/v1/payouts/organisations/{org_id}": {},
        "PATCH /api/v1/payouts/organisations/{org_id}": {"as": Role.PILOT_ADMIN, "body": {"district": "荔湾区"}},
        "POST /api/v1/payouts/organisations/{org_id}/members": {"as": Role.PILOT_ADMIN, "body": {
            "phone": next_phone(), "role": "officer", "display_name": "赵出纳", "password": PASSWORD}},
        "GET /api/v1/payouts/organisations/{org_id}/members": {},
        "POST /api/v1/payouts/organisations/{org_id}/topup": {"body": {"amount_fen": 10_000}},
        "POST /api/v1/payouts/organisations/{org_id}/batches": {"media_type": "multipart/form-data", "body": {
            "reference": "contract-batch", "title": "契约奖金",
            "file": csv_bytes([[world.people[Role.CONSUMER].phone, "测试用户", "1.00", "allowance", ""]])}},
        "GET /api/v1/payouts/organisations/{org_id}/batches": {},
        "GET /api/v1/payouts/batches/{batch_id}": {},
        "GET /api/v1/payouts/batches/{batch_id}/report": {},
        "GET /api/v1/payouts/batches/{batch_id}/lines": {},
        "GET /api/v1/payouts/batches/{batch_id}/events": {},
        "GET /api/v1/payouts/batches/{batch_id}/export": {"query": {"status": "paid"}},
        "POST /api/v1/payouts/batches/{batch_id}/approve": {
            "as": "org_approver", "path": {"batch_id": world.ids["approvable_batch"]["id"]},
            "body": {"expected_total_fen": world.ids["approvable_batch"]["total_fen"],
                     "expected_line_count": world.ids["approvable_batch"]["valid_count"]}},
        "POST /api/v1/payouts/batches/{batch_id}/reject": {
            "as": "org_approver", "path": {"batch_id": world.ids["rejectable_batch_id"]},
            "body": {"reason": "金额有误"}},
        "POST /api/v1/payouts/batches/{batch_id}/retry": {"body": {}},
        "POST /api/v1/payouts/batches/{batch_id}/cancel": {"as": "org_approver", "body": {}},
        "GET /api/v1/payouts/member-units": {},
        "POST /api/v1/payouts/organisations/{org_id}/fund-transfers": {"body": {
            "to_org_id": world.ids["other_org_id"], "amount_fen": 100, "purpose_code": "appropriation"}},
        "GET /api/v1/payouts/organisations/{org_id}/fund-transfers": {},
        "GET /api/v1/payouts/fund-transfers": {},
        "GET /api/v1/payouts/fund-transfers/{ft_id}": {},
        "POST /api/v1/payouts/fund-transfers/{ft_id}/approve": {"as": "org_approver"},
        "POST /api/v1/payouts/fund-transfers/{ft_id}/reject": {
            "as": "org_approver", "path": {"ft_id": world.ids["rejectable_ft_id"]}, "body": {"reason": "用途不符"}},
        "GET /api/v1/payouts/me/payslips": {},
        "GET /api/v1/payouts/me/payslips/{line_id}": {},
        "GET /api/v1/payouts/me/preferences": {},
        "PUT /api/v1/payouts/me/preferences": {"body": {"overflow_to_bank": False}},
        # transit
        "POST /api/v1/transit/operators": {"body": {"name": "契约出租", "kind": "taxi"}},
        "POST /api/v1/transit/operators/{operator_id}/terminals": {"body": {
            "terminal_id": "CT-M-IN-01", "mode": "metro_in", "place": "L3-TYXL", "latitude": 23.1573,
            "longitude": 113.3243}},
        "PUT /api/v1/transit/terminals/{terminal_id}/location": {"body": {"latitude": 23.1184,
                                                                           "longitude": 113.2446}},
        "GET /api/v1/transit/operators/{operator_id}/statements/{day}": {},
        "POST /api/v1/transit/cards": {"body": {"card_id": "HW" + uuid.uuid4().hex[:16].upper(),
                                                "public_key": _card_key(), "ytc_number": None}},
        "GET /api/v1/transit/cards": {},
        "GET /api/v1/transit/cards/{card_id}": {},
        "GET /api/v1/transit/cards/{card_id}/records": {"query": {"limit": 5}},
        "POST /api/v1/transit/cards/{card_id}/loads": {"body": {"amount_fen": 100}},
        "GET /api/v1/transit/cards/{card_id}/loads": {},
        "POST /api/v1/transit/cards/{card_id}/unloads": {"body": {"record": world.ids["unload_record"]}},
        "POST /api/v1/transit/cards/{card_id}/lost": {"path": {"card_id": world.ids["lost_card_id"]}},
        "POST /api/v1/transit/batches": {"headers": {"X-Terminal-Key": world.ids["terminal_key"]},
                                         "body": world.ids["batch"]},
        "GET /api/v1/transit/blacklist": {"headers": {"X-Terminal-Key": world.ids["terminal_key"]}},
        "GET /api/v1/transit/fares": {},
        "GET /api/v1/transit/issuer-keys": {},
        "GET /api/v1/transit/incidents": {},
        # protection
        "POST /api/v1/protection/freezes": {"body": {"target_kind": "wallet", "target_id": world.ids["spare_wallet_id"],
                                                     "reason": "契约测试：冻结"}},
        "GET /api/v1/protection/freezes": {"query": {"active": "true"}},
        "POST /api/v1/protection/freezes/{freeze_id}/lift": {"body": {"reason": "契约测试：核实无误"}},
        "GET /api/v1/protection/status": {},
        "PUT /api/v1/protection/read-only": {"body": {"read_only": False, "reason": "契约测试：恢复"}},
        "POST /api/v1/protection/incidents": {"body": {"title": "契约测试：停电", "kind": "outage",
                                                       "severity": "medium", "note": "机房断电"}},
        "GET /api/v1/protection/incidents": {},
        "GET /api/v1/protection/incidents/{incident_id}": {},
        "POST /api/v1/protection/incidents/{incident_id}/events": {"body": {"status": "contained",
                                                                            "note": "已下架可疑二维码"}},
        "GET /api/v1/protection/audit": {"query": {"action": "freeze"}},
        "GET /api/v1/protection/audit.csv": {},
        "POST /api/v1/protection/identity-lookups": {"body": {"wallet_id": world.ids["wallet_id"],
                                                              "reason": "契约测试：核实付款人身份"}},
        "POST /api/v1/protection/reports": {"body": {"kind": "phone", "value": "13800138000", "note": "冒充客服"}},
        "GET /api/v1/protection/reports": {},
        "POST /api/v1/protection/reports/{entry_id}/review": {"body": {"decision": "confirm",
                                                                       "reason": "契约测试：属实"}},
        "GET /api/v1/protection/registry": {},
        "GET /api/v1/protection/held-transfers": {},
        "POST /api/v1/campaigns/zone-stops": {"as": Role.PILOT_ADMIN, "body": {
            "zone_id": world.ids["gifc_zone_id"], "reason": "契约测试：全区暂停"}},
        "GET /api/v1/campaigns/zone-stops": {"query": {"active": "true"}},
        "POST /api/v1/campaigns/zone-stops/{stop_id}/resume": {"as": Role.PILOT_ADMIN,
                                                               "body": {"reason": "契约测试：恢复"}},
        "POST /api/v1/protection/held-transfers/{held_id}/cancel": {},
        "POST /api/v1/protection/scan-checks": {"body": {"text": world.ids["static_payload"]}},
        "GET /api/v1/protection/payee-check": {"query": {"phone": world.people["funder"].phone}},
        # complaints and disputes
        "GET /api/v1/protection/complaint-categories": {},
        "POST /api/v1/protection/complaints": {"body": {"subject_kind": "contract",
                                                        "subject_id": world.ids["contract_id"],
                                                        "category": "prepaid_breach", "text": "契约测试：停课不退"}},
        "GET /api/v1/protection/complaints": {"query": {"status": "open"}},
        "GET /api/v1/protection/complaints/{complaint_id}": {},
        "POST /api/v1/protection/complaints/{complaint_id}/photos": {"media_type": "multipart/form-data",
                                                                     "body": {"file": _png()}},
        "GET /api/v1/protection/complaints/{complaint_id}/photos/{photo_id}": {},
        "POST /api/v1/protection/complaints/{complaint_id}/answer": {"body": {"answer": "契约测试：已核实"}},
        "POST /api/v1/protection/complaints/{complaint_id}/withdraw": {
            "path": {"complaint_id": world.ids["withdrawable_complaint_id"]}},
        "POST /api/v1/protection/complaints/{complaint_id}/decision": {
            "body": {"outcome": "upheld", "reason": "契约测试：属实", "refund_fen": 100}},
        "GET /api/v1/protection/merchants/{merchant_id}/standing": {},
    }


def _png() -> bytes:
    from tests.protection.test_disputes import png

    return png()


def _card_key() -> str:
    """A new hard wallet's Ed25519 public key, base64url."""
    from suiyuan_protocol.transit.card import HardCard
    from suiyuan_protocol.transit.records import b64

    return b64(HardCard.create("HW0000000000000000").public_key)


def test_every_documented_success_is_what_the_server_answers(app, world):
    ops = {op.label: op for op in load(app)}
    requests = valid_requests(world)
    missing = sorted(set(ops) - set(requests))
    assert missing == [], f"add a valid request for each new operation to valid_requests(): {missing}"
    failures = []
    for label, spec in requests.items():
        if spec is None:
            continue
        op = ops[label]
        names = [p.name for p in op.path_parameters]
        path = {n: world.ids[n] for n in names} | spec.get("path", {})
        headers = dict(world.people[spec["as"]].auth) if "as" in spec else auth_headers(op, world)
        headers |= spec.get("headers", {})
        if any(p.name == "Idempotency-Key" for p in op.headers):
            headers["Idempotency-Key"] = uuid.uuid4().hex
        kwargs = ({"body": spec["body"], "media_type": spec.get("media_type", "application/json")}
                  if "body" in spec else {})
        case = op.Case(path_parameters=path, query=spec.get("query"), headers=headers, **kwargs)
        try:
            response = case.call()
        finally:
            db.session.rollback()
        try:
            assert 200 <= response.status_code < 300, response.text[:500]
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:  # noqa: BLE001 - collected: one report for every operation
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert failures == [], "\n\n".join(failures)
    assert ledger.verify() == []


# ---------------------------------------------------------------- hostile input (issue #21.4)


#: Values that no field of the document allows, whatever its type: wrong types, numbers past every id and
#: amount range, text no database column may hold (NUL, a lone surrogate), and long or odd unicode.
HOSTILE_VALUES = [
    2**63, 10**30, -1, 1.5, True, None, [], {}, [1, [2, [3]]], "1", "",
    "\u0000", "\ud800", "\u202e\u0646\U0001f4a9\u0301" * 100, "x" * 100_000,
]
#: Path parameters no route may take.
HOSTILE_PATH_VALUES = [2**63, 10**30, 2**31, -1, 0, "00", "1e3", "\u0663", "\x00", "\ud800", "x" * 2_000]
#: Bodies that are not the object any operation takes.
HOSTILE_BODIES = [[], "x", 123, None, {"": None}, {"\u0000": 1}, [{}] * 10_000]
#: JSON texts no decoder should choke on: an integer too long for Python to convert, NaN, a stray byte.
HOSTILE_TEXTS = ['{"amount_fen": 1' + "0" * 5_000 + "}", '{"amount_fen": NaN}', '{"a": 1e999999}',
                 "{\"a\": \"\udcff\"}", '{"a": 1', ""]
#: Nested deeper than a JSON decoder's recursion (issue #21.2) and larger than any request should be:
#: bounding depth and size (400/413) is helper f3's part of #21; these are sent once it lands.
DEEP_JSON = "[" * 5_000 + "]" * 5_000
HUGE_JSON = '{"amount_fen": 100, "memo": "' + "x" * (8 * 1024 * 1024) + '"}'
MONEY_OPS = ("POST /api/v1/transfers", "POST /api/v1/payments", "POST /api/v1/wallets/me/topup")


NO_BODY = object()


class RawText(str):
    """A body sent as it is, not encoded as JSON."""


class Mislabelled(RawText):
    """A body sent as text/plain."""


def hostile_cases(ops, world: World):
    """(op, path, query, body, must_refuse) for every operation: each field of its valid request (or of an
    empty object) set to each hostile value the document forbids there, bodies that are not the object it takes,
    hostile path ids (all of which must be refused), and hostile query values (which must not break it)."""
    requests = valid_requests(world)
    for op in ops:
        valid = requests.get(op.label) or {}
        names = [p.name for p in op.path_parameters]
        path = {n: world.ids.get(n, 1) for n in names} | valid.get("path", {})
        # A multipart body (a file) is no JSON: its fields are mutated from an empty object.
        is_json = valid.get("media_type", "application/json") == "application/json"
        body = dict(valid.get("body") or {}) if is_json else {}
        query = dict(valid.get("query") or {})
        if op.body:
            allowed = body_validator(op)
            for name in sorted(set(body) | set(_properties(op))):
                for value in HOSTILE_VALUES:
                    mutated = {**body, name: value}
                    if not _allows(allowed, mutated):  # what the document allows is not hostile
                        yield op, path, query, mutated, True
            for hostile in HOSTILE_BODIES:
                yield op, path, query, hostile, True
            yield op, path, query, Mislabelled(json.dumps(body)), True  # valid, but not sent as JSON
            for text in HOSTILE_TEXTS:
                if text or op.definition.raw["requestBody"]["required"]:  # no body is {}: fine where none is needed
                    yield op, path, query, RawText(text), True
        for name in sorted(set(query) | {p.name for p in op.query}):
            for value in HOSTILE_VALUES:
                if value is None or isinstance(value, (list, dict)):
                    continue  # a query string holds text
                yield op, path, {**query, name: value}, body if op.body else NO_BODY, False
        for name in names:
            for value in HOSTILE_PATH_VALUES:
                yield op, {**path, name: value}, query, body if op.body else NO_BODY, True


def _allows(validator, body) -> bool:
    try:
        return validator.is_valid(body)
    except UnicodeEncodeError:
        return False  # a lone surrogate is no Unicode text, which every string of the document is


def _body_schema(op) -> dict:
    for alternative in op.body:
        return alternative.definition.get("schema", {})
    return {}


def _properties(op) -> dict:
    schema = _body_schema(op)
    if schema.get("$ref", "").startswith("#/x-bundled/"):  # schemathesis bundles a schema with nested ones
        schema = schema["x-bundled"][schema["$ref"].rsplit("/", 1)[1]]
    elif "$ref" in schema:
        schema = op.schema.raw_schema["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema.get("properties", {})


def _nullable_as_type(node):
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema's ``type: [..., "null"]``."""
    if isinstance(node, dict):
        node = {k: _nullable_as_type(v) for k, v in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable_as_type(v) for v in node]
    return node


def body_validator(op):
    """A validator of the operation's JSON body as the document describes it (formats included)."""
    import jsonschema_rs

    root = {**_body_schema(op), "components": _nullable_as_type(op.schema.raw_schema["components"])}
    return jsonschema_rs.Draft4Validator(_nullable_as_type(root), validate_formats=True)


def _transfers() -> int:
    count = db.session.execute(sa.text("SELECT count(*) FROM transfers")).scalar_one()
    db.session.rollback()
    return count


def _transfers_since(count: int) -> list:
    """The transfers after the first ``count`` (what moved, and why)."""
    rows = db.session.execute(sa.text("SELECT id, code, amount_fen, memo FROM transfers ORDER BY id")).all()
    db.session.rollback()
    return [tuple(r) for r in rows[count:]]


def _last_account() -> int:
    last = db.session.execute(sa.text("SELECT coalesce(max(id), 0) FROM accounts")).scalar_one()
    db.session.rollback()
    return last


def _query_string(query: dict) -> str:
    return urlencode({k: str(v) for k, v in query.items()}, errors="surrogatepass")


def test_hostile_input_moves_no_money(app, world, client):
    """Schemathesis' negative mode on every operation, then every field, body and path id of every operation
    set to hostile values: never a server error, whatever the document forbids refused, and not one fen moves."""
    ops = load(app)
    before = ledger_snapshot()
    # Accounts opened by requests the server accepted (a "negative" case can break only what the server rightly
    # ignores, e.g. a POST /transit/operators with an extra query parameter): empty, and left out of the final
    # comparison. An account opened by a refused request is a half-written request and fails the test.
    opened_by_accepted: set[int] = set()

    def opened(last_before: int, status: int, what: str) -> str | None:
        last = _last_account()
        if last == last_before:
            return None
        if status >= 400:
            return f"{what}: refused with {status} but left accounts {last_before + 1}..{last} behind"
        opened_by_accepted.update(range(last_before + 1, last + 1))
        return None

    def no_server_error(op, case):
        if case.body is NOT_SET and op.body and not op.definition.raw["requestBody"].get("required", True):
            # No body where none is required is a valid request, whatever else the case breaks that the
            # server may not look at: a refund without a body refunds everything, as documented.
            return
        moved_before, last_account = _transfers(), _last_account()
        response, headers = call(op, case, world)
        if _transfers() != moved_before:
            raise AssertionError(f"money moved: {case.as_curl_command(headers=headers)}\n{response.text[:300]}\n"
                                 f"{_transfers_since(moved_before)}")
        half_written = opened(last_account, response.status_code, case.as_curl_command(headers=headers))
        if half_written:
            raise AssertionError(half_written)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)

    failures, _ = explore(ops, world, GenerationMode.NEGATIVE, no_server_error)
    sent = 0
    for op, path, query, body, must_refuse in hostile_cases(ops, world):
        headers = {**auth_headers(op, world), "Idempotency-Key": uuid.uuid4().hex}
        url = op.path.format(**{k: quote(str(v), safe="", errors="surrogatepass") for k, v in path.items()})
        # The stdlib escapes a lone surrogate (\\ud800), as a hostile client would send it.
        kwargs = {}
        if body is not NO_BODY:
            data = body.encode("utf-8", "surrogateescape") if isinstance(body, RawText) else json.dumps(body)
            mimetype = "text/plain" if isinstance(body, Mislabelled) else "application/json"
            kwargs = {"data": data, "content_type": mimetype}
        what = f"{op.label} {path} {query} {str(body)[:150]}…{str(body)[-150:]}"
        sent += 1
        moved_before, last_account = _transfers(), _last_account()
        try:
            resp = client.open(f"{url}?{_query_string(query)}", method=op.method.upper(), headers=headers, **kwargs)
        except Exception as exc:  # noqa: BLE001 - TESTING propagates what production answers with a 500
            failures.append(f"{what}: {type(exc).__name__}: {exc}"[:600])
            db.session.rollback()
            continue
        half_written = opened(last_account, resp.status_code, what)
        if half_written:
            failures.append(half_written[:600])
        if resp.status_code >= 500 or (must_refuse and resp.status_code < 400) or _transfers() != moved_before:
            failures.append(f"{what}: {resp.status_code} {resp.get_data(as_text=True)[:300]} "
                            f"{_transfers_since(moved_before)}")
    # Deep and huge bodies: bounding JSON depth and size before parsing (400/413) is helper f3's part of
    # issue #21 (a body nested 5,000 levels raises RecursionError in the decoder today), so their status is left
    # out of the assertions here until it lands; whatever they answer, they must move no money.
    for op in ops:
        if op.body:
            for raw in (DEEP_JSON, HUGE_JSON) if op.label in MONEY_OPS else (DEEP_JSON,):
                headers = {**auth_headers(op, world), "Idempotency-Key": uuid.uuid4().hex}
                url = op.path.format(**{n: world.ids.get(n, 1) for n in (p.name for p in op.path_parameters)})
                try:
                    client.open(url, method=op.method.upper(), headers=headers, data=raw,
                                content_type="application/json")
                except RecursionError:
                    db.session.rollback()
    assert failures == [], f"{len(failures)} of {sent} failed:\n" + "\n".join(failures[:60])
    count, held, balances = ledger_snapshot()
    assert all(fen == 0 for account_id, fen in balances if account_id in opened_by_accepted)
    assert (count, held, tuple(b for b in balances if b[0] not in opened_by_accepted)) == before
    db.session.rollback()
    verified = app.test_cli_runner().invoke(args=["ledger", "verify"])  # what an operator runs
    assert verified.exit_code == 0, verified.output
