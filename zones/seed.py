"""The zones plug-in's seed data: the plan's zones with their outlines, demo managers, demo merchants' places."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from backend.clock import utcnow
from backend.extensions import db
from zones import geometry, placement
from zones.models import PLAN_ZONES, Zone, ZoneManager

#: The outlines of the plan's zones (a GeoJSON FeatureCollection; its "source" member says where they came from).
OUTLINES_PATH = Path(__file__).parent / "data" / "zones.geojson"


def plan_outlines() -> dict[str, dict]:
    """Return ``{code: Feature}`` from ``zones/data/zones.geojson``."""
    doc = json.loads(OUTLINES_PATH.read_text(encoding="utf-8"))
    return {f["properties"]["code"]: f for f in doc["features"]}


def seed_reference() -> None:
    """Insert the zones named in the action plan with their outlines, if missing; give an outline to
    a plan zone that has none yet (a database from before outlines existed). Outlines the pilot
    office uploaded are left alone."""
    outlines = plan_outlines()
    zones = {z.code: z for z in db.session.execute(select(Zone)).scalars()}
    for code, name_zh, name_en, kind, district in PLAN_ZONES:
        zone = zones.get(code)
        if zone is None:
            zone = Zone(code=code, name_zh=name_zh, name_en=name_en, kind=kind, district=district)
            db.session.add(zone)
        if zone.boundary_geojson is None:
            outline = geometry.parse_outline(outlines[code])
            zone.boundary_geojson = outline.text
            zone.min_lon, zone.min_lat, zone.max_lon, zone.max_lat = outline.bbox
            zone.updated_at = utcnow()
    db.session.commit()


def seed_demo(users_by_phone: dict, managers: dict[str, tuple[str, ...]]) -> list[str]:
    """Assign the demo zone managers to their zones and place the demo merchants (the core seeds them
    approved, without a review, so no ``merchant_approved`` is sent); return what was done."""
    done = []
    for phone, codes in managers.items():
        user = users_by_phone.get(phone)
        if user is None:
            continue
        for code in codes:
            zone = db.session.execute(select(Zone).where(Zone.code == code)).scalar_one()
            exists = db.session.execute(select(ZoneManager.id).where(
                ZoneManager.user_id == user.id, ZoneManager.zone_id == zone.id)).first()
            if not exists:
                db.session.add(ZoneManager(user_id=user.id, zone_id=zone.id))
                done.append(f"{phone} manages {code}")
    if placement.place_unplaced():
        done.append("placed the demo merchants in their zones")
    db.session.commit()
    return done
