"""Sums of fen come back as ints on every engine, and the idempotency recorder refuses anything that is not
plain JSON instead of coercing it (a Decimal leaking from a PostgreSQL SUM once turned a refusal into a 500)."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend import idempotency
from backend.errors import Forbidden
from backend.extensions import db
from backend.ledger.models import Account, Transfer
from backend.sql import fen_sum


def test_fen_sum_reads_an_int_with_rows_and_without(app, factory):
    empty = db.session.execute(select(fen_sum(Transfer.amount_fen))).scalar_one()
    assert (empty, type(empty)) == (0, int)
    factory.consumer(balance_fen=12_345)
    factory.consumer(balance_fen=10**12, wallet_class=1)  # beyond 32 bits: still exact
    total, count = db.session.execute(select(fen_sum(Transfer.amount_fen), func.count())).one()
    assert (total, type(total), count) == (10**12 + 12_345, int, 2)
    held = db.session.execute(select(fen_sum(Account.balance_fen)).where(Account.balance_fen > 0)).scalar_one()
    assert (held, type(held)) == (10**12 + 12_345, int)
    # What fen_sum is for: the plain SUM is a Decimal on PostgreSQL.
    plain = db.session.execute(select(func.sum(Transfer.amount_fen))).scalar_one()
    assert plain == total and (type(plain) is Decimal) == (db.engine.dialect.name == "postgresql")


@pytest.mark.parametrize(("body", "where"), [
    ({"refunded_by_you_fen": Decimal("600")}, "response.refunded_by_you_fen"),
    ({"legs": [{"amount_fen": 1}, {"amount_fen": Decimal("2")}]}, "response.legs[1].amount_fen"),
    ({"day": date(2026, 1, 1)}, "response.day"),
    ({"ratio": math.nan}, "response.ratio"),
    ({"ratio": math.inf}, "response.ratio"),
    ({"by_zone": {1: 100}}, "response.by_zone"),
    ({"tags": {"a", "b"}}, "response.tags"),
])
def test_the_recorder_refuses_what_is_not_plain_json_and_says_where(body, where):
    with pytest.raises(idempotency.UnrecordableResponse, match=r"^" + where.replace("[", r"\[").replace(".", r"\.")):
        idempotency.encode(body)


def test_the_recorder_writes_plain_json_as_is():
    body = {"amount_fen": 10**15, "ok": True, "none": None, "name": "永庆坊", "legs": [1, 2], "pair": (3, 4),
            "leverage": 2.5}
    assert idempotency.encode(body) == ('{"amount_fen": 1000000000000000, "ok": true, "none": null, "name": "永庆坊", '
                                        '"legs": [1, 2], "pair": [3, 4], "leverage": 2.5}')


@pytest.mark.parametrize("refusal", [False, True], ids=["answer", "refusal"])
def test_a_response_that_cannot_be_recorded_fails_loudly_and_records_nothing(app, factory, refusal):
    """Both the answer and a refusal are recorded: either leaking a Decimal raises, and no key row is left."""
    user = factory.consumer()

    def action():
        if refusal:
            raise Forbidden("over the limit", code="refund_over_cashier_limit", refunded_by_you_fen=Decimal("600"))
        return {"amount_fen": Decimal("600")}, 201

    with app.test_request_context("/api/v1/x", method="POST", headers={idempotency.HEADER: "k-1"}):
        with pytest.raises(idempotency.UnrecordableResponse, match="refunded_by_you_fen|amount_fen"):
            idempotency.run(user.id, {"a": 1}, action)
    db.session.rollback()
    assert db.session.execute(select(func.count()).select_from(idempotency.T)).scalar_one() == 0
