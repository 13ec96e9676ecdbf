"""The outbox: a dropped connection after the server paid is retried with the same key → one payment."""

from __future__ import annotations

import os
import socket
import stat

import pytest
from sqlalchemy import func, select

from backend.auth.models import Role
from backend.extensions import db
from backend.ledger.models import Transfer
from payclient.api import ApiClient
from payclient.errors import NetworkError, Unprocessable
from payclient.outbox import Outbox
from payclient.storage import FileTokenStore
from tests.factories import PASSWORD
from tests.payclient.live import DroppingProxy, settle


def payments_count() -> int:
    n = db.session.execute(select(func.count()).select_from(Transfer).where(Transfer.code == "payment")).scalar_one()
    settle()
    return n


@pytest.fixture
def world(factory, live_url):
    owner = factory.user(Role.MERCHANT_OWNER)
    merchant = factory.merchant(owner=owner)
    consumer = factory.consumer(balance_fen=50_000)
    mid = merchant.id
    settle()
    cashier_side = ApiClient(live_url)
    cashier_side.login(owner.phone, PASSWORD)
    return cashier_side, mid, consumer


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def test_a_dropped_answer_is_retried_with_the_same_key_and_pays_once(world, live_url, factory, tmp_path):
    merchant, mid, consumer = world
    order = merchant.create_order(mid, 3_850)
    proxy = DroppingProxy(port_of(live_url), drop=1)
    try:
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        payer = ApiClient(proxy.url(), outbox=outbox, retries=2, backoff_s=0.05)
        payer.login(consumer.phone, PASSWORD)
        payment = payer.pay(order.payload)
    finally:
        proxy.close()
    # The login went through; the payment's first answer was lost after the server applied it.
    assert proxy.dropped == 1
    assert payment.order.status == "paid" and payment.payer_balance_after_fen == 50_000 - 3_850
    assert payments_count() == 1
    assert factory.balance(consumer) == 50_000 - 3_850
    settle()
    [entry] = outbox.all()
    assert entry.state == "done" and entry.attempts == 2 and entry.status == 201
    assert entry.last_error and "Connection" in entry.last_error


def test_a_connection_dropped_before_any_answer_is_retried_with_the_same_key(world, live_url, factory, tmp_path):
    """The request never reached the app (the connection was reset as it went out, as when a server closes a
    kept-alive connection under it): sent again with the same Idempotency-Key, it pays exactly once."""
    merchant, mid, consumer = world
    order = merchant.create_order(mid, 1_200)
    proxy = DroppingProxy(port_of(live_url), drop=1, before_server=True)
    try:
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        payer = ApiClient(proxy.url(), outbox=outbox, retries=2, backoff_s=0.05)
        payer.login(consumer.phone, PASSWORD)
        payment = payer.pay(order.payload)
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.forwarded >= 1
    assert len(proxy.keys) == 2 and proxy.keys[0] == proxy.keys[1]  # the retry carried the same key
    assert payment.order.status == "paid" and payments_count() == 1
    assert factory.balance(consumer) == 50_000 - 1_200
    settle()
    [entry] = outbox.all()
    assert (entry.state, entry.attempts, entry.key) == ("done", 2, proxy.keys[0])
    assert "Connection" in entry.last_error


def test_no_answer_at_all_keeps_the_payment_pending_until_resumed(world, live_url, factory, tmp_path):
    merchant, mid, consumer = world
    order = merchant.create_order(mid, 1_200)
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    tokens = FileTokenStore(tmp_path / "session.json")
    online = ApiClient(live_url, tokens=tokens)
    online.login(consumer.phone, PASSWORD)
    assert stat.S_IMODE(os.stat(tmp_path / "session.json").st_mode) == 0o600

    offline = ApiClient(f"http://127.0.0.1:{dead}/api/v1", tokens=tokens,
                        outbox=Outbox(tmp_path / "outbox.sqlite3"), retries=1, backoff_s=0.01)
    with pytest.raises(NetworkError) as err:
        offline.pay(order.payload)
    key = err.value.pending_key
    assert key and [e.key for e in offline.outbox.pending()] == [key]
    offline.outbox.close()
    assert payments_count() == 0

    # The app starts again, online: the saved request is sent with its saved key.
    again = ApiClient(live_url, tokens=FileTokenStore(tmp_path / "session.json"),
                      outbox=Outbox(tmp_path / "outbox.sqlite3"))
    [(entry, body)] = again.resume_pending()
    assert entry.key == key and body["status"] == "paid"
    assert again.resume_pending() == []
    assert payments_count() == 1
    assert factory.balance(consumer) == 50_000 - 1_200
    settle()


def test_a_refusal_is_recorded_and_never_resent(world, live_url, factory):
    merchant, mid, consumer = world
    order = merchant.create_order(mid, 60_000)
    payer = ApiClient(live_url)
    payer.login(consumer.phone, PASSWORD)
    with pytest.raises(Unprocessable) as err:
        payer.pay(order.payload)
    assert err.value.code == "insufficient_funds"
    [entry] = payer.outbox.all()
    assert entry.state == "done" and entry.status == 422 and entry.response["code"] == "insufficient_funds"
    assert payer.resume_pending() == []
    assert payments_count() == 0


def test_the_same_entry_sent_twice_is_replayed_not_repeated(world, live_url, factory):
    merchant, mid, consumer = world
    order = merchant.create_order(mid, 500)
    payer = ApiClient(live_url)
    payer.login(consumer.phone, PASSWORD)
    entry = payer.outbox.add("POST", "/payments", {"payload": order.payload}, owner=str(payer.user.id))
    first = payer.deliver(entry)
    second = payer.deliver(entry)
    assert first == second and payments_count() == 1
