r"""The lottery draw: deterministic, and not steerable by the operator who runs it. Pure Python, no Flask.

WHY THE OPERATOR CANNOT STEER IT. Three inputs, each fixed before the next
is known, none of them all in the operator's hands:

- the operator's seed: 32 random bytes drawn at launch, its SHA-256
  published with the campaign before anyone registers, so it cannot be
  changed afterwards (it is revealed with the draw);
- the final registration list, with each registrant's *commitment*
  ``sha256(secret)`` to a secret 32-byte value their own device chose: its
  hash (``registrations_sha256``) is fixed when registration closes and
  published with the draw; every registrant can check they are in it;
- the registrants' *reveals*: after registration has closed (never
  before: the server refuses an early reveal) and until the reveal window
  ends, a registrant may send their secret; it counts only if it matches
  their commitment.

The operator knows its seed all along, so with the first two inputs alone
it could add registrations just before the close, compute the winners of
each candidate list and keep the one it likes. The reveals stop that: when
the list is final, the honest registrants' secrets are known only to their
devices, and the draw key is a hash of all three inputs, so no list the
operator can still choose has a winner set it can compute. One honest reveal
is enough. What remains is the reveal-or-withhold choice for registrations
the operator itself controls, made after seeing the other reveals; each
withheld reveal is public (the registrant shows a commitment and no secret)
and can only pick among 2^k outcomes for k such registrations — it is the
reason a lottery reports how many registrants committed and revealed.
Registrants who send no commitment still take part; they just add no
entropy.

ALGORITHM (version "suiyuan-draw-v2"):

1. ``order`` = the registrants sorted by ``user_id`` ascending.
2. ``registrations_sha256`` = SHA-256 (hex) of the UTF-8 lines
   ``f"{user_id}:{device_tag or '-'}:{commitment or '-'}\n"`` of ``order``, concatenated.
3. ``reveals_sha256`` = SHA-256 (hex) of the lines ``f"{user_id}:{secret}\n"`` (secret in lowercase
   hex) of the registrants in ``order`` whose revealed secret hashes to their commitment, concatenated.
4. ``key`` = SHA-256(b"suiyuan-draw-v2" || seed || bytes of registrations_sha256 || bytes of reveals_sha256).
5. A stream of 256-bit numbers: the k-th (k = 0, 1, 2, …) is ``HMAC-SHA256(key=key,
   msg=b"suiyuan-draw-v2" || campaign_id as 8-byte big-endian || k as 8-byte big-endian)`` read as a
   big-endian integer.
6. ``uniform(m)`` (0 ≤ result < m) takes the next number x of the stream and returns ``x mod m`` if
   ``x < 2^256 − (2^256 mod m)``, else takes the next one (rejection sampling: exactly uniform).
7. Fisher–Yates: for i = len(order) − 1 down to 1: j = uniform(i + 1); swap ``order[i]`` and ``order[j]``.
8. Walk ``order`` from the start; a registrant becomes a winner unless ``device_cap`` is set and their
   ``device_tag`` already has ``device_cap`` winners; stop when there are as many winners as packets.
   The k-th winner (k = 1, 2, …) receives packet ``seq`` k, whose amount is published.

``device_tag`` is ``sha256(f"{campaign_id}:{device_id}")`` cut to 16 hex
digits: it lets anyone check the device cap without publishing device ids.

Version "suiyuan-draw-v1" (draws made before registrants could commit) is
the same without steps 2–4: the stream's key is the seed itself and its
message prefix b"suiyuan-draw-v1". ``verify`` recomputes both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = "suiyuan-draw-v2"
V1 = "suiyuan-draw-v1"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


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
    commitment: str | None = None  # sha256(secret), hex, sent at registration
    secret: str | None = None  # revealed after registration closed, hex


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


def commitment_of(secret_hex: str) -> str:
    """Return the commitment to a secret given in hex: ``sha256(bytes.fromhex(secret))`` in hex."""
    return hashlib.sha256(bytes.fromhex(secret_hex)).hexdigest()


def revealed(r: Registrant) -> bool:
    """Whether ``r`` revealed a secret that matches their commitment (only such reveals count)."""
    return bool(r.commitment and r.secret and HEX64.match(r.secret) and commitment_of(r.secret) == r.commitment)


def registrations_sha256(registrants: Sequence[Registrant]) -> str:
    """Step 2: the hash of the final registration list."""
    lines = "".join(f"{r.user_id}:{r.device_tag or '-'}:{r.commitment or '-'}\n"
                    for r in sorted(registrants, key=lambda r: r.user_id))
    return hashlib.sha256(lines.encode()).hexdigest()


def reveals_sha256(registrants: Sequence[Registrant]) -> str:
    """Step 3: the hash of the valid reveals."""
    lines = "".join(f"{r.user_id}:{r.secret}\n" for r in sorted(registrants, key=lambda r: r.user_id) if revealed(r))
    return hashlib.sha256(lines.encode()).hexdigest()


def draw_key(seed: bytes, registrants: Sequence[Registrant]) -> bytes:
    """Step 4: the key of the draw's stream."""
    return hashlib.sha256(VERSION.encode() + seed + bytes.fromhex(registrations_sha256(registrants))
                          + bytes.fromhex(reveals_sha256(registrants))).digest()


