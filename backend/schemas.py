"""Schema pieces shared by every module: money, paging, strictness."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from backend.config import MAX_AMOUNT_FEN


class Fen(fields.Integer):
    """An amount in integer fen: JSON integers only (marshmallow refuses floats, strings, booleans)."""

    default_error_messages = {
        "invalid": "Must be an integer number of fen (分), e.g. 3850 for ¥38.50.",
    }

    def __init__(self, *, positive: bool = True, **kwargs):
        kwargs.setdefault("strict", True)
        kwargs.setdefault("validate", validate.Range(min=1 if positive else 0, max=MAX_AMOUNT_FEN,
                                                     error="Must be between {min} and {max} fen."))
        super().__init__(**kwargs)


class StrictSchema(ma.Schema):
    """Refuses unknown fields (a misspelt field must not be silently ignored)."""

    class Meta:
        unknown = ma.RAISE


class PageQuery(StrictSchema):
    before = fields.Integer(validate=validate.Range(min=1), metadata={"description": "Return items with id below this"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ProblemSchema(ma.Schema):
    """application/problem+json (RFC 9457)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String(metadata={"description": "Stable machine-readable reason"})
    errors = fields.List(fields.Dict(), metadata={"description": "[{field, reason}] per invalid field"})
