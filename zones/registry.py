"""The zone registry and its geography: zones and their outlines, managers, where merchants are.

Who may see what: the pilot office (``pilot_admin``) every zone; a zone
manager the zones assigned to them (``zone_for`` raises ``zone_forbidden``
for any other); nobody else sees zone internals.

Where merchants are placed is ``zones.placement``; an outline change here queues
``zones.counting.replace_around_zone`` to place the merchants around it again.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.clock import utcnow
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from backend.extensions import db
from backend.merchants.models import Merchant, MerchantStatus
from backend.sql import insert_for
from zones import geometry, placement
from zones.models import ZONE_KINDS, Zone, ZoneManager, ZoneMerchant

#: Largest radius ``locate`` searches, and how many merchants it returns at most.
LOCATE_MAX_RADIUS_M = 5_000
LOCATE_MAX_MERCHANTS = 50


# ---------------------------------------------------------------- access


def managed_zone_ids(user: User) -> set[int] | None:
    """Return the ids of zones ``user`` manages, or ``None`` for the pilot office (all zones)."""
    if user.role == Role.PILOT_ADMIN:
        return None
    if user.role != Role.ZONE_MANAGER:
        return set()
    return set(db.session.execute(select(ZoneManager.zone_id).where(ZoneManager.user_id == user.id)).scalars())


def get_zone(zone_id: int) -> Zone:
    """Return the zone; raise ``NotFound`` (``zone_not_found``)."""
    zone = db.session.get(Zone, zone_id)
    if zone is None:
        raise NotFound("No such zone.", code="zone_not_found")
    return zone


def zone_for(user: User, zone_id: int) -> Zone:
    """Return the zone if ``user`` may see and act on it.

    Raises ``NotFound`` (``zone_not_found``) or ``Forbidden`` (``zone_forbidden``)
    for a zone manager not assigned to it.
    """
    zone = get_zone(zone_id)
    allowed = managed_zone_ids(user)
    if allowed is not None and zone_id not in allowed:
        raise Forbidden("You do not manage this zone.", code="zone_forbidden")
    return zone


# ---------------------------------------------------------------- registry


def all_zones() -> list[Zone]:
    return list(db.session.execute(select(Zone).order_by(Zone.id)).scalars())


def _outline(doc) -> geometry.Outline:
    try:
        return geometry.parse_outline(doc)
    except geometry.GeometryError as exc:
        raise ValidationFailed(str(exc), field="geometry", code="invalid_geometry") from None


def _apply_outline(zone: Zone, outline: geometry.Outline) -> None:
    zone.boundary_geojson = outline.text
    zone.min_lon, zone.min_lat, zone.max_lon, zone.max_lat = outline.bbox


def _check_fields(data: dict) -> None:
    if "kind" in data and data["kind"] not in ZONE_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(ZONE_KINDS)}.", field="kind")


def create_zone(data: dict) -> Zone:
    """Create a zone from its facts and a GeoJSON outline; commit; re-place the merchants inside it.

    Raises ``ValidationFailed`` (``invalid_geometry`` with the reason, field
    ``geometry``) or ``Conflict`` (``zone_code_taken``).
    """
    _check_fields(data)
    outline = _outline(data["geometry"])
    zone = Zone(code=data["code"], name_zh=data["name_zh"].strip(), name_en=data["name_en"].strip(),
                kind=data["kind"], district=data["district"].strip(), updated_at=utcnow())
    _apply_outline(zone, outline)
    db.session.add(zone)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("A zone with this code exists.", code="zone_code_taken", field="code") from None
    _after_outline_change(zone.id, None)
    return zone


def update_zone(zone_id: int, data: dict) -> Zone:
    """Change a zone's facts and/or outline (only the fields given); commit; re-place merchants if it moved.

    Raises ``NotFound``, ``ValidationFailed`` (``invalid_geometry``) or ``Conflict`` (``zone_code_taken``).
    """
    zone = get_zone(zone_id)
    _check_fields(data)
    old_bbox = (zone.min_lon, zone.min_lat, zone.max_lon, zone.max_lat)
    outline = _outline(data["geometry"]) if "geometry" in data else None
    for key in ("code", "name_zh", "name_en", "kind", "district"):
        if key in data:
            setattr(zone, key, data[key].strip() if isinstance(data[key], str) else data[key])
    if outline is not None:
        _apply_outline(zone, outline)
    zone.updated_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("A zone with this code exists.", code="zone_code_taken", field="code") from None
    if outline is not None:
        _after_outline_change(zone.id, old_bbox)
    return zone


def _after_outline_change(zone_id: int, old_bbox) -> None:
    from backend.jobs import enqueue
    from zones.counting import replace_around_zone

    enqueue(replace_around_zone, zone_id, list(old_bbox) if old_bbox and None not in old_bbox else None)


# ---------------------------------------------------------------- managers


def managers(zone_id: int) -> list[User]:
    return list(db.session.execute(
        select(User).join(ZoneManager, ZoneManager.user_id == User.id)
        .where(ZoneManager.zone_id == zone_id).order_by(User.id)).scalars())


def assign_manager(zone_id: int, user_id: int | None, phone: str | None) -> tuple[User, bool]:
    """Make a zone manager manage the zone; commit; return (user, newly assigned).

    Raises ``NotFound`` (zone, ``user_not_found``) or ``Unprocessable``
    (``not_a_zone_manager``: only accounts with that role can be assigned).
    """
    from backend.auth.service import normalize_phone

    get_zone(zone_id)
    if user_id is not None:
        user = db.session.get(User, user_id)
    else:
        user = db.session.execute(select(User).where(User.phone == normalize_phone(phone))).scalar_one_or_none()
    if user is None:
        raise NotFound("No such user.", code="user_not_found", field="user_id" if user_id is not None else "phone")
    if user.role != Role.ZONE_MANAGER:
        raise Unprocessable(f"This account is a {user.role}; only zone managers can be assigned to a zone.",
                            code="not_a_zone_manager")
    stmt = insert_for(ZoneManager.__table__).values(user_id=user.id, zone_id=zone_id)
    created = db.session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "zone_id"])
                                 .returning(ZoneManager.id)).first() is not None
    db.session.commit()
    return user, created


def remove_manager(zone_id: int, user_id: int) -> None:
    """End a manager's assignment to the zone; commit. Raises ``NotFound`` (``manager_not_found``)."""
    get_zone(zone_id)
    gone = db.session.execute(
        delete(ZoneManager).where(ZoneManager.zone_id == zone_id, ZoneManager.user_id == user_id)).rowcount
    if gone != 1:
        db.session.rollback()
        raise NotFound("This user does not manage this zone.", code="manager_not_found")
    db.session.commit()


