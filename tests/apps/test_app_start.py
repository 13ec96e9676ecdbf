"""The cold-start benchmark runs (one start of each app; the time is reported by ``bench/app_start.py``,
not asserted here)."""

from __future__ import annotations

from bench import app_start


def test_each_app_starts_offscreen_to_its_log_in_screen():
    result = app_start.measure(runs=1)
    for app in ("consumer", "merchant"):
        assert result[app]["first_screen"] == "login"
        assert 0 < result[app]["median_s"] < 60
