"""Who may call every zone endpoint: a zone's managers its zone only, the pilot office everything, nobody else."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.auth.models import Role
from backend.clock import local_today, utcnow
from backend.extensions import db
from tests.backend.helpers import assert_problem, url
from zones.models import Zone, ZoneManager, ZoneReport
from zones.reports import THRESHOLDS

ZONE, PILOT, ANY = "zone", "pilot", "any"

#: Every zone endpoint: (scope, method, path, JSON body or None, query or None). {zone}: the target zone,
#: {report}: a ready report of it, {spare}: a zone manager the pilot office may assign, {assigned}: one to remove.
ENDPOINTS = [
    (ANY, "GET", "/zones", None, None),
    (ANY, "GET", "/zones/locate", None, {"lat": 23.1184, "lon": 113.2446}),
    (PILOT, "POST", "/zones", "new_zone", None),
    (ZONE, "GET", "/zones/{zone}", None, None),
    (PILOT, "PUT", "/zones/{zone}", "same_zone", None),
    (PILOT, "PATCH", "/zones/{zone}", {"name_en": "Tianhe Road Shopping District"}, None),
    (ZONE, "GET", "/zones/{zone}/managers", None, None),
    (PILOT, "POST", "/zones/{zone}/managers", "spare", None),
    (PILOT, "DELETE", "/zones/{zone}/managers/{assigned}", None, None),
    (ZONE, "GET", "/zones/{zone}/merchants", None, None),
    (ZONE, "GET", "/zones/{zone}/kpis", None, None),
    (PILOT, "GET", "/zones/ranking", None, None),
    (ZONE, "POST", "/zones/{zone}/reports", "report", None),
    (ZONE, "GET", "/zones/{zone}/reports", None, None),
    (ZONE, "GET", "/zones/{zone}/reports/{report}", None, {"format": "csv"}),
    (PILOT, "GET", "/zones/application-thresholds", None, None),
    (PILOT, "PUT", "/zones/application-thresholds", "thresholds", None),
    (PILOT, "GET", "/zones/application-summary", None, None),
]


@pytest.fixture
def world(app, factory, zone_ids, manager_of):
    """Tianhe Road as the target zone, with a ready report and an assigned manager; a manager of
    Yongqingfang (another zone) and of Tianhe Road (the zone's own)."""
    target = db.session.get(Zone, zone_ids["tianhelu"])
    report = ZoneReport(zone_id=target.id, period="weekly", start=local_today() - timedelta(days=7),
                        end=local_today() - timedelta(days=1), status="ready", pdf=b"%PDF-1.4 test", csv="a,b\n",
                        requested_at=utcnow(), built_at=utcnow())
    db.session.add(report)
    db.session.commit()
    monday = local_today() - timedelta(days=local_today().weekday() + 7)
    return {
        "zone": target,
        "report": report.id,
        "other_manager": manager_of("yongqingfang"),
        "own_manager": manager_of("tianhelu"),
        "assigned": manager_of("tianhelu"),
        "spare": factory.user(Role.ZONE_MANAGER),
        "bodies": {
            "new_zone": {"code": "test_zone", "name_zh": "测试区", "name_en": "Test zone", "kind": "industrial_park",
                         "district": "南沙区", "geometry": {"type": "Polygon", "coordinates": [[
                             [113.60, 22.80], [113.61, 22.80], [113.61, 22.81], [113.60, 22.81], [113.60, 22.80]]]}},
            "same_zone": {"code": target.code, "name_zh": target.name_zh, "name_en": target.name_en,
                          "kind": target.kind, "district": target.district,
                          "geometry": json.loads(target.boundary_geojson)},
            "report": {"period": "weekly", "start": monday.isoformat()},
            "thresholds": {k: default for k, (default, _, _) in THRESHOLDS.items()},
        },
    }


def call(client, world, person, endpoint):
    _, method, path, body, query = endpoint
    path = path.format(zone=world["zone"].id, report=world["report"], assigned=world["assigned"].id)
    if body == "spare":
        body = {"user_id": world["spare"].id}
    elif isinstance(body, str):
        body = world["bodies"][body]
    headers = person.auth if person else {}
    return client.open(url(path), method=method, json=body, query_string=query, headers=headers)


def state() -> tuple:
    """What a wrongly allowed call could change: zones, assignments, reports."""
    db.session.rollback()
    zones = tuple(db.session.execute(select(Zone.id, Zone.code, Zone.name_en, Zone.boundary_geojson)
                                     .order_by(Zone.id)).all())
    managers = tuple(db.session.execute(select(ZoneManager.user_id, ZoneManager.zone_id)
                                        .order_by(ZoneManager.id)).all())
    reports = db.session.execute(select(func.count()).select_from(ZoneReport)).scalar_one()
    return zones, managers, reports


def test_every_zone_endpoint_refuses_a_zone_manager_of_another_zone(client, world):
    before = state()
    for endpoint in ENDPOINTS:
        scope = endpoint[0]
        resp = call(client, world, world["other_manager"], endpoint)
        if scope == ZONE:
            assert_problem(resp, 403, "zone_forbidden")
        elif scope == PILOT:
            assert_problem(resp, 403, "role_forbidden")
        else:
            assert resp.status_code == 200, (endpoint, resp.get_data(as_text=True))
    assert state() == before


def test_the_zones_own_manager_may_use_the_zone_endpoints(client, world):
    for endpoint in ENDPOINTS:
        resp = call(client, world, world["own_manager"], endpoint)
        if endpoint[0] == PILOT:
            assert_problem(resp, 403, "role_forbidden")
        else:
            assert resp.status_code in (200, 201), (endpoint, resp.get_data(as_text=True))


def test_the_pilot_office_may_use_every_zone_endpoint(client, world, admin):
    for endpoint in ENDPOINTS:
        resp = call(client, world, admin, endpoint)
        expected = 204 if endpoint[1] == "DELETE" else (201 if endpoint[1] == "POST" else 200)
        assert resp.status_code == expected, (endpoint, resp.get_data(as_text=True))


@pytest.mark.parametrize("role", [Role.CONSUMER, Role.MERCHANT_OWNER, Role.CASHIER, Role.BANK_REVIEWER])
def test_other_roles_get_only_the_public_zone_endpoints(client, world, factory, role):
    caller = factory.user(role)
    before = state()
    for endpoint in ENDPOINTS:
        resp = call(client, world, caller, endpoint)
        if endpoint[0] == ANY:
            assert resp.status_code == 200, endpoint
        else:
            assert_problem(resp, 403, "role_forbidden")
    assert state() == before


def test_every_zone_endpoint_needs_a_token(client, world):
    for endpoint in ENDPOINTS:
        assert_problem(call(client, world, None, endpoint), 401, "missing_token")


def test_the_list_covers_every_zone_route(app):
    routes = {(method, rule.rule.removeprefix("/api/v1"))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/zones")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    listed = {(m, p.replace("{zone}", "<id(bits=32):zone_id>").replace("{report}", "<id(bits=32):report_id>")
               .replace("{assigned}", "<id(bits=32):user_id>")) for _, m, p, _, _ in ENDPOINTS}
    assert routes == listed