class _Stream:
    def __init__(self, key: bytes, campaign_id: int, version: str = VERSION):
        self._key = key
        self._prefix = version.encode() + campaign_id.to_bytes(8, "big")
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


def shuffle(key: bytes, campaign_id: int, registrants: Sequence[Registrant],
            version: str = VERSION) -> list[Registrant]:
    """Return the registrants in drawn order (steps 1 and 5–7) from the stream's ``key`` (v1: the seed)."""
    order = sorted(registrants, key=lambda r: r.user_id)
    stream = _Stream(key, campaign_id, version)
    for i in range(len(order) - 1, 0, -1):
        j = stream.uniform(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def winners(seed: bytes, campaign_id: int, registrants: Sequence[Registrant], packets_fen: Sequence[int],
            device_cap: int | None, version: str = VERSION) -> list[Winner]:
    """Return the winners (step 8): packet seq k+1 to the k-th winner, amounts from ``packets_fen``."""
    if len({r.user_id for r in registrants}) != len(registrants):
        raise ValueError("a user is registered twice")
    if version not in (VERSION, V1):
        raise ValueError(f"unknown algorithm version {version!r}")
    key = draw_key(seed, registrants) if version == VERSION else seed
    chosen: list[Winner] = []
    per_device: dict[str, int] = {}
    for r in shuffle(key, campaign_id, registrants, version):
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
    matches the hash published at launch, the registration list matches the
    hash fixed at the draw, every published secret matches its commitment,
    and the recomputed winners equal the published ones.
    """
    problems = []
    version = document.get("algorithm_version")
    if version not in (VERSION, V1):
        return False, [f"unknown algorithm version {version!r}"], []
    seed_hex = document.get("seed")
    if not seed_hex:
        return False, ["the seed has not been revealed yet (the draw has not run)"], []
    seed = bytes.fromhex(seed_hex)
    if seed_hash(seed) != document["seed_sha256"]:
        problems.append("sha256(seed) differs from the hash published at launch")
    registrants = [Registrant(r["user_id"], r.get("device_tag"), r.get("commitment"), r.get("secret"))
                   for r in document["registrants"]]
    if version == VERSION:
        if registrations_sha256(registrants) != document.get("registrations_sha256"):
            problems.append("the registration list differs from the one fixed at the draw")
        bad = [r.user_id for r in registrants if r.secret and not revealed(r)]
        if bad:
            problems.append(f"published secrets of users {bad} do not match their commitments")
    packets = [p["amount_fen"] for p in sorted(document["packets"], key=lambda p: p["seq"])]
    recomputed = winners(seed, document["campaign_id"], registrants, packets, document.get("device_cap"), version)
    published = [Winner(w["user_id"], w["seq"], w["amount_fen"]) for w in document["winners"]]
    if recomputed != published:
        problems.append("the recomputed winners differ from the published winners")
    return not problems, problems, recomputed
