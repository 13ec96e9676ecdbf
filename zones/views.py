"""``/zones*``: registry and outlines, managers, locate, merchants, KPIs, ranking, reports, application summary.

Who may call what: ``GET /zones`` and ``GET /zones/locate`` any signed-in
user (the consumer app); everything about one zone its managers and the pilot
office (``zone_forbidden`` for a manager of another zone); creating and
editing zones, assigning managers, the ranking and the application summary
the pilot office only.
"""

from __future__ import annotations

import json

from flask import Response
from flask_smorest import Blueprint
from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from backend.auth.models import Role
from backend.auth.service import current_user, requires
from backend.clock import as_utc
from backend.http import respond
from backend.merchants.models import SCENARIOS, Merchant, MerchantStatus
from backend.readdb import read_heavy
from backend.schemas import BINARY, Id, PageQuery, Phone, StrictSchema
from zones import geometry, kpis, queries, registry, reports
from zones import responses as out
from zones.models import ZONE_KIND_NAMES, ZONE_KINDS, ReportPeriod, ReportStatus, Zone

blp = Blueprint("zones", __name__, url_prefix="/api/v1", description="Demonstration zones")

ZONE_STAFF = (Role.ZONE_MANAGER, Role.PILOT_ADMIN)


# ---------------------------------------------------------------- schemas


class ZoneListQuery(StrictSchema):
    with_outline = fields.Boolean(load_default=False, metadata={"description": "Include each zone's GeoJSON outline"})
    managed = fields.Boolean(load_default=False, metadata={"description": "Only the zones the caller manages "
                                                                          "(all of them for the pilot office)"})


class ZoneFields(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{2,32}$",
                                                                error="2–32 lowercase letters, digits or _."))
    name_zh = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name_en = fields.String(required=True, validate=validate.Length(min=1, max=80))
    kind = fields.String(required=True, validate=validate.OneOf(ZONE_KINDS))
    district = fields.String(required=True, validate=validate.Length(min=1, max=20))
    geometry = fields.Dict(required=True, metadata={
        "description": "GeoJSON outline (WGS 84, [longitude, latitude]): a Polygon, a MultiPolygon, or a Feature "
                       "with one. Invalid or self-intersecting outlines are refused with the reason."})


class ZonePatch(StrictSchema):
    code = fields.String(validate=validate.Regexp(r"^[a-z0-9_]{2,32}$", error="2–32 lowercase letters, digits or _."))
    name_zh = fields.String(validate=validate.Length(min=1, max=40))
    name_en = fields.String(validate=validate.Length(min=1, max=80))
    kind = fields.String(validate=validate.OneOf(ZONE_KINDS))
    district = fields.String(validate=validate.Length(min=1, max=20))
    geometry = fields.Dict(metadata={"description": "GeoJSON outline, as for POST /zones"})


class ManagerSchema(StrictSchema):
    user_id = Id()
    phone = Phone()

    @validates_schema
    def one_of(self, data, **kwargs):
        if ("user_id" in data) == ("phone" in data):
            raise ValidationError("Send either user_id or phone.", field_name="user_id")


class LocateQuery(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    radius_m = fields.Integer(load_default=500, validate=validate.Range(min=1, max=registry.LOCATE_MAX_RADIUS_M))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=registry.LOCATE_MAX_MERCHANTS))


class MerchantsQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(MerchantStatus.ALL))


class PeriodQuery(StrictSchema):
    """A period of local days, at most ``kpis.MAX_SPAN_DAYS`` (366) long (422 ``bad_period`` otherwise)."""

    day_from = fields.Date(data_key="from", metadata={
        "description": f"First local day (default: 29 days before 'to'); at most {kpis.MAX_SPAN_DAYS} days before "
                       "'to' and not after it"})
    day_to = fields.Date(data_key="to", metadata={"description": "Last local day, inclusive (default: today)"})


class RankingQuery(PeriodQuery):
    by = fields.String(load_default="payment_fen", validate=validate.OneOf(queries.RANKING_METRICS))


