"""The registry and geography: seeded outlines, placing merchants, locate, zones created and edited from GeoJSON."""

from __future__ import annotations

import json

import pytest
import shapely
from sqlalchemy import select

from backend.auth.models import Role
from backend.extensions import db
from backend.merchants.models import Merchant
from tests.backend.helpers import assert_problem, url
from tests.zones.helpers import NOODLE_SHOP, OUTSIDE, TEA_HOUSE, north_of, onboard, pay_over_http, placement, square
from zones import geometry
from zones.models import PLAN_ZONES, ZONE_KINDS, Zone, ZoneManager
from zones.seed import OUTLINES_PATH


def test_seeded_zones_load_with_their_outlines(app, zone_ids):
    zones = db.session.execute(select(Zone).order_by(Zone.id)).scalars().all()
    assert [(z.code, z.name_zh, z.name_en, z.kind, z.district) for z in zones] == list(PLAN_ZONES)
    assert {z.kind for z in zones} == set(ZONE_KINDS)  # every type is represented
    outlines = {}
    for z in zones:
        geom = shapely.from_geojson(z.boundary_geojson)
        assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon"), z.code
        # Around the real place: inside Guangzhou, a plausible size, the stored bounding box is the outline's.
        assert 22.5 < geom.bounds[1] and geom.bounds[3] < 24.0 and 112.9 < geom.bounds[0] and geom.bounds[2] < 114.1
        assert 0.2 < geometry.area_km2(geom) < 200, z.code
        assert (z.min_lon, z.min_lat, z.max_lon, z.max_lat) == pytest.approx(tuple(geom.bounds))
        outlines[z.code] = geom
    for a in outlines:
        for b in outlines:
            assert a >= b or not outlines[a].intersects(outlines[b]), f"{a} overlaps {b}"
    # The file says where the outlines came from, and holds exactly the plan's zones.
    doc = json.loads(OUTLINES_PATH.read_text(encoding="utf-8"))
    assert "WGS 84" in doc["source"] and "OpenStreetMap" in doc["source"] and "approximate" in doc["source"]
    assert [f["properties"]["code"] for f in doc["features"]] == [p[0] for p in PLAN_ZONES]
    assert all(f["properties"]["landmarks"] for f in doc["features"])


def test_the_demo_seed_places_the_tea_house_in_yongqingfang_and_the_noodle_shop_on_beijing_road(app, zone_ids):
    from backend.seed import DEMO_MERCHANTS, DEMO_ZONE_MANAGERS, seed_demo

    done = seed_demo()
    assert "placed the demo merchants in their zones" in done
    places = {}
    for m in db.session.execute(select(Merchant)).scalars():
        places[(m.latitude, m.longitude)] = placement(m.id)[1]
    assert places[TEA_HOUSE] == zone_ids["yongqingfang"]
    assert places[NOODLE_SHOP] == zone_ids["beijinglu"]
    assert len(places) == len(DEMO_MERCHANTS)
    assigned = db.session.execute(select(ZoneManager)).scalars().all()
    assert len(assigned) == sum(len(codes) for codes in DEMO_ZONE_MANAGERS.values())
    assert seed_demo() == []  # idempotent


def test_a_merchant_approved_inside_yongqingfang_lands_there_and_one_outside_every_outline_in_none(
        client, factory, zone_ids, admin):
    inside = onboard(client, factory, *TEA_HOUSE, name="Inside")
    outside = onboard(client, factory, *OUTSIDE, name="Outside")
    pending = onboard(client, factory, *north_of(*TEA_HOUSE, 20), approve=False, name="Pending")
    assert placement(inside.id) == (True, zone_ids["yongqingfang"])
    assert placement(outside.id) == (True, None)
    assert placement(pending.id) == (False, None)  # only verified merchants are placed

    consumer = factory.consumer()
    at_tea_house = client.get(url("/zones/locate"), headers=consumer.auth,
                              query_string={"lat": TEA_HOUSE[0], "lon": TEA_HOUSE[1]}).get_json()
    assert at_tea_house["zone"]["code"] == "yongqingfang"
    assert [(m["id"], m["zone_id"], m["distance_m"]) for m in at_tea_house["merchants"]] == [
        (inside.id, zone_ids["yongqingfang"], 0)]
    at_outside = client.get(url("/zones/locate"), headers=consumer.auth,
                            query_string={"lat": OUTSIDE[0], "lon": OUTSIDE[1]}).get_json()
    assert at_outside["zone"] is None
    assert [(m["id"], m["zone_id"]) for m in at_outside["merchants"]] == [(outside.id, None)]

    yqf = zone_ids["yongqingfang"]
    listed = client.get(url(f"/zones/{yqf}/merchants"), headers=admin.auth).get_json()["items"]
    assert [m["id"] for m in listed] == [inside.id]
    detail = client.get(url(f"/zones/{yqf}"), headers=admin.auth).get_json()
    assert detail["merchant_count"] == 1 and detail["scenarios_enrolled"] == ["food"]
    assert detail["outline"]["type"] == "Polygon"
    assert shapely.from_geojson(json.dumps(detail["outline"])).covers(shapely.Point(TEA_HOUSE[1], TEA_HOUSE[0]))


