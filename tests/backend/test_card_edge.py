"""Top-ups and redemptions at the card-network edge: a voided top-up stays refused, one key per user,
and a redemption is paid out even when its first enqueue failed."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from backend.banks.gateway import CardResult
from backend.wallets import service as wallets
from tests.backend.helpers import url


class DedupNetwork:
    """A card network that de-duplicates by reference, as real banks do."""

    def __init__(self):
        self.debits: dict = {}
        self.credits: dict = {}

    def debit(self, bank, token, amount, ref):
        self.debits.setdefault(ref, (token, amount))
        return CardResult(f"{bank}-{ref}")

    def credit(self, bank, token, amount, ref):
        self.credits.setdefault(ref, (token, amount))
        return CardResult(f"{bank}-{ref}")

    def net_charged(self, token) -> int:
        return (sum(a for t, a in self.debits.values() if t == token)
                - sum(a for t, a in self.credits.values() if t == token))


def _topup(client, person, key, amount=10_000):
    return client.post(url("/wallets/me/topup"), json={"amount_fen": amount},
                       headers={**person.auth, "Idempotency-Key": key})


def test_a_voided_topup_stays_refused_on_retry(app, client, factory, monkeypatch):
    net = DedupNetwork()
    monkeypatch.setitem(app.extensions, "card_network", net)  # the app outlives this test
    consumer = factory.consumer()
    token = factory.wallet(consumer).card_token
    real, calls = wallets.ledger.transfer, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE accounts", {}, Exception("lock timeout"))
        return real(*args, **kwargs)

    monkeypatch.setattr(wallets.ledger, "transfer", flaky)
    first = _topup(client, consumer, "retry-me")
    again = _topup(client, consumer, "retry-me")
    assert first.status_code == again.status_code == 503
    assert again.get_json()["code"] == "topup_voided"
    assert factory.balance(consumer) == 0 and net.net_charged(token) == 0
    fresh = _topup(client, consumer, "new-key")
    assert fresh.status_code == 201
    assert factory.balance(consumer) == 10_000 and net.net_charged(token) == 10_000


def test_the_same_key_from_two_users_charges_both_cards(app, client, factory, monkeypatch):
    net = DedupNetwork()
    monkeypatch.setitem(app.extensions, "card_network", net)  # the app outlives this test
    a = factory.consumer(card="4111111111111111")
    b = factory.consumer(card="5555555555554444")
    assert _topup(client, a, "1").status_code == 201
    assert _topup(client, b, "1").status_code == 201
    assert factory.balance(b) == 10_000 and net.net_charged(factory.wallet(b).card_token) == 10_000


def test_a_redemption_is_paid_out_even_if_the_first_enqueue_failed(app, client, factory, monkeypatch):
    import backend.jobs as jobs

    consumer = factory.consumer(balance_fen=50_000)
    payouts = []
    monkeypatch.setattr(wallets, "pay_out_redemption", lambda transfer_id: payouts.append(transfer_id))
    state = {"down": True}

    def enqueue(fn, *args, **kwargs):
        if state["down"]:
            raise ConnectionError("Redis down")
        return fn(*args)

    monkeypatch.setattr(jobs, "enqueue", enqueue)
    headers = {**consumer.auth, "Idempotency-Key": "red-1"}
    with pytest.raises(ConnectionError):
        client.post(url("/wallets/me/redeem"), json={"amount_fen": 20_000}, headers=headers)
    state["down"] = False
    retry = client.post(url("/wallets/me/redeem"), json={"amount_fen": 20_000}, headers=headers)
    assert retry.status_code == 201 and factory.balance(consumer) == 30_000
    assert payouts == [retry.get_json()["transfer_id"]]


