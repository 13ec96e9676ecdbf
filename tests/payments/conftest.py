"""Fixtures of the payment tests: an API caller and an approved shop."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.payments.helpers")

from tests.payments.helpers import Api, open_shop  # noqa: E402 - after the rewrite hook


@pytest.fixture
def api(app):
    return Api(app)


@pytest.fixture
def shop(factory):
    """An approved merchant (factory-made) with its owner."""
    return open_shop(factory)
