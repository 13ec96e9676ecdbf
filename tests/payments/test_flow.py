"""The collection flow end to end over HTTP: onboarding, a dynamic QR order, payment, events,
refund, and the day's statement checked against the ledger."""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading
import time
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from backend import clock
from backend.auth.models import Role
from backend.clock import local_today
from backend.errors import Conflict
from backend.extensions import db
from backend.ledger import service as ledger
from backend.payments import events, statements
from backend.payments.models import Order, Statement
from backend.payments.service import local_day_bounds
from tests.payments.helpers import (
    Api,
    account_flows,
    count_transfers,
    ledger_untouched,
    merchant_account,
    new_order,
    ok,
    onboard,
    pay,
    refund,
    refused,
)


def sse_events(text: str) -> list[tuple[str, dict]]:
    """Return the (event, data) pairs of a server-sent-events body, skipping comments."""
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def pin_today(monkeypatch, day: date) -> None:
    """Make the statement endpoint and job believe the pilot's local date is ``day``."""
    monkeypatch.setattr(clock, "local_today", lambda now=None: day)
    monkeypatch.setattr(statements, "local_today", lambda now=None: day)


@pytest.fixture
def world(api, factory):
    owner = factory.user(Role.MERCHANT_OWNER)
    merchant = onboard(api, factory, owner=owner, name_en="Beijing Road Noodles")
    consumer = factory.consumer(balance_fen=50_000)
    return owner, merchant, consumer


def paid_day(order_id: int) -> date:
    """Return the local day the order was paid on (not the test's today: midnight may pass mid-test)."""
    paid_at = db.session.get(Order, order_id).paid_at
    db.session.rollback()
    return local_today(clock.as_utc(paid_at))


def test_apply_approve_order_pay_watch_refund_and_state(api, factory, world, monkeypatch):
    owner, merchant, consumer = world
    order = new_order(api, owner, merchant["id"], 3_850, description="两碗云吞面")
    assert (order["status"], order["kind"], order["amount_fen"]) == ("created", "dynamic", 3_850)
    assert order["payload"].startswith("000201010212") and order["key_id"]

    preview = ok(api.post("/payments/preview", consumer, json={"payload": order["payload"]}))
    assert (preview["genuine"], preview["amount_fen"], preview["order_status"]) == (True, 3_850, "created")
    assert preview["merchant"]["id"] == merchant["id"]

    payment = ok(pay(api, consumer, order["payload"]), 201)
    assert payment["status"] == "paid" and payment["paid_at"]
    assert payment["payer_balance_after_fen"] == 50_000 - 3_850
    assert factory.balance(consumer) == 46_150
    account_id = merchant_account(merchant["id"])
    assert factory.balance(account_id) == 3_850

    events = sse_events(api.get(f"/orders/{order['id']}/events", owner).get_data(as_text=True))
    assert events[0] == ("status", {"id": order["id"], "status": "paid", "paid_at": payment["paid_at"]})
    assert events[-1] == ("end", {"status": "paid"})

    back = ok(refund(api, owner, order["id"], 1_000), 201)
    assert back["status"] == "partially_refunded" and back["refunded_fen"] == 1_000
    assert back["refund"]["amount_fen"] == 1_000
    assert factory.balance(consumer) == 47_150
    assert factory.balance(account_id) == 2_850
    assert ok(api.get(f"/orders/{order['id']}", consumer))["status"] == "partially_refunded"
    # The shop's receipt shows the payer's last four phone digits, and nothing more of them.
    seen = ok(api.get(f"/orders/{order['id']}", owner))
    assert seen["payer_tail"] == consumer.phone[-4:] and consumer.phone not in str(seen)
    assert "payer_tail" not in order  # an order nobody has paid names no payer

    day = paid_day(order["id"])
    pin_today(monkeypatch, day)
    live = ok(api.get(f"/merchants/{merchant['id']}/statements/{day}?format=json", owner))
    assert live["provisional"] is True
    expected = {"payment_count": 1, "gross_fen": 3_850, "refund_count": 1, "refunds_fen": 1_000, "net_fen": 2_850}
    assert live["totals"] == {**expected, "fees_fen": 0}
    assert account_flows(account_id, *local_day_bounds(day)) == expected
    assert [p["reference"] for p in live["payments"]] == [order["reference"]]
    assert live["payments"][0]["description"] == "两碗云吞面"
    live_csv = api.get(f"/merchants/{merchant['id']}/statements/{day}?format=csv", owner)
    assert live_csv.mimetype == "text/csv"
    rows = csv_rows(live_csv.get_data(as_text=True))
    assert [(r["type"], int(r["amount_fen"])) for r in rows] == [("payment", 3_850), ("refund", -1_000),
                                                                  ("total", 2_850)]
    refused(api.get(f"/merchants/{merchant['id']}/statements/{day + timedelta(days=1)}", owner),
            422, "validation_failed", field="date")


