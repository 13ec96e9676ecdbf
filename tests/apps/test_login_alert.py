"""Both apps tell the owner, right after logging in, that strangers tried their password.

A stranger guesses from another address (the server counts those attempts per account); the owner then
logs in with the app, which shows the warning: presenters on both engines, and the offscreen window
(screenshots) on SQLite, as the other app tests do.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consumer_app import presenters as cp
from consumer_app.strings import STRINGS as CONSUMER_STRINGS
from merchant_app import presenters as mp
from merchant_app.strings import STRINGS as MERCHANT_STRINGS
from tests.apps import harness as h
from tests.apps.conftest import FakeView
from tests.apps.test_ui import Shots, log_in, overflowing
from tests.payclient.live import settle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def strangers_guess(client, phone: str) -> None:
    """Four wrong passwords from a stranger's laptop, then one try too soon: 4 failed, 1 blocked."""
    for i in range(5):
        client.post("/api/v1/auth/login", json={"phone": phone, "password": f"Wrong-{i}-x1"},
                    headers={"X-Device-Id": "stranger-laptop"}, environ_base={"REMOTE_ADDR": "203.0.113.66"})
    settle()


def test_the_consumer_app_warns_after_log_in(services, world, client):
    sv = services()
    sv.tr.add(CONSUMER_STRINGS)
    quiet = FakeView()
    cp.LoginPresenter(sv, quiet).login(world.consumer.phone, world.password)
    assert quiet.last("go") == ("home",) and not quiet.named("show_login_alert")

    strangers_guess(client, world.consumer.phone)
    warned = FakeView()
    cp.LoginPresenter(sv, warned).login(world.consumer.phone, world.password)
    title, text = warned.last("show_login_alert")
    assert title == "有人尝试登录您的账户"
    assert "输错您的密码 4 次" in text and "1 次尝试已被拦截" in text


def test_the_merchant_app_warns_after_log_in(services, world, client):
    sv = services()
    sv.tr.add(MERCHANT_STRINGS)
    strangers_guess(client, world.owner.phone)
    sv.tr.set_lang("en")
    view = FakeView()
    mp.LoginPresenter(sv, view).login(world.owner.phone, world.password)
    assert view.last("go") == ("collect",)
    title, text = view.last("show_login_alert")
    assert title == "Someone tried to log in to your account"
    assert "wrong password 4 times and 1 more attempts were blocked" in text


def test_the_app_keeps_its_device_proof_and_sends_it_next_time(services, world, client):
    sv = services()
    first = sv.api.login(world.consumer.phone, world.password)
    assert sv.api.device_id and sv.api.device_tokens.load() == {world.consumer.phone: first.device_token}
    # Strangers exhaust every unknown client's patience on this phone …
    for i in range(40):
        client.post("/api/v1/auth/login", json={"phone": world.consumer.phone, "password": f"W-{i}-x1"},
                    environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"})
    settle()
    # … yet this installation, a known device, logs in at once.
    again = sv.api.login(world.consumer.phone, world.password)
    assert again.user.login_alerts.failed >= 20


@pytest.mark.parametrize("kind", ["consumer", "merchant"])
def test_the_warning_on_screen(ui, world, client, tmp_path, kind):
    shell = ui(kind)
    h.mount(shell)
    person = world.consumer if kind == "consumer" else world.owner
    strangers_guess(client, person.phone)
    log_in(shell, person.phone, world.password, "home" if kind == "consumer" else "collect")
    h.wait_until(lambda: _alert() is not None, what="the log-in warning")
    alert = _alert()
    h.pump(3)
    Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path))(f"{kind}-login-alert")
    assert alert.title == "有人尝试登录您的账户" and "4 次" in alert.text
    assert not overflowing(alert), overflowing(alert)
    h.tap(alert.ids.ok_button)
    h.wait_until(lambda: _alert() is None, what="the warning to close")


def _alert():
    from kivy.core.window import Window

    from payclient.ui.shell import AlertView

    found = [w for w in Window.children if isinstance(w, AlertView)]
    return found[0] if found else None
