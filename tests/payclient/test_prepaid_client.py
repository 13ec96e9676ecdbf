"""The API client's prepaid calls against the real backend over HTTP."""

from __future__ import annotations

import pytest

from payclient.api import ApiClient
from payclient.errors import ConflictError, Unprocessable
from tests.factories import PASSWORD
from tests.payclient.live import settle
from tests.prepaid.helpers import make_world, publish


@pytest.fixture
def connect(live_url):
    def make(person) -> ApiClient:
        client = ApiClient(live_url, retries=1, backoff_s=0.05)
        client.login(person.phone, PASSWORD)
        return client
    return make


def test_buy_list_release_and_refund_a_prepaid_card(app, connect, factory):
    w = make_world(app, factory)
    plan = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=9_000)  # ¥900
    dear = publish(w, w.gym_owner, w.gym, units=10, unit_price_fen=20_000)  # ¥2,000
    consumer = factory.consumer(balance_fen=200_000)  # class 4: at most ¥1,000 a purchase
    settle()
    me, shop = connect(consumer), connect(w.gym_owner)
    plans = {p.id: p for p in me.prepaid_plans()}
    assert plans[plan["id"]].price_fen == 90_000 and plans[plan["id"]].credit_grade["grade"] in "ABC"
    with pytest.raises(Unprocessable) as refused:
        me.prepaid_buy(dear["id"])
    assert refused.value.code == "prepaid_limit"
    card = me.prepaid_buy(plan["id"])
    assert (card.units_left, card.escrow_fen, len(card.terms_sha256)) == (10, 90_000, 64) and card.code
    release = shop.prepaid_release(card.code, 3)
    assert (release.amount_fen, release.units_left) == (27_000, 7)
    with pytest.raises(ConflictError) as over:
        shop.prepaid_release(card.code, 8)
    assert over.value.code == "not_enough_units"
    mine = me.prepaid_contracts()
    assert [c.id for c in mine] == [card.id] and mine[0].units_left == 7
    assert shop.prepaid_contracts()[0].code is None  # the shop never sees the code
    refunded = me.prepaid_refund(card.id)
    assert (refunded.status, refunded.refund_kind, refunded.refunded_fen) == ("refunded", "cooling_off", 63_000)
    assert me.wallet().balance_fen == 200_000 - 27_000
