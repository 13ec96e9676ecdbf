"""``/api/v1/health``: liveness, and the no-op baseline the benchmarks measure against."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend import readdb
from backend.auth.service import public
from backend.http import respond

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


@blp.route("/health", methods=["GET"])
@public
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
