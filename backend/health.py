"""``/api/v1/health``: liveness, and the no-op baseline the benchmarks measure against."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.service import public
from backend.http import respond

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


@blp.route("/health", methods=["GET"])
@public
def health():
    """Always ``{"status": "ok"}``: touches neither the database nor Redis."""
    return respond({"status": "ok"}, 200)
