"""The consumer's side of hard wallets (payclient.transit.wallet) against the real server: issue, load (圈存) and
unload (圈提) are idempotent across lost answers and app restarts; a load made while the card was away is applied
at its next touch; journeys are grouped by day with the caps they reached (worked examples)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.ledger.models import Transfer
from payclient.api import ApiClient
from payclient.errors import NetworkError
from payclient.models import TransitRecord
from payclient.outbox import Outbox
from payclient.storage import JsonFile, MemoryTokenStore
from payclient.transit import wallet
from tests.factories import PASSWORD
from tests.payclient.live import DroppingProxy, settle
from tests.payclient.test_outbox import port_of


def transfers(code: str) -> int:
    n = db.session.execute(select(func.count()).select_from(Transfer).where(Transfer.code == code)).scalar_one()
    settle()
    return n


@pytest.fixture
def consumer(factory):
    person = factory.consumer(balance_fen=20_000)
    settle()
    return person


def test_a_load_whose_answer_was_lost_is_retried_with_its_key_and_loads_once(consumer, live_url, factory, tmp_path):
    api = ApiClient(live_url)
    api.login(consumer.phone, PASSWORD)
    shelf = wallet.CardShelf(JsonFile(tmp_path / "hardwallets.json"))
    issued = wallet.issue(api, shelf, ytc_number="3101234567")
    assert issued.status == "active" and shelf.card_ids() == [issued.card_id]

    loads = f"POST /api/v1/transit/cards/{issued.card_id}/loads".encode()
    proxy = DroppingProxy(port_of(live_url), drop=1, match=loads)
    try:
        flaky = ApiClient(proxy.url(), tokens=api.tokens, outbox=Outbox(tmp_path / "outbox.sqlite3"), retries=2,
                          backoff_s=0.05)
        card = wallet.load(flaky, shelf, issued.card_id, 5_000)
    finally:
        proxy.close()
    assert proxy.dropped == 1 and len(proxy.keys) == 2 and proxy.keys[0] == proxy.keys[1]
    assert (card.balance_fen, card.loads_count) == (5_000, 1)
    assert shelf.card(issued.card_id).balance_fen == 5_000  # the card applied the one load
    assert factory.balance(consumer) == 15_000 and transfers("transit_load") == 1


def test_a_load_made_while_the_card_is_away_is_applied_at_its_next_touch(consumer, live_url, tmp_path):
    api = ApiClient(live_url)
    api.login(consumer.phone, PASSWORD)
    at_home = wallet.CardShelf()
    issued = wallet.issue(api, at_home)
    elsewhere = wallet.CardShelf()  # another phone, the card not within its reach
    assert wallet.load(api, elsewhere, issued.card_id, 2_000).balance_fen == 2_000
    assert at_home.card(issued.card_id).balance_fen == 0
    assert wallet.apply_missed_loads(api, at_home, issued.card_id) == 1
    assert wallet.apply_missed_loads(api, at_home, issued.card_id) == 0  # applied once
    assert at_home.card(issued.card_id).balance_fen == 2_000


def test_an_unload_without_an_answer_is_kept_and_settled_once_when_online(consumer, live_url, factory, tmp_path):
    api = ApiClient(live_url, tokens=MemoryTokenStore())
    api.login(consumer.phone, PASSWORD)
    shelf = wallet.CardShelf(JsonFile(tmp_path / "hardwallets.json"))
    card_id = wallet.issue(api, shelf).card_id
    wallet.load(api, shelf, card_id, 3_000)
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    offline = ApiClient(f"http://127.0.0.1:{dead}/api/v1", tokens=api.tokens,
                        outbox=Outbox(tmp_path / "outbox.sqlite3"), retries=1, backoff_s=0.01)
    with pytest.raises(NetworkError) as err:
        wallet.unload(offline, shelf, card_id, 1_000)
    key = err.value.pending_key
    offline.outbox.close()
    # The card signed and spent; the record is kept on the phone (a file: it survives the app), nothing moved.
    again = wallet.CardShelf(JsonFile(tmp_path / "hardwallets.json"))
    assert again.card(card_id).balance_fen == 2_000 and list(again.pending_unloads()) == [card_id]
    assert factory.balance(consumer) == 17_000
    # Online again (the app restarted): the kept request goes again under its own Idempotency-Key.
    online = ApiClient(live_url, tokens=api.tokens, outbox=Outbox(tmp_path / "outbox.sqlite3"))
    assert wallet.resend_unloads(online, again) == 1
    assert again.pending_unloads() == {} and factory.balance(consumer) == 18_000
    [entry] = online.outbox.all()
    assert (entry.key, entry.state, entry.status) == (key, "done", 201)
    # Signed and kept, but the app stopped before the send (nothing in the outbox): sent as a new request.
    chip = again.card(card_id)
    record = chip.unload(700, 1_772_409_600)
    again.keep_unload(chip, record.to_json())
    assert wallet.resend_unloads(online, again) == 1 and factory.balance(consumer) == 18_700
    again.keep_unload(chip, record.to_json())  # an old copy of the phone's file: the same record once more
    assert wallet.resend_unloads(online, again) == 1 and factory.balance(consumer) == 18_700  # settled once
    # The next unload on this card first finishes any kept one, then signs its own.
    assert wallet.unload(online, again, card_id, 500).balance_fen == 800
    assert factory.balance(consumer) == 19_200 and transfers("transit_unload") == 3
    server = api.transit_card(card_id)
    assert (server.balance_fen, server.unloaded_fen) == (800, 2_200) and again.card(card_id).balance_fen == 800
    with pytest.raises(LookupError):
        wallet.unload(api, wallet.CardShelf(), card_id, 100)  # the card is not within reach: nothing signed


def _rec(counter, day, hhmm, fen, trip="bus:B1", kind="fare"):
    at = datetime.fromisoformat(f"{day}T{hhmm}:00+08:00").astimezone(UTC)
    return TransitRecord(counter, kind, fen, "T", trip, at, at)


def test_journeys_by_day_with_the_caps_reached():
    """Daily cap ¥25 and monthly cap ¥300 (Guangzhou's defaults):

        3 Mar: ¥20 airport express, ¥2, ¥2, then ¥1 (the cap's remainder) → ¥25, daily cap reached
        4 Mar: ¥2 → no cap; an unload that day is not a journey
        5 Mar 00:30 local (4 Mar 16:30 UTC) counts on 5 Mar
        add ¥25 a day from 20 Mar: ¥27 + 10 × ¥25 = ¥277 by 29 Mar, ¥302 on 30 Mar → the monthly cap that day
    """
    records = [_rec(1, "2026-03-03", "08:00", 2_000, "bus:airport-express"), _rec(2, "2026-03-03", "09:00", 200),
               _rec(3, "2026-03-03", "12:00", 200), _rec(4, "2026-03-03", "18:00", 100),
               _rec(5, "2026-03-04", "08:00", 200), _rec(6, "2026-03-04", "20:00", 1_000, "", "unload"),
               _rec(7, "2026-03-05", "00:30", 200)]
    days = wallet.journey_days(records)
    assert [(d.day, len(d.journeys), d.total_fen, d.capped) for d in days] == [
        ("2026-03-05", 1, 200, None), ("2026-03-04", 1, 200, None), ("2026-03-03", 4, 2_500, "day")]
    assert [j.fare_fen for j in days[2].journeys] == [100, 200, 200, 2_000]  # newest first
    month = records[:5] + [_rec(10 + i, f"2026-03-{20 + i:02d}", "08:00", 2_500) for i in range(11)]
    by_day = {d.day: d.capped for d in wallet.journey_days(month)}
    assert by_day["2026-03-29"] == "day" and by_day["2026-03-30"] == "month"
