"""Shared helpers of the merchant and payment tests.

An HTTP caller that behaves like production between requests, onboarding
through the API, orders, payments and refunds, a pinned pay-code clock,
ledger snapshots, and a thread race for the PostgreSQL tests.
"""

from __future__ import annotations

import base64
import itertools
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import func, select

from backend.auth.models import Role, User
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Account, Transfer
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant
from backend.merchants.uscc import check_char
from suiyuan_protocol import paycode
from tests.factories import PASSWORD, Person

API = "/api/v1"
PROBLEM = "application/problem+json"
_uscc_serial = itertools.count(1)


class Api:
    """The API through a Flask test client, as whoever is passed in ``who``.

    The ``app`` fixture keeps one app context pushed, so the test client's
    requests share the test's ``db.session``. Production removes the session
    after every request; ``call`` rolls it back instead, so nothing a request
    left uncommitted survives into the next request or into an assertion.
    """

    def __init__(self, app):
        self.client = app.test_client()

    def call(self, method: str, path: str, who=None, *, json=None, money: bool = False, key: str | None = None,
             **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        if who is not None:
            headers.update(who.auth)
        if money or key:
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        try:
            return self.client.open(API + path, method=method, json=json, headers=headers, **kwargs)
        finally:
            db.session.rollback()

    def get(self, path: str, who=None, **kwargs):
        return self.call("GET", path, who, **kwargs)

    def post(self, path: str, who=None, json=None, **kwargs):
        return self.call("POST", path, who, json=json, **kwargs)

    def delete(self, path: str, who=None, **kwargs):
        return self.call("DELETE", path, who, **kwargs)


def ok(resp, status: int = 200) -> dict:
    """Assert a successful JSON response with ``status``; return its body."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


def refused(resp, status: int, code: str, field: str | None = None) -> dict:
    """Assert a problem+json refusal with ``status`` and ``code`` (and ``field`` listed); return it."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json()
    assert body["status"] == status and body["code"] == code, body
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def login(api: Api, phone: str, password: str = PASSWORD) -> Person:
    """Log in through ``/auth/login``; return the person with the new token."""
    body = ok(api.post("/auth/login", json={"phone": phone, "password": password}))
    return Person(db.session.get(User, body["user"]["id"]), body["token"], phone)


# ---------------------------------------------------------------- onboarding


def valid_uscc(serial: int | None = None) -> str:
    """Return a unified social credit code with a correct GB 32100 check character."""
    first17 = f"91440104{serial if serial is not None else next(_uscc_serial):09d}"
    return first17 + check_char(first17)


def application(**overrides) -> dict:
    """Return a complete merchant application body (a fresh valid USCC unless given)."""
    body = {"name_zh": "永庆坊糖水铺", "name_en": "Yongqing Dessert", "uscc": valid_uscc(), "mcc": "5814",
            "scenario": "food", "address": "广州市荔湾区恩宁路99号", "latitude": 23.1191, "longitude": 113.2437,
            "bank_code": "ICBC"}
    body.update(overrides)
    return body


def review(api: Api, reviewer, merchant_id: int, decision: str = "approve", reason: str | None = None):
    body = {"decision": decision} if reason is None else {"decision": decision, "reason": reason}
    return api.post(f"/merchants/{merchant_id}/review", reviewer, json=body)


def onboard(api: Api, factory, owner: Person | None = None, **overrides) -> dict:
    """Apply as ``owner`` and approve as a reviewer of the chosen bank, all over HTTP; return the merchant."""
    owner = owner or factory.user(Role.MERCHANT_OWNER)
    body = application(**overrides)
    applied = ok(api.post("/merchants", owner, json=body), 201)
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code=body["bank_code"])
    return ok(review(api, reviewer, applied["id"]))


def add_cashier(api: Api, owner: Person, merchant_id: int, refund_limit_fen: int = 0) -> Person:
    """Create a cashier of the merchant over HTTP and log them in; return them."""
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    ok(api.post(f"/merchants/{merchant_id}/cashiers", owner,
                json={"phone": phone, "password": PASSWORD, "display_name": "收银员",
                      "refund_limit_fen": refund_limit_fen}), 201)
    return login(api, phone)


@dataclass
class Shop:
    """An approved merchant, its owner and its wallet account."""

    owner: Person
    merchant_id: int
    account_id: int


def open_shop(factory, **overrides) -> Shop:
    owner = factory.user(Role.MERCHANT_OWNER)
    merchant = factory.merchant(owner=owner, **overrides)
    return Shop(owner, merchant.id, merchant.account_id)


# ---------------------------------------------------------------- collecting


def new_order(api: Api, who, merchant_id: int, amount_fen: int, **extra) -> dict:
    """Create a dynamic-QR order; return it."""
    return ok(api.post("/orders", who, json={"merchant_id": merchant_id, "amount_fen": amount_fen, **extra}), 201)


