"""The lottery draw: deterministic from a seed published by hash at launch. Pure Python, no Flask.

At launch a 32-byte random seed is generated and kept sealed; its SHA-256 is
published with the campaign. When registration closes, the winners are drawn
from the seed and the seed is revealed, so anyone can check that
``sha256(seed)`` is what was published before anyone registered, and
recompute the winners (``python -m campaigns.verify_draw draw.json``).

ALGORITHM (version "suiyuan-draw-v1"):

1. ``order`` = the registrants sorted by ``user_id`` ascending.
2. A stream of 256-bit numbers: the k-th (k = 0, 1, 2, …) is
   ``HMAC-SHA256(key=seed, msg=b"suiyuan-draw-v1" || campaign_id as 8-byte
   big-endian || k as 8-byte big-endian)`` read as a big-endian integer.
3. ``uniform(m)`` (0 ≤ result < m) takes the next number x of the stream and
   returns ``x mod m`` if ``x < 2^256 − (2^256 mod m)``, else takes the next
   one (rejection sampling: exactly uniform).
4. Fisher–Yates: for i = len(order) − 1 down to 1: j = uniform(i + 1); swap
   ``order[i]`` and ``order[j]``.
5. Walk ``order`` from the start; a registrant becomes a winner unless
   ``device_cap`` is set and their ``device_tag`` already has ``device_cap``
   winners; stop when there are as many winners as packets. The k-th winner
   (k = 1, 2, …) receives packet ``seq`` k, whose amount is published.

``device_tag`` is ``sha256(f"{campaign_id}:{device_id}")`` cut to 16 hex
digits: it lets anyone check the device cap without publishing device ids.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = "suiyuan-draw-v1"


def _steps(doc: str) -> list[str]:
    """Return the numbered steps and the device-tag note of the docstring, one string each."""
    block = doc.split(f'ALGORITHM (version "{VERSION}"):')[1]
    steps, note = block.split("\n\n``device_tag``")
    out: list[str] = []
    for line in steps.strip().splitlines():
        if re.match(r"\d\. ", line):
            out.append(line)
        else:
            out[-1] += " " + line.strip()
    return out + ["``device_tag`` " + " ".join(note.split("\n\n")[0].split())]


#: The algorithm as published in every draw document (the docstring above, step by step).
ALGORITHM = _steps(__doc__)
_SPACE = 1 << 256


@dataclass(frozen=True)
class Registrant:
    user_id: int
    device_tag: str | None = None


@dataclass(frozen=True)
class Winner:
    user_id: int
    seq: int
    amount_fen: int


def seed_hash(seed: bytes) -> str:
    """Return the published commitment to ``seed``: its SHA-256 in hex."""
    return hashlib.sha256(seed).hexdigest()


def device_tag(campaign_id: int, device_id: str | None) -> str | None:
    """Return the public tag of a device (``None`` without a device id)."""
    if not device_id:
        return None
    return hashlib.sha256(f"{campaign_id}:{device_id}".encode()).hexdigest()[:16]


class _Stream:
    def __init__(self, seed: bytes, campaign_id: int):
        self._key = seed
        self._prefix = VERSION.encode() + campaign_id.to_bytes(8, "big")
        self._k = 0

    def next(self) -> int:
        mac = hmac.new(self._key, self._prefix + self._k.to_bytes(8, "big"), hashlib.sha256).digest()
        self._k += 1
        return int.from_bytes(mac, "big")

    def uniform(self, m: int) -> int:
        limit = _SPACE - _SPACE % m
        while True:
            x = self.next()
            if x < limit:
                return x % m


def shuffle(seed: bytes, campaign_id: int, registrants: Sequence[Registrant]) -> list[Registrant]:
    """Return the registrants in drawn order (steps 1–4)."""
    order = sorted(registrants, key=lambda r: r.user_id)
    stream = _Stream(seed, campaign_id)
    for i in range(len(order) - 1, 0, -1):
        j = stream.uniform(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def winners(seed: bytes, campaign_id: int, registrants: Sequence[Registrant], packets_fen: Sequence[int],
            device_cap: int | None) -> list[Winner]:
    """Return the winners (step 5): packet seq k+1 to the k-th winner, amounts from ``packets_fen``."""
    if len({r.user_id for r in registrants}) != len(registrants):
        raise ValueError("a user is registered twice")
    chosen: list[Winner] = []
    per_device: dict[str, int] = {}
    for r in shuffle(seed, campaign_id, registrants):
        if len(chosen) == len(packets_fen):
            break
        if device_cap is not None and r.device_tag is not None:
            if per_device.get(r.device_tag, 0) >= device_cap:
                continue
            per_device[r.device_tag] = per_device.get(r.device_tag, 0) + 1
        chosen.append(Winner(r.user_id, len(chosen) + 1, packets_fen[len(chosen)]))
    return chosen


def verify(document: dict) -> tuple[bool, list[str], list[Winner]]:
    """Recompute a published draw (the JSON of ``GET /campaigns/{id}/draw``).

    Returns ``(ok, problems, recomputed winners)``: ok when the revealed seed
    matches the published hash and the recomputed winners equal the published ones.
    """
    problems = []
    if document.get("algorithm_version") != VERSION:
        problems.append(f"unknown algorithm version {document.get('algorithm_version')!r}")
    seed_hex = document.get("seed")
    if not seed_hex:
        return False, ["the seed has not been revealed yet (the draw has not run)"], []
    seed = bytes.fromhex(seed_hex)
    if seed_hash(seed) != document["seed_sha256"]:
        problems.append("sha256(seed) differs from the hash published at launch")
    registrants = [Registrant(r["user_id"], r.get("device_tag")) for r in document["registrants"]]
    packets = [p["amount_fen"] for p in sorted(document["packets"], key=lambda p: p["seq"])]
    recomputed = winners(seed, document["campaign_id"], registrants, packets, document.get("device_cap"))
    published = [Winner(w["user_id"], w["seq"], w["amount_fen"]) for w in document["winners"]]
    if recomputed != published:
        problems.append("the recomputed winners differ from the published winners")
    return not problems, problems, recomputed