# ---------------------------------------------------------------- geography


def locate(lat: float, lon: float, radius_m: int, limit: int = LOCATE_MAX_MERCHANTS) -> dict:
    """Answer "where am I": the zone covering the point (or none) and the verified merchants within
    ``radius_m``, nearest first, with their distance in metres."""
    zone_id = placement.zone_id_at(lat, lon)
    zone = db.session.get(Zone, zone_id) if zone_id else None
    min_lat, max_lat, min_lon, max_lon = geometry.box_around(lat, lon, radius_m)
    rows = db.session.execute(
        select(Merchant, ZoneMerchant.zone_id)
        .join(ZoneMerchant, ZoneMerchant.merchant_id == Merchant.id)
        .where(Merchant.status == MerchantStatus.APPROVED,
               ZoneMerchant.latitude.between(min_lat, max_lat), ZoneMerchant.longitude.between(min_lon, max_lon))
    ).all()
    near = []
    for m, m_zone in rows:
        d = geometry.distance_m(lat, lon, m.latitude, m.longitude)
        if d <= radius_m:
            near.append((d, m.id, m, m_zone))
    near.sort(key=lambda t: (t[0], t[1]))
    return {
        "zone": zone,
        "merchants": [{"merchant": m, "zone_id": z, "distance_m": round(d)} for d, _, m, z in near[:limit]],
        "radius_m": radius_m,
    }


def zone_merchants(zone_id: int, *, status: str | None, limit: int, before: int | None) -> list[Merchant]:
    """Return the merchants placed in the zone (approved, or suspended since), newest id first."""
    q = (select(Merchant).join(ZoneMerchant, ZoneMerchant.merchant_id == Merchant.id)
         .where(ZoneMerchant.zone_id == zone_id))
    if status:
        q = q.where(Merchant.status == status)
    if before:
        q = q.where(Merchant.id < before)
    return list(db.session.execute(q.order_by(Merchant.id.desc()).limit(limit)).scalars())


def scenarios_enrolled(zone_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Return {zone_id: {scenario: approved merchants placed}}."""
    q = (select(ZoneMerchant.zone_id, Merchant.scenario, func.count())
         .join(Merchant, Merchant.id == ZoneMerchant.merchant_id)
         .where(Merchant.status == MerchantStatus.APPROVED, ZoneMerchant.zone_id.is_not(None))
         .group_by(ZoneMerchant.zone_id, Merchant.scenario))
    if zone_ids is not None:
        q = q.where(ZoneMerchant.zone_id.in_(zone_ids))
    out: dict[int, dict[str, int]] = {}
    for zone_id, scenario, n in db.session.execute(q):
        out.setdefault(zone_id, {})[scenario] = n
    return out

