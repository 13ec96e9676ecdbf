"""``/auth/*`` and ``/me``."""

from __future__ import annotations

from flask import make_response, request
from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend.auth import service, throttle
from backend.auth.models import Role
from backend.auth.service import current_user, public, requires
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


class TokenSchema(StrictSchema):
    token = fields.String(required=True,
                          metadata={"description": "Bearer token; send as 'Authorization: Bearer <token>'"})
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
TOO_MANY = {"description": "login_slowed (wait Retry-After seconds), login_refused (too many failures from "
                           "this client; Retry-After) or registration_limited", "headers": {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}}


def _signed_in(user, token: str):
    """The log-in/registration answer: the token, this device's proof of log-in (also as a cookie), the user."""
    device_token = throttle.issue_device_token(user.id)
    body = TokenSchema().dump({"token": token, "device_token": device_token, "user": _me(user)})
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
    user, token = service.register(args["phone"], args["password"], args["role"], args["display_name"])
    body, device_token = _signed_in(user, token)
    return _with_cookie(body, 201, device_token)


@blp.route("/auth/login", methods=["POST"])
@public
@blp.arguments(LoginSchema)
@blp.doc(**DEVICE_HEADERS)
@blp.response(200, TokenSchema)
@blp.alt_response(429, description=TOO_MANY["description"], headers=TOO_MANY["headers"])
def login(args):
    """Log in; returns a new bearer token and this device's proof of log-in.

    Wrong passwords slow an unknown client down, then refuse it, per phone,
    address and device; a device that logged in before (X-Device-Token) is
    slowed only by its own failures.
    """
    user, token = service.login(args["phone"], args["password"])
    body, device_token = _signed_in(user, token)
    return _with_cookie(body, 200, device_token)


@blp.route("/auth/logout", methods=["POST"])
@requires()
@blp.response(204)
def logout():
    """Revoke the token this request was made with."""
    service.revoke_token(service.bearer_token())


@blp.route("/me", methods=["GET"])
@requires()
@blp.response(200, MeSchema)
def me():
    """The signed-in user, with the log-in attempts from unknown clients of the last day."""
    return _me(current_user())
