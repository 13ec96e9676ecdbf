"""``/zones``: the registry (geography, KPIs and reports come with the zones issue)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import select

from backend.auth.models import Role
from backend.auth.service import current_user, requires
from backend.errors import Forbidden, NotFound
from backend.extensions import db
from backend.schemas import StrictSchema
from zones.models import Zone, ZoneManager

blp = Blueprint("zones", __name__, url_prefix="/api/v1", description="Demonstration zones")


class ZoneSchema(StrictSchema):
    id = fields.Integer()
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    kind = fields.String()
    district = fields.String()


def managed_zone_ids(user) -> set[int] | None:
    """Return the ids of zones ``user`` manages, or ``None`` for the pilot office (all zones)."""
    if user.role == Role.PILOT_ADMIN:
        return None
    if user.role != Role.ZONE_MANAGER:
        return set()
    return set(db.session.execute(select(ZoneManager.zone_id).where(ZoneManager.user_id == user.id)).scalars())


@blp.route("/zones", methods=["GET"])
@requires()
@blp.response(200, ZoneSchema(many=True))
def list_zones():
    """Every demonstration zone (public facts: names, kind, district)."""
    return db.session.execute(select(Zone).order_by(Zone.id)).scalars().all()


@blp.route("/zones/<int:zone_id>", methods=["GET"])
@requires(Role.ZONE_MANAGER, Role.PILOT_ADMIN)
@blp.response(200, ZoneSchema)
def get_zone(zone_id):
    """One zone, for its managers and the pilot office."""
    zone = db.session.get(Zone, zone_id)
    if zone is None:
        raise NotFound("No such zone.", code="zone_not_found")
    allowed = managed_zone_ids(current_user())
    if allowed is not None and zone_id not in allowed:
        raise Forbidden("You do not manage this zone.", code="zone_forbidden")
    return zone
