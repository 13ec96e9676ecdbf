"""The web console: public static files under ``static/`` served at ``/console/`` and ``/static/``.

The console holds no data and no secrets: its pages call ``/api/v1`` with the
bearer token the person got at log-in (kept in the tab's ``sessionStorage``),
so these routes need no authentication. ``/`` redirects to the console.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CONSOLE_DIR = STATIC_DIR / "console"

#: Scripts only from this origin (the chart and map libraries are vendored under static/vendor/);
#: inline styles are allowed because Chart.js and Leaflet size and place elements with them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

blp = Blueprint("console", __name__)


@blp.after_request
def _headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    return resp


@blp.route("/")
def root():
    """The site's front page is the console."""
    return redirect("/console/", code=302)


@blp.route("/console")
def console_no_slash():
    return redirect("/console/", code=301)


@blp.route("/console/")
def console_index():
    """The console's single page (its views are chosen by the URL fragment)."""
    # No caching of the shell, so a deploy is picked up at the next load.
    return send_from_directory(CONSOLE_DIR, "index.html", max_age=0)


@blp.route("/static/<path:filename>")
def static_file(filename: str):
    """Scripts, styles and the vendored libraries (404 outside ``static/``)."""
    return send_from_directory(STATIC_DIR, filename, max_age=300)

