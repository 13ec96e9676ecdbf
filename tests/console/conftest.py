"""Fixtures of the web console tests: a live server in a thread, Debian's Chromium driven by Playwright,
pages that fail the test on any browser console error, and screenshots at the two widths.

The browser tests run on PostgreSQL only (they depend on ``pg_app``) to keep the suite's time down;
the console itself is the same static files on either engine.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.conftest import unavailable

CHROMIUM = os.environ.get("SUIYUAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def live_server(pg_app):
    """Serve the test app on a free loopback port in a thread; yield its base URL."""
    from werkzeug.serving import make_server

    from tests.payclient.live import InFlight

    in_flight = InFlight(pg_app)
    server = make_server("127.0.0.1", 0, in_flight, threaded=True)
    in_flight.track(server)
    thread = threading.Thread(target=server.serve_forever, name="console-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    # A request the closed page left running would hold its locks into the next test's clean-up.
    left = in_flight.wait_idle(timeout=10)
    assert not left, f"requests still running after the test: {left}"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless (never a downloaded browser build)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", str(exc))
    if not os.path.exists(CHROMIUM):
        unavailable("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:  # noqa: BLE001 - any launch failure means "not available"
        pw.stop()
        unavailable("Chromium", str(exc).splitlines()[0])
    yield chromium
    chromium.close()
    pw.stop()


@dataclass
class ConsoleLog:
    """Everything the page said on its console, and the errors a test expects (a refused request)."""

    messages: list = field(default_factory=list)
    expected: list = field(default_factory=list)

    def expect_refusal(self, url_pattern: str, status: int) -> None:
        """Allow the browser's own "Failed to load resource: … <status>" line for one refused API call."""
        self.expected.append((re.compile(url_pattern), status))

    def errors(self) -> list[str]:
        out = []
        for kind, text, url in self.messages:
            if kind not in ("error", "pageerror"):
                continue
            if kind == "error" and text.startswith("Failed to load resource") and any(
                    pat.search(url or "") and f"status of {status}" in text for pat, status in self.expected):
                continue
            out.append(f"{kind}: {text} ({url})")
        return out


class Console:
    """Opens pages of the console at a width, logs in, takes screenshots; checks the console log at the end."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.contexts = []
        self.log = ConsoleLog()

    def page(self, size: str = "desktop"):
        width, height = WIDTHS[size]
        context = self.browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                           timezone_id="Asia/Shanghai", accept_downloads=True)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.size_name = size
        page.on("console", lambda m: self.log.messages.append((m.type, m.text, (m.location or {}).get("url"))))
        page.on("pageerror", lambda e: self.log.messages.append(("pageerror", str(e), page.url)))
        return page

    def open(self, page, route: str = ""):
        page.goto(f"{self.base_url}/console/{'#' + route if route else ''}")

    def login(self, page, phone: str, password: str, *, keyboard: bool = False):
        """Log in through the form (typing and Enter, like a keyboard user, when ``keyboard``)."""
        self.open(page, "/login")
        page.wait_for_selector("#login-phone")
        if keyboard:
            page.locator("#login-phone").focus()
            page.keyboard.type(phone)
            page.keyboard.press("Tab")
            page.keyboard.type(password)
            page.keyboard.press("Enter")
        else:
            page.fill("#login-phone", phone)
            page.fill("#login-password", password)
            page.click("#login-submit")
        page.wait_for_selector("#nav a")

    def shot(self, page, name: str):
        """Save docs/screenshots/console-<name>-<width>.png (the whole page)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # A passing toast would cover the content in the picture, and a scrolled page would paint the
        # sticky header mid-picture in a full-page shot; the page itself is unchanged.
        page.evaluate("window.scrollTo(0, 0);"
                      "document.activeElement && document.activeElement.blur();"
                      "document.getElementById('toast') && (document.getElementById('toast').hidden = true)")
        # Two animation frames: the scroll and the hidden toast are painted before the picture.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        width = WIDTHS[page.size_name][0]
        page.screenshot(path=str(SCREENSHOTS / f"console-{name}-{width}.png"), full_page=True)

    def close(self):
        for c in self.contexts:
            c.close()


@pytest.fixture
def console(browser, live_server):
    """A console driver; the test fails if the browser logged any error it did not expect."""
    c = Console(browser, live_server)
    yield c
    c.close()
    errors = c.log.errors()
    assert not errors, "browser console errors:\n" + "\n".join(errors)


class Http:
    """Calls to the live server as a person would make them (bearer token, Idempotency-Key)."""

    def __init__(self, base_url: str):
        self.base = base_url + "/api/v1"
        self.session = requests.Session()

    def call(self, method: str, path: str, who=None, *, json=None, key: str | None = None, headers=None):
        h = dict(headers or {})
        if who is not None:
            h["Authorization"] = f"Bearer {who.token}"
        if key:
            h["Idempotency-Key"] = key
        return self.session.request(method, self.base + path, json=json, headers=h, timeout=30)

    def ok(self, method: str, path: str, who=None, *, status: int = 200, **kwargs) -> dict:
        resp = self.call(method, path, who, **kwargs)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text)
        return resp.json()


@pytest.fixture
def http(live_server):
    return Http(live_server)
