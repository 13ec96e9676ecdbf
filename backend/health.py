"""``/api/v1/health``: liveness, and the no-op baseline the benchmarks measure against."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend import readdb
from backend.auth.service import public
from backend.http import respond
from backend.schemas import StrictSchema

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


class ReplicaHealthSchema(StrictSchema):
    serving_reads = fields.Boolean(metadata={"description": "Heavy reads go to the replica now (else the primary)"})
    lag_s = fields.Float(allow_none=True, metadata={"description": "Seconds behind the primary; null: not measured"})
    max_lag_s = fields.Float(metadata={"description": "READ_MAX_LAG_SECONDS: beyond it reads go to the primary"})
    error = fields.String(allow_none=True, metadata={"description": "Why the replica did not answer, if it did not"})


class HealthSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(("ok",)))
    replica = fields.Nested(ReplicaHealthSchema, metadata={"description": "Only with READ_DATABASE_URL set"})


@blp.route("/health", methods=["GET"])
@public
@blp.response(200, HealthSchema)
def health():
    """``{"status": "ok"}``: touches neither the database nor Redis. With a read replica configured
    (``READ_DATABASE_URL``) also ``replica``: its lag, the bound, and whether it serves reads now (measured at
    most once a second per process; a lagging or absent replica only sends reads back to the primary, so the
    node stays healthy)."""
    body = {"status": "ok"}
    status = readdb.replica_status()
    if status.configured:
        body["replica"] = status.as_json()
    return respond(body, 200)