class SummaryQuery(StrictSchema):
    day_from = fields.Date(data_key="from",
                           metadata={"description": "Default: the thresholds' window ending yesterday; at most "
                                                    f"{kpis.MAX_SPAN_DAYS} days before 'to'"})
    day_to = fields.Date(data_key="to")
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class ReportRequest(StrictSchema):
    period = fields.String(required=True, validate=validate.OneOf(ReportPeriod.ALL))
    start = fields.Date(required=True, metadata={"description": "Monday (weekly) or the 1st (monthly)"})


class ReportListQuery(PageQuery):
    period = fields.String(validate=validate.OneOf(ReportPeriod.ALL))


class DownloadQuery(StrictSchema):
    format = fields.String(load_default="pdf", validate=validate.OneOf(("pdf", "csv")))


#: What each threshold can be (the service refuses the rest too).
_THRESHOLD_RANGE = {"window_days": (1, kpis.MAX_SPAN_DAYS), "scenarios_covered": (0, len(SCENARIOS))}

ThresholdsSchema = StrictSchema.from_dict({
    key: fields.Integer(required=True, strict=True, validate=validate.Range(*_THRESHOLD_RANGE.get(key, (0, 10**15))),
                        metadata={"description": f"{zh} {en} (a minimum; default {default})"})
    for key, (default, zh, en) in reports.THRESHOLDS.items()
}, name="ZoneThresholds")


# ---------------------------------------------------------------- JSON


def zone_json(z: Zone, *, outline: bool = False, merchant_count: int | None = None, extra: dict | None = None) -> dict:
    kind_zh, kind_en = ZONE_KIND_NAMES[z.kind]
    body = {"id": z.id, "code": z.code, "name_zh": z.name_zh, "name_en": z.name_en, "kind": z.kind,
            "kind_name": f"{kind_zh} {kind_en}", "district": z.district}
    if z.boundary_geojson:
        geom = geometry.load(z.boundary_geojson)
        c = geom.centroid
        body.update(bbox=[z.min_lon, z.min_lat, z.max_lon, z.max_lat],
                    centroid={"lat": round(c.y, 6), "lon": round(c.x, 6)},
                    area_km2=round(geometry.area_km2(geom), 3))
        if outline:
            body["outline"] = json.loads(z.boundary_geojson)
    if merchant_count is not None:
        body["merchant_count"] = merchant_count
    body.update(extra or {})
    body["updated_at"] = as_utc(z.updated_at).isoformat() if z.updated_at else None
    return body


def zone_detail(z: Zone) -> dict:
    enrolled = registry.scenarios_enrolled([z.id]).get(z.id, {})
    return zone_json(z, outline=True, merchant_count=sum(enrolled.values()), extra={
        "scenarios_enrolled": [s for s in SCENARIOS if s in enrolled],
        "managers": [manager_json(u) for u in registry.managers(z.id)],
    })


def manager_json(u) -> dict:
    return {"user_id": u.id, "phone": u.phone, "display_name": u.display_name}


def merchant_json(m: Merchant, zone_id: int | None = None, distance_m: int | None = None) -> dict:
    body = {"id": m.id, "name_zh": m.name_zh, "name_en": m.name_en, "scenario": m.scenario,
            "scenario_zh": SCENARIOS[m.scenario], "mcc": m.mcc, "address": m.address, "latitude": m.latitude,
            "longitude": m.longitude, "status": m.status, "verified": m.status == MerchantStatus.APPROVED}
    if zone_id is not None or distance_m is not None:
        body["zone_id"] = zone_id
    if distance_m is not None:
        body["distance_m"] = distance_m
    return body


# ---------------------------------------------------------------- registry


@blp.route("/zones", methods=["GET"])
@requires()
@blp.arguments(ZoneListQuery, location="query")
@blp.response(200, out.ZoneSchema(many=True))
def list_zones(args):
    """Every demonstration zone (public facts: names, kind, district, centre; the outline on request);
    ``managed=true`` keeps the caller's own zones."""
    zones = registry.all_zones()
    if args["managed"]:
        allowed = registry.managed_zone_ids(current_user())
        zones = [z for z in zones if allowed is None or z.id in allowed]
    return respond([zone_json(z, outline=args["with_outline"]) for z in zones], 200)


