"""Where merchants are: an approved merchant is placed in the zone whose outline covers its location, or in
none (``zone_merchants.zone_id`` NULL); where outlines overlap the smallest zone wins
(``geometry.smallest_containing``).

Placement happens when a merchant is approved, when the demo data is seeded, before a KPI rebuild, and again
for the merchants around a zone whose outline is created or changed (the jobs are in ``zones.counting``); a
merchant that moves zone has its zones' KPIs rebuilt, since figures follow the merchant's current zone.
Everything here runs in the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from backend.clock import utcnow
from backend.extensions import db
from backend.merchants.models import Merchant, MerchantStatus
from backend.sql import insert_for
from zones import geometry
from zones.models import Zone, ZoneMerchant


def candidate_outlines(lat: float, lon: float) -> list[tuple[int, str]]:
    """Return ``(zone_id, outline)`` of the zones whose bounding box holds the point."""
    return list(db.session.execute(
        select(Zone.id, Zone.boundary_geojson).where(
            Zone.boundary_geojson.is_not(None), Zone.min_lat <= lat, Zone.max_lat >= lat,
            Zone.min_lon <= lon, Zone.max_lon >= lon)).all())


def zone_id_at(lat: float, lon: float) -> int | None:
    """Return the id of the zone covering the point (smallest if several), or ``None``."""
    return geometry.smallest_containing(lat, lon, candidate_outlines(lat, lon))


def place_merchant(merchant_id: int) -> tuple[int | None, int | None] | None:
    """Place an approved merchant in the zone at its location (in the caller's transaction).

    Returns ``(old_zone_id, new_zone_id)``, or ``None`` when the merchant is
    not approved (merchants are placed once a bank has verified them).
    """
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None or merchant.status != MerchantStatus.APPROVED:
        return None
    old = db.session.execute(select(ZoneMerchant.zone_id).where(ZoneMerchant.merchant_id == merchant_id)).first()
    new_zone = zone_id_at(merchant.latitude, merchant.longitude)
    values = {"zone_id": new_zone, "latitude": merchant.latitude, "longitude": merchant.longitude,
              "placed_at": utcnow()}
    stmt = insert_for(ZoneMerchant.__table__).values(merchant_id=merchant_id, **values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["merchant_id"], set_=values))
    return (old[0] if old else None), new_zone


def place_unplaced() -> int:
    """Place every approved merchant that has no placement yet (in the caller's transaction); return how many."""
    ids = db.session.execute(
        select(Merchant.id).outerjoin(ZoneMerchant, ZoneMerchant.merchant_id == Merchant.id)
        .where(Merchant.status == MerchantStatus.APPROVED, ZoneMerchant.merchant_id.is_(None))
        .order_by(Merchant.id)).scalars().all()
    for merchant_id in ids:
        place_merchant(merchant_id)
    return len(ids)


def merchants_to_replace(zone_id: int, boxes: list) -> list[int]:
    """Return the placed merchants that an outline change of ``zone_id`` may move: those in it now,
    and those inside any of ``boxes`` (``[min_lon, min_lat, max_lon, max_lat]``: old and new outline)."""
    cond = [ZoneMerchant.zone_id == zone_id]
    for b in boxes:
        if b:
            cond.append(and_(ZoneMerchant.longitude >= b[0], ZoneMerchant.latitude >= b[1],
                             ZoneMerchant.longitude <= b[2], ZoneMerchant.latitude <= b[3]))
    ids = set(db.session.execute(select(ZoneMerchant.merchant_id).where(or_(*cond))).scalars())
    # Approved merchants never placed (e.g. approved while a receiver was down) are placed too.
    ids.update(db.session.execute(
        select(Merchant.id).outerjoin(ZoneMerchant, ZoneMerchant.merchant_id == Merchant.id)
        .where(Merchant.status == MerchantStatus.APPROVED, ZoneMerchant.merchant_id.is_(None))).scalars())
    return sorted(ids)
