"""What a presenter needs, in one place: the API client, a runner, the text catalog, device stores."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payclient.api import ApiClient
from payclient.device import DeviceStore
from payclient.fraud import FraudListCache
from payclient.i18n import Catalog
from payclient.lottery import LotteryTickets
from payclient.outbox import Outbox
from payclient.scan import KeyRing
from payclient.speech import Announcer
from payclient.storage import FileTokenStore, JsonFile, MemoryStore, MemoryTokenStore
from payclient.tasks import Runner
from payclient.transit.wallet import CardShelf

__all__ = ["Services", "installation_id"]


def installation_id(settings: MemoryStore) -> str:
    """Return this installation's random id (made and kept in ``settings`` on first use).

    Sent as ``X-Device-Id`` with log-ins (and campaign claims): the server counts
    failed log-ins per device and remembers the devices an account logged in on.
    """
    data = settings.load()
    if not data.get("device_id"):
        data["device_id"] = uuid.uuid4().hex
        settings.save(data)
    return data["device_id"]


@dataclass
class Services:
    api: ApiClient
    runner: Runner
    tr: Catalog
    keyring: KeyRing = field(default_factory=KeyRing)
    fraud_lists: FraudListCache = field(default_factory=FraudListCache)  # the confirmed scam list, for offline checks
    devices: DeviceStore = field(default_factory=DeviceStore)
    settings: MemoryStore = field(default_factory=MemoryStore)
    lottery: LotteryTickets = field(default_factory=lambda: LotteryTickets(MemoryStore()))
    #: The hard wallets (硬钱包) within the phone's reach: the simulator's NFC (payclient.transit.wallet).
    cards: CardShelf = field(default_factory=CardShelf)
    state: dict[str, Any] = field(default_factory=dict)  # this session: the shop, the order on screen…
    #: Says payments and refunds aloud (silent until an app gives it an engine; settings in ``settings``).
    announcer: Announcer = field(default_factory=Announcer)

    def __post_init__(self) -> None:
        if self.announcer.store is None:
            self.announcer.store = self.settings
        # Refusals come back in the language on screen.
        self.api.language = lambda: self.tr.lang

    @classmethod
    def on_disk(cls, api_url: str, data_dir: str | Path, runner: Runner, tr: Catalog) -> Services:
        """Services keeping the session, outbox, keys and pay-code secret under ``data_dir`` (0600 files)."""
        d = Path(data_dir)
        d.mkdir(parents=True, exist_ok=True)
        settings = JsonFile(d / "settings.json")
        api = ApiClient(api_url, tokens=FileTokenStore(d / "session.json"), outbox=Outbox(d / "outbox.sqlite3"),
                        device_id=installation_id(settings), device_tokens=JsonFile(d / "known_devices.json"))
        if settings.load().get("lang") in ("zh", "en"):
            tr.set_lang(settings.load()["lang"])
        return cls(api, runner, tr, KeyRing(JsonFile(d / "keys.json")), FraudListCache(JsonFile(d / "fraud.json")),
                   DeviceStore(JsonFile(d / "paycode.json")), settings,
                   lottery=LotteryTickets(JsonFile(d / "lottery.json")),
                   cards=CardShelf(JsonFile(d / "hardwallets.json")))

    @classmethod
    def in_memory(cls, api_url: str, runner: Runner, tr: Catalog | None = None) -> Services:
        settings = MemoryStore()
        api = ApiClient(api_url, tokens=MemoryTokenStore(), outbox=Outbox(), device_id=installation_id(settings))
        return cls(api, runner, tr or Catalog(), settings=settings)

    def toggle_lang(self) -> str:
        lang = self.tr.toggle()
        data = self.settings.load()
        data["lang"] = lang
        self.settings.save(data)
        return lang
