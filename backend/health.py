"""``/api/v1/health``: liveness, and the no-op baseline the benchmarks measure against."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend.auth.service import public
from backend.http import respond
from backend.schemas import StrictSchema

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


class HealthSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


@blp.route("/health", methods=["GET"])
@public
@blp.response(200, HealthSchema)
def health():
    """Always ``{"status": "ok"}``: touches neither the database nor Redis."""
    return respond({"status": "ok"}, 200)
