"""Bounds on JSON request bodies, checked before anything parses them.

Python's JSON decoder recurses once per nesting level, so a body nested a few
thousand levels deep ends in ``RecursionError`` (a 500) and a huge body costs
memory and time before any schema sees it. Every JSON body is therefore
measured first: more than ``JSON_MAX_BYTES`` is a 413, nesting deeper than
``JSON_MAX_DEPTH`` a 400, both as problem+json. The API's deepest legitimate
body, a GeoJSON MultiPolygon inside a Feature, nests 7 levels.
"""

from __future__ import annotations

import re

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from backend.errors import DomainError

DEFAULT_MAX_BYTES = 256 * 1024  # zone outlines (GeoJSON) are the largest bodies: a few KiB
DEFAULT_MAX_DEPTH = 32

# A JSON string, or an unterminated one running to the end of the body: brackets
# inside do not nest. Possessive runs of plain bytes between escapes never
# backtrack, and a string that never closes swallows the rest (so a later quote
# is not tried again as a start), which keeps this linear in the body.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonTooDeep(DomainError):
    status = 400
    code = "json_too_deep"
    title = "Malformed request body"


class JsonTooLarge(DomainError):
    status = 413
    code = "json_too_large"
    title = "Request body too large"


def is_json(mimetype: str) -> bool:
    """True for the media types the API parses as JSON (as webargs does)."""
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def nests_deeper_than(body: bytes, limit: int) -> bool:
    """Return True if arrays and objects nest more than ``limit`` levels deep in ``body``.

    Brackets inside strings are skipped. For a body that is not JSON the
    answer is some guess; the decoder refuses such a body afterwards anyway.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # it cannot nest deeper than the brackets it opens
    depth = 0
    for b in _STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if b in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_json_body() -> None:
    """Refuse the current request's JSON body if it is too large (413) or nested too deep (400)."""
    if not request.content_length and request.headers.get("Transfer-Encoding") is None:
        return
    if not is_json(request.mimetype):
        return
    max_bytes = current_app.config.get("JSON_MAX_BYTES", DEFAULT_MAX_BYTES)
    max_depth = current_app.config.get("JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)
    too_large = JsonTooLarge(f"A JSON body may have at most {max_bytes} bytes.", max_bytes=max_bytes)
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    # A body without a length (chunked) is read no further than the limit.
    request.max_content_length = max_bytes
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    if nests_deeper_than(body, max_depth):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels is refused.", field="body",
                          max_depth=max_depth)


def init_app(app: Flask) -> None:
    """Check every JSON body before the views (and their schemas) parse it."""
    app.before_request(check_json_body)