@blp.route("/zones", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ZoneFields)
@blp.response(201, out.ZoneDetailSchema)
def create_zone(args):
    """Create a zone from a GeoJSON outline (pilot office); merchants inside it are placed in it."""
    zone = registry.create_zone(args)
    return respond(zone_detail(zone), 201)


@blp.route("/zones/<id(bits=32):zone_id>", methods=["GET"])
@requires(*ZONE_STAFF)
@blp.response(200, out.ZoneDetailSchema)
def get_zone(zone_id):
    """One zone with its outline, merchant count and managers (its managers and the pilot office)."""
    return respond(zone_detail(registry.zone_for(current_user(), zone_id)), 200)


@blp.route("/zones/<id(bits=32):zone_id>", methods=["PUT"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ZoneFields)
@blp.response(200, out.ZoneDetailSchema)
def replace_zone(args, zone_id):
    """Replace a zone's facts and outline (pilot office); merchants are placed again and figures follow them."""
    return respond(zone_detail(registry.update_zone(zone_id, args)), 200)


@blp.route("/zones/<id(bits=32):zone_id>", methods=["PATCH"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ZonePatch)
@blp.response(200, out.ZoneDetailSchema)
def patch_zone(args, zone_id):
    """Change some of a zone's facts or its outline (pilot office)."""
    return respond(zone_detail(registry.update_zone(zone_id, args)), 200)


@blp.route("/zones/<id(bits=32):zone_id>/managers", methods=["GET"])
@requires(*ZONE_STAFF)
@blp.response(200, out.ManagerListSchema)
def list_managers(zone_id):
    """The zone's managers."""
    registry.zone_for(current_user(), zone_id)
    return respond({"items": [manager_json(u) for u in registry.managers(zone_id)]}, 200)


@blp.route("/zones/<id(bits=32):zone_id>/managers", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ManagerSchema)
@blp.response(201, out.AssignedSchema)
@blp.alt_response(200, schema=out.AssignedSchema, description="Already assigned", success=True)
def add_manager(args, zone_id):
    """Assign a zone manager (by user id or phone) to the zone (pilot office). 201 if new, 200 if already."""
    user, created = registry.assign_manager(zone_id, args.get("user_id"), args.get("phone"))
    return respond({"zone_id": zone_id, **manager_json(user)}, 201 if created else 200)


@blp.route("/zones/<id(bits=32):zone_id>/managers/<id(bits=32):user_id>", methods=["DELETE"])
@requires(Role.PILOT_ADMIN)
@blp.response(204)
def remove_manager(zone_id, user_id):
    """End a manager's assignment to the zone (pilot office)."""
    registry.remove_manager(zone_id, user_id)
    return Response(status=204)


# ---------------------------------------------------------------- geography


@blp.route("/zones/locate", methods=["GET"])
@requires()
@blp.arguments(LocateQuery, location="query")
@blp.response(200, out.LocateSchema)
def locate(args):
    """Which zone a point is in (or none), and the verified merchants within ``radius_m``, nearest first."""
    found = registry.locate(args["lat"], args["lon"], args["radius_m"], args["limit"])
    zone = found["zone"]
    return respond({
        "point": {"lat": args["lat"], "lon": args["lon"]},
        "zone": zone_json(zone) if zone else None,
        "radius_m": found["radius_m"],
        "merchants": [merchant_json(i["merchant"], i["zone_id"], i["distance_m"]) for i in found["merchants"]],
    }, 200)


@blp.route("/zones/<id(bits=32):zone_id>/merchants", methods=["GET"])
@requires(*ZONE_STAFF)
@blp.arguments(MerchantsQuery, location="query")
@blp.response(200, out.ZoneMerchantPageSchema)
def zone_merchants(args, zone_id):
    """The merchants placed in the zone, newest first (keyset-paged by id)."""
    registry.zone_for(current_user(), zone_id)
    rows = registry.zone_merchants(zone_id, status=args.get("status"), limit=args["limit"] + 1,
                                   before=args.get("before"))
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return respond({"items": [merchant_json(m) for m in rows],
                    "next_before": rows[-1].id if more and rows else None}, 200)


# ---------------------------------------------------------------- KPIs


@blp.route("/zones/<id(bits=32):zone_id>/kpis", methods=["GET"])
@requires(*ZONE_STAFF)
@blp.arguments(PeriodQuery, location="query")
@blp.response(200, out.KpisSchema)
def zone_kpis(args, zone_id):
    """The zone's figures by local day and for the period (definitions: the zones.kpis module)."""
    zone = registry.zone_for(current_user(), zone_id)
    day_from, day_to = queries.default_span(args.get("day_from"), args.get("day_to"))
    # Heavy and read-only: the replica while it is fresh (backend/readdb.py).
    return respond(read_heavy(queries.zone_kpis, zone, day_from, day_to), 200)


@blp.route("/zones/ranking", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(RankingQuery, location="query")
@blp.response(200, out.RankingSchema)
def ranking(args):
    """All zones ranked by one figure over the period (pilot office)."""
    day_from, day_to = queries.default_span(args.get("day_from"), args.get("day_to"))
    return respond(read_heavy(queries.ranking, day_from, day_to, args["by"]), 200)


# ---------------------------------------------------------------- reports


@blp.route("/zones/<id(bits=32):zone_id>/reports", methods=["POST"])
@requires(*ZONE_STAFF)
@blp.arguments(ReportRequest)
@blp.response(201, out.ZoneReportSchema)
@blp.alt_response(202, schema=out.ZoneReportSchema, description="Accepted: being built", success=True)
def request_report(args, zone_id):
    """Build the zone's periodic scenario report now (PDF + CSV); 201 when ready, 202 while it is built."""
    user = current_user()
    zone = registry.zone_for(user, zone_id)
    report = reports.request_report(user, zone, args["period"], args["start"])
    return respond(reports.report_json(report), 201 if report.status == ReportStatus.READY else 202)


@blp.route("/zones/<id(bits=32):zone_id>/reports", methods=["GET"])
@requires(*ZONE_STAFF)
@blp.arguments(ReportListQuery, location="query")
@blp.response(200, out.ReportPageSchema)
def list_reports(args, zone_id):
    """The zone's reports, scheduled and on demand, newest period first."""
    registry.zone_for(current_user(), zone_id)
    rows = reports.list_reports(zone_id, period=args.get("period"), limit=args["limit"] + 1,
                                before=args.get("before"))
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return respond({"items": [reports.report_json(r) for r in rows],
                    "next_before": rows[-1].id if more and rows else None}, 200)


@blp.route("/zones/<id(bits=32):zone_id>/reports/<id(bits=32):report_id>", methods=["GET"])
@requires(*ZONE_STAFF)
@blp.arguments(DownloadQuery, location="query")
@blp.response(200, BINARY, content_type="application/pdf")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
def download_report(args, zone_id, report_id):
    """Download a ready report as PDF (default) or CSV."""
    zone = registry.zone_for(current_user(), zone_id)
    body, mimetype, filename = reports.download(zone, report_id, args["format"])
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---------------------------------------------------------------- application summary


@blp.route("/zones/application-thresholds", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.response(200, ThresholdsSchema)
def get_thresholds():
    """The thresholds a zone must reach to be put forward as a demonstration zone (pilot office)."""
    return respond(reports.thresholds(), 200)


@blp.route("/zones/application-thresholds", methods=["PUT"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(ThresholdsSchema)
@blp.response(200, ThresholdsSchema)
def put_thresholds(args):
    """Set every threshold (pilot office)."""
    return respond(reports.set_thresholds(current_user(), args), 200)


@blp.route("/zones/application-summary", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(SummaryQuery, location="query")
@blp.response(200, out.SummarySchema)
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)
def application_summary(args):
    """Each zone's figures against the thresholds, and what is still missing (pilot office); JSON or CSV."""
    summary = read_heavy(reports.application_summary, args.get("day_from"), args.get("day_to"))
    if args["format"] == "csv":
        name = f"zone-application-summary-{summary['from']}-{summary['to']}.csv"
        return Response(reports.summary_csv(summary).encode("utf-8"), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return respond(summary, 200)
