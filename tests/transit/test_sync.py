"""A validator syncing with a real server over HTTP: uploads, acknowledgements, downloads."""

from __future__ import annotations

from payclient.transit.sync import TerminalLink
from suiyuan_protocol.transit.terminal import Terminal
from tests.payclient import live as _live
from tests.payclient.live import settle
from tests.payclient.transit.test_fares import at
from tests.transit.helpers import Transit

_live_servers = _live._live_servers
live_url = _live.live_url


def test_validator_syncs_over_http(client, factory, tmp_path, live_url):
    world = Transit(client, factory, tmp_path)
    lin = factory.consumer(balance_fen=50_000)
    card = world.issue(lin)
    world.load(lin, card, 5_000)
    bus = world.terminal("BUS-SYNC")
    for i in range(5):
        assert bus.tap(card, at("2026-03-02", f"08:0{i}")).accepted
    settle()
    link = TerminalLink(live_url, world.keys["BUS-SYNC"])
    report = link.sync(bus, batch_size=2)
    assert (report.batches, report.accepted, report.rejected, report.error) == (3, 5, 0, None)
    assert bus.record_count(pending=True) == 0
    assert link.sync(bus).batches == 0  # nothing left to send
    # Lost: the next sync brings the blacklist, and the terminal (reopened: it kept it) refuses the card.
    assert client.post(f"/api/v1/transit/cards/{card.card_id}/lost", headers=lin.auth).status_code == 200
    settle()
    assert link.sync(bus).blacklist_version >= 1
    bus.close()
    again = Terminal("BUS-SYNC", "bus", "B1", tmp_path / "BUS-SYNC.sqlite")
    assert again.issuer_keys and again.tap(card, at("2026-03-02", "09:00")).code == "blacklisted"
    assert world.server_card(lin, card)["balance_fen"] == card.balance_fen == 4_000
    again.close()


def test_offline_sync_reports_the_error(tmp_path):
    t = Terminal("BUS-OFF", "bus", "B1", tmp_path / "t.sqlite")
    report = TerminalLink("http://127.0.0.1:9/api/v1", "k", timeout=0.5).sync(t)
    assert report.error and report.error.startswith("offline")
    t.close()
