"""Ids out of range (issue #21.1): 404 for a path id, 422 naming the field for a body or query id, on both engines.

An id is 1..2^63−1 for a BIGINT table and 1..2^31−1 for an INTEGER one (``backend.schemas.ID_MAX``); a larger
number used to reach the database driver and answer 500 (OverflowError on SQLite, "integer out of range" on
PostgreSQL). The range is in the OpenAPI document.
"""

from __future__ import annotations

import pytest

from backend.auth.models import Role
from backend.schemas import ID_MAX, id_doc
from tests.backend.helpers import assert_problem, ledger_unchanged, new_key, url

HUGE = [pytest.param(2**31, id="2^31"), pytest.param(2**63, id="2^63"), pytest.param(10**20, id="1e20"),
        pytest.param(2**64 + 1, id="2^64+1")]


@pytest.fixture
def staff(factory):
    pilot = factory.user(Role.PILOT_ADMIN)
    owner = factory.user(Role.MERCHANT_OWNER)
    merchant = factory.merchant(owner=owner)
    return {"pilot": pilot, "owner": owner, "merchant": merchant, "consumer": factory.consumer(balance_fen=10_000)}


PATH_CASES = [
    ("get", "/orders/{id}", "owner"),
    ("get", "/orders/{id}/events", "owner"),
    ("post", "/orders/{id}/cancel", "owner"),
    ("post", "/orders/{id}/refunds", "owner"),
    ("get", "/merchants/{id}", "pilot"),
    ("get", "/merchants/{id}/cashiers", "owner"),
    ("get", "/campaigns/{id}", "pilot"),
    ("post", "/campaigns/{id}/launch", "pilot"),
    ("get", "/zones/{id}", "pilot"),
    ("get", "/zones/{id}/kpis", "pilot"),
    ("post", "/zones/{id}/managers", "pilot"),
    ("delete", "/zones/1/managers/{id}", "pilot"),
    ("get", "/zones/1/reports/{id}", "pilot"),
    ("delete", "/paycodes/devices/{id}", "consumer"),
    ("post", "/paycodes/devices/{id}/sync", "consumer"),
]


def _call(client, staff, method, path, who, value):
    headers = {**staff[who].auth, "Idempotency-Key": new_key()}
    kwargs = {}
    if path.endswith("/managers"):
        kwargs = {"json": {"user_id": staff["owner"].id}}
    elif path.endswith("/refunds"):
        kwargs = {"json": {}}
    return getattr(client, method)(url(path.format(id=value)), headers=headers, **kwargs)


@pytest.mark.parametrize("value", [*HUGE, pytest.param(0, id="zero"), pytest.param("00", id="zeros")])
def test_path_id_out_of_range_is_404(client, staff, value):
    with ledger_unchanged():
        for method, path, who in PATH_CASES:
            if path.startswith("/orders") and value == 2**31:
                continue  # in range for a BIGINT table: the next test
            resp = _call(client, staff, method, path, who, value)
            assert_problem(resp, 404, "not_found")


def test_largest_id_reaches_the_view_and_is_not_found(client, staff):
    """The largest id of the table reaches the view on both engines: a plain 404."""
    with ledger_unchanged():
        for method, path, who in PATH_CASES:
            largest = ID_MAX[64 if path.startswith("/orders") else 32]
            resp = _call(client, staff, method, path, who, largest)
            assert resp.status_code == 404, (path, resp.get_data(as_text=True))
            assert resp.mimetype == "application/problem+json"


def _campaign_body(**over):
    body = {"name": "测试红包", "kind": "red_packet", "funder_id": 1, "zone_ids": [1], "packet_count": 10,
            "budget_fen": 1_000, "spend_ends_at": "2030-01-01T00:00:00+08:00"}
    body.update(over)
    return body


@pytest.mark.parametrize("value", [*HUGE, pytest.param(0, id="zero"), pytest.param(-1, id="negative"),
                                   pytest.param("7", id="string"), pytest.param(1.5, id="fraction")])
