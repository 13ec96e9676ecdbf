"""Fixtures of the protection tests."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.payments.helpers", "tests.campaigns.helpers")

from tests.payclient import live  # noqa: E402
from tests.payments.helpers import Api, open_shop  # noqa: E402

# A real server for the app client's tests (payclient against the API).
_live_servers = live._live_servers
live_url = live.live_url


@pytest.fixture
def api(app):
    return Api(app)


@pytest.fixture
def shop(factory):
    return open_shop(factory)


@pytest.fixture(autouse=True)
def _embedded_jobs(request, monkeypatch):
    """Jobs run inline, as on the embedded default, even when the environment sets REDIS_URL."""
    if "app" in request.fixturenames:
        monkeypatch.setitem(request.getfixturevalue("app").config, "REDIS_URL", None)
