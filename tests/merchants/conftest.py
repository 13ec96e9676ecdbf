"""Fixtures of the merchant tests."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.payments.helpers")

from tests.payments.helpers import Api  # noqa: E402 - after the rewrite hook


@pytest.fixture
def api(app):
    return Api(app)