def test_a_finished_days_statement_is_built_once_and_equals_the_ledger(api, factory, world, monkeypatch):
    owner, merchant, consumer = world
    orders = [new_order(api, owner, merchant["id"], amount) for amount in (1_000, 2_500, 4_200)]
    for o in orders:
        ok(pay(api, consumer, o["payload"]), 201)
    ok(refund(api, owner, orders[1]["id"]), 201)  # all of it
    ok(refund(api, owner, orders[2]["id"], 200), 201)
    day = paid_day(orders[0]["id"])
    url = f"/merchants/{merchant['id']}/statements/{day}"

    pin_today(monkeypatch, day + timedelta(days=1))
    built = ok(api.get(url + "?format=json", owner))
    assert built["provisional"] is False
    flows = account_flows(merchant_account(merchant["id"]), *local_day_bounds(day))
    assert flows == {"payment_count": 3, "gross_fen": 7_700, "refund_count": 2, "refunds_fen": 2_700,
                     "net_fen": 5_000}
    assert built["totals"] == {**flows, "fees_fen": 0}
    assert db.session.query(Statement).count() == 1
    stored_id = db.session.query(Statement.id).scalar()

    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
    again = ok(api.get(url, reviewer))
    assert again == built
    rows = csv_rows(api.get(url + "?format=csv", owner).get_data(as_text=True))
    assert sum(int(r["amount_fen"]) for r in rows if r["type"] != "total") == flows["net_fen"]
    assert rows[-1]["type"] == "total" and int(rows[-1]["amount_fen"]) == flows["net_fen"]
    assert db.session.query(Statement.id).all() == [(stored_id,)]  # read back, not rebuilt

    # The job is safe to run twice and does not publish a day that has not finished.
    rebuilt_id = statements.build_statement(merchant["id"], day.isoformat())
    assert db.session.query(Statement.id, Statement.net_fen).all() == [(rebuilt_id, 5_000)]
    pin_today(monkeypatch, day)
    with pytest.raises(Conflict) as refused_today:
        statements.build_statement(merchant["id"], day.isoformat())
    assert refused_today.value.code == "day_not_finished"
    assert ledger.verify() == []


def test_a_retried_payment_gets_the_first_answer_and_pays_once(api, factory, world):
    owner, merchant, consumer = world
    order = new_order(api, owner, merchant["id"], 1_234)
    first = ok(pay(api, consumer, order["payload"], key="scan-42"), 201)
    with ledger_untouched():
        assert ok(pay(api, consumer, order["payload"], key="scan-42"), 201) == first
    assert factory.balance(consumer) == 50_000 - 1_234
    assert count_transfers("payment") == 1


def test_the_event_stream_reports_paid_within_a_second(app, api, factory, world):
    owner, merchant, consumer = world
    order = new_order(api, owner, merchant["id"], 888)
    url = f"/orders/{order['id']}/events"
    headers = dict(owner.auth)
    started = threading.Event()
    seen: list[tuple[float, str]] = []

    def watch():
        with app.app_context():
            try:
                resp = Api(app).client.get("/api/v1" + url, headers=headers, buffered=False)
                try:
                    for chunk in resp.response:
                        text = chunk.decode() if isinstance(chunk, bytes) else chunk
                        seen.append((time.monotonic(), text))
                        started.set()
                        if text.startswith("event: end"):
                            break
                finally:
                    resp.close()
            finally:
                started.set()
                db.session.remove()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert started.wait(10), "the stream never sent its first event"
    assert sse_events(seen[0][1]) == [("status", {"id": order["id"], "status": "created", "paid_at": None})]

    paid_at = time.monotonic()
    ok(pay(api, consumer, order["payload"]), 201)
    watcher.join(10)
    assert not watcher.is_alive()
    arrivals = [t for t, text in seen if '"status": "paid"' in text and text.startswith("event: status")]
    assert arrivals, seen
    assert arrivals[0] - paid_at < 1.0
    assert seen[-1][1].startswith("event: end")


def test_the_event_stream_of_a_long_lived_order_stays_open_until_it_can_no_longer_change(api, world, monkeypatch):
    owner, merchant, _ = world
    order = new_order(api, owner, merchant["id"], 500, ttl_seconds=3600)
    ticks = itertools.count(0, 400)  # each reading of the stream's clock: another 400 s (< 1 h) have passed
    monkeypatch.setattr(events, "time", SimpleNamespace(monotonic=lambda: next(ticks)))
    resp = api.get(f"/orders/{order['id']}/events", owner, buffered=False)
    try:
        chunks = iter(resp.response)
        assert next(chunks).decode().startswith("event: status")
        following = next(chunks).decode()
    finally:
        resp.close()
    assert not following.startswith("event: end"), following
