"""Domain errors and the one renderer of ``application/problem+json``.

Every refusal the API makes carries a stable ``code`` that clients branch on;
``title`` and ``detail`` are for people. Field-level problems are listed under
``errors`` as ``{"field": ..., "reason": ...}``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, json, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from backend.problem_text import localise, wants_chinese

PROBLEM_MIME = "application/problem+json"


class DomainError(Exception):
    """A refusal with a stable code; rendered as problem+json.

    Subclasses set ``status`` and ``code``; instances may override both.
    """

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field
        self.extra = extra

    def to_problem(self) -> dict:
        """Return the problem+json body of this error."""
        body = {
            "type": f"/api/v1/problems#{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field:
            body["errors"] = [{"field": self.field, "reason": self.detail}]
        body.update(self.extra)
        return body


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = "Invalid input"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str, **kwargs: Any):
        super().__init__(detail, **kwargs)
        # RFC 9110 §15.5.2: a 401 names the scheme to authenticate with.
        self.headers.setdefault("WWW-Authenticate", f'Bearer error="{self.code}"')


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unprocessable(DomainError):
    """The request is well-formed but the business rules refuse it."""

    status = 422
    code = "unprocessable"
    title = "Refused"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"
    title = "Too many requests"


log = logging.getLogger(__name__)


def problem_response(body: dict, status: int, headers: dict | None = None) -> Response:
    """Return a Flask response carrying ``body`` as problem+json, its words in the language the client
    asks for (``Accept-Language``: Chinese or English, see ``backend.problem_text``)."""
    chinese = has_request_context() and wants_chinese(request.accept_languages)
    resp = Response(json.dumps(localise(body, chinese), ensure_ascii=False), status=status, mimetype=PROBLEM_MIME)
    resp.headers["Content-Language"] = "zh-CN" if chinese else "en"
    resp.vary.add("Accept-Language")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _flatten(messages: Any, prefix: str = "") -> list[dict]:
    """Turn webargs/marshmallow nested messages into ``[{field, reason}]``."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, val in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(val, name))
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            # An empty name means the body as a whole (e.g. malformed JSON).
            out.extend({"field": prefix or "body", "reason": m} for m in messages)
        else:
            for m in messages:
                out.extend(_flatten(m, prefix))
    else:
        out.append({"field": prefix, "reason": str(messages)})
    return out


_LOCATIONS = ("json", "query", "headers", "form", "files", "view_args", "path")


def _field_errors(messages: dict) -> list[dict]:
    errs = []
    for loc, inner in messages.items():
        # Field names are reported without the webargs location prefix: a
        # client wants "amount_fen", not "json.amount_fen".
        errs.extend(_flatten(inner) if loc in _LOCATIONS else _flatten({loc: inner}))
    return errs


def handle_http_exception(exc: HTTPException) -> Response:
    """Render any werkzeug HTTP exception (and webargs 422s) as problem+json."""
    headers: dict[str, str] = {}
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": exc.name,
        "status": exc.code,
        "detail": exc.description,
        "code": exc.name.lower().replace(" ", "_").replace("'", ""),
    }
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages:
        body["code"] = "validation_failed"
        body["title"] = "Invalid input"
        body["detail"] = "The request has invalid fields; see errors."
        body["errors"] = _field_errors(messages)
    if data.get("message"):
        body["detail"] = data["message"]
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    headers.update(data.get("headers") or {})
    return problem_response(body, exc.code or 500, headers)


def handle_domain_error(exc: DomainError) -> Response:
    """Render a domain error as problem+json."""
    return problem_response(exc.to_problem(), exc.status, exc.headers)


def handle_database_unavailable(exc: OperationalError) -> Response:
    """The database dropped the connection, restarted or is unreachable: a retryable 503.

    Nothing half-written stays behind (the transaction is gone with the
    connection), and a request whose COMMIT did land is replayed by its
    Idempotency-Key when the client retries.
    """
    from backend.extensions import db

    log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be gone; the pool replaces it
        db.session.close()
    body = {"type": "about:blank", "title": "Service briefly unavailable", "status": 503,
            "detail": "The database is unavailable for a moment; retry the same request (with the same "
                      "Idempotency-Key).", "code": "database_unavailable"}
    return problem_response(body, 503, {"Retry-After": "1"})


def handle_oversized_number(exc: ValueError) -> Response:
    """A JSON number too long to convert (Python refuses integers over 4,300 digits while decoding): a 400
    problem like any other malformed body, not a server error. Any other ``ValueError`` is a bug: re-raised."""
    if "integer string conversion" not in str(exc):
        raise exc
    body = {"type": "about:blank", "title": "Bad Request", "status": 400, "code": "bad_request",
            "detail": "The body holds a number too long to read.", "errors": [{"field": "body", "reason": str(exc)}]}
    return problem_response(body, 400)


def register(app: Flask) -> None:
    """Install the problem+json handlers on ``app`` (after flask-smorest's)."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(ValueError, handle_oversized_number)
