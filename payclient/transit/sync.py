"""A validator's link to the server when it is online: upload pending batches, download the blacklist,
the fare table and the issuer keys. ``requests``; no Kivy, no Flask.

Uploading is safe to repeat: a batch whose answer was lost is sent again with the same id and the
server answers as the first time, and records are acknowledged on the terminal only once the server
has answered for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from suiyuan_protocol.transit.records import unb64
from suiyuan_protocol.transit.terminal import Terminal


@dataclass
class SyncReport:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    blacklist_version: int = 0
    error: str | None = None


class TerminalLink:
    """``base_url`` is the API root (``…/api/v1``); ``key`` the terminal's upload key."""

    def __init__(self, base_url: str, key: str, *, session: requests.Session | None = None, timeout: float = 10.0):
        self.base_url, self.key, self.timeout = base_url.rstrip("/"), key, timeout
        self.session = session or requests.Session()

    def _headers(self) -> dict:
        return {"X-Terminal-Key": self.key}

    def sync(self, terminal: Terminal, batch_size: int = 400) -> SyncReport:
        """Upload every pending batch, then download the blacklist, fares and issuer keys; return what
        happened. A network failure stops the sync (``error``); what was acknowledged stays acknowledged."""
        report = SyncReport()
        try:
            while (batch := terminal.pending_batch(batch_size)) is not None:
                r = self.session.post(f"{self.base_url}/transit/batches", json=batch, headers=self._headers(),
                                      timeout=self.timeout)
                if r.status_code not in (200, 201):
                    report.error = f"upload refused: {r.status_code} {r.json().get('code')}"
                    return report
                body = r.json()
                terminal.ack(batch)
                report.batches += 1
                report.accepted += body["accepted"]
                report.duplicates += body["duplicates"]
                report.rejected += len(body["rejected"])
            r = self.session.get(f"{self.base_url}/transit/blacklist", headers=self._headers(), timeout=self.timeout)
            r.raise_for_status()
            terminal.apply_blacklist(r.json())
            report.blacklist_version = terminal.blacklist_version
            r = self.session.get(f"{self.base_url}/transit/fares", timeout=self.timeout)
            r.raise_for_status()
            terminal.apply_fares(r.json())
            r = self.session.get(f"{self.base_url}/transit/issuer-keys", timeout=self.timeout)
            r.raise_for_status()
            terminal.apply_issuer_keys({kid: unb64(v) for kid, v in r.json()["keys"].items()})
        except (requests.ConnectionError, requests.Timeout) as exc:
            report.error = f"offline: {exc.__class__.__name__}"
        return report
