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
