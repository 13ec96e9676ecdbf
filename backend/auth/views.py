"""``/auth/*`` and ``/me``."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend.auth import service
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


class TokenSchema(StrictSchema):
    token = fields.String(required=True,
                          metadata={"description": "Bearer token; send as 'Authorization: Bearer <token>'"})
    user = fields.Nested(UserSchema, required=True)


@blp.route("/auth/register", methods=["POST"])
@public
@blp.arguments(RegisterSchema)
@blp.response(201, TokenSchema)
def register(args):
    """Register a consumer or merchant owner by phone and password."""
    user, token = service.register(args["phone"], args["password"], args["role"], args["display_name"])
    return {"token": token, "user": user}


@blp.route("/auth/login", methods=["POST"])
@public
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
def login(args):
    """Log in; returns a new bearer token. Repeated failures lock the phone for a while."""
    user, token = service.login(args["phone"], args["password"])
    return {"token": token, "user": user}


@blp.route("/auth/logout", methods=["POST"])
@requires()
@blp.response(204)
def logout():
    """Revoke the token this request was made with."""
    service.revoke_token(service.bearer_token())


@blp.route("/me", methods=["GET"])
@requires()
@blp.response(200, UserSchema)
def me():
    """The signed-in user."""
    return current_user()
