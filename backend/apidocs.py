"""Serve the Swagger UI assets from the installed package, so the browsable
API works with no internet (flask-smorest would otherwise load them from a CDN)."""

from __future__ import annotations

from flask import Blueprint, Flask, send_from_directory

ASSETS_URL = "/api/v1/swagger-ui/"


def init_app(app: Flask) -> None:
    """Register the asset route under ``ASSETS_URL``."""
    import swagger_ui_bundle

    bp = Blueprint("swagger_ui_assets", __name__)

    @bp.route(ASSETS_URL + "<path:filename>")
    def asset(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    app.register_blueprint(bp)