def test_body_id_out_of_range_is_422_naming_the_field(client, staff, value):
    owner, pilot, consumer = staff["owner"], staff["pilot"], staff["consumer"]
    cases = [
        (client.post, "/orders", owner, {"merchant_id": value, "amount_fen": 100}, "merchant_id"),
        (client.post, "/charges", owner, {"merchant_id": value, "code": "1" * 18, "amount_fen": 100}, "merchant_id"),
        (client.post, "/campaigns", pilot, _campaign_body(funder_id=value), "funder_id"),
        (client.post, "/campaigns", pilot, _campaign_body(zone_ids=[1, value]), "zone_ids.1"),
        (client.post, "/campaigns", pilot, _campaign_body(merchant_ids=[value]), "merchant_ids.0"),
        (client.post, "/campaigns/simulate", pilot,
         {"kind": "red_packet", "zone_ids": [value], "packet_count": 5, "budget_fen": 500}, "zone_ids.0"),
        (client.post, "/campaigns/funders", pilot, {"name": "x", "phone": consumer.phone, "zone_id": value}, "zone_id"),
        (client.post, "/zones/1/managers", pilot, {"user_id": value}, "user_id"),
    ]
    with ledger_unchanged():
        for post, path, who, body, field in cases:
            resp = post(url(path), json=body, headers={**who.auth, "Idempotency-Key": new_key()})
            assert_problem(resp, 422, "validation_failed", field=field)


@pytest.mark.parametrize("value", [str(2**63), str(10**20), "0", "-5", "abc"])
def test_query_id_out_of_range_is_422_naming_the_field(client, staff, value):
    owner, pilot, consumer = staff["owner"], staff["pilot"], staff["consumer"]
    cases = [
        ("/orders", owner, {"merchant_id": value}, "merchant_id"),
        ("/orders", owner, {"merchant_id": staff["merchant"].id, "before": value}, "before"),
        ("/campaigns", pilot, {"zone_id": value}, "zone_id"),
        ("/campaigns", consumer, {"before": value}, "before"),
        ("/merchants", pilot, {"before": value}, "before"),
        ("/wallets/me/transactions", consumer, {"before": value}, "before"),
        ("/zones/1/merchants", pilot, {"before": value}, "before"),
    ]
    for path, who, query, field in cases:
        assert_problem(client.get(url(path), query_string=query, headers=who.auth), 422, "validation_failed",
                       field=field)


def test_largest_body_ids_are_refused_as_not_found_not_500(client, staff):
    owner, pilot = staff["owner"], staff["pilot"]
    with ledger_unchanged():
        big = ID_MAX[32]
        resp = client.post(url("/orders"), json={"merchant_id": big, "amount_fen": 100}, headers=owner.auth)
        assert resp.status_code == 404, resp.get_data(as_text=True)
        resp = client.post(url("/zones/1/managers"), json={"user_id": big}, headers=pilot.auth)
        assert resp.status_code == 404, resp.get_data(as_text=True)
        for body in (_campaign_body(funder_id=big), _campaign_body(zone_ids=[big]),
                     _campaign_body(merchant_ids=[big])):
            resp = client.post(url("/campaigns"), json=body, headers=pilot.auth)
            assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
        resp = client.get(url("/orders"), query_string={"merchant_id": big}, headers=owner.auth)
        assert resp.status_code == 404, resp.get_data(as_text=True)
        for path in ("/orders", "/wallets/me/transactions"):
            who = owner if path == "/orders" else staff["consumer"]
            query = {"before": ID_MAX[64], **({"merchant_id": staff["merchant"].id} if who is owner else {})}
            assert client.get(url(path), query_string=query, headers=who.auth).status_code == 200


def test_the_range_is_in_the_openapi_document(client):
    spec = client.get(url("/openapi.json")).get_json()
    assert spec["paths"]["/api/v1/orders/{order_id}"]["parameters"][0]["schema"] == id_doc(64)
    assert spec["paths"]["/api/v1/merchants/{merchant_id}"]["parameters"][0]["schema"] == id_doc(32)
    want = id_doc(32)
    body = spec["components"]["schemas"]["CreateOrder"]["properties"]["merchant_id"]
    assert {k: body[k] for k in want} == want
    campaign = spec["components"]["schemas"]["CreateCampaign"]["properties"]["zone_ids"]["items"]
    assert {k: campaign[k] for k in want} == want


def test_every_route_takes_ids_through_the_one_converter(app):
    """A route with ``<int:…>`` would pass 2^63 on to the database; every integer path part is ``<id:…>``."""
    plain_int = [r.rule for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert plain_int == []
