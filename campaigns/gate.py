"""The claim gate: one atomic Redis Lua step per claim attempt, rebuilt from PostgreSQL at will.

Per campaign (keys share the hash tag ``{id}``): ``ready`` (absent = rebuild before anyone passes),
``packets`` not yet handed out, ``claims`` user → packet, ``devices`` claims per device, the rebuild's
``lock``/``drained``/``recheck``, and ``stopped`` ("paused"/"cancelled", PostgreSQL's status, written by
pause/resume/cancel and every rebuild). TAKE hands a packet out atomically (or says rebuild, stopped,
already, device_cap, sold_out); the caller writes the ``campaign_claims`` row and the transfer in one transaction,
and RELEASE undoes a TAKE whose transaction failed. PostgreSQL is the truth: unique (campaign, packet) and
(campaign, user) rows decide, and REBUILD reinstalls the gate from them (claims first, ``ready`` last).
How every window between TAKE and COMMIT resolves safely: ``docs/ARCHITECTURE.md`` (The claim gate).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis as redis_lib
from sqlalchemy import and_, exists, func, select

from backend.errors import DomainError
from backend.extensions import db, get_redis
from campaigns.models import Campaign, CampaignStatus, Claim, Packet

#: How long a handed-out packet may stay uncommitted before ``reconcile`` calls it lost.
GRACE_MS = 30_000
LOCK_MS = 30_000
#: How long a claimer waits for another worker's rebuild before giving up with 503.
WAIT_S = 10.0

TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'rebuild'} end
local stopped = redis.call('GET', KEYS[5])
if stopped then return {'stopped', stopped} end
local prior = redis.call('HGET', KEYS[2], ARGV[1])
if prior then return {'already', prior} end
local cap = tonumber(ARGV[3])
if ARGV[2] ~= '' and cap > 0 then
  local used = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
  if used >= cap then return {'device_cap'} end
end
local packet = redis.call('LPOP', KEYS[4])
if not packet then return {'sold_out'} end
redis.call('HSET', KEYS[2], ARGV[1], packet .. ':' .. ARGV[4])
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[2], 1) end
return {'ok', packet .. ':' .. ARGV[4]}
"""

#: 1 when the campaign is finally sold out for this user: built, no entry of theirs, no packet left, and
#: PostgreSQL has confirmed that every packet is claimed (``drained``); else 0 (take the full path).
SOLD_OUT_FOR = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('LLEN', KEYS[3]) > 0 then return 0 end
return redis.call('EXISTS', KEYS[4])
"""

RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local undone = 0
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  if ARGV[3] ~= '' then
    if redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[3]) end
  end
  if ARGV[4] == '1' then
    local seq, amount = string.match(ARGV[2], '^(%d+):(%d+):')
    redis.call('RPUSH', KEYS[4], seq .. ':' .. amount)
  end
  undone = 1
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[5]) end
if ARGV[3] ~= '' and ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], ARGV[6]) end
return undone
"""

INSTALL = """
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8])
if ARGV[7] ~= '' then redis.call('SET', KEYS[8], ARGV[7]) end
local batch = {}
for item in string.gmatch(ARGV[4], '[^,]+') do
  batch[#batch + 1] = item
  if #batch == 1000 then redis.call('RPUSH', KEYS[4], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('RPUSH', KEYS[4], unpack(batch)) end
for i, blob in ipairs({ARGV[5], ARGV[6]}) do
  local key = KEYS[i + 1]
  local fields = {}
  for k, v in string.gmatch(blob, '([^,=]+)=([^,]+)') do
    fields[#fields + 1] = k
    fields[#fields + 1] = v
    if #fields >= 1000 then redis.call('HSET', key, unpack(fields)); fields = {} end
  end
  if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
end
redis.call('SET', KEYS[1], ARGV[2])
local expire_at = tonumber(ARGV[3])
if expire_at > 0 then
  for i = 1, 4 do redis.call('EXPIREAT', KEYS[i], expire_at) end
  if ARGV[7] ~= '' then redis.call('EXPIREAT', KEYS[8], expire_at) end
end
redis.call('DEL', KEYS[5])
return 1
"""


class GateBusy(DomainError):
    """The refusal a claimer sees (503) when the gate is unavailable; never recorded under an
    Idempotency-Key, so the same request may simply be retried."""

    status = 503
    code = "gate_unavailable"
    title = "Claims are paused for a moment"


class GateTrouble(Exception):
    """The gate could not be used (rebuild still running, Redis unreachable): retry later."""


@dataclass(frozen=True)
class Taken:
    """A packet the gate handed to a user, not yet committed in PostgreSQL."""

    user_id: int
    seq: int
    amount_fen: int
    entry: str  # the user's claims entry as written by TAKE
    device_id: str | None


