"""What a presenter needs, in one place: the API client, a runner, the text catalog, device stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payclient.api import ApiClient
from payclient.device import DeviceStore
from payclient.i18n import Catalog
from payclient.outbox import Outbox
from payclient.scan import KeyRing
from payclient.storage import FileTokenStore, JsonFile, MemoryStore, MemoryTokenStore
from payclient.tasks import Runner

__all__ = ["Services"]


@dataclass
class Services:
    api: ApiClient
    runner: Runner
    tr: Catalog
    keyring: KeyRing = field(default_factory=KeyRing)
    devices: DeviceStore = field(default_factory=DeviceStore)
    settings: MemoryStore = field(default_factory=MemoryStore)
    state: dict[str, Any] = field(default_factory=dict)  # this session: the shop, the order on screen…

    @classmethod
    def on_disk(cls, api_url: str, data_dir: str | Path, runner: Runner, tr: Catalog) -> Services:
        """Services keeping the session, outbox, keys and pay-code secret under ``data_dir`` (0600 files)."""
        d = Path(data_dir)
        d.mkdir(parents=True, exist_ok=True)
        api = ApiClient(api_url, tokens=FileTokenStore(d / "session.json"), outbox=Outbox(d / "outbox.sqlite3"))
        settings = JsonFile(d / "settings.json")
        if settings.load().get("lang") in ("zh", "en"):
            tr.set_lang(settings.load()["lang"])
        return cls(api, runner, tr, KeyRing(JsonFile(d / "keys.json")), DeviceStore(JsonFile(d / "paycode.json")),
                   settings)

    @classmethod
    def in_memory(cls, api_url: str, runner: Runner, tr: Catalog | None = None) -> Services:
        return cls(ApiClient(api_url, tokens=MemoryTokenStore(), outbox=Outbox()), runner, tr or Catalog())

    def toggle_lang(self) -> str:
        lang = self.tr.toggle()
        data = self.settings.load()
        data["lang"] = lang
        self.settings.save(data)
        return lang
