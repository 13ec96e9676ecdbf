"""Small helpers shared by the views."""

from __future__ import annotations

from flask import Response, json, request
from werkzeug.routing import IntegerConverter, UnicodeConverter

from backend.errors import PROBLEM_MIME
from backend.schemas import ID_MAX, ID_MIN, id_doc


def _up_to(limit: int) -> str:
    """A regular expression (no groups) matching exactly the decimal numbers 1..``limit``, no leading zeros."""
    n = str(limit)
    # [0-9], not \d: that would also match other scripts' digits, which int() accepts.
    alternatives = [rf"[1-9][0-9]{{0,{len(n) - 2}}}"]  # fewer digits than ``limit``
    for i, digit in enumerate(n):  # as many digits: equal up to position i, then smaller
        low = "1" if i == 0 else "0"
        if int(digit) > int(low):
            rest = len(n) - i - 1
            alternatives.append(f"{n[:i]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(n)
    return "(?:" + "|".join(alternatives) + ")"


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: a row id of a BIGINT table, 1..2^63−1; ``<id(bits=32):name>`` one of an
    INTEGER table, 1..2^31−1. Anything else does not match the route (404).

    The range is in the pattern itself, not only in ``to_python``: werkzeug answers 405 instead of
    404 when a rule of another method matches a path whose conversion failed.
    """

    def __init__(self, map, bits: int = 64):
        super().__init__(map, min=ID_MIN, max=ID_MAX[bits])
        self.bits = bits
        self.regex = _up_to(ID_MAX[bits])


class TextConverter(UnicodeConverter):
    """The default ``<name>``/``<string:name>`` path part, without control characters: a NUL cannot reach a
    query (PostgreSQL refuses it in text, as a server error); such a path matches no route (404)."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]")


def id_param_schema(converter: IdConverter) -> dict:
    """The OpenAPI schema of an ``<id:…>`` path parameter."""
    return id_doc(converter.bits)


def _takes_a_form() -> bool:
    """Whether the request's view documents a form or file body (``@blp.arguments(…, location="files")``)."""
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    parameters = (getattr(view, "_apidoc", None) or {}).get("arguments", {}).get("parameters", ())
    return any(p.get("in") in ("files", "form") for p in parameters)


def refuse_unreadable_body() -> Response | None:
    """Before any view: a body that is not JSON is refused (415), not read as an empty object — a refund
    sent as a form would otherwise refund everything. Requests without a body are not affected, nor a
    multipart form sent to a view that documents one (a file upload)."""
    from webargs.flaskparser import is_json_request

    if request.method in ("POST", "PUT", "PATCH") and (request.content_length or request.headers.get(
            "Transfer-Encoding")) and not is_json_request(request) and not (
            request.mimetype == "multipart/form-data" and _takes_a_form()):
        body = {"type": "about:blank", "title": "Unsupported Media Type", "status": 415,
                "code": "unsupported_media_type", "detail": "Send the body as JSON (Content-Type: application/json).",
                "errors": [{"field": "Content-Type", "reason": f"{request.mimetype or 'none'} is not JSON"}]}
        return respond(body, 415)
    return None


def respond(body: dict, status: int) -> Response:
    """Return ``body`` as JSON, or as problem+json for a 4xx/5xx status."""
    mimetype = PROBLEM_MIME if status >= 400 else "application/json"
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=mimetype)
