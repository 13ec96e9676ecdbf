"""The payment password (支付密码) and the password-free limit (免密), enforced by the API: set at opening,
asked for top-ups, redemptions, transfers and payments above the limit, locked after too many wrong tries;
and the bill list naming the shop (also of a refund) and keeping one month."""

from __future__ import annotations

import pytest
from werkzeug.security import check_password_hash

from backend.extensions import db
from backend.ledger import service as ledger
from backend.wallets import paypass
from tests.backend.helpers import assert_problem, ledger_unchanged, money_headers, new_key, url
from tests.payments.helpers import Api, ok, open_shop

PW = "135790"


@pytest.fixture(autouse=True)
def _ledger_stays_sound(app):
    yield
    assert ledger.verify() == []


def with_password(factory, balance_fen: int = 500_000, password: str = PW):
    person = factory.consumer(balance_fen=balance_fen)
    paypass.set_initial(factory.wallet(person), password)
    db.session.commit()
    return person


def wallet(client, person) -> dict:
    resp = client.get(url("/wallets/me"), headers=person.auth)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_opening_a_wallet_sets_the_payment_password_as_a_hash(client, factory):
    person = factory.user("consumer")
    assert_problem(client.post(url("/wallets/me"), json={"bank_code": "ICBC"}, headers=person.auth), 422,
                   field="payment_password")
    for weak in ("12345", "1234567", "12345a", "111111", "123456", "987654", "１３５７９０"):
        resp = client.post(url("/wallets/me"), json={"bank_code": "ICBC", "payment_password": weak},
                           headers=person.auth)
        assert_problem(resp, 422, field="payment_password")
    assert_problem(client.get(url("/wallets/me"), headers=person.auth), 404, "wallet_not_open")  # nothing written
    resp = client.post(url("/wallets/me"), json={"bank_code": "ICBC", "payment_password": PW}, headers=person.auth)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["payment_password_set"] is True and "payment_password" not in body
    assert body["password_free_limit_fen"] == paypass.DEFAULT_FREE_LIMIT_FEN == 100_000
    assert body["password_free_limit_choices_fen"] == list(paypass.FREE_LIMIT_CHOICES_FEN)
    stored = factory.wallet(person).pay_password_hash
    assert stored != PW and stored.startswith("scrypt") and check_password_hash(stored, PW)


@pytest.mark.parametrize("path", ["/wallets/me/topup", "/wallets/me/redeem", "/transfers"])
def test_top_ups_redemptions_and_transfers_always_need_the_password(client, factory, path):
    payer = with_password(factory)
    payee = factory.consumer()
    body = {"amount_fen": 100} | ({"to_phone": payee.phone} if path == "/transfers" else {})
    key = new_key()
    with ledger_unchanged():
        problem = assert_problem(client.post(url(path), json=body, headers=money_headers(payer, key)), 403,
                                 "payment_password_required", field="payment_password")
        assert problem["password_free_limit_fen"] == 100_000
        problem = assert_problem(client.post(url(path), json=body | {"payment_password": "246813"},
                                             headers=money_headers(payer, key)), 403, "payment_password_wrong")
        assert problem["attempts_left"] == 4
    # The same Idempotency-Key, now with the right password: the refusals recorded nothing under it.
    resp = client.post(url(path), json=body | {"payment_password": PW}, headers=money_headers(payer, key))
    assert resp.status_code == 201, resp.get_json()
    # Sent again under the same key (an outbox resending after a restart, which never stores the password):
    # the first answer is replayed without the password, and no money moves twice.
    with ledger_unchanged():
        again = client.post(url(path), json=body, headers=money_headers(payer, key))
    assert again.status_code == 201 and again.get_json()["transfer_id"] == resp.get_json()["transfer_id"]
    # A fresh key without the password is still refused.
    assert_problem(client.post(url(path), json=body, headers=money_headers(payer)), 403, "payment_password_required")


def test_payments_need_the_password_only_above_the_password_free_limit(client, factory):
    api = Api(client.application)
    shop = open_shop(factory)
    payer = with_password(factory)
    payload = ok(api.get(f"/merchants/{shop.merchant_id}/static-qr", shop.owner))["payload"]

    def pay(amount_fen, **extra):
        return client.post(url("/payments"), json={"payload": payload, "amount_fen": amount_fen, **extra},
                           headers=money_headers(payer))

    preview = client.post(url("/payments/preview"), json={"payload": payload, "amount_fen": 20_000},
                          headers=payer.auth).get_json()
    assert preview["payment_password_needed"] is False
    assert pay(20_000).status_code == 201  # ¥200 ≤ ¥1,000: password-free
    # The consumer lowers the limit to "always ask" (with the password).
    assert_problem(client.put(url("/wallets/me/password-free-limit"), json={"limit_fen": 12_345,
                                                                             "payment_password": PW},
                              headers=payer.auth), 422, field="limit_fen")
    resp = client.put(url("/wallets/me/password-free-limit"), json={"limit_fen": 0, "payment_password": PW},
                      headers=payer.auth)
    assert resp.status_code == 200 and resp.get_json()["password_free_limit_fen"] == 0
    preview = client.post(url("/payments/preview"), json={"payload": payload, "amount_fen": 100},
                          headers=payer.auth).get_json()
    assert preview["payment_password_needed"] is True
    with ledger_unchanged():
        assert_problem(pay(100), 403, "payment_password_required")
    assert pay(100, payment_password=PW).status_code == 201


