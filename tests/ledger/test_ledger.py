"""The ledger service: balanced transfers, limits, reversals, the conservation check."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.config import WALLET_TIERS
from backend.errors import Conflict
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import InsufficientFunds, LimitExceeded, TransferCode


def _issuance(factory):
    return factory.bank("ICBC").issuance_account_id


def spend_whole_day(payer: int, payee: int, tier) -> None:
    """Pay exactly the tier's daily cap in payments no larger than its one-payment cap."""
    full, rest = divmod(tier.day_cap_fen, tier.single_cap_fen)
    for amount in [tier.single_cap_fen] * full + ([rest] if rest else []):
        ledger.transfer(payer, payee, amount, TransferCode.PAYMENT)


def test_transfer_moves_money_and_keeps_conservation(app, factory):
    a = ledger.open_account(AccountKind.WALLET)
    b = ledger.open_account(AccountKind.MERCHANT)
    ledger.transfer(_issuance(factory), a, 10_000, TransferCode.TOPUP)
    posted = ledger.transfer(a, b, 3_850, TransferCode.PAYMENT)
    db.session.commit()
    assert (posted.debit_balance_fen, posted.credit_balance_fen) == (6_150, 3_850)
    assert ledger.balance(a) == 6_150 and ledger.balance(b) == 3_850
    assert ledger.verify() == []


def test_insufficient_funds_refused_and_nothing_written(app, factory):
    a = ledger.open_account(AccountKind.WALLET)
    b = ledger.open_account(AccountKind.MERCHANT)
    ledger.transfer(_issuance(factory), a, 100, TransferCode.TOPUP)
    db.session.commit()
    with pytest.raises(InsufficientFunds) as exc:
        ledger.transfer(a, b, 101, TransferCode.PAYMENT)
    db.session.rollback()
    assert exc.value.extra["balance_fen"] == 100
    assert ledger.balance(a) == 100 and ledger.balance(b) == 0
    assert db.session.execute(sa.text("SELECT count(*) FROM transfers")).scalar_one() == 1


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "100"])
def test_transfer_rejects_non_positive_or_non_int_amounts(app, factory, amount):
    a = ledger.open_account(AccountKind.WALLET)
    with pytest.raises(ValueError):
        ledger.transfer(_issuance(factory), a, amount, TransferCode.TOPUP)


def test_database_check_forbids_negative_balance_even_bypassing_python(app):
    a = ledger.open_account(AccountKind.WALLET)
    db.session.commit()
    with pytest.raises((IntegrityError, DBAPIError)):
        db.session.execute(sa.text("UPDATE accounts SET balance_fen = -1 WHERE id = :id"), {"id": a})
        db.session.flush()
    db.session.rollback()


def test_issuance_accounts_may_go_negative_others_may_not(app, factory):
    a = ledger.open_account(AccountKind.WALLET)
    ledger.transfer(_issuance(factory), a, 5_000, TransferCode.TOPUP)
    db.session.commit()
    assert ledger.balance(_issuance(factory)) == -5_000
    with pytest.raises(InsufficientFunds):
        ledger.transfer(a, _issuance(factory), 5_001, TransferCode.REDEEM)


def test_limits_single_day_year_and_balance_cap(app, factory):
    tier = WALLET_TIERS[4]
    a = ledger.open_account(AccountKind.WALLET, limits=tier)
    m = ledger.open_account(AccountKind.MERCHANT)
    ledger.transfer(_issuance(factory), a, tier.balance_cap_fen, TransferCode.TOPUP)
    db.session.commit()
    with pytest.raises(LimitExceeded) as exc:
        ledger.transfer(_issuance(factory), a, 1, TransferCode.TOPUP)
    assert exc.value.extra["limit"] == "balance"
    db.session.rollback()
    with pytest.raises(LimitExceeded) as exc:
        ledger.transfer(a, m, tier.single_cap_fen + 1, TransferCode.PAYMENT)
    assert exc.value.extra["limit"] == "single"
    db.session.rollback()
    spend_whole_day(a, m, tier)
    db.session.commit()
    with pytest.raises(LimitExceeded) as exc:
        ledger.transfer(a, m, 1, TransferCode.PAYMENT)
    assert exc.value.extra["limit"] == "day"
    db.session.rollback()
    # Redemption is not a payment: the daily cap does not apply to it.
    ledger.transfer(a, _issuance(factory), 1, TransferCode.REDEEM)
    db.session.commit()


