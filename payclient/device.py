"""This phone's payment-code device: registered once online, then codes made offline."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from payclient.storage import MemoryStore
from suiyuan_protocol import paycode

__all__ = ["PaycodeDevice", "DeviceStore"]


@dataclass(frozen=True)
class PaycodeDevice:
    """A registered device: its id and secret make codes with no network."""

    device_id: int
    secret: bytes
    owner: str

    def code(self, now: float | None = None) -> str:
        """Return the 18-digit code of this moment."""
        return paycode.generate(self.device_id, self.secret, now)

    @staticmethod
    def seconds_left(now: float | None = None) -> float:
        """Return how long until the code rotates."""
        return paycode.seconds_left(now)


class DeviceStore:
    """Keeps the device id and secret (in a 0600 file in the apps) per signed-in user."""

    def __init__(self, store: MemoryStore | None = None):
        self.store = store or MemoryStore()

    def get(self, owner: str) -> PaycodeDevice | None:
        d = self.store.load().get(owner)
        if not d:
            return None
        return PaycodeDevice(int(d["device_id"]), base64.b32decode(d["secret_b32"]), owner)

    def save(self, owner: str, device_id: int, secret_b32: str) -> PaycodeDevice:
        data = self.store.load()
        data[owner] = {"device_id": device_id, "secret_b32": secret_b32, "saved_at": time.time()}
        self.store.save(data)
        return self.get(owner)

    def forget(self, owner: str) -> None:
        data = self.store.load()
        data.pop(owner, None)
        self.store.save(data)