def test_a_dynamic_code_above_the_limit_needs_the_password(client, factory):
    api = Api(client.application)
    shop = open_shop(factory)
    payer = with_password(factory, balance_fen=500_000)
    order = ok(api.post("/orders", shop.owner, json={"merchant_id": shop.merchant_id, "amount_fen": 150_000}), 201)
    with ledger_unchanged():
        assert_problem(client.post(url("/payments"), json={"payload": order["payload"]},
                                   headers=money_headers(payer)), 403, "payment_password_required")
    resp = client.post(url("/payments"), json={"payload": order["payload"], "payment_password": PW},
                       headers=money_headers(payer))
    assert resp.status_code == 201, resp.get_json()


def test_five_wrong_passwords_lock_it_even_against_the_right_one(client, factory):
    payer = with_password(factory)
    body = {"amount_fen": 100}
    left = []
    for _ in range(4):
        resp = client.post(url("/wallets/me/topup"), json=body | {"payment_password": "246813"},
                           headers=money_headers(payer))
        left.append(assert_problem(resp, 403, "payment_password_wrong")["attempts_left"])
    assert left == [4, 3, 2, 1]
    resp = client.post(url("/wallets/me/topup"), json=body | {"payment_password": "246813"},
                       headers=money_headers(payer))
    problem = assert_problem(resp, 429, "payment_password_locked")
    assert int(resp.headers["Retry-After"]) > 3 * 3600 - 60 and problem["retry_after_seconds"] > 0
    with ledger_unchanged():
        resp = client.post(url("/wallets/me/topup"), json=body | {"payment_password": PW},
                           headers=money_headers(payer))
        assert_problem(resp, 429, "payment_password_locked")
    # In Chinese, for people.
    resp = client.post(url("/wallets/me/topup"), json=body | {"payment_password": PW},
                       headers={**money_headers(payer), "Accept-Language": "zh-CN"})
    assert "支付密码" in resp.get_json()["detail"]


def test_a_right_password_clears_the_wrong_tries(client, factory):
    payer = with_password(factory)
    for _ in range(3):
        client.post(url("/wallets/me/topup"), json={"amount_fen": 100, "payment_password": "246813"},
                    headers=money_headers(payer))
    assert client.post(url("/wallets/me/topup"), json={"amount_fen": 100, "payment_password": PW},
                       headers=money_headers(payer)).status_code == 201
    resp = client.post(url("/wallets/me/topup"), json={"amount_fen": 100, "payment_password": "246813"},
                       headers=money_headers(payer))
    assert assert_problem(resp, 403, "payment_password_wrong")["attempts_left"] == 4


def test_changing_the_password_needs_the_current_one_and_a_wallet_without_one_can_set_it(client, factory):
    legacy = factory.consumer(balance_fen=1_000)
    assert wallet(client, legacy)["payment_password_set"] is False
    assert_problem(client.put(url("/wallets/me/password-free-limit"), json={"limit_fen": 0, "payment_password": PW},
                              headers=legacy.auth), 422, "payment_password_not_set")
    resp = client.put(url("/wallets/me/payment-password"), json={"new_password": PW}, headers=legacy.auth)
    assert resp.status_code == 200 and resp.get_json()["payment_password_set"] is True
    assert_problem(client.put(url("/wallets/me/payment-password"), json={"new_password": "246813"},
                              headers=legacy.auth), 403, "payment_password_required", field="current_password")
    assert_problem(client.put(url("/wallets/me/payment-password"),
                              json={"new_password": "246813", "current_password": "000001"},
                              headers=legacy.auth), 403, "payment_password_wrong", field="current_password")
    resp = client.put(url("/wallets/me/payment-password"), json={"new_password": "246813", "current_password": PW},
                      headers=legacy.auth)
    assert resp.status_code == 200
    assert check_password_hash(factory.wallet(legacy).pay_password_hash, "246813")


def test_the_bill_list_names_the_shop_of_a_payment_and_of_its_refund_and_filters_by_month(client, factory):
    from backend.clock import local_today
    from tests.payments.helpers import paid_order

    api = Api(client.application)
    shop = open_shop(factory)
    payer = with_password(factory, balance_fen=10_000)
    order = paid_order(api, shop, payer, 2_000)
    ok(api.post(f"/orders/{order['id']}/refunds", shop.owner, json={"amount_fen": 500}, money=True), 201)
    month = local_today().strftime("%Y-%m")
    items = ok(api.get("/wallets/me/transactions", payer, query_string={"month": month}))["items"]
    by_code = {i["code"]: i for i in items}
    merchant_name = db.session.execute(db.text("SELECT name_zh FROM merchants WHERE id = :i"),
                                       {"i": shop.merchant_id}).scalar_one()
    for code in ("payment", "refund"):
        assert by_code[code]["counterparty"]["kind"] == "merchant"
        assert by_code[code]["counterparty"]["name_zh"] == merchant_name
        assert by_code[code]["counterparty"]["merchant_id"] == shop.merchant_id
    assert by_code["topup"]["counterparty"]["kind"] == "issuance"
    assert by_code["topup"]["counterparty"]["name_en"]
    other = "2001-01"
    assert ok(api.get("/wallets/me/transactions", payer, query_string={"month": other}))["items"] == []
    assert_problem(client.get(url("/wallets/me/transactions"), query_string={"month": "2026-13"},
                              headers=payer.auth), 422, field="month")
