"""The OpenAPI document as the contract: one Problem schema for every error, ids' range, the Swagger UI.

``SuiyuanApi`` is flask-smorest's ``Api`` with our conventions: errors are
``application/problem+json`` bodies of ``ProblemSchema`` (not flask-smorest's
own error schema), there is no catch-all ``default`` response, and path ids
(``<id:…>``) carry their range. ``document_problems`` then lists, on every
operation, the error statuses it can answer, so a generated client can
validate every response it gets. The Swagger UI assets are served from the
installed package, so the browsable API works with no internet.
"""

from __future__ import annotations

import http

from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from backend.errors import PROBLEM_MIME
from backend.http import IdConverter, TextConverter, id_param_schema, refuse_unreadable_body
from backend.schemas import ProblemSchema

ASSETS_URL = "/api/v1/swagger-ui/"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class SuiyuanApi(Api):
    ERROR_SCHEMA = ProblemSchema
    # Every error status an operation can answer is listed (``document_problems``), so no ``default``.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def init_app(self, app: Flask, *, spec_kwargs: dict | None = None) -> None:
        # Before any blueprint: rules are bound to their converters when added.
        app.url_map.converters["id"] = IdConverter
        app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
        app.before_request(refuse_unreadable_body)
        super().init_app(app, spec_kwargs=spec_kwargs)
        self._register_converter(IdConverter, id_param_schema)

    def _register_responses(self) -> None:
        """Register a lazy ``#/components/responses/<NAME>`` per HTTP status: problem+json for errors."""
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM_MIME)
            self.spec.components.response(status.name, response, lazy=True)


#: What the public operations that write answer besides bad input: a wrong password (401), a phone already
#: registered (409), throttling (429), a refresh token that no longer buys access tokens (401).
PUBLIC_PROBLEMS = {
    ("post", "/api/v1/auth/login"): {401, 429},
    ("post", "/api/v1/auth/register"): {409, 429},
    ("post", "/api/v1/auth/refresh"): {401},
}


def problem_statuses(path: str, method: str, op: dict, path_params: list[dict]) -> set[int]:
    """The error statuses an operation can answer, from what the operation is.

    Any signed-in call can be refused (401) or forbidden (403, by role or because the
    thing is not the caller's) and may name something that does not exist (404); any
    input can be invalid (422); a body can be malformed (400), too large (413) or not JSON (415); a
    write can conflict (409, including an Idempotency-Key reused with another body);
    and the database can be unavailable for a moment (503, retry).
    """
    statuses: set[int] = set()
    secured = bool(op.get("security"))
    params = op.get("parameters") or []
    has_body = "requestBody" in op
    if secured:
        statuses |= {401, 403, 404}
    if path_params:
        statuses.add(404)  # an id out of range, or nothing by that id
    # A path part that is not an id (a date, a bank code) is checked by the view: 422 naming it.
    free_path_part = any(p.get("schema", {}).get("type") == "string" for p in path_params)
    if params or has_body or free_path_part or (secured and method != "get"):
        statuses.add(422)
    if has_body:
        statuses |= {400, 413, 415}
    if method != "get" and secured:
        statuses.add(409)
    statuses |= PUBLIC_PROBLEMS.get((method, path), set())
    if path != "/api/v1/health":
        statuses.add(503)
    return statuses


def document_problems(api: Api) -> None:
    """Add each operation's problem+json error responses to the spec (after every blueprint is registered).

    Statuses a view documents itself (``@blp.alt_response``) are kept.
    """
    spec = api.spec
    for path, item in spec._paths.items():
        path_params = [p for p in item.get("parameters", []) if isinstance(p, dict) and p.get("in") == "path"]
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            _body_required_only_with_required_fields(spec, op)
            responses = {str(k): v for k, v in op.get("responses", {}).items()}
            for status, response in responses.items():
                # A view may describe an error (``@blp.alt_response(409, description="…codes…")``): its body
                # is still the one Problem.
                if status[0] in "45" and "$ref" not in response and not response.get("content"):
                    response["content"] = {PROBLEM_MIME: {"schema": spec.components.get_ref("schema", "Problem")}}
            for status in sorted(problem_statuses(path, method, op, path_params)):
                responses.setdefault(str(status), spec.components.get_ref("response", http.HTTPStatus(status).name))
            op["responses"] = dict(sorted(responses.items()))


def _body_required_only_with_required_fields(spec, op: dict) -> None:
    """An empty body is taken as ``{}``: where no field is required, the body is not required either."""
    body = op.get("requestBody")
    if not body:
        return
    for media in body.get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        schema = spec.components.schemas.get(ref.rsplit("/", 1)[-1]) if ref else media.get("schema")
        if isinstance(schema, dict) and not schema.get("required"):
            body["required"] = False


def init_app(app: Flask, api: Api) -> None:
    """Finish the document and register the Swagger UI asset route under ``ASSETS_URL``."""
    import swagger_ui_bundle

    document_problems(api)
    bp = Blueprint("swagger_ui_assets", __name__)

    @bp.route(ASSETS_URL + "<path:filename>")
    def asset(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    app.register_blueprint(bp)
