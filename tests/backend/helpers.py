"""Shared helpers of the HTTP-level API tests: URLs, problem+json checks, ledger snapshots."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import sqlalchemy as sa

from backend.extensions import db
from backend.ledger import service as ledger
from backend.wallets.identity import id_check_char

API = "/api/v1"
PROBLEM_MIME = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}

#: The endpoints that move money; each needs an Idempotency-Key.
MONEY_PATHS = ("/wallets/me/topup", "/wallets/me/redeem", "/transfers")


def url(path: str) -> str:
    return API + path


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def new_key() -> str:
    return uuid.uuid4().hex


def money_headers(person, key: str | None = None) -> dict:
    """Return the person's auth headers plus an Idempotency-Key (fresh unless given)."""
    return {**person.auth, "Idempotency-Key": key or new_key()}


def money_body(path: str, amount_fen, payee=None) -> dict:
    """Return a valid body for the money endpoint ``path`` (``payee`` is needed for /transfers)."""
    body = {"amount_fen": amount_fen}
    if path == "/transfers":
        body["to_phone"] = payee.phone
    return body


def post_money(client, person, path: str, body: dict, key: str | None = None):
    return client.post(url(path), json=body, headers=money_headers(person, key))


def assert_problem(resp, status: int, code: str | None = None, field: str | None = None) -> dict:
    """Assert ``resp`` is an application/problem+json refusal; return its body.

    Checks the status (in the line and the body), the five RFC 9457 keys,
    the stable ``code`` and, for field errors, that ``field`` is listed.
    """
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM_MIME, resp.headers.get("Content-Type")
    body = resp.get_json()
    assert PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def ledger_snapshot() -> tuple:
    """Return (transfer count, sum of non-issuance balances, every account's balance)."""
    count = db.session.execute(sa.text("SELECT count(*) FROM transfers")).scalar_one()
    held = db.session.execute(
        sa.text("SELECT coalesce(sum(balance_fen), 0) FROM accounts WHERE kind <> 'issuance'")
    ).scalar_one()
    balances = tuple(db.session.execute(sa.text("SELECT id, balance_fen FROM accounts ORDER BY id")).all())
    db.session.rollback()
    return count, held, balances


def count_rows(table: str) -> int:
    n = db.session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    db.session.rollback()
    return n


@contextmanager
def ledger_unchanged():
    """Assert that the block moves no money and leaves the ledger sound."""
    before = ledger_snapshot()
    yield
    assert ledger_snapshot() == before
    assert ledger.verify() == []


def valid_id_number(seed: int) -> str:
    """Return a resident ID number with a correct GB 11643 check character, unique to ``seed``."""
    first17 = f"44010619850615{seed % 1000:03d}"
    return first17 + id_check_char(first17)


def with_wrong_check_char(number: str) -> str:
    """Return ``number`` with any check character but the right one."""
    return number[:17] + next(c for c in "0123456789X" if c != number[17])


def luhn_complete(prefix: str) -> str:
    """Return ``prefix`` plus the digit that makes it pass the Luhn check."""
    from backend.banks.gateway import luhn_ok

    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))
