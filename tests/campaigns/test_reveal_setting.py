"""CAMPAIGN_REVEAL_S: the lottery reveal window comes from the environment, within its bounds."""

from __future__ import annotations

import pytest

from backend.config import REVEAL_S_BOUNDS, campaign_reveal_s, from_env
from campaigns import lifecycle


def test_the_reveal_window_is_an_environment_setting_with_a_bound():
    assert campaign_reveal_s(None) == campaign_reveal_s("") == lifecycle.DEFAULT_REVEAL_S == 600
    assert from_env({"CAMPAIGN_REVEAL_S": "120"})["CAMPAIGN_REVEAL_S"] == 120
    low, high = REVEAL_S_BOUNDS
    assert campaign_reveal_s(str(low)) == low and campaign_reveal_s(str(high)) == high
    for bad in (str(low - 1), str(high + 1), "0", "-5", "ten"):
        with pytest.raises(ValueError):
            campaign_reveal_s(bad)
