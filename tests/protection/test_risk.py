"""Risk checks before a transfer: each rule fires on its example and stays quiet on its counter-example;
confirmation tokens work once, for their own payee and amount; Confirmation of Payee shows a masked name."""

from __future__ import annotations

from datetime import datetime

import pytest

from backend.auth.models import Role
from backend.clock import local_zone
from backend.guards import MoneyMove, MoveKind
from backend.ledger import service as ledger
from protection import risk
from tests.payments.helpers import ledger_untouched, ok, paid_order, refused


@pytest.fixture(autouse=True)
def _risk_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROTECTION_RISK_CHECKS", True)
    yield
    assert ledger.verify() == []


def send(api, payer, payee, amount_fen: int, token: str | None = None, key: str | None = None,
         device: str | None = None):
    headers = {risk.HEADER: token} if token else {}
    if device:
        headers[risk.DEVICE_HEADER] = device
    return api.post("/transfers", payer, json={"to_phone": payee.phone, "amount_fen": amount_fen}, money=True,
                    key=key, headers=headers)


def warned(resp) -> tuple[set[str], str]:
    body = refused(resp, 428, "risk_confirmation_required")
    assert all(w["text_zh"] and w["text_en"] and w["title_zh"] for w in body["warnings"])
    return {w["code"] for w in body["warnings"]}, body["confirmation_token"]


def test_a_first_large_transfer_asks_for_confirmation_and_a_token_confirms_it_once(api, factory):
    payer, payee, stranger = (factory.consumer(balance_fen=500_000, wallet_class=2), factory.consumer(),
                              factory.consumer())
    with ledger_untouched():
        codes, token = warned(send(api, payer, payee, 60_000))
        assert codes == {"first_time_payee"}
        codes, other = warned(send(api, payer, payee, 60_001, token))  # not for another amount
        assert codes == {"first_time_payee"} and other != token
        warned(send(api, payer, stranger, 60_000, token))  # nor for another payee
        warned(send(api, payer, payee, 60_000, token + "0"))  # nor forged
    ok(send(api, payer, payee, 60_000, token, key="confirmed"), 201)
    assert ok(send(api, payer, payee, 60_000, token, key="confirmed"), 201)  # the same request replays
    assert factory.balance(payee) == 60_000
    ok(send(api, payer, payee, 60_000), 201)  # no longer a first-time payee: quiet


def test_a_used_token_is_refused(api, factory):
    payer, payee = factory.consumer(balance_fen=500_000, wallet_class=2), factory.consumer()
    _, token = warned(send(api, payer, payee, 200_000))
    ok(send(api, payer, payee, 200_000, token), 201)
    pilot = factory.user(Role.PILOT_ADMIN)
    ok(api.post("/protection/reports", pilot, json={"kind": "phone", "value": payee.phone}), 201)
    with ledger_untouched():
        codes, _ = warned(send(api, payer, payee, 100))  # the payee is now reported: a new warning
        assert codes == {"payee_reported"}
        refused(send(api, payer, payee, 200_000, token), 409, "risk_confirmation_used")


def test_small_first_transfers_are_quiet_and_the_ledger_refuses_first(api, factory):
    payer, payee, stranger = factory.consumer(balance_fen=40_000), factory.consumer(), factory.consumer()
    ok(send(api, payer, payee, 40_000), 201)  # below ¥500: quiet
    with ledger_untouched():
        refused(send(api, payer, stranger, 60_000), 422, "insufficient_funds")  # not a warning


def test_far_above_usual_fires_on_its_example_and_not_on_its_counter_example(api, factory, shop):
    payer, friend = factory.consumer(balance_fen=900_000, wallet_class=2), factory.consumer()
    paid_order(api, shop, payer, 4_000)
    ok(send(api, payer, friend, 100), 201)  # not a first-time payee any more
    codes, _ = warned(send(api, payer, friend, 30_000))  # 7.5 × the largest in 90 days
    assert codes == {"far_above_usual"}
    ok(send(api, payer, friend, 19_999), 201)  # far above too, but under ¥200
    ok(send(api, payer, friend, 20_000), 201)  # ≤ 5 × the 19,999 just sent


def test_new_device_fires_from_an_unseen_device_and_not_from_a_known_one(api, factory):
    payer, friend = factory.consumer(balance_fen=100_000), factory.consumer()
    ok(send(api, payer, friend, 100, device="phone-A"), 201)  # the first device anyone uses is theirs: quiet
    ok(send(api, payer, friend, 100, device="phone-A"), 201)  # counter-example: a device seen before
    ok(send(api, payer, friend, 100), 201)  # no device id sent: nothing to judge
    with ledger_untouched():
        codes, token = warned(send(api, payer, friend, 100, device="phone-B"))  # example: a new phone
    assert codes == {"new_device"}
    ok(send(api, payer, friend, 100, token, device="phone-B"), 201)  # confirmed: the device is now known
    ok(send(api, payer, friend, 100, device="phone-B"), 201)
    other = factory.consumer(balance_fen=1_000)
    ok(send(api, other, friend, 100, device="phone-B"), 201)  # known per person: another user's first device


def test_night_large_fires_at_night_and_not_by_day(app, factory):
    payer, payee = factory.consumer(balance_fen=500_000, wallet_class=2), factory.consumer()
    move = MoneyMove(MoveKind.TRANSFER, 150_000, from_user_id=payer.id, to_user_id=payee.id)
    night = datetime(2026, 12, 3, 23, 30, tzinfo=local_zone())
    day = datetime(2026, 12, 3, 14, 0, tzinfo=local_zone())
    assert "night_large" in risk.fired(move, now=night)
    assert "night_large" not in risk.fired(move, now=day)
    small = MoneyMove(MoveKind.TRANSFER, 99_999, from_user_id=payer.id, to_user_id=payee.id)
    assert "night_large" not in risk.fired(small, now=night)
    assert risk.fired(MoneyMove(MoveKind.PAYMENT, 150_000, from_user_id=payer.id, to_merchant_id=1), now=night) == []


def test_confirmation_of_payee_shows_a_masked_name(api, factory):
    payer = factory.consumer()
    verified = factory.consumer(wallet_class=3)  # ID-verified as 测试用户
    unverified = factory.consumer(display_name="王小二")
    body = ok(api.get("/protection/payee-check", payer, query_string={"phone": verified.phone}))
    assert body == {"masked_name": "测**户", "masked_phone": verified.phone[:3] + "****" + verified.phone[-4:],
                    "verified_name": True, "wallet_class": 3}
    assert ok(api.get("/protection/payee-check", payer, query_string={"phone": unverified.phone}))[
        "masked_name"] == "王*二"
    refused(api.get("/protection/payee-check", payer, query_string={"phone": "13700009999"}), 404, "payee_not_found")
    refused(api.get("/protection/payee-check", payer, query_string={"phone": "123"}), 422, "validation_failed",
            field="phone")
    refused(api.get("/protection/payee-check", factory.user(Role.MERCHANT_OWNER),
                    query_string={"phone": verified.phone}), 403, "role_forbidden")
