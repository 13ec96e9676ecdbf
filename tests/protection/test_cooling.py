"""The cooling period (冷静期): a large first-time transfer is accepted as held (202), moves no money until its
period is over, can be cancelled meanwhile (then it never moves money), and completes once, through the same
transfer rule (freezes, the read-only switch, funds and caps checked again at completion)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from backend.auth.models import Role
from backend.clock import utcnow
from backend.ledger import service as ledger
from payclient.api import ApiClient
from payclient.models import HeldTransfer
from protection import cooling, risk
from tests.factories import PASSWORD
from tests.payclient.live import settle
from tests.payments.helpers import ledger_untouched, ok, refused

BIG = risk.COOLING["min_fen"]
LATER = timedelta(minutes=risk.COOLING["minutes"], seconds=1)


@pytest.fixture(autouse=True)
def _cooling_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROTECTION_COOLING", True)
    yield
    assert ledger.verify() == []


def send(api, payer, payee, amount_fen: int, key: str | None = None):
    return api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": amount_fen, "memo": "房租"},
                    money=True, key=key)


def run_job_later(app):
    with time_machine.travel(utcnow() + LATER, tick=False), app.app_context():
        return cooling.complete_due_transfers()


def test_a_large_first_transfer_is_held_and_a_cancel_moves_no_money(app, api, factory):
    payer, payee = factory.consumer(balance_fen=2 * BIG, wallet_class=2), factory.consumer()
    with ledger_untouched():
        held = ok(send(api, payer, payee, BIG, key="k1"), 202)
        assert held["status"] == "pending" and held["amount_fen"] == BIG and held["to_wallet_number"]
        assert held["rule"]["code"] == "cooling_period" and held["rule"]["text_zh"] and held["rule"]["text_en"]
        assert ok(send(api, payer, payee, BIG, key="k1"), 202) == held  # the same request replays, no second hold
        listed = ok(api.get("/protection/held-transfers", payer))["items"]
        assert [h["held_transfer_id"] for h in listed] == [held["held_transfer_id"]]
        refused(api.post(held["cancel_path"].removeprefix("/api/v1"), payee), 404, "held_transfer_not_found")
        cancelled = ok(api.post(held["cancel_path"].removeprefix("/api/v1"), payer))
        assert cancelled["status"] == "cancelled" and cancelled["cancel_path"] is None
        assert ok(api.post(held["cancel_path"].removeprefix("/api/v1"), payer))["status"] == "cancelled"
        assert run_job_later(app) == {"completed": 0, "failed": 0, "waiting": 0}
    assert factory.balance(payer) == 2 * BIG and factory.balance(payee) == 0


def test_a_held_transfer_completes_once_after_its_period(app, api, factory):
    payer, payee = factory.consumer(balance_fen=2 * BIG, wallet_class=2), factory.consumer()
    held = ok(send(api, payer, payee, BIG), 202)
    with ledger_untouched():
        assert cooling.complete_due_transfers() == {"completed": 0, "failed": 0, "waiting": 0}  # not due yet
    assert run_job_later(app)["completed"] == 1
    assert run_job_later(app)["completed"] == 0  # a second run moves nothing
    assert factory.balance(payer) == BIG and factory.balance(payee) == BIG
    done = ok(api.get("/protection/held-transfers", payer))["items"][0]
    assert done["status"] == "completed" and done["transfer_id"] and done["cancel_path"] is None
    refused(api.post(f"/protection/held-transfers/{held['held_transfer_id']}/cancel", payer), 409,
            "held_transfer_finished")
    assert ok(send(api, payer, payee, BIG // 2), 201)["amount_fen"] == BIG // 2  # no longer first-time: posted


def test_small_or_repeat_transfers_are_not_held(api, factory):
    payer, payee = factory.consumer(balance_fen=3 * BIG, wallet_class=2), factory.consumer()
    ok(send(api, payer, payee, BIG - 1), 201)
    ok(send(api, payer, payee, BIG), 201)  # not the first transfer to this payee


def test_a_held_transfer_is_refused_now_if_the_ledger_would_refuse_it(api, factory):
    payer, payee = factory.consumer(balance_fen=BIG - 1, wallet_class=2), factory.consumer()
    with ledger_untouched():
        refused(send(api, payer, payee, BIG), 422, "insufficient_funds")
    assert ok(api.get("/protection/held-transfers", payer))["items"] == []


def test_read_only_at_completion_keeps_it_pending_then_it_completes(app, api, factory):
    payer, payee = factory.consumer(balance_fen=2 * BIG, wallet_class=2), factory.consumer()
    pilot = factory.user(Role.PILOT_ADMIN)
    ok(send(api, payer, payee, BIG), 202)
    ok(api.call("PUT", "/protection/read-only", pilot, json={"read_only": True, "reason": "演练只读模式"}))
    with ledger_untouched():
        assert run_job_later(app) == {"completed": 0, "failed": 0, "waiting": 1}
    assert ok(api.get("/protection/held-transfers", payer))["items"][0]["status"] == "pending"
    ok(api.call("PUT", "/protection/read-only", pilot, json={"read_only": False, "reason": "演练结束恢复"}))
    assert run_job_later(app)["completed"] == 1
    assert factory.balance(payee) == BIG


def test_a_freeze_or_spent_money_at_completion_fails_it_clearly_and_moves_nothing(app, api, factory):
    payer, payee, other, suspect = (factory.consumer(balance_fen=BIG, wallet_class=2), factory.consumer(),
                                    factory.consumer(balance_fen=BIG, wallet_class=2), factory.consumer())
    ok(send(api, payer, payee, BIG), 202)
    ok(send(api, payer, other, BIG // 2, key="spend"), 201)  # the payer spends half meanwhile: nothing reserved
    ok(send(api, other, suspect, BIG), 202)
    pilot = factory.user(Role.PILOT_ADMIN)
    ok(api.post("/protection/freezes", pilot, json={"target_kind": "wallet", "target_id": factory.wallet(suspect).id,
                                                    "reason": "可疑收款，冻结核实"}), 201)
    with ledger_untouched():
        assert run_job_later(app) == {"completed": 0, "failed": 2, "waiting": 0}
    codes = {h["failure_code"] for u in (payer, other) for h in ok(api.get("/protection/held-transfers", u))["items"]}
    assert codes == {"insufficient_funds", "wallet_frozen"}


def test_a_risk_token_that_confirmed_a_held_transfer_is_used_up(app, api, factory, monkeypatch):
    monkeypatch.setitem(app.config, "PROTECTION_RISK_CHECKS", True)
    payer, payee = factory.consumer(balance_fen=3 * BIG, wallet_class=2), factory.consumer()
    warned = api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": BIG}, money=True)
    token = refused(warned, 428, "risk_confirmation_required")["confirmation_token"]
    held = api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": BIG}, money=True,
                    headers={risk.HEADER: token})
    assert ok(held, 202)["status"] == "pending"
    with ledger_untouched():
        refused(api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": BIG}, money=True,
                         headers={risk.HEADER: token}), 409, "risk_confirmation_used")


def test_the_app_client_shows_a_held_transfer_and_cancels_it(factory, live_url):
    """payclient (the apps' API client) reads the 202 as a held transfer, lists it and cancels it."""
    payer, payee = factory.consumer(balance_fen=2 * BIG, wallet_class=2), factory.consumer()
    settle()
    client = ApiClient(live_url, retries=0, device_id="phone-A")
    client.login(payer.phone, PASSWORD)
    held = client.transfer(payee.phone, BIG, memo="房租")
    assert isinstance(held, HeldTransfer) and held.status == "pending" and held.rule["code"] == "cooling_period"
    assert [h.held_transfer_id for h in client.held_transfers()] == [held.held_transfer_id]
    assert client.cancel_held_transfer(held.held_transfer_id).status == "cancelled"
    settle()
    assert factory.balance(payer) == 2 * BIG and factory.balance(payee) == 0