def paid_order(api: Api, shop: Shop, consumer, amount_fen: int, who=None) -> dict:
    """Create an order (as ``who``, default the owner) and have ``consumer`` pay it; return the order."""
    order = new_order(api, who or shop.owner, shop.merchant_id, amount_fen)
    ok(pay(api, consumer, order["payload"]), 201)
    return order


def pay(api: Api, consumer, payload: str, amount_fen: int | None = None, key: str | None = None):
    body = {"payload": payload} if amount_fen is None else {"payload": payload, "amount_fen": amount_fen}
    return api.post("/payments", consumer, json=body, money=True, key=key)


def refund(api: Api, who, order_id: int, amount_fen: int | None = None, key: str | None = None):
    body = {} if amount_fen is None else {"amount_fen": amount_fen}
    return api.post(f"/orders/{order_id}/refunds", who, json=body, money=True, key=key)


def static_payload(api: Api, who, merchant_id: int) -> str:
    return ok(api.get(f"/merchants/{merchant_id}/static-qr", who))["payload"]


def register_device(api: Api, consumer, name: str = "Phone") -> tuple[int, bytes]:
    """Register a pay-code device; return its id and secret."""
    body = ok(api.post("/paycodes/devices", consumer, json={"name": name}), 201)
    return body["id"], base64.b32decode(body["secret_b32"])


def charge(api: Api, who, merchant_id: int, code: str, amount_fen: int):
    return api.post("/charges", who, json={"merchant_id": merchant_id, "code": code, "amount_fen": amount_fen},
                    money=True)


class PaycodeClock:
    """Pins the clock pay codes are checked against, so a test picks each code's time step.

    A device's code pays once per 15-second step, so more than a handful of
    charges need the clock to move; ``tick`` moves it by whole steps.
    """

    def __init__(self, monkeypatch, start: float = 1_750_000_000.0):
        self.now = start
        monkeypatch.setattr(paycode, "time", SimpleNamespace(time=lambda: self.now))

    def code(self, device_id: int, secret: bytes, age_s: float = 0) -> str:
        return paycode.generate(device_id, secret, unix_time=self.now - age_s)

    def tick(self, steps: int = 1) -> None:
        self.now += steps * paycode.STEP_SECONDS


# ---------------------------------------------------------------- the ledger


def ledger_state() -> tuple[int, dict[int, int]]:
    """Return the number of transfers and every account's balance (ends the read transaction)."""
    count = db.session.execute(select(func.count()).select_from(Transfer)).scalar_one()
    balances = dict(db.session.execute(select(Account.id, Account.balance_fen)).all())
    db.session.rollback()
    return count, balances


@contextmanager
def ledger_untouched():
    """Assert that the block writes no transfer, changes no balance and leaves the ledger sound."""
    before = ledger_state()
    yield
    assert ledger_state() == before
    assert ledger.verify() == []


def account_flows(account_id: int, start=None, end=None) -> dict:
    """Return the payments into and refunds out of ``account_id``, summed straight from the transfers.

    A payment may be paid in several legs and a refund reversed in several,
    each group sharing a batch id, so counts are of batches.
    """

    def total(side, codes):
        cond = [side == account_id, Transfer.code.in_(codes)]
        if start is not None:
            cond += [Transfer.created_at >= start, Transfer.created_at < end]
        return tuple(db.session.execute(
            select(func.count(func.distinct(Transfer.batch_id)), func.coalesce(func.sum(Transfer.amount_fen), 0))
            .where(*cond)).one())

    paid = total(Transfer.credit_account_id, TransferCode.PAYMENT_LEGS)
    refunded = total(Transfer.debit_account_id, {TransferCode.REFUND})
    db.session.rollback()
    return {"payment_count": paid[0], "gross_fen": paid[1], "refund_count": refunded[0],
            "refunds_fen": refunded[1], "net_fen": paid[1] - refunded[1]}


def merchant_account(merchant_id: int) -> int:
    account_id = db.session.get(Merchant, merchant_id).account_id
    db.session.rollback()
    return account_id


def count_transfers(code: str) -> int:
    n = db.session.execute(select(func.count()).select_from(Transfer).where(Transfer.code == code)).scalar_one()
    db.session.rollback()
    return n


# ---------------------------------------------------------------- races


def race(app, n: int, fn: Callable[[int, Api], object]) -> list:
    """Run ``fn(i, api)`` for i in 0..n-1 on n threads released together by a barrier.

    Each thread has its own app context, session and test client, like
    separate gunicorn workers. Returns the results in ``i`` order.
    """
    barrier = threading.Barrier(n)

    def worker(i: int):
        with app.app_context():
            api = Api(app)
            try:
                barrier.wait(timeout=30)
                return fn(i, api)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(worker, range(n)))


def outcome(resp) -> str:
    """Return "ok" for a 2xx response, else the problem code."""
    return "ok" if resp.status_code < 300 else resp.get_json()["code"]
