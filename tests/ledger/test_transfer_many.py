"""``transfer_many``: one account paying many in a few statements, with the same refusals as ``transfer``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind, Transfer
from backend.ledger.service import InsufficientFunds, Leg, LimitExceeded, TransferCode


def _funded_escrow(factory, amount):
    escrow = ledger.open_account(AccountKind.CAMPAIGN)
    ledger.transfer(factory.bank("ICBC").issuance_account_id, escrow, amount, TransferCode.TOPUP)
    return escrow


def test_one_account_pays_many_and_legs_to_one_account_add_up(app, factory):
    escrow = _funded_escrow(factory, 10_000)
    a, b = (ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4]) for _ in range(2))
    ids = ledger.transfer_many(escrow, [Leg(a, 100, "payout", "k1", "m1"), Leg(b, 250, "payout", "k2"),
                                        Leg(a, 1, "payout_to_bank", "k3")], actor_user_id=None)
    db.session.commit()
    rows = [db.session.get(Transfer, i) for i in ids]
    assert [(r.credit_account_id, r.amount_fen, r.code, r.batch_id) for r in rows] == [
        (a, 100, "payout", "k1"), (b, 250, "payout", "k2"), (a, 1, "payout_to_bank", "k3")]
    assert (ledger.balance(escrow), ledger.balance(a), ledger.balance(b)) == (9_649, 101, 250)
    assert ledger.transfer_many(escrow, []) == []
    assert ledger.verify() == []


def test_refusals_write_nothing_once_rolled_back(app, factory):
    escrow = _funded_escrow(factory, 1_000_000_00)
    capped = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
    other = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
    db.session.commit()
    cap = WALLET_TIERS[4].balance_cap_fen
    with pytest.raises(LimitExceeded) as refused:
        # Each leg fits alone; together they pass the cap.
        ledger.transfer_many(escrow, [Leg(other, 5, "payout"), Leg(capped, cap, "payout"), Leg(capped, 1, "payout")])
    assert refused.value.code == "payee_limit_exceeded"
    db.session.rollback()
    with pytest.raises(InsufficientFunds):
        ledger.transfer_many(escrow, [Leg(other, 1_000_000_01, "payout")])
    db.session.rollback()
    with pytest.raises(ValueError):
        ledger.transfer_many(escrow, [Leg(other, 0, "payout")])
    assert db.session.execute(select(func.count()).select_from(Transfer).where(Transfer.code == "payout")
                              ).scalar_one() == 0
    assert ledger.balance(escrow) == 1_000_000_00 and ledger.verify() == []
