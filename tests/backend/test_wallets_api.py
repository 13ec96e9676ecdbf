"""Wallets over HTTP: opening, tier upgrades, top-up, redemption, transfers, limits, history."""

from __future__ import annotations

import pytest

from backend.auth.models import Role
from backend.banks.gateway import DECLINED_TEST_CARDS
from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger import service as ledger
from tests.backend.helpers import (
    MONEY_PATHS,
    assert_problem,
    count_rows,
    ledger_unchanged,
    luhn_complete,
    money_body,
    post_money,
    url,
    valid_id_number,
    with_wrong_check_char,
)
from tests.factories import TEST_CARD

BANK_ACCOUNT = luhn_complete("622202020011223344")


@pytest.fixture(autouse=True)
def _ledger_stays_sound(app):
    """Every test here ends with money conserved."""
    yield
    assert ledger.verify() == []


def limits_json(wallet_class: int) -> dict:
    tier = WALLET_TIERS[wallet_class]
    return {"balance_cap_fen": tier.balance_cap_fen, "single_payment_cap_fen": tier.single_cap_fen,
            "day_cap_fen": tier.day_cap_fen, "year_cap_fen": tier.year_cap_fen}


def get_wallet(client, person) -> dict:
    resp = client.get(url("/wallets/me"), headers=person.auth)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def open_wallet(client, person, **body):
    body = {"bank_code": "ICBC", "payment_password": "135790", **body}
    return client.post(url("/wallets/me"), json=body, headers=person.auth)


def upgrade(client, person, target_class: int, **body):
    return client.post(url("/wallets/me/upgrade"), json={"target_class": target_class, **body}, headers=person.auth)


def to_class3(client, person, id_number: str | None = None):
    return upgrade(client, person, 3, real_name="陈美玲", id_number=id_number or valid_id_number(person.id))


def transfer(client, payer, payee, amount_fen: int, **extra):
    return post_money(client, payer, "/transfers", {"to_phone": payee.phone, "amount_fen": amount_fen, **extra})


def balance(client, person) -> int:
    return get_wallet(client, person)["balance_fen"]


# --- opening ----------------------------------------------------------------------------------


def test_open_wallet_gives_a_class_4_wallet_with_the_tier_limits(client, factory):
    person = factory.user(Role.CONSUMER)
    resp = open_wallet(client, person, bank_code="ccb", card_number=TEST_CARD)
    assert resp.status_code == 201
    wallet = resp.get_json()
    assert wallet["wallet_class"] == 4 and wallet["status"] == "active"
    assert wallet["bank"]["code"] == "CCB"
    assert wallet["limits"] == limits_json(4)
    assert (wallet["balance_fen"], wallet["spent_today_fen"]) == (0, 0)
    assert wallet["remaining_today_fen"] == WALLET_TIERS[4].day_cap_fen
    assert wallet["wallet_number"].startswith("0021") and len(wallet["wallet_number"]) == 16
    assert wallet["card_masked"].endswith(TEST_CARD[-4:]) and TEST_CARD not in str(wallet)
    assert get_wallet(client, person) == wallet


def test_second_open_is_409_and_writes_nothing(client, factory):
    person = factory.consumer()
    before = count_rows("accounts")
    assert_problem(open_wallet(client, person, bank_code="BOC"), 409, "wallet_exists")
    assert count_rows("accounts") == before
    assert get_wallet(client, person)["bank"]["code"] == "ICBC"


@pytest.mark.parametrize(("body", "field"), [
    ({"bank_code": "NOPE"}, "bank_code"),
    ({"bank_code": ""}, "bank_code"),
    ({"card_number": "4111111111111112"}, "card_number"),  # Luhn fails
    ({"card_number": "41111111"}, "card_number"),  # too short
])
def test_open_wallet_refuses_bad_input(client, factory, body, field):
    person = factory.user(Role.CONSUMER)
    assert_problem(open_wallet(client, person, **body), 422, "validation_failed", field=field)
    assert_problem(client.get(url("/wallets/me"), headers=person.auth), 404, "wallet_not_open")


# --- upgrades ---------------------------------------------------------------------------------


