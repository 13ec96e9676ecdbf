"""``Idempotency-Key`` with Stripe's semantics for every money-moving POST.

The key row is inserted in the same database transaction as the money it
guards and carries the response, so "money moved" and "response recorded" are
one atomic fact. A concurrent duplicate blocks on the unique index until the
first request commits, then replays its response; a duplicate with another
body gets 409. Business refusals (insufficient funds, limits) are recorded and
replayed too; a request that fails validation never reaches this point and
records nothing. Keys are kept for ``IDEMPOTENCY_TTL`` (≥ 24 h).
"""

from __future__ import annotations

import hashlib
import json
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
            "status_code": status, "response_json": json.dumps(body_out, ensure_ascii=False),
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
        update(T).where(T.c.id == row_id).values(status_code=status,
                                                 response_json=json.dumps(body_out, ensure_ascii=False))
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