def test_locate_lists_verified_merchants_nearest_first_within_the_radius(client, factory):
    origin = north_of(*OUTSIDE, 1_000)
    far, near, mid = (onboard(client, factory, *north_of(*origin, d), name=f"{d} m").id for d in (800, 100, 300))
    onboard(client, factory, *north_of(*origin, 50), approve=False, name="Pending")
    consumer = factory.consumer()

    def found(**q):
        resp = client.get(url("/zones/locate"), headers=consumer.auth,
                          query_string={"lat": origin[0], "lon": origin[1], **q})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [(m["id"], m["distance_m"]) for m in resp.get_json()["merchants"]]

    assert found(radius_m=500) == [(near, 100), (mid, 300)]
    assert found(radius_m=1_000) == [(near, 100), (mid, 300), (far, 800)]
    assert found(radius_m=1_000, limit=1) == [(near, 100)]
    assert found(radius_m=50) == []
    bad = client.get(url("/zones/locate"), headers=consumer.auth, query_string={"lat": 123, "lon": 113.2})
    assert_problem(bad, 422, "validation_failed", field="lat")
    assert_problem(client.get(url("/zones/locate"), headers=consumer.auth, query_string={"lat": 23.1}),
                   422, "validation_failed", field="lon")
    assert_problem(client.get(url("/zones/locate"), headers=consumer.auth,
                              query_string={"lat": 23.1, "lon": 113.2, "radius_m": 50_000}),
                   422, "validation_failed", field="radius_m")


BOW_TIE = {"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.01], [113.01, 23.0], [113.0, 23.01],
                                              [113.0, 23.0]]]}
INVALID_OUTLINES = [
    (BOW_TIE, "Self-intersection"),
    ({"type": "Feature", "properties": {}, "geometry": BOW_TIE}, "Self-intersection"),
    ({"type": "Polygon", "coordinates": [[[23.0, 113.0], [23.01, 113.0], [23.01, 113.01], [23.0, 113.0]]]},
     "[longitude, latitude]"),
    ({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.01, 23.01], [113.0, 23.011]]]},
     "not closed"),
    ({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.0, 23.0]]]}, "at least 4"),
    ({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.01, 23.01], [113.0, 23.01],
                                          [113.0, 23.0]],
                                         [[113.02, 23.02], [113.03, 23.02], [113.03, 23.03], [113.02, 23.02]]]},
     "Hole lies outside shell"),
    ({"type": "Polygon", "coordinates": [[["113.0", "23.0"], [113.01, 23.0], [113.01, 23.01], [113.0, 23.0]]]},
     "in numbers"),
    ({"type": "Point", "coordinates": [113.0, 23.0]}, "Polygon or MultiPolygon"),
    ({"type": "FeatureCollection", "features": []}, "one zone at a time"),
    ({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.02, 23.0], [113.0, 23.0]]]},
     "Invalid geometry: Self-intersection"),
]


def test_invalid_or_self_intersecting_outlines_are_refused_with_the_reason(client, admin, zone_ids):
    base = {"code": "new_zone", "name_zh": "新区", "name_en": "New zone", "kind": "business_district",
            "district": "南沙区"}
    yqf = zone_ids["yongqingfang"]
    before = db.session.get(Zone, yqf).boundary_geojson
    for outline, reason in INVALID_OUTLINES:
        body = assert_problem(client.post(url("/zones"), json={**base, "geometry": outline}, headers=admin.auth),
                              422, "invalid_geometry", field="geometry")
        assert reason in body["detail"], (reason, body["detail"])
        assert_problem(client.patch(url(f"/zones/{yqf}"), json={"geometry": outline}, headers=admin.auth),
                       422, "invalid_geometry", field="geometry")
    assert_problem(client.post(url("/zones"), json={**base, "geometry": "POLYGON((0 0, 1 0, 1 1, 0 0))"},
                               headers=admin.auth), 422, "validation_failed", field="geometry")
    assert_problem(client.post(url("/zones"), json={**base, "kind": "harbour", "geometry": square(22.8, 113.6, 0.01)},
                               headers=admin.auth), 422, "validation_failed", field="kind")
    assert_problem(client.post(url("/zones"), json={**base, "code": "beijinglu", "geometry": square(22.8, 113.6,
                                                                                                   0.01)},
                               headers=admin.auth), 409, "zone_code_taken", field="code")
    db.session.rollback()
    assert db.session.execute(select(Zone).where(Zone.code == "new_zone")).first() is None
    assert db.session.get(Zone, yqf).boundary_geojson == before