def test_upgrade_to_class_3_with_a_valid_id_raises_the_limits(client, factory):
    person = factory.consumer()
    number = next(n for n in map(valid_id_number, range(100)) if n.endswith("X"))
    resp = to_class3(client, person, number.lower())  # people type the check character X in lower case too
    assert resp.status_code == 200, resp.get_json()
    wallet = resp.get_json()
    assert wallet["wallet_class"] == 3
    assert wallet["limits"] == limits_json(3)
    assert wallet["real_name"] == "陈美玲"
    assert wallet["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert get_wallet(client, person)["limits"] == limits_json(3)


@pytest.mark.parametrize("bad", [
    "wrong_check_char", "short", "not_a_date", "born_in_the_future",
])
def test_upgrade_refuses_an_invalid_id_number(client, factory, bad):
    person = factory.consumer()
    good = valid_id_number(person.id)
    number = {
        "wrong_check_char": with_wrong_check_char(good),
        "short": good[:17],
        "not_a_date": good[:10] + "1340" + good[14:],
        "born_in_the_future": good[:6] + "2999" + good[10:],
    }[bad]
    assert_problem(to_class3(client, person, number), 422, "validation_failed", field="id_number")
    wallet = get_wallet(client, person)
    assert (wallet["wallet_class"], wallet["id_number_masked"]) == (4, None)


@pytest.mark.parametrize("missing", ["real_name", "id_number"])
def test_upgrade_to_class_3_needs_name_and_id(client, factory, missing):
    person = factory.consumer()
    body = {"real_name": "陈美玲", "id_number": valid_id_number(person.id)}
    del body[missing]
    assert_problem(upgrade(client, person, 3, **body), 422, "validation_failed", field=missing)


def test_upgrade_to_class_2_needs_an_own_bank_account(client, factory):
    person = factory.consumer(wallet_class=3)
    assert_problem(upgrade(client, person, 2), 422, "validation_failed", field="bank_account_number")
    assert get_wallet(client, person)["wallet_class"] == 3
    resp = upgrade(client, person, 2, bank_account_number=BANK_ACCOUNT)
    assert resp.status_code == 200, resp.get_json()
    wallet = resp.get_json()
    assert wallet["wallet_class"] == 2 and wallet["limits"] == limits_json(2)
    assert wallet["bank_account_masked"].endswith(BANK_ACCOUNT[-4:])


def test_upgrade_from_class_4_straight_to_class_2(client, factory):
    person = factory.consumer()
    resp = upgrade(client, person, 2, real_name="王建国", id_number=valid_id_number(person.id),
                   bank_account_number=BANK_ACCOUNT)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["limits"] == limits_json(2)


def test_upgrade_to_class_2_names_the_bad_bank_account_field(client, factory):
    person = factory.consumer(wallet_class=3)
    resp = upgrade(client, person, 2, bank_account_number="6222020200112233445")  # Luhn fails
    assert_problem(resp, 422, "validation_failed", field="bank_account_number")


@pytest.mark.parametrize(("target", "status", "code"), [
    (3, 409, "not_an_upgrade"), (4, 422, "validation_failed"), (1, 422, "validation_failed"),
])
def test_upgrade_must_go_up_and_not_to_class_1(client, factory, target, status, code):
    person = factory.consumer(wallet_class=3)
    assert_problem(to_class3(client, person) if target == 3 else upgrade(client, person, target),
                   status, code)
    assert get_wallet(client, person)["wallet_class"] == 3


def test_one_id_number_backs_one_wallet_per_bank(client, factory):
    first, second = factory.consumer(), factory.consumer()
    number = valid_id_number(first.id)
    assert to_class3(client, first, number).status_code == 200
    assert_problem(to_class3(client, second, number), 409)


def test_upgrade_lifts_the_one_payment_cap(client, factory):
    amount = WALLET_TIERS[4].single_cap_fen + 1
    payer, payee = factory.consumer(balance_fen=amount), factory.consumer()
    body = assert_problem(transfer(client, payer, payee, amount), 422, "limit_exceeded")
    assert body["limit"] == "single"
    assert to_class3(client, payer).status_code == 200
    assert transfer(client, payer, payee, amount).status_code == 201
    assert (balance(client, payer), balance(client, payee)) == (0, amount)


# --- top-up and redemption --------------------------------------------------------------------


def test_topup_debits_the_card_and_issues_e_cny(client, factory):
    person = factory.consumer()
    resp = post_money(client, person, "/wallets/me/topup", {"amount_fen": 38_50})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body == {**body, "code": "topup", "amount_fen": 38_50, "direction": "in", "balance_after_fen": 38_50}
    assert balance(client, person) == 38_50


@pytest.mark.parametrize("card", sorted(DECLINED_TEST_CARDS))
def test_declined_card_moves_no_money(client, factory, card):
    person = factory.consumer(balance_fen=1_000, card=card)
    with ledger_unchanged():
        body = assert_problem(post_money(client, person, "/wallets/me/topup", {"amount_fen": 5_000}),
                              422, "card_declined")
    assert body["decline_reason"] == DECLINED_TEST_CARDS[card]
    assert balance(client, person) == 1_000


@pytest.mark.parametrize(("card", "code"), [(None, "no_linked_card"), (TEST_CARD, "payee_limit_exceeded")])
def test_topup_refused_without_a_card_or_above_the_balance_cap(client, factory, card, code):
    cap = WALLET_TIERS[4].balance_cap_fen
    person = factory.consumer(balance_fen=cap - 100, card=card)
    with ledger_unchanged():
        assert_problem(post_money(client, person, "/wallets/me/topup", {"amount_fen": 101}), 422, code)


def test_redeem_returns_e_cny_to_the_bank(client, factory):
    person = factory.consumer(balance_fen=10_000)
    resp = post_money(client, person, "/wallets/me/redeem", {"amount_fen": 2_500})
    assert resp.status_code == 201
    assert resp.get_json()["direction"] == "out" and resp.get_json()["balance_after_fen"] == 7_500
    with ledger_unchanged():
        body = assert_problem(post_money(client, person, "/wallets/me/redeem", {"amount_fen": 7_501}),
                              422, "insufficient_funds")
    assert body["balance_fen"] == 7_500


# --- transfers --------------------------------------------------------------------------------


def test_transfer_by_phone_moves_exact_amounts(client, factory):
    payer, payee = factory.consumer(balance_fen=10_000), factory.consumer(balance_fen=1)
    resp = transfer(client, payer, payee, 3_850, memo="饮茶")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["to_wallet_number"] == get_wallet(client, payee)["wallet_number"]
    assert (body["direction"], body["balance_after_fen"], body["memo"]) == ("out", 6_150, "饮茶")
    assert (balance(client, payer), balance(client, payee)) == (6_150, 3_851)
    incoming = client.get(url("/wallets/me/transactions"), headers=payee.auth).get_json()["items"][0]
    assert incoming == {**incoming, "transfer_id": body["transfer_id"], "direction": "in",
                        "signed_amount_fen": 3_850, "memo": "饮茶"}


@pytest.mark.parametrize("payee_kind", ["unregistered", "no_wallet", "merchant_owner"])
def test_transfer_to_a_phone_without_a_wallet_is_404(client, factory, payee_kind):
    payer = factory.consumer(balance_fen=10_000)
    phone = {
        "unregistered": lambda: "13700009999",
        "no_wallet": lambda: factory.user(Role.CONSUMER).phone,
        "merchant_owner": lambda: factory.user(Role.MERCHANT_OWNER).phone,
    }[payee_kind]()
    with ledger_unchanged():
        resp = post_money(client, payer, "/transfers", {"to_phone": phone, "amount_fen": 100})
        assert_problem(resp, 404, "payee_not_found", field="to_phone")


def test_transfer_to_oneself_is_refused(client, factory):
    payer = factory.consumer(balance_fen=10_000)
    with ledger_unchanged():
        assert_problem(transfer(client, payer, payer, 100), 422, "same_account")


def test_transfer_to_a_malformed_phone_names_the_to_phone_field(client, factory):
    payer = factory.consumer(balance_fen=10_000)
    resp = post_money(client, payer, "/transfers", {"to_phone": "12345", "amount_fen": 100})
    assert_problem(resp, 422, field="to_phone")


@pytest.mark.parametrize("payee_first", [False, True], ids=["payer-account-first", "payee-account-first"])
@pytest.mark.parametrize(("payer_fen", "payee_fen", "amount", "code"), [
    (999, 0, 1_000, "insufficient_funds"),
    (10_000, WALLET_TIERS[4].balance_cap_fen - 50, 100, "payee_limit_exceeded"),
], ids=["insufficient-funds", "payee-balance-cap"])
def test_refused_transfer_moves_nothing(client, factory, payee_first, payer_fen, payee_fen, amount, code):
    """Whichever account the ledger updates first, a refusal undoes it (accounts are locked in id order)."""
    payee = factory.consumer(balance_fen=payee_fen) if payee_first else None
    payer = factory.consumer(balance_fen=payer_fen)
    payee = payee or factory.consumer(balance_fen=payee_fen)
    with ledger_unchanged():
        body = assert_problem(transfer(client, payer, payee, amount), 422, code)
    assert body.get("balance_fen", payer_fen) == payer_fen
    assert get_wallet(client, payer)["spent_today_fen"] == 0


@pytest.mark.parametrize("path", MONEY_PATHS)
def test_a_frozen_wallet_moves_no_money_but_can_be_seen(client, factory, path):
    person, payee = factory.consumer(balance_fen=10_000), factory.consumer()
    factory.wallet(person).status = "frozen"
    db.session.commit()
    with ledger_unchanged():
        assert_problem(post_money(client, person, path, money_body(path, 100, payee)), 403, "wallet_frozen")
        assert_problem(to_class3(client, person), 403, "wallet_frozen")
    assert get_wallet(client, person)["status"] == "frozen"


def test_a_frozen_wallet_cannot_be_paid(client, factory):
    payer, payee = factory.consumer(balance_fen=10_000), factory.consumer()
    factory.wallet(payee).status = "frozen"
    db.session.commit()
    with ledger_unchanged():
        assert_problem(transfer(client, payer, payee, 100), 404, "payee_not_found", field="to_phone")


def test_daily_cap_is_enforced_over_http(client, factory):
    tier = WALLET_TIERS[4]
    payer, payee = factory.consumer(balance_fen=tier.balance_cap_fen), factory.consumer()
    full, rest = divmod(tier.day_cap_fen, tier.single_cap_fen)
    for amount in [tier.single_cap_fen] * full + [rest]:
        assert transfer(client, payer, payee, amount).status_code == 201
    wallet = get_wallet(client, payer)
    assert (wallet["spent_today_fen"], wallet["remaining_today_fen"]) == (tier.day_cap_fen, 0)
    with ledger_unchanged():
        body = assert_problem(transfer(client, payer, payee, 1), 422, "limit_exceeded")
    assert (body["limit"], body["limit_fen"], body["remaining_fen"]) == ("day", tier.day_cap_fen, 0)
    assert balance(client, payee) == tier.day_cap_fen
    # Redemption is an exchange, not a payment: the daily cap does not block it.
    assert post_money(client, payer, "/wallets/me/redeem", {"amount_fen": 1}).status_code == 201


# --- history ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(4, [[4, 3], [2, 1]]), (5, [[5, 4], [3, 2], [1]])])
def test_transactions_page_newest_first_with_next_before(client, factory, count, pages):
    person = factory.consumer()
    for amount in range(1, count + 1):
        factory.fund(person, amount)
    seen, query = [], {"limit": 2}
    while len(seen) <= count:
        page = client.get(url("/wallets/me/transactions"), query_string=query, headers=person.auth).get_json()
        seen.append([item["amount_fen"] for item in page["items"]])
        if page["next_before"] is None:
            break
        query["before"] = page["next_before"]
    assert seen == pages


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"before": 0}, {"before": "x"}])
def test_transactions_refuse_bad_paging(client, factory, query):
    person = factory.consumer()
    resp = client.get(url("/wallets/me/transactions"), query_string=query, headers=person.auth)
    assert_problem(resp, 422, "validation_failed", field=next(iter(query)))
