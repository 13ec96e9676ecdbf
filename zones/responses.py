"""The zones endpoints' response bodies, for the OpenAPI document (the views build the JSON)."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.merchants.models import SCENARIOS, MerchantStatus
from backend.schemas import OpenSchema, StrictSchema
from zones.models import ZONE_KINDS, ReportPeriod, ReportStatus


class PointSchema(StrictSchema):
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)


class ManagerOutSchema(StrictSchema):
    user_id = fields.Integer(required=True)
    phone = fields.String(required=True)
    display_name = fields.String(required=True)


class ZoneSchema(StrictSchema):
    """A zone; ``bbox``, ``centroid`` and ``area_km2`` once it has an outline, ``outline`` when asked for."""

    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ZONE_KINDS))
    kind_name = fields.String(required=True)
    district = fields.String(required=True)
    bbox = fields.List(fields.Float(), validate=validate.Length(equal=4),
                       metadata={"description": "[min_lon, min_lat, max_lon, max_lat]"})
    centroid = fields.Nested(PointSchema)
    area_km2 = fields.Float()
    outline = fields.Dict(metadata={"description": "GeoJSON Polygon or MultiPolygon"})
    updated_at = fields.DateTime(required=True, allow_none=True)


class ZoneDetailSchema(ZoneSchema):
    merchant_count = fields.Integer(required=True)
    scenarios_enrolled = fields.List(fields.String(validate=validate.OneOf(tuple(SCENARIOS))), required=True)
    managers = fields.List(fields.Nested(ManagerOutSchema), required=True)


class ManagerListSchema(StrictSchema):
    items = fields.List(fields.Nested(ManagerOutSchema), required=True)


class AssignedSchema(ManagerOutSchema):
    zone_id = fields.Integer(required=True)


class ZoneMerchantSchema(StrictSchema):
    id = fields.Integer(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    scenario = fields.String(required=True, validate=validate.OneOf(tuple(SCENARIOS)))
    scenario_zh = fields.String(required=True)
    mcc = fields.String(required=True)
    address = fields.String(required=True)
    latitude = fields.Float(required=True)
    longitude = fields.Float(required=True)
    status = fields.String(required=True, validate=validate.OneOf(MerchantStatus.ALL))
    verified = fields.Boolean(required=True)
    zone_id = fields.Integer(allow_none=True)
    distance_m = fields.Integer()


class ZoneMerchantPageSchema(StrictSchema):
    items = fields.List(fields.Nested(ZoneMerchantSchema), required=True)
    next_before = fields.Integer(required=True, allow_none=True)


class LocateSchema(StrictSchema):
    point = fields.Nested(PointSchema, required=True)
    zone = fields.Nested(ZoneSchema, required=True, allow_none=True)
    radius_m = fields.Integer(required=True)
    merchants = fields.List(fields.Nested(ZoneMerchantSchema), required=True,
                            metadata={"description": "Verified merchants within radius_m, nearest first"})


class KpisSchema(OpenSchema):
    """Definitions of each figure: the zones.kpis module."""

    zone = fields.Dict(required=True)
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)
    timezone = fields.String(required=True)
    days = fields.List(fields.Dict(), required=True)
    totals = fields.Dict(required=True)
    plugins = fields.Dict(required=True, metadata={
        "description": "Plug-ins' figures for the zone by name, e.g. `transit`: taps at the stops in the zone, "
                       "offline share and settlement delay (definitions: the transit.figures module)"})
    as_of = fields.DateTime(required=True)


class RankingSchema(OpenSchema):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)
    by = fields.String(required=True)
    items = fields.List(fields.Dict(), required=True)


class DownloadsSchema(StrictSchema):
    pdf = fields.String(required=True)
    csv = fields.String(required=True)


class ZoneReportSchema(StrictSchema):
    id = fields.Integer(required=True)
    zone_id = fields.Integer(required=True)
    period = fields.String(required=True, validate=validate.OneOf(ReportPeriod.ALL))
    period_name = fields.String(required=True)
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ReportStatus.ALL))
    error = fields.String(required=True, allow_none=True)
    requested_by_user_id = fields.Integer(required=True, allow_none=True)
    scheduled = fields.Boolean(required=True)
    requested_at = fields.DateTime(required=True)
    built_at = fields.DateTime(required=True, allow_none=True)
    downloads = fields.Nested(DownloadsSchema, required=True, allow_none=True,
                              metadata={"description": "Once the report is ready"})


class ReportPageSchema(StrictSchema):
    items = fields.List(fields.Nested(ZoneReportSchema), required=True)
    next_before = fields.Integer(required=True, allow_none=True)


class SummarySchema(OpenSchema):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)
    thresholds = fields.Dict(required=True)
    ready_count = fields.Integer(required=True)
    zones = fields.List(fields.Dict(), required=True)
