"""``/auth/*`` and ``/me``."""

from __future__ import annotations

from flask import make_response, request
from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend.auth import service, throttle
from backend.auth.models import Role
from backend.auth.service import current_user, public, requires
from backend.http import respond
from backend.payments import keys
from backend.payments.views import KeyListSchema
from backend.schemas import Password, Phone, StrictSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Identity: register, log in, tokens")


class RegisterSchema(StrictSchema):
    phone = Phone(required=True)
    password = Password(required=True)
    role = fields.String(load_default="consumer", validate=validate.OneOf(("consumer", "merchant_owner")))
    display_name = fields.String(load_default="", validate=validate.Length(max=64))


class LoginSchema(StrictSchema):
    phone = Phone(required=True)
    password = fields.String(required=True, load_only=True)


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class UserSchema(StrictSchema):
    id = fields.Integer(required=True)
    phone = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(Role.ALL))
    display_name = fields.String(required=True)
    bank_id = fields.Integer(required=True, allow_none=True)


class LoginAlertsSchema(StrictSchema):
    failed = fields.Integer(metadata={"description": "Wrong passwords from clients other than the account's "
                                                     "known devices"})
    blocked = fields.Integer(metadata={"description": "Attempts from such clients slowed down or refused"})
    first_at = fields.AwareDateTime(allow_none=True)
    last_at = fields.AwareDateTime(allow_none=True)
    window_hours = fields.Integer(metadata={"description": "Kept this long after the last attempt"})


class MeSchema(UserSchema):
    login_alerts = fields.Nested(LoginAlertsSchema, metadata={
        "description": "Log-in attempts from unknown clients: the apps tell the owner when someone is trying"})


class AccessTokenSchema(StrictSchema):
    token = fields.String(required=True, metadata={
        "description": "Access token (a signed JWT, short-lived); send as 'Authorization: Bearer <token>'. When "
                       "a request answers 401 token_expired, get a new one from POST /auth/refresh"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the access token stays valid"})


class TokenSchema(AccessTokenSchema):
    refresh_token = fields.String(required=True, metadata={
        "description": "Long-lived token of this session, kept by the client and sent only to POST /auth/refresh; "
                       "it ends with POST /auth/logout or when staff revoke the account"})
    device_token = fields.String(metadata={
        "description": "Proof that this device (X-Device-Id) logged in to the account: send it back as "
                       "X-Device-Token when logging in, and other clients' failures never slow this device down. "
                       "Also set as the sy_known_device cookie for the console."})
    user = fields.Nested(MeSchema, required=True)


DEVICE_HEADERS = {"parameters": [
    {"in": "header", "name": throttle.DEVICE_ID_HEADER, "required": False,
     "schema": {"type": "string", "maxLength": 64}, "description": "This installation's id (the apps send it)"},
    {"in": "header", "name": throttle.DEVICE_TOKEN_HEADER, "required": False, "schema": {"type": "string"},
     "description": "The device_token of an earlier log-in on this device"},
]}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
TOO_MANY = {"description": "login_slowed (wait Retry-After seconds), login_refused (too many failures from "
                           "this client; Retry-After) or registration_limited", "headers": {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}}


def _signed_in(user, session: service.Session):
    """The log-in/registration answer: the tokens, this device's proof of log-in (also as a cookie), the user."""
    device_token = throttle.issue_device_token(user.id)
    body = TokenSchema().dump({"token": session.access_token, "expires_in": session.expires_in,
                               "refresh_token": session.refresh_token, "device_token": device_token,
                               "user": _me(user)})
    return body, device_token


def _me(user) -> dict:
    return {**UserSchema().dump(user), "login_alerts": throttle.alerts(user.id)}


def _with_cookie(body: dict, status: int, device_token: str):
    resp = make_response(body, status)
    resp.set_cookie(throttle.DEVICE_COOKIE, device_token, max_age=180 * 86400, httponly=True, samesite="Strict",
                    secure=request.is_secure, path="/api/v1/auth")
    return resp


@blp.route("/auth/register", methods=["POST"])
@public
@blp.arguments(RegisterSchema)
@blp.doc(**DEVICE_HEADERS)
@blp.response(201, TokenSchema)
@blp.alt_response(429, description=TOO_MANY["description"], headers=TOO_MANY["headers"])
def register(args):
    """Register a consumer or merchant owner by phone and password (limited per address)."""
    user, session = service.register(args["phone"], args["password"], args["role"], args["display_name"])
    body, device_token = _signed_in(user, session)
    return _with_cookie(body, 201, device_token)


@blp.route("/auth/login", methods=["POST"])
@public
@blp.arguments(LoginSchema)
@blp.doc(**DEVICE_HEADERS)
@blp.response(200, TokenSchema)
@blp.alt_response(429, description=TOO_MANY["description"], headers=TOO_MANY["headers"])
def login(args):
    """Log in; returns a new session (access and refresh token) and this device's proof of log-in.

    Wrong passwords slow an unknown client down, then refuse it, per phone,
    address and device; a device that logged in before (X-Device-Token) is
    slowed only by its own failures.
    """
    user, session = service.login(args["phone"], args["password"])
    body, device_token = _signed_in(user, session)
    return _with_cookie(body, 200, device_token)


@blp.route("/auth/refresh", methods=["POST"])
@public
@blp.arguments(RefreshSchema)
@blp.response(200, AccessTokenSchema)
@blp.alt_response(401, description="invalid_token, token_revoked (logged out, or staff revoked the account's "
                                   "tokens), token_expired (the session is over) or account_disabled: log in again")
def refresh(args):
    """Exchange the session's refresh token for a new access token (no password; the session stays the same)."""
    token, expires_in = service.refresh(args["refresh_token"])
    return {"token": token, "expires_in": expires_in}


@blp.route("/auth/logout", methods=["POST"])
@requires()
@blp.response(204)
@blp.alt_response(503, description="auth_unavailable: the revocation list could not be told; nothing changed, "
                                   "retry (Retry-After)", headers=RETRY_AFTER)
def logout():
    """End the session this request was made with: its refresh token and every access token it bought are
    refused from now on, by every worker."""
    service.end_session(current_user().sid)


@blp.route("/auth/keys", methods=["GET"])
@public
@blp.response(200, KeyListSchema)
def access_keys():
    """The public keys that sign access tokens (Ed25519, by key id; JWS alg EdDSA), active and recently
    retired: a retired key verifies until the last token it signed has expired."""
    return respond({"keys": [keys.key_json(k) for k in keys.published(keys.ACCESS)]}, 200)


@blp.route("/me", methods=["GET"])
@requires()
@blp.response(200, MeSchema)
def me():
    """The signed-in user, with the log-in attempts from unknown clients of the last day."""
    return _me(current_user())
