"""Fixtures of the payout tests."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.payouts.helpers")

from tests.payouts.helpers import World, make_world  # noqa: E402


@pytest.fixture(autouse=True)
def _embedded_jobs(request, monkeypatch):
    """Jobs run inline, as on the embedded default, even when the environment sets REDIS_URL."""
    if "app" in request.fixturenames:
        monkeypatch.setitem(request.getfixturevalue("app").config, "REDIS_URL", None)


@pytest.fixture
def world(app, client, factory) -> World:
    return make_world(app, client, factory)
