"""Fixtures of the app tests: a real backend over HTTP, the apps' services, people and a shop.

Presenter tests run on both database engines; the UI tests (one offscreen
Kivy window, ``ui`` fixture) run on SQLite only, to keep the suite quick —
the client's behaviour against PostgreSQL is covered by the payclient tests.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.auth.models import Role
from payclient.services import Services
from payclient.tasks import SyncRunner
from tests.apps import harness  # noqa: F401 - sets Kivy's environment before anything imports Kivy
from tests.factories import PASSWORD, Person
from tests.payclient import live as _live
from tests.payclient.live import settle

# The real server's fixtures, shared with the payclient tests.
_live_servers = _live._live_servers
live_url = _live.live_url


def pytest_collection_modifyitems(config, items):
    drop = [item for item in items if "ui" in item.fixturenames
            and getattr(getattr(item, "callspec", None), "params", {}).get("engine_app") == "postgresql"]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in drop]


@pytest.fixture
def shots(tmp_path):
    """Screenshots of the window (``SUIYUAN_SCREENSHOTS`` names the folder that keeps them)."""
    from tests.apps.test_ui import Shots  # Kivy's window: imported only by the UI tests that ask

    return Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))


@dataclass
class World:
    owner: Person
    consumer: Person
    merchant_id: int
    password: str = PASSWORD


@pytest.fixture
def world(factory, live_url) -> World:
    """An approved tea house with its owner, and a consumer holding ¥1,000.00 (class-4 wallet)."""
    owner = factory.user(Role.MERCHANT_OWNER, display_name="黄老板")
    merchant = factory.merchant(owner=owner, name_zh="永庆坊茶居", name_en="Yongqingfang Tea House",
                                address="广州市荔湾区恩宁路永庆坊")
    consumer = factory.consumer(balance_fen=100_000, display_name="李小明")
    mid = merchant.id
    settle()
    return World(owner, consumer, mid)


class FakeView:
    """Records every call a presenter makes on its view: ``calls`` is ``[(name, args)]``.

    Calls may come from other threads (an order watcher); ``wait_for`` wakes on each one.
    """

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []
        self._called = threading.Condition()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def record(*args):
            with self._called:
                self.calls.append((name, args))
                self._called.notify_all()
        return record

    def named(self, name: str) -> list[tuple]:
        return [args for n, args in self.calls if n == name]

    def last(self, name: str):
        found = self.named(name)
        assert found, f"the view never got {name}; it got {[n for n, _ in self.calls]}"
        return found[-1]

    def wait_for(self, name: str, timeout: float = 10.0):
        with self._called:
            if self._called.wait_for(lambda: self.named(name), timeout):
                return self.last(name)
        raise AssertionError(f"the view never got {name}; it got {[n for n, _ in self.calls]}")


@pytest.fixture
def services(live_url):
    """In-memory services (token, outbox, keys, pay-code secret) with everything run inline."""
    def make(runner=None) -> Services:
        return Services.in_memory(live_url, runner or SyncRunner())
    return make


@pytest.fixture
def view():
    return FakeView()


@pytest.fixture
def ui(app, live_url, tmp_path):
    """Build app shells for the offscreen window (SQLite only); files under ``tmp_path``."""
    harness.window(harness.PHONE)
    shells = []

    def make(kind: str, name: str | None = None):
        if kind == "consumer":
            from consumer_app.main import ConsumerApp as AppCls
        else:
            from merchant_app.main import MerchantApp as AppCls
        the_app = AppCls(api_url=live_url, data_dir=tmp_path / (name or kind))
        shell = the_app.build_shell()
        shell.start()
        shells.append(shell)
        return shell

    yield make
    # Leave each app as a person closing it would: the current screen's timers and pollers stop, order
    # watchers end, and nothing is left asking the live server for anything (see ``live_url``).
    for shell in shells:
        getattr(shell, "stop", lambda: None)()  # the app closes: its pollers stop
        shell.sm.current_screen.dispatch("on_leave")
        for screen in shell.sm.screens:
            stop = getattr(getattr(screen, "presenter", None), "stop_watching", None)
            if stop:
                assert stop(wait=10), "an order watcher did not stop"
        runner = shell.services.runner
        harness.wait_until(lambda r=runner: r.busy == 0, what="the app's requests in flight to finish")
    harness.clear_toasts()


@pytest.fixture
def campaigns(app, world, factory, live_url, monkeypatch):
    """Launch campaigns in Yongqingfang as the pilot office (funded by a class-2 wallet), over HTTP.

    ``campaigns.make(kind, **fields)`` returns the launched campaign (grab: 10 fixed ¥1.00 packets,
    open now, spendable for two days; lottery; coupon: ¥5 off ¥30) accepted at the world's tea house.
    """
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from backend.hooks import announce, merchant_approved
    from payclient.api import ApiClient
    from payclient.models import Campaign

    monkeypatch.setitem(app.config, "REDIS_URL", None)  # jobs inline, as on the embedded default
    # Factory merchants skip the review; tell the plug-ins it happened, so zones places the shop.
    announce(merchant_approved, merchant_id=world.merchant_id)
    pilot = factory.user(Role.PILOT_ADMIN)
    funder = factory.consumer(wallet_class=2, balance_fen=10_000_000)
    settle()
    staff = ApiClient(live_url)
    staff.login(pilot.phone, PASSWORD)
    funder_id = staff._call("POST", "/campaigns/funders", json={"name": "永庆坊商圈基金", "phone": funder.phone})["id"]
    zone = next(z for z in staff.zones() if z.code == "yongqingfang")

    def make(kind: str = "grab", **fields) -> Campaign:
        now = datetime.now(UTC)
        opening = "registration" if kind == "lottery" else "claim"
        body = {"name": {"grab": "永庆坊开街红包", "lottery": "西关美食节抽签红包", "coupon": "茶居满30减5"}[kind],
                "kind": kind, "funder_id": funder_id, "zone_ids": [zone.id], "merchant_ids": [world.merchant_id],
                "packet_count": 10, f"{opening}_starts_at": (now - timedelta(minutes=1)).isoformat(),
                f"{opening}_ends_at": (now + timedelta(hours=3)).isoformat(),
                "spend_ends_at": (now + timedelta(days=2)).isoformat()}
        if kind == "coupon":
            body.update(discount_fen=500, min_spend_fen=3_000)
        else:
            body.update(split="fixed", budget_fen=1_000)
        body.update(fields)
        created = staff._call("POST", "/campaigns", json=body)
        return Campaign.from_json(staff._money(f"/campaigns/{created['id']}/launch", {}))

    return SimpleNamespace(make=make, zone=zone, staff=staff)