def test_a_zone_created_from_geojson_takes_in_the_merchants_inside_and_its_figures_follow(client, factory, admin):
    shop = onboard(client, factory, *OUTSIDE, name="Fangcun shop")
    assert placement(shop.id) == (True, None)
    order = pay_over_http(client, factory, shop, 3_850)
    feature = {"type": "Feature", "properties": {"note": "drawn by the office"},
               "geometry": square(*OUTSIDE, 0.004)}
    resp = client.post(url("/zones"), headers=admin.auth, json={
        "code": "fangcun", "name_zh": "芳村茶叶城", "name_en": "Fangcun Tea Market", "kind": "business_district",
        "district": "荔湾区", "geometry": feature})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    zone = resp.get_json()
    assert zone["outline"] == square(*OUTSIDE, 0.004)  # stored normalised: the Feature's geometry
    assert placement(shop.id) == (True, zone["id"])
    kpis = client.get(url(f"/zones/{zone['id']}/kpis"), headers=admin.auth).get_json()["totals"]
    assert (kpis["payment_count"], kpis["payment_fen"], kpis["active_wallets"]) == (1, order["amount_fen"], 1)
    assert any(z["code"] == "fangcun" for z in client.get(url("/zones"), headers=admin.auth).get_json())

    # Moving the outline away from the shop takes it (and its figures) out again; PUT replaces everything.
    moved = client.put(url(f"/zones/{zone['id']}"), headers=admin.auth, json={
        "code": "fangcun", "name_zh": "芳村茶叶城", "name_en": "Fangcun Tea Market", "kind": "business_district",
        "district": "荔湾区", "geometry": square(OUTSIDE[0] + 0.02, OUTSIDE[1], 0.004)})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert placement(shop.id) == (True, None)
    kpis = client.get(url(f"/zones/{zone['id']}/kpis"), headers=admin.auth).get_json()["totals"]
    assert kpis["payment_count"] == 0
    patched = client.patch(url(f"/zones/{zone['id']}"), headers=admin.auth, json={"name_en": "Fangcun"})
    assert patched.get_json()["name_en"] == "Fangcun" and patched.get_json()["outline"]["type"] == "Polygon"


def test_the_pilot_office_assigns_and_removes_zone_managers(client, factory, admin, zone_ids):
    pz = zone_ids["pazhou"]
    manager = factory.user(Role.ZONE_MANAGER)
    assert_problem(client.get(url(f"/zones/{pz}"), headers=manager.auth), 403, "zone_forbidden")
    resp = client.post(url(f"/zones/{pz}/managers"), headers=admin.auth, json={"phone": manager.phone})
    assert resp.status_code == 201 and resp.get_json()["user_id"] == manager.id
    assert client.post(url(f"/zones/{pz}/managers"), headers=admin.auth,
                       json={"user_id": manager.id}).status_code == 200  # already: nothing new
    assert client.get(url(f"/zones/{pz}"), headers=manager.auth).status_code == 200
    listed = client.get(url(f"/zones/{pz}/managers"), headers=manager.auth).get_json()["items"]
    assert [m["user_id"] for m in listed] == [manager.id]
    consumer = factory.user(Role.CONSUMER)
    assert_problem(client.post(url(f"/zones/{pz}/managers"), headers=admin.auth, json={"user_id": consumer.id}),
                   422, "not_a_zone_manager")
    assert_problem(client.post(url(f"/zones/{pz}/managers"), headers=admin.auth, json={"user_id": 999_999}),
                   404, "user_not_found")
    assert_problem(client.post(url(f"/zones/{pz}/managers"), headers=admin.auth,
                               json={"user_id": manager.id, "phone": manager.phone}), 422, "validation_failed")
    assert client.delete(url(f"/zones/{pz}/managers/{manager.id}"), headers=admin.auth).status_code == 204
    assert_problem(client.delete(url(f"/zones/{pz}/managers/{manager.id}"), headers=admin.auth),
                   404, "manager_not_found")
    assert_problem(client.get(url(f"/zones/{pz}"), headers=manager.auth), 403, "zone_forbidden")
    assert_problem(client.get(url("/zones/99999"), headers=admin.auth), 404, "zone_not_found")
