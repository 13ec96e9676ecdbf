"""Small helpers shared by the views."""

from __future__ import annotations

from flask import Response, json

from backend.errors import PROBLEM_MIME


def respond(body: dict, status: int) -> Response:
    """Return ``body`` as JSON, or as problem+json for a 4xx/5xx status."""
    mimetype = PROBLEM_MIME if status >= 400 else "application/json"
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=mimetype)
