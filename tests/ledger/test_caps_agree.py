"""The ledger's debit and credit rules are written three times — SQLAlchemy statements (SQLite),
the PostgreSQL function ``ledger_transfer`` (one call per transfer), and Python for the explanation —
so they are checked against each other over generated accounts, on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.clock import local_today
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

fen = st.integers(0, 400)


def near(draw, value: int):
    """A number at, just below or just above ``value`` (never negative), or anywhere."""
    return max(0, value + draw(st.integers(-2, 2))) if draw(st.booleans()) else draw(fen)


def maybe_near(draw, value: int):
    return None if draw(st.integers(0, 3)) == 0 else near(draw, value)


@st.composite
def debit_cases(draw):
    amount = draw(st.integers(1, 400))
    day_spent, year_spent = draw(fen), draw(fen)
    spend_day = draw(st.sampled_from([None, 0, 1]))  # never, today, yesterday
    spend_year = draw(st.sampled_from([None, 0, 1]))  # never, this year, last year
    counted_day = day_spent if spend_day == 0 else 0
    counted_year = year_spent if spend_year == 0 else 0
    return {
        "issuance": draw(st.booleans()),
        "balance_fen": near(draw, amount),
        "single_cap_fen": maybe_near(draw, amount),
        "day_cap_fen": maybe_near(draw, counted_day + amount),
        "year_cap_fen": maybe_near(draw, counted_year + amount),
        "day_spent_fen": day_spent,
        "spend_day": spend_day,
        "year_spent_fen": year_spent,
        "spend_year": spend_year,
        "amount": amount,
        "limited": draw(st.booleans()),
    }


@st.composite
def credit_cases(draw):
    balance, amount = draw(fen), draw(st.integers(1, 400))
    cap = None if draw(st.integers(0, 3)) == 0 else max(balance, near(draw, balance + amount))
    return {"balance_fen": balance, "balance_cap_fen": cap, "amount": amount}


@pytest.fixture
def accounts(app, factory):
    """An issuance account, then a merchant, a wallet and a merchant: ``low < wallet < high``."""
    issuance = factory.bank("ICBC").issuance_account_id
    low = ledger.open_account(AccountKind.MERCHANT)
    wallet = ledger.open_account(AccountKind.WALLET)
    high = ledger.open_account(AccountKind.MERCHANT)
    db.session.commit()
    return {"low": low, "wallet": wallet, "high": high, "issuance": issuance}


def _set(account_id: int, **values) -> None:
    db.session.execute(sa.update(ledger.A).where(ledger.A.c.id == account_id).values(**values))


def _debit_state(case: dict, today):
    return {
        "balance_fen": case["balance_fen"], "single_cap_fen": case["single_cap_fen"],
        "day_cap_fen": case["day_cap_fen"], "year_cap_fen": case["year_cap_fen"],
        "day_spent_fen": case["day_spent_fen"], "year_spent_fen": case["year_spent_fen"],
        "spend_day": None if case["spend_day"] is None else today - timedelta(days=case["spend_day"]),
        "spend_year": None if case["spend_year"] is None else today.year - case["spend_year"],
    }


def _pg_transfer(debit: int, credit: int, amount: int, limited: bool, today) -> bool:
    row = db.session.execute(ledger.PG_TRANSFER, {
        "debit": debit, "credit": credit, "amount": amount, "limited": limited, "today": today,
        "code": TransferCode.PAYMENT, "now": ledger.utcnow(), "batch_id": None, "memo": None,
        "actor_user_id": None, "reverses_id": None}).one()
    return row.transfer_id is not None


@pytest.mark.slow
@SETTINGS
@given(case=debit_cases())
def test_the_three_debit_rules_agree(accounts, case):
    today = local_today()
    debit = accounts["issuance"] if case["issuance"] else accounts["wallet"]
    amount, limited = case["amount"], case["limited"]
    state = _debit_state(case, today)
    verdicts = {}
    try:
        _set(debit, **state)
        verdicts["python"] = ledger.debit_refusal(ledger._get(debit), amount, today, limited) is None
        verdicts["sqlalchemy"] = db.session.execute(
            ledger._debit_stmt(debit, amount, limited, today)).scalar_one_or_none() is not None
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            # The function locks the lower row first: the wallet's debit comes first or second.
            for credit in (accounts["high"], accounts["low"]):
                _set(debit, **state)
                verdicts[f"raw, to {credit}"] = _pg_transfer(debit, credit, amount, limited, today)
                db.session.rollback()
    finally:
        db.session.rollback()
    assert len(set(verdicts.values())) == 1, (case, verdicts)


@pytest.mark.slow
@SETTINGS
@given(case=credit_cases())
def test_the_three_credit_rules_agree(accounts, case):
    today = local_today()
    credit, amount = accounts["wallet"], case["amount"]
    state = {"balance_fen": case["balance_fen"], "balance_cap_fen": case["balance_cap_fen"]}
    verdicts = {}
    try:
        _set(credit, **state)
        verdicts["python"] = ledger.credit_refusal(ledger._get(credit), amount) is None
        verdicts["sqlalchemy"] = db.session.execute(
            ledger._credit_stmt(credit, amount)).scalar_one_or_none() is not None
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            # Money from an account that can pay it, judged before and after the credited row.
            for debit in (accounts["issuance"], accounts["high"]):
                _set(credit, **state)
                _set(accounts["high"], balance_fen=400)
                verdicts[f"raw, from {debit}"] = _pg_transfer(debit, credit, amount, False, today)
                db.session.rollback()
    finally:
        db.session.rollback()
    assert len(set(verdicts.values())) == 1, (case, verdicts)


def test_the_explanations_name_the_limit(app):
    today = local_today()
    class Row:
        allow_negative = False
        balance_fen = 1_000
        single_cap_fen, day_cap_fen, year_cap_fen = 500, 800, None
        day_spent_fen, spend_day, year_spent_fen, spend_year = 400, today, 0, None
        balance_cap_fen = 1_200

    assert ledger.debit_refusal(Row, 1_001, today, True).code == "insufficient_funds"
    assert ledger.debit_refusal(Row, 501, today, True).extra["limit"] == "single"
    assert ledger.debit_refusal(Row, 401, today, True).extra == {"limit": "day", "limit_fen": 800,
                                                                 "remaining_fen": 400}
    assert ledger.debit_refusal(Row, 400, today, True) is None
    assert ledger.debit_refusal(Row, 900, today, False) is None
    assert ledger.credit_refusal(Row, 201).code == "payee_limit_exceeded"
    assert ledger.credit_refusal(Row, 200) is None
