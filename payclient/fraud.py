"""The consumer app's cache of the published scam list, for checks with no network; the rules of what is
a scam are :mod:`suiyuan_protocol.fraud` (the server's scan check uses the same)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from payclient.storage import MemoryStore
from suiyuan_protocol.fraud import *  # noqa: F401,F403 - the apps read the rules from here too
from suiyuan_protocol.fraud import FraudList

if TYPE_CHECKING:
    from payclient.api import ApiClient


class FraudListCache:
    """The published fraud list, cached on the device with its ETag so checks work offline.

    ``store`` keeps ``{"version", "entries", "etag", "fetched_at"}`` between runs.
    """

    def __init__(self, store: MemoryStore | None = None):
        self.store = store or MemoryStore()

    def fraud_list(self) -> FraudList:
        return FraudList.from_json(self.store.load())

    def refresh(self, api: ApiClient) -> FraudList:
        """Fetch the list if it changed (If-None-Match) and cache it; return it. Raises the client's errors."""
        cached = self.store.load()
        fresh = api.fraud_list(etag=cached.get("etag"))
        if fresh is None:  # 304: what we have is current
            self.store.save({**cached, "fetched_at": time.time()})
        else:
            body, etag = fresh
            self.store.save({"version": body["version"], "entries": body["entries"], "etag": etag,
                             "fetched_at": time.time()})
        return self.fraud_list()

