"""Fixtures of the payclient tests: a real server for the API client to talk to."""

from __future__ import annotations

from tests.payclient import live

_live_servers = live._live_servers
live_url = live.live_url
