"""Fixtures of the campaign tests."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.campaigns.helpers", "tests.payments.helpers")

from tests.campaigns.helpers import make_world  # noqa: E402
from tests.payments.helpers import Api  # noqa: E402


@pytest.fixture
def api(app):
    return Api(app)


@pytest.fixture
def world(factory):
    return make_world(factory)


@pytest.fixture(autouse=True)
def _embedded_jobs(request, monkeypatch):
    """Jobs run inline, as on the embedded default, even when the environment sets REDIS_URL (CI does):
    the tests that need RQ's queues select them themselves."""
    if "app" in request.fixturenames:
        monkeypatch.setitem(request.getfixturevalue("app").config, "REDIS_URL", None)
