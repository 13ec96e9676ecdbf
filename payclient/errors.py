"""Exceptions of the API client: problem+json refusals and network failures.

Every refusal the server sends is ``application/problem+json`` with a stable
``code``; :func:`from_response` turns it into an :class:`ApiError` subclass
chosen by HTTP status, so callers can catch broadly (``ApiError``), by kind
(``Unprocessable``) or branch on ``exc.code`` (``"insufficient_funds"``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError", "AuthError", "BadRequest", "ConflictError", "NetworkError", "NotFoundError", "PayclientError",
    "PermissionDenied", "RateLimited", "ServerError", "Unprocessable", "ValidationError", "from_response",
]


class PayclientError(Exception):
    """Base of everything the client raises on purpose."""


class NetworkError(PayclientError):
    """The server could not be reached, or the connection broke before an answer arrived.

    ``pending_key`` is the Idempotency-Key of a money-moving request left in the
    outbox: it may or may not have been applied, and retrying it (same key) is safe.
    """

    def __init__(self, message: str, *, pending_key: str | None = None):
        super().__init__(message)
        self.pending_key = pending_key


class ApiError(PayclientError):
    """The server refused a request (a problem+json response).

    Attributes: ``status`` (HTTP), ``code`` (stable reason), ``title``,
    ``detail``, ``errors`` (``[{field, reason}]``), ``body`` (the whole problem).
    """

    def __init__(self, status: int, code: str, detail: str = "", *, title: str = "",
                 errors: list[dict] | None = None, body: dict | None = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = list(errors or [])
        self.body = dict(body or {})

    @property
    def field_errors(self) -> dict[str, str]:
        """Return ``{field: reason}`` of the invalid fields."""
        return {e.get("field", ""): e.get("reason", "") for e in self.errors}

    def get(self, name: str, default: Any = None) -> Any:
        """Return an extra member of the problem body (``limit_fen``, ``remaining_fen``…)."""
        return self.body.get(name, default)


class BadRequest(ApiError):
    """400."""


class AuthError(ApiError):
    """401: missing, expired, revoked token or wrong credentials: log in again."""


class PermissionDenied(ApiError):
    """403."""


class NotFoundError(ApiError):
    """404."""


class ConflictError(ApiError):
    """409: the state does not allow it (already paid, expired, key reused…)."""


class Unprocessable(ApiError):
    """422 refused by business rules (insufficient funds, limits, a code that must not be paid)."""


class ValidationError(Unprocessable):
    """422 ``validation_failed``: the request had invalid fields; see ``field_errors``."""


class RateLimited(ApiError):
    """429."""


class ServerError(ApiError):
    """5xx."""


_BY_STATUS = {400: BadRequest, 401: AuthError, 403: PermissionDenied, 404: NotFoundError, 409: ConflictError,
              422: Unprocessable, 429: RateLimited}


def from_problem(status: int, body: dict | None, fallback_detail: str = "") -> ApiError:
    """Return the exception for an error ``status`` and its (problem+json) ``body``."""
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or f"http_{status}")
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, ApiError)
    if cls is Unprocessable and code == "validation_failed":
        cls = ValidationError
    return cls(status, code, str(body.get("detail") or fallback_detail), title=str(body.get("title") or ""),
               errors=body.get("errors"), body=body)


def from_response(resp) -> ApiError:
    """Return the exception for a ``requests`` response with an error status."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    return from_problem(resp.status_code, body, fallback_detail=(resp.text or "")[:200])
