"""Who may call what: the role matrix, zone scoping, and one consumer never touching another's money."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.auth.models import Role
from backend.extensions import db
from tests.backend.helpers import (
    assert_problem,
    ledger_unchanged,
    money_headers,
    new_key,
    post_money,
    url,
    valid_id_number,
)
from zones.models import Zone, ZoneManager

PAYEE_PHONE = "{payee}"

#: (method, path, JSON body) of every consumer endpoint, with a body that would succeed for a consumer.
CONSUMER_ENDPOINTS = [
    ("GET", "/wallets/me", None),
    ("POST", "/wallets/me", {"bank_code": "ICBC"}),
    ("POST", "/wallets/me/topup", {"amount_fen": 100}),
    ("POST", "/wallets/me/redeem", {"amount_fen": 100}),
    ("POST", "/wallets/me/upgrade", {"target_class": 3, "real_name": "李小明", "id_number": valid_id_number(7)}),
    ("GET", "/wallets/me/transactions", None),
    ("POST", "/transfers", {"to_phone": PAYEE_PHONE, "amount_fen": 100}),
]
NOT_CONSUMERS = [r for r in Role.ALL if r != Role.CONSUMER]
NOT_ZONE_STAFF = [Role.CONSUMER, Role.MERCHANT_OWNER, Role.CASHIER, Role.BANK_REVIEWER]
SIGNED_IN_ENDPOINTS = [("GET", "/me", None), ("POST", "/auth/logout", None), ("GET", "/zones", None),
                       ("GET", "/zones/1", None)]


def endpoint_id(endpoint) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


def call(client, endpoint, headers: dict, payee=None):
    method, path, body = endpoint
    if body and body.get("to_phone") == PAYEE_PHONE:
        body = {**body, "to_phone": payee.phone}
    return client.open(url(path), method=method, json=body, headers={**headers, "Idempotency-Key": new_key()})


def zone_id(code: str) -> int:
    return db.session.execute(select(Zone.id).where(Zone.code == code)).scalar_one()


@pytest.fixture
def payee(factory):
    """A funded consumer: the money that a wrongly allowed call could move."""
    return factory.consumer(balance_fen=50_000)


# --- the role matrix --------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", CONSUMER_ENDPOINTS, ids=endpoint_id)
@pytest.mark.parametrize("role", NOT_CONSUMERS)
def test_consumer_endpoints_refuse_every_other_role(client, factory, payee, role, endpoint):
    caller = factory.user(role)
    with ledger_unchanged():
        assert_problem(call(client, endpoint, caller.auth, payee), 403, "role_forbidden")


@pytest.mark.parametrize("role", NOT_ZONE_STAFF)
def test_zone_details_refuse_roles_other_than_zone_staff(client, factory, role):
    caller = factory.user(role)
    assert_problem(client.get(url(f"/zones/{zone_id('beijinglu')}"), headers=caller.auth), 403, "role_forbidden")


@pytest.mark.parametrize("endpoint", CONSUMER_ENDPOINTS + SIGNED_IN_ENDPOINTS, ids=endpoint_id)
def test_every_endpoint_needs_a_token_even_with_a_bad_body(client, payee, endpoint):
    with ledger_unchanged():
        assert_problem(call(client, endpoint, {}, payee), 401, "missing_token")
        method, path, _ = endpoint
        resp = client.open(url(path), method=method, data="{not json", content_type="application/json")
        assert_problem(resp, 401, "missing_token")


# --- zone scoping -----------------------------------------------------------------------------


def test_zone_manager_sees_only_their_zones(client, factory):
    manager = factory.user(Role.ZONE_MANAGER)
    mine, other = zone_id("yongqingfang"), zone_id("tianhelu")
    db.session.add(ZoneManager(user_id=manager.id, zone_id=mine))
    db.session.commit()
    resp = client.get(url(f"/zones/{mine}"), headers=manager.auth)
    assert resp.status_code == 200 and resp.get_json()["code"] == "yongqingfang"
    assert_problem(client.get(url(f"/zones/{other}"), headers=manager.auth), 403, "zone_forbidden")


def test_zone_manager_without_an_assignment_sees_no_zone(client, factory):
    manager = factory.user(Role.ZONE_MANAGER)
    assert_problem(client.get(url(f"/zones/{zone_id('pazhou')}"), headers=manager.auth), 403, "zone_forbidden")


def test_pilot_office_sees_every_zone(client, factory):
    admin = factory.user(Role.PILOT_ADMIN)
    ids = [z["id"] for z in client.get(url("/zones"), headers=admin.auth).get_json()]
    assert ids == sorted(db.session.execute(select(Zone.id)).scalars())
    for zid in ids:
        resp = client.get(url(f"/zones/{zid}"), headers=admin.auth)
        assert resp.status_code == 200 and resp.get_json()["id"] == zid
    assert_problem(client.get(url(f"/zones/{max(ids) + 1}"), headers=admin.auth), 404, "zone_not_found")


# --- object level: the caller's wallet and nobody else's ---------------------------------------


@pytest.fixture
def a_and_b(factory):
    """Two consumers with different balances and one transaction each."""
    return factory.consumer(balance_fen=70_000), factory.consumer(balance_fen=3_000)


def test_wallets_me_is_always_the_callers_wallet(client, factory, a_and_b):
    a, b = a_and_b
    a_wallet = factory.wallet(a)
    for who, expected_balance in [(a, 70_000), (b, 3_000)]:
        # Naming someone else's wallet or user in the query changes nothing.
        query = {"user_id": a.id, "wallet_number": a_wallet.wallet_number, "account_id": a_wallet.account_id}
        wallet = client.get(url("/wallets/me"), query_string=query, headers=who.auth).get_json()
        assert wallet["wallet_number"] == factory.wallet(who).wallet_number
        assert wallet["balance_fen"] == expected_balance
        items = client.get(url("/wallets/me/transactions"), headers=who.auth).get_json()["items"]
        assert [i["amount_fen"] for i in items] == [expected_balance]


def test_money_moves_only_ever_debit_the_caller(client, factory, a_and_b):
    a, b = a_and_b
    c = factory.consumer()
    assert post_money(client, b, "/transfers", {"to_phone": c.phone, "amount_fen": 1_000}).status_code == 201
    assert post_money(client, b, "/wallets/me/redeem", {"amount_fen": 500}).status_code == 201
    # B cannot name A as the payer: the body has no such field and unknown fields are refused.
    with ledger_unchanged():
        resp = post_money(client, b, "/transfers", {"to_phone": c.phone, "amount_fen": 1_000,
                                                    "from_phone": a.phone})
        assert_problem(resp, 422, "validation_failed", field="from_phone")
        # Spending more than B has is refused even though A could cover it.
        assert_problem(post_money(client, b, "/transfers", {"to_phone": c.phone, "amount_fen": 1_501}),
                       422, "insufficient_funds")
    assert [factory.balance(p) for p in (a, b, c)] == [70_000, 1_500, 1_000]


def test_idempotency_keys_are_per_caller(client, factory, a_and_b):
    """B reusing A's key gets B's own result, never a replay of A's response."""
    a, b = a_and_b
    key, body = new_key(), {"amount_fen": 200}
    first = client.post(url("/wallets/me/redeem"), json=body, headers=money_headers(a, key)).get_json()
    second = client.post(url("/wallets/me/redeem"), json=body, headers=money_headers(b, key)).get_json()
    assert first["balance_after_fen"] == 69_800 and second["balance_after_fen"] == 2_800
    assert first["transfer_id"] != second["transfer_id"]
