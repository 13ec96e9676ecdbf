"""The daily prepaid statement ties out to the ledger and to the contracts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.clock import local_today, utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from prepaid import statements
from tests.prepaid.helpers import buy, contract_row, make_world, ok, publish, refused, release


@pytest.fixture
def w(app, factory):
    return make_world(app, factory)


def _clock(monkeypatch, delta: timedelta) -> None:
    """Run the ledger and the prepaid service ``delta`` from now (transfers are append-only: no back-dating)."""
    from backend.ledger import service as ledger_service
    from prepaid import service

    at = lambda: utcnow() + delta  # noqa: E731
    monkeypatch.setattr(ledger_service, "utcnow", at)
    monkeypatch.setattr(service, "utcnow", at)


def test_a_day_of_sales_releases_and_refunds_ties_out(w, factory, monkeypatch):
    plan = publish(w, w.gym_owner, w.gym, refund_fee_bp=1_000)  # 20 × ¥150
    a, b = (factory.consumer(balance_fen=300_000, wallet_class=3) for _ in range(2))
    _clock(monkeypatch, timedelta(days=-1))  # yesterday: one sale, 4 sessions released
    ca = ok(buy(w, a, plan["id"]), 201)
    ok(release(w, w.gym_owner, ca["code"], 4), 201)
    monkeypatch.undo()
    cb = ok(buy(w, b, plan["id"]), 201)
    ok(release(w, w.gym_owner, cb["code"], 2), 201)
    ok(release(w, w.gym_owner, ca["code"], 1), 201)
    ok(w.api.post(f"/prepaid/contracts/{cb['id']}/refund", b, money=True), 201)  # cooling-off: 18 back
    yesterday = ok(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{local_today() - timedelta(days=1)}",
                             w.gym_owner))
    assert (yesterday["escrow_start_fen"], yesterday["sold_fen"], yesterday["released_fen"],
            yesterday["escrow_end_fen"]) == (0, 300_000, 60_000, 240_000)
    assert yesterday["ties_out"] and not yesterday["provisional"] and yesterday["liability_end_fen"] == 240_000
    today = ok(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{local_today()}", w.sports_regulator))
    assert (today["escrow_start_fen"], today["sold_fen"], today["contracts_sold"], today["released_fen"],
            today["releases"], today["refunded_fen"], today["refunds"], today["escrow_end_fen"]) == (
        240_000, 300_000, 1, 45_000, 2, 270_000, 1, 225_000)
    assert today["ties_out"] and today["provisional"] and today["other_fen"] == 0
    assert today["escrow_end_fen"] == ledger.balance(contract_row(ca["id"]).escrow_account_id)
    csv_text = w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{local_today()}?format=csv",
                         w.pilot).get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("prepaid_merchant_id,day,escrow_start_fen")


def test_escrow_money_moved_outside_the_rules_breaks_the_tie_out(w, factory):
    plan = publish(w, w.gym_owner, w.gym)
    c = ok(buy(w, factory.consumer(balance_fen=300_000, wallet_class=3), plan["id"]), 201)
    ledger.transfer(contract_row(c["id"]).escrow_account_id, w.merchant_account(w.gym_merchant_id), 500, "payment")
    db.session.commit()
    body = statements.compute(w.gym["id"], local_today())
    assert body["other_fen"] == -500 and not body["ties_out"]
    assert body["escrow_end_fen"] == 299_500 and body["liability_end_fen"] == 300_000


def test_statements_are_for_the_merchants_own_people_and_supervisors(w, factory):
    day = local_today().isoformat()
    refused(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{day}", w.school_owner), 404,
            "prepaid_merchant_not_found")
    refused(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{day}", w.education_regulator), 404,
            "prepaid_merchant_not_found")
    refused(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{day}", factory.consumer()), 403,
            "role_forbidden")
    refused(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/2026-13-01", w.gym_owner), 422,
            "validation_failed", "day")
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    refused(w.api.get(f"/prepaid/merchants/{w.gym['id']}/statements/{tomorrow}", w.gym_owner), 422,
            "validation_failed", "day")
