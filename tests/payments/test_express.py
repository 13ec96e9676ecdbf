"""The express lane (backend/payments/express.py): a plain dynamic-QR payment on PostgreSQL settles without
the general path, answers exactly as the general path would, and hands every unusual case to it."""

from __future__ import annotations

from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from backend.payments import express, service
from tests.payments.helpers import Api, count_transfers, new_order, ok, open_shop, outcome, pay, race, refused


def _without_general_path(monkeypatch):
    def general(*args, **kwargs):
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(service, "pay_scanned", general)


def _comparable(body: dict) -> dict:
    """A payment response without what differs from one order to the next."""
    varying = {"id", "reference", "payload", "created_at", "expires_at", "paid_at", "transfer_id", "legs",
               "payer_balance_after_fen"}
    return {k: v for k, v in body.items() if k not in varying}


def test_a_plain_payment_takes_the_express_lane_and_answers_as_the_general_path(pg_app, api, factory, monkeypatch):
    shop = open_shop(factory)
    consumer = factory.consumer(balance_fen=10_000)
    first, second = (new_order(api, shop.owner, shop.merchant_id, 2_500) for _ in range(2))
    with monkeypatch.context() as m:
        m.setattr(express, "pay", lambda *a, **k: None)  # the general path only
        general = ok(pay(api, consumer, first["payload"]), 201)
    with monkeypatch.context() as m:
        _without_general_path(m)
        fast = ok(pay(api, consumer, second["payload"], key="express-1"), 201)
        assert ok(pay(api, consumer, second["payload"], key="express-1"), 201) == fast  # the replay, recorded
    assert set(fast) == set(general) and _comparable(fast) == _comparable(general)
    assert fast["status"] == "paid" and fast["payer_balance_after_fen"] == 5_000
    assert [leg["code"] for leg in fast["legs"]] == [TransferCode.PAYMENT]
    assert count_transfers(TransferCode.PAYMENT) == 2
    order = ok(api.get(f"/orders/{second['id']}", shop.owner))
    assert (order["status"], order["paid_at"]) == ("paid", fast["paid_at"])
    assert ledger.verify() == []


def test_anything_unusual_goes_to_the_general_path_which_refuses_and_records(pg_app, api, factory):
    shop = open_shop(factory)
    poor = factory.consumer(balance_fen=1_000)
    order = new_order(api, shop.owner, shop.merchant_id, 2_500)
    refused(pay(api, poor, order["payload"], key="poor-1"), 422, "insufficient_funds")
    refused(pay(api, poor, order["payload"], key="poor-1"), 422, "insufficient_funds")  # recorded, replayed
    rich = factory.consumer(balance_fen=10_000)
    ok(pay(api, rich, order["payload"]), 201)
    refused(pay(api, rich, order["payload"]), 409, "order_already_paid")
    assert count_transfers(TransferCode.PAYMENT) == 1
    db.session.rollback()


def test_racing_payers_of_one_order_pay_it_once(pg_app, factory, payers=12):
    shop = open_shop(factory)
    consumers = [factory.consumer(balance_fen=10_000) for _ in range(payers)]
    order = new_order(Api(pg_app), shop.owner, shop.merchant_id, 1_234)
    results = race(pg_app, payers, lambda i, api: outcome(pay(api, consumers[i], order["payload"])))
    assert results.count("ok") == 1 and set(results) <= {"ok", "order_already_paid"}, results
    assert count_transfers(TransferCode.PAYMENT) == 1
    assert ledger.verify() == []


def test_a_committed_payment_answers_201_even_when_redis_is_down(app, api, factory, monkeypatch):
    """Telling watchers is best effort after the commit: a Redis outage must not turn a payment into a 500."""
    import redis

    from backend.payments import events

    shop = open_shop(factory)
    consumer = factory.consumer(balance_fen=10_000)
    order = new_order(api, shop.owner, shop.merchant_id, 700)

    class Down:
        def publish(self, *args):
            raise redis.ConnectionError("Redis is restarting")

    monkeypatch.setattr(events, "get_redis", lambda: Down())
    assert ok(pay(api, consumer, order["payload"]), 201)["status"] == "paid"
    assert count_transfers(TransferCode.PAYMENT) == 1


def test_a_plain_payment_is_one_statement_and_commit_on_postgresql(pg_app, api, factory):
    """#17 item 2: the money-moving part of a common payment (gate, subsidy question, key row, checks, transfer
    with the tier limits, the order's transition, the recorded response) is one round trip, then COMMIT.
    The protection and campaigns plug-ins are registered, so their checks are asked in that statement too."""
    from sqlalchemy import event

    shop = open_shop(factory)
    consumer = factory.consumer(balance_fen=10_000)
    warm, order = (new_order(api, shop.owner, shop.merchant_id, 700) for _ in range(2))
    ok(pay(api, consumer, warm["payload"]), 201)  # the signing keys' caches are read once per process, not per payment
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement.split("(")[0].strip())

    def commit(conn):
        seen.append("COMMIT")

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", commit)
    try:
        assert ok(pay(api, consumer, order["payload"]), 201)["status"] == "paid"
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", commit)
    # (What follows the COMMIT is after the payment: in tests jobs run inline, e.g. the zones' KPI batch.)
    assert seen[:seen.index("COMMIT") + 1] == ["SELECT pay_dynamic_order", "COMMIT"], seen
    assert ledger.verify() == []


def test_a_check_registered_without_an_sql_form_is_still_asked_before_the_one_call_payment(pg_app, api, factory,
                                                                                        monkeypatch):
    from backend import guards
    from backend.errors import Unprocessable

    shop = open_shop(factory)
    consumer = factory.consumer(balance_fen=10_000)
    first, second = (new_order(api, shop.owner, shop.merchant_id, 700) for _ in range(2))
    ok(pay(api, consumer, first["payload"]), 201)  # the lane is built with the app's checks of now
    asked = []

    def no_sql_form(move):
        asked.append(move.kind)
        raise Unprocessable("Refused by a check without an SQL form.", code="test_refusal")

    monkeypatch.setitem(pg_app.extensions, guards.CHECKS_KEY,
                        [*pg_app.extensions.get(guards.CHECKS_KEY, ()), no_sql_form])
    refused(pay(api, consumer, second["payload"]), 422, "test_refusal")
    assert asked and count_transfers(TransferCode.PAYMENT) == 1
