"""Schema pieces shared by every module: money, paging, strictness."""

from __future__ import annotations

import os

import marshmallow as ma
from flask import current_app, has_app_context
from marshmallow import fields, validate

from backend.config import amount_max_fen
from suiyuan_protocol.money import format_fen


class AmountRange(validate.Range):
    """``min``..the maximum amount: the app's ``AMOUNT_MAX_FEN``, read when a request is checked.

    Outside a request (building the OpenAPI document) it is the environment's
    ``AMOUNT_MAX_FEN`` or the one default, ``suiyuan_protocol.money.MAX_AMOUNT_FEN``.
    """

    def __init__(self, min_fen: int):
        super().__init__(min=min_fen, max=None,
                         error="Must be an integer from {min} to {max} fen (at most {max_text}).")

    @property
    def max(self) -> int:
        if has_app_context() and "AMOUNT_MAX_FEN" in current_app.config:
            return current_app.config["AMOUNT_MAX_FEN"]
        return amount_max_fen(os.environ.get("AMOUNT_MAX_FEN"))

    @max.setter
    def max(self, _value) -> None:  # set by Range.__init__; the maximum is the configuration's
        pass

    def _format_error(self, value, message: str) -> str:
        return (self.error or message).format(input=value, min=self.min, max=self.max,
                                              max_text=format_fen(self.max))

#: Row ids are positive: BIGINT tables (orders, refunds, transfers, …) count to 2^63−1, INTEGER tables (users,
#: merchants, zones, campaigns, …) to 2^31−1 — PostgreSQL refuses to compare a larger number with an INTEGER
#: column. A number outside its table's range cannot name a row: a path id answers 404
#: (``backend.http.IdConverter``), a field 422 naming it (``Id``), never an error from the database driver.
ID_MIN = 1
ID_MAX = {32: 2**31 - 1, 64: 2**63 - 1}


def id_doc(bits: int) -> dict:
    """The OpenAPI schema of an id of a ``bits``-wide integer column."""
    return {"type": "integer", "format": f"int{bits}", "minimum": ID_MIN, "maximum": ID_MAX[bits]}


class Fen(fields.Integer):
    """An amount in integer fen: JSON integers only (marshmallow refuses floats, strings, booleans),
    from 1 (0 with ``positive=False``) to the one maximum amount (:class:`AmountRange`)."""

    default_error_messages = {
        "invalid": "Must be an integer number of fen (分), e.g. 3850 for ¥38.50.",
    }

    def __init__(self, *, positive: bool = True, **kwargs):
        kwargs.setdefault("strict", True)
        kwargs.setdefault("validate", AmountRange(1 if positive else 0))
        super().__init__(**kwargs)


class Id(fields.Integer):
    """A row id in a body or query: 1 to the id column's maximum (``bits``: 32 for INTEGER, 64 for BIGINT
    tables), else 422 naming the field. JSON bodies take integers only (``strict``, the default); query
    strings pass ``strict=False``."""

    default_error_messages = {"invalid": "Must be an id: a whole number from 1."}

    def __init__(self, *, bits: int = 32, strict: bool = True, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=ID_MIN, max=ID_MAX[bits],
                                                     error="Must be an id from {min} to {max}."))
        kwargs["metadata"] = {"format": f"int{bits}", **kwargs.get("metadata", {})}
        super().__init__(strict=strict, **kwargs)


def _unstorable(value) -> str | None:
    """Why ``value`` (or any text nested in it, keys too) cannot be taken as text, or None.

    Iterative, so that JSON nested as deep as the decoder allows cannot exhaust the stack here.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "Must not contain the NUL character."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "Must be valid Unicode text (a lone surrogate is not)."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


class StrictSchema(ma.Schema):
    """Refuses unknown fields (a misspelt field must not be silently ignored), and text no database can hold
    (NUL characters, lone surrogates) in any field, nested or not, with a 422 naming the field."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load(pass_collection=True)
    def _storable_text(self, data, **kwargs):
        if hasattr(data, "items"):
            errors = {str(k): [why] for k, v in data.items() for why in [_unstorable(k) or _unstorable(v)] if why}
            if isinstance(data, dict):  # a JSON body (a query string arrives as a MultiDict of text)
                errors.update(self._json_type_errors(data))
            if errors:
                raise ma.ValidationError(errors)
        return data

    def _json_type_errors(self, data: dict) -> dict:
        """In JSON, a number is a number and a boolean a boolean: no "1" for 1.0, no "yes" for true."""
        errors = {}
        for name, field in self.load_fields.items():
            key = field.data_key or name
            value = data.get(key)
            if value is None:
                continue
            if isinstance(field, fields.Boolean) and not isinstance(value, bool):
                errors[key] = ["Must be true or false."]
            elif isinstance(field, fields.Integer) and (isinstance(value, bool) or not isinstance(value, int)):
                errors[key] = ["Must be a whole number."]
            elif isinstance(field, fields.Float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                errors[key] = ["Must be a number."]
        return errors


#: A response body that is a file (PNG, PDF).
BINARY = {"type": "string", "format": "binary"}


class OpenSchema(ma.Schema):
    """A response whose listed members are always there, and which may carry more (reports, figures)."""

    class Meta:
        unknown = ma.INCLUDE


#: A mainland China mobile number as the API takes it: 11 digits starting 13–19, with spaces or dashes
#: anywhere and an optional leading +86 (they are dropped; the number is stored and shown as 11 digits).
PHONE_PATTERN = r"^[\s-]*(\+[\s-]*8[\s-]*6[\s-]*)?1[\s-]*[3-9]([\s-]*[0-9]){9}[\s-]*$"


class Phone(fields.String):
    """A mainland China mobile number (checked by ``backend.auth.service.normalize_phone``, 422 naming the field)."""

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": PHONE_PATTERN, "example": "13800138000", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)


#: The password rule (``backend.auth.service.check_password_strength``): 8–128 characters with at least
#: one Latin letter and one digit. JSON Schema patterns match anywhere in the string, as this one does.
PASSWORD_PATTERN = r"[A-Za-z][\s\S]*[0-9]|[0-9][\s\S]*[A-Za-z]"


class Password(fields.String):
    """A new password (422 naming the field unless it follows the rule)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("load_only", True)
        kwargs["metadata"] = {"pattern": PASSWORD_PATTERN, "minLength": 8, "maxLength": 128,
                              "description": "8–128 characters with at least one letter and one digit",
                              **kwargs.get("metadata", {})}
        super().__init__(**kwargs)


class PageQuery(StrictSchema):
    before = Id(strict=False, metadata={"description": "Return items with id below this"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ProblemFieldSchema(ma.Schema):
    field = fields.String(required=True, metadata={"description": "The invalid field (JSON name, query parameter or "
                                                                  "header); 'body' for the body as a whole"})
    reason = fields.String(required=True)


class ProblemSchema(ma.Schema):
    """application/problem+json (RFC 9457): every error the API answers has this shape.

    Some problems carry more members (e.g. ``retry_after_seconds``); clients must ignore ones they do not know.
    """

    class Meta:
        unknown = ma.INCLUDE

    type = fields.String(required=True, metadata={"description": "A URI reference naming the problem type"})
    title = fields.String(required=True)
    status = fields.Integer(required=True, validate=validate.Range(min=400, max=599))
    detail = fields.String(allow_none=True)
    code = fields.String(required=True, metadata={"description": "Stable machine-readable reason"})
    errors = fields.List(fields.Nested(ProblemFieldSchema), metadata={"description": "One entry per invalid field"})
