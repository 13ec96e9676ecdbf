"""The zones plug-in's seed data: the plan's zones, and demo managers' assignments."""

from __future__ import annotations

from sqlalchemy import select

from backend.extensions import db
from zones.models import PLAN_ZONES, Zone, ZoneManager


def seed_reference() -> None:
    """Insert the zones named in the action plan, if missing."""
    have = set(db.session.execute(select(Zone.code)).scalars())
    for code, name_zh, name_en, kind, district in PLAN_ZONES:
        if code not in have:
            db.session.add(Zone(code=code, name_zh=name_zh, name_en=name_en, kind=kind, district=district))
    db.session.commit()


def seed_demo(users_by_phone: dict, managers: dict[str, tuple[str, ...]]) -> list[str]:
    """Assign the demo zone managers to their zones, if not yet; return what was done."""
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
    return done
