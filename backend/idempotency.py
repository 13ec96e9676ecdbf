"""``Idempotency-Key`` with Stripe's semantics for every money-moving POST.

The key row is inserted in the same database transaction as the money it
guards and carries the response, so "money moved" and "response recorded" are
one atomic fact. A concurrent duplicate blocks on the unique index until the
first request commits, then replays its response; a duplicate with another
body gets 409. Business refusals (insufficient funds, limits) are recorded and
replayed too; a request that fails validation never reaches this point and
records nothing. Keys are kept for ``IDEMPOTENCY_TTL`` (≥ 24 h).

A recorded response must be plain JSON (see ``encode``): anything else — a
``Decimal`` from a PostgreSQL ``SUM``, a date, a NaN, a non-string key — is
refused with ``UnrecordableResponse`` naming where it is, never coerced, so
such a leak fails the request (and the test that makes it) instead of being
written as something the replay would answer differently.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import datetime

from flask import current_app, request
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from backend.clock import utcnow
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.extensions import db
from backend.sql import insert_for

HEADER = "Idempotency-Key"


class IdempotencyKey(db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


T = IdempotencyKey.__table__


class UnrecordableResponse(TypeError):
    """A response body holds a value that is not plain JSON (a bug in the code that built it)."""


def _check_plain_json(value: object, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if math.isfinite(value):
            return
        raise UnrecordableResponse(f"{where} is {value!r}, which JSON cannot carry")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise UnrecordableResponse(f"{where} has the key {k!r} ({type(k).__name__}); JSON keys are strings")
            _check_plain_json(v, f"{where}.{k}")
        return
    if isinstance(value, (list, tuple)):  # a tuple is written as the same JSON array
        for i, v in enumerate(value):
            _check_plain_json(v, f"{where}[{i}]")
        return
    raise UnrecordableResponse(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__} ({value!r}), not a JSON value; "
        "amounts must be int fen (read sums with backend.sql.fen_sum)")


def encode(body: dict) -> str:
    """Return the JSON text recorded for a response body.

    Raises ``UnrecordableResponse`` (a ``TypeError``) naming the first value
    that is not plain JSON (dict with string keys, list or tuple, str, int,
    bool, None, finite float): nothing is coerced, so the replay is exactly the
    first answer.
    """
    _check_plain_json(body, "response")
    return json.dumps(body, ensure_ascii=False, allow_nan=False)


def request_key() -> str:
    """Return the request's Idempotency-Key header; raise ``ValidationFailed`` if missing or bad."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise ValidationFailed(f"Money-moving requests need an {HEADER} header.", code="idempotency_key_missing",
                               field=HEADER)
    if len(key) > 255 or not key.isprintable():
        raise ValidationFailed(f"{HEADER} must be 1–255 printable characters.", code="idempotency_key_invalid",
                               field=HEADER)
    return key


def seen(user_id: int, key: str) -> bool:
    """Return whether ``key`` was used by ``user_id`` before (its request is then replayed or refused by ``run``)."""
    found = db.session.execute(select(T.c.id).where(T.c.user_id == user_id, T.c.key == key)).first()
    return found is not None


def fingerprint(body: object) -> str:
    """Return the hash identifying a request: method, path and canonical JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _insert_stmt(values: dict):
    return insert_for(T).values(**values).on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(T.c.id)


def run(user_id: int, body: object, action: Callable[[], tuple[dict, int]], *,
        external_effects: bool = False) -> tuple[dict, int]:
    """Run ``action`` at most once per (user, Idempotency-Key) and commit.

    ``action`` does the money work inside the open transaction and returns
    ``(json_body, status)``; it must not commit. Returns the body and status
    to send: the action's, or the first request's when this is a replay.
    Raises ``Conflict`` (``idempotency_key_reused``) when the key was used
    with a different request.

    ``external_effects``: the action calls out (a card network), so it must
    never run twice even when it is refused; the key row then stays locked
    through the refusal (a savepoint) instead of being rolled back and
    re-inserted, which would let a waiting duplicate run the action again.
    """
    key = request_key()
    digest = fingerprint(body)
    row_id = db.session.execute(
        _insert_stmt({"user_id": user_id, "key": key, "request_hash": digest, "created_at": utcnow()})
    ).scalar_one_or_none()
    if row_id is None:
        # Someone used this key before (and, since the insert waited on the
        # unique index, has committed): replay or refuse.
        db.session.rollback()
        return _replay(user_id, key, digest)
    if external_effects:
        savepoint = db.session.begin_nested()
        try:
            body_out, status = action()
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            body_out, status = exc.to_problem(), exc.status
        return _record(row_id, body_out, status)
    try:
        body_out, status = action()
    except DomainError as exc:
        # A refusal moved no money: undo everything (the key row too), then
        # record the refusal under the key in a fresh transaction. No
        # savepoint is needed on the hot path, which saves two round trips.
        db.session.rollback()
        body_out, status = exc.to_problem(), exc.status
        recorded = db.session.execute(_insert_stmt({
            "user_id": user_id, "key": key, "request_hash": digest, "created_at": utcnow(),
            "status_code": status, "response_json": encode(body_out),
        })).scalar_one_or_none()
        if recorded is None:
            # A concurrent duplicate got in first: its outcome is the answer.
            db.session.rollback()
            return _replay(user_id, key, digest)
        db.session.commit()
        return body_out, status
    return _record(row_id, body_out, status)


def _record(row_id: int, body_out: dict, status: int) -> tuple[dict, int]:
    db.session.execute(
        update(T).where(T.c.id == row_id).values(status_code=status, response_json=encode(body_out))
    )
    db.session.commit()
    return body_out, status


def _replay(user_id: int, key: str, digest: str) -> tuple[dict, int]:
    prior = db.session.execute(select(T).where(T.c.user_id == user_id, T.c.key == key)).one()
    db.session.rollback()
    if prior.request_hash != digest:
        raise Conflict(f"This {HEADER} was already used with a different request.",
                       code="idempotency_key_reused", field=HEADER)
    if prior.response_json is None:
        # Only a request that committed its key without an outcome (a bug) gets here; never guess.
        raise Conflict("The first request with this key has no recorded outcome.", code="idempotency_key_in_use",
                       field=HEADER)
    return json.loads(prior.response_json), prior.status_code


def purge_expired() -> int:
    """Delete keys older than ``IDEMPOTENCY_TTL``; return how many. Safe to run twice."""
    cutoff = utcnow() - current_app.config["IDEMPOTENCY_TTL"]
    n = db.session.execute(delete(T).where(T.c.created_at < cutoff)).rowcount
    db.session.commit()
    return n