def _run(client, script: str, keys: list[str], args: list) -> object:
    return client.eval(script, len(keys), *keys, *args)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Gate:
    """The claim gate of one campaign on the app's Redis."""

    def __init__(self, campaign_id: int, client: redis_lib.Redis | None = None):
        self.campaign_id = campaign_id
        self.redis = client or get_redis()
        p = f"campaign-gate:{{{campaign_id}}}:"
        self.ready, self.claims, self.devices, self.packets = p + "ready", p + "claims", p + "devices", p + "packets"
        self.lock, self.drained, self.recheck = p + "lock", p + "drained", p + "recheck"
        self.stopped = p + "stopped"

    # ------------------------------------------------------------ the hot path

    def take(self, user_id: int, device_id: str | None, device_cap: int | None) -> tuple[str, Taken | str | None]:
        """Run TAKE; return ``("ok", Taken)``, ``("already", entry)``, ``("stopped", "paused" | "cancelled")``,
        or ``(status, None)`` with status "rebuild", "device_cap" or "sold_out"."""
        now_ms = int(time.time() * 1000)
        out = _run(self.redis, TAKE, [self.ready, self.claims, self.devices, self.packets, self.stopped],
                   [user_id, device_id or "", device_cap or 0, now_ms])
        status = _text(out[0])
        if status == "stopped":
            return status, _text(out[1])
        if status == "ok":
            entry = _text(out[1])
            seq, amount, _ = entry.split(":")
            return status, Taken(user_id, int(seq), int(amount), entry, device_id)
        if status == "already":
            return status, _text(out[1])
        return status, None

    def sold_out_for(self, user_id: int) -> bool:
        """Return True if ``user_id`` can only be told "sold out" (see ``SOLD_OUT_FOR``): one Redis step,
        no database work, so the rush after the last packet costs little."""
        return bool(_run(self.redis, SOLD_OUT_FOR,
                         [self.ready, self.claims, self.packets, self.drained, self.stopped], [user_id]))

    def release(self, taken: Taken, *, push_back: bool, restore: str | None = None,
                device_claims: int | None = None) -> bool:
        """Undo a TAKE whose claim was not committed; return whether the entry was still ours.

        ``push_back`` returns the packet to the list (False when PostgreSQL says
        another claim holds it); ``restore`` writes the user's real entry and
        ``device_claims`` the device's real count, both from PostgreSQL.
        """
        out = _run(self.redis, RELEASE, [self.ready, self.claims, self.devices, self.packets],
                   [taken.user_id, taken.entry, taken.device_id or "", "1" if push_back else "0", restore or "",
                    "" if device_claims is None else device_claims])
        return bool(out)

    # ------------------------------------------------------------ rebuilding

    def is_ready(self) -> bool:
        return bool(self.redis.exists(self.ready))

    def ensure_ready(self, expire_at: int | None = None, wait_s: float = WAIT_S) -> bool:
        """Make sure the gate is built; return True if this call rebuilt it.

        One worker rebuilds under the lock; the others wait for ``ready``.
        Raises ``GateTrouble`` if the gate is still not ready after ``wait_s``.
        """
        deadline = time.monotonic() + wait_s
        while not self.is_ready():
            if self.rebuild(expire_at, wait=False):
                return True
            if time.monotonic() > deadline:
                raise GateTrouble("the claim gate is still being rebuilt by another worker")
            time.sleep(0.01)
        return False

    def rebuild(self, expire_at: int | None = None, *, wait: bool = True) -> bool:
        """Rebuild the gate from PostgreSQL under the lock; return True if this call installed it.

        With ``wait`` (the CLI, cron) a held lock is waited for, then taken.
        """
        token = uuid.uuid4().hex
        deadline = time.monotonic() + (LOCK_MS / 1000 + 1 if wait else 0)
        while not self.redis.set(self.lock, token, nx=True, px=LOCK_MS):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        try:
            packets, claims, devices = self._read_truth()
            return bool(_run(self.redis, INSTALL,
                             [self.ready, self.claims, self.devices, self.packets, self.lock, self.drained,
                              self.recheck, self.stopped],
                             [token, uuid.uuid4().hex, expire_at or 0, packets, claims, devices,
                              self.stop_reason_in_db() or ""]))
        finally:
            if _text(self.redis.get(self.lock) or b"") == token:
                self.redis.delete(self.lock)

    def _read_truth(self) -> tuple[str, str, str]:
        """Return the gate's state from PostgreSQL as the INSTALL blobs (claims read first)."""
        cid = self.campaign_id
        rows = db.session.execute(
            select(Claim.user_id, Claim.packet_seq, Claim.amount_fen, Claim.device_id).where(Claim.campaign_id == cid)
        ).all()
        free = db.session.execute(
            select(Packet.seq, Packet.amount_fen).where(
                Packet.campaign_id == cid,
                ~exists().where(and_(Claim.campaign_id == cid, Claim.packet_seq == Packet.seq)),
            ).order_by(Packet.seq)
        ).all()
        devices: dict[str, int] = {}
        for r in rows:
            if r.device_id:
                devices[r.device_id] = devices.get(r.device_id, 0) + 1
        return (",".join(f"{s}:{a}" for s, a in free),
                ",".join(f"{r.user_id}={r.packet_seq}:{r.amount_fen}:0" for r in rows),
                ",".join(f"{d}={n}" for d, n in devices.items()))

    # ------------------------------------------------------------ stopping

    def stop_reason_in_db(self) -> str | None:
        """What the gate's ``stopped`` key should say, from PostgreSQL's status: "paused", "cancelled"
        (a settled campaign too), or ``None`` (claims may pass)."""
        status = db.session.execute(select(Campaign.status).where(Campaign.id == self.campaign_id)).scalar_one()
        if status in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
            return status
        return CampaignStatus.CANCELLED if status == CampaignStatus.SETTLED else None

    def set_stopped(self, reason: str | None, expire_at: int | None = None) -> None:
        """Refuse every claim with ``reason`` ("paused", "cancelled"), or let them pass again (``None``)."""
        if reason is None:
            self.redis.delete(self.stopped)
        elif expire_at:
            self.redis.set(self.stopped, reason, exat=expire_at)
        else:
            self.redis.set(self.stopped, reason)

    def stopped_reason(self) -> str | None:
        value = self.redis.get(self.stopped)
        return _text(value) if value is not None else None

    def sync_stopped(self, expire_at: int | None = None) -> bool:
        """Make the ``stopped`` key say what PostgreSQL says; return whether it had to change."""
        want = self.stop_reason_in_db()
        if self.stopped_reason() == want:
            return False
        self.set_stopped(want, expire_at)
        return True

    # ------------------------------------------------------------ consistency

    def confirm_sold_out(self, expire_at: int | None = None) -> bool:
        """After TAKE said "sold_out": return True if PostgreSQL agrees (or the question was asked
        a moment ago); if PostgreSQL still has unclaimed packets, ``reconcile`` and return False
        when the gate was rebuilt (the caller should try again)."""
        if self.redis.exists(self.drained):
            return True
        unclaimed = db.session.execute(
            select(func.count()).select_from(Packet).where(
                Packet.campaign_id == self.campaign_id,
                ~exists().where(and_(Claim.campaign_id == self.campaign_id, Claim.packet_seq == Packet.seq)),
            )
        ).scalar_one()
        if unclaimed == 0:
            self.redis.set(self.drained, 1, exat=expire_at) if expire_at else self.redis.set(self.drained, 1)
            return True
        if not self.redis.set(self.recheck, 1, nx=True, px=2_000):
            return True
        return self.reconcile(expire_at) != "rebuilt"

    def reconcile(self, expire_at: int | None = None, grace_ms: int = GRACE_MS) -> str:
        """Compare the gate with PostgreSQL; rebuild if it lost packets. Return "rebuilt" or "ok".

        Every packet PostgreSQL has not paid must be in the list or held by a
        claim still in flight (an entry handed out less than ``grace_ms`` ago
        that PostgreSQL does not know yet). Fewer means packets were lost: a
        worker died between TAKE and COMMIT, or Redis dropped keys (eviction,
        a stale snapshot) without losing ``ready``.
        """
        if not self.is_ready():
            return "rebuilt" if self.ensure_ready(expire_at) else "ok"
        self.sync_stopped(expire_at)
        # Read the list's length first: a packet moving from the list to an entry meanwhile is then
        # counted twice (harmless), never missed (which would rebuild for nothing).
        listed = self.redis.llen(self.packets)
        cutoff = int(time.time() * 1000) - grace_ms
        handed: dict[int, int] = {}
        for user, entry in self.redis.hscan_iter(self.claims, count=1000):
            handed_at = int(_text(entry).split(":")[2])
            if handed_at > 0:  # 0 = rebuilt from a committed claim
                handed[int(_text(user))] = handed_at
        known: set[int] = set()
        users = list(handed)
        for i in range(0, len(users), 1000):
            known |= set(db.session.execute(
                select(Claim.user_id).where(Claim.campaign_id == self.campaign_id, Claim.user_id.in_(users[i:i + 1000]))
            ).scalars())
        in_flight = sum(1 for u, at in handed.items() if u not in known and at >= cutoff)
        unpaid = db.session.execute(
            select(func.count()).select_from(Packet).where(
                Packet.campaign_id == self.campaign_id,
                ~exists().where(and_(Claim.campaign_id == self.campaign_id, Claim.packet_seq == Packet.seq)),
            )
        ).scalar_one()
        if listed + in_flight >= unpaid:
            return "ok"
        return "rebuilt" if self.rebuild(expire_at) else "ok"

    def figures(self) -> dict:
        """Return what the gate holds now (for the live monitor)."""
        pipe = self.redis.pipeline()
        pipe.exists(self.ready)
        pipe.llen(self.packets)
        pipe.hlen(self.claims)
        pipe.get(self.stopped)
        ready, packets, claims, stopped = pipe.execute()
        return {"ready": bool(ready), "packets_left": packets, "claims_recorded": claims,
                "stopped": _text(stopped) if stopped is not None else None}