def test_daily_cap_resets_on_a_new_local_day(app, factory, monkeypatch):
    from datetime import date

    tier = WALLET_TIERS[4]
    a = ledger.open_account(AccountKind.WALLET, limits=tier)
    m = ledger.open_account(AccountKind.MERCHANT)
    ledger.transfer(_issuance(factory), a, tier.balance_cap_fen, TransferCode.TOPUP)
    monkeypatch.setattr(ledger, "local_today", lambda: date(2026, 11, 28))
    spend_whole_day(a, m, tier)
    db.session.commit()
    with pytest.raises(LimitExceeded):
        ledger.transfer(a, m, 1, TransferCode.PAYMENT)
    db.session.rollback()
    monkeypatch.setattr(ledger, "local_today", lambda: date(2026, 11, 29))
    ledger.transfer(a, m, tier.single_cap_fen, TransferCode.PAYMENT)
    db.session.commit()


def test_yearly_cap(app, factory, monkeypatch):
    from datetime import date, timedelta

    tier = WALLET_TIERS[4]
    a = ledger.open_account(AccountKind.WALLET, limits=tier)
    m = ledger.open_account(AccountKind.MERCHANT)
    day = date(2026, 1, 1)
    spent = 0
    while spent < tier.year_cap_fen:
        ledger.transfer(_issuance(factory), a, tier.day_cap_fen, TransferCode.TOPUP)
        monkeypatch.setattr(ledger, "local_today", lambda d=day: d)
        spend_whole_day(a, m, tier)
        spent += tier.day_cap_fen
        day += timedelta(days=1)
    ledger.transfer(_issuance(factory), a, 100, TransferCode.TOPUP)
    monkeypatch.setattr(ledger, "local_today", lambda: day)
    with pytest.raises(LimitExceeded) as exc:
        ledger.transfer(a, m, 100, TransferCode.PAYMENT)
    assert exc.value.extra["limit"] == "year"


def test_reversal_returns_money_and_cannot_exceed_original(app, factory):
    a = ledger.open_account(AccountKind.WALLET)
    m = ledger.open_account(AccountKind.MERCHANT)
    ledger.transfer(_issuance(factory), a, 10_000, TransferCode.TOPUP)
    pay = ledger.transfer(a, m, 6_000, TransferCode.PAYMENT)
    ledger.reverse(pay.id, 2_500, code=TransferCode.REFUND)
    ledger.reverse(pay.id, code=TransferCode.REFUND)  # the rest
    db.session.commit()
    assert ledger.balance(a) == 10_000 and ledger.balance(m) == 0
    with pytest.raises(Conflict) as exc:
        ledger.reverse(pay.id, 1)
    assert exc.value.code == "over_reversal"
    db.session.rollback()
    assert ledger.verify() == []


def test_verify_detects_a_tampered_balance_and_cli_exits_nonzero(app, factory):
    a = ledger.open_account(AccountKind.WALLET)
    ledger.transfer(_issuance(factory), a, 10_000, TransferCode.TOPUP)
    db.session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0, ok.output
    db.session.execute(sa.text("UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = :id"), {"id": a})
    db.session.commit()
    problems = ledger.verify()
    assert any(f"account {a}" in p for p in problems)
    assert any("issued 10000 fen but accounts hold 10001 fen" in p for p in problems)
    bad = runner.invoke(args=["ledger", "verify"])
    assert bad.exit_code == 1
    assert "FAIL" in bad.output


def test_transfers_are_append_only_on_postgresql(pg_app, factory):
    a = ledger.open_account(AccountKind.WALLET)
    posted = ledger.transfer(_issuance(factory), a, 10_000, TransferCode.TOPUP)
    db.session.commit()
    for stmt in ("UPDATE transfers SET amount_fen = 1 WHERE id = :id", "DELETE FROM transfers WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(stmt), {"id": posted.id})
        db.session.rollback()
