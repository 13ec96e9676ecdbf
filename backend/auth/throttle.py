"""Log-in throttling that a stranger cannot turn against the owner of an account.

Counting failures per phone alone lets anyone who knows a number keep its
owner out. Here failures are counted per *client* instead, and a client is
slowed before it is refused:

- A **known device** (one that logged in to this account before and holds the
  signed device token it was given then, :func:`issue_device_token`) is only
  ever limited by its own failures: strangers' guesses never touch it.
- Any **other client** passes four gates, each a Redis hash of failures in a
  window starting at the first failure:

  ====================  ===================================  =========  ==========
  gate                  counts failures of                   free       refused at
  ====================  ===================================  =========  ==========
  ``pc``                this phone from this address+device  3          ``LOGIN_MAX_FAILURES``
  ``pa``                this phone from this address         10         3 × that
  ``a``                 every phone from this address        20         ``LOGIN_ADDRESS_MAX_FAILURES``
  ``p``                 this phone from every unknown client 20         never (slowed only)
  ====================  ===================================  =========  ==========

  After its free failures, each failure makes the gate wait twice as long as
  the last (2 s, 4 s, 8 s … up to a cap) before the next attempt; past the
  refusal count the gate refuses until its window ends. A device id is chosen
  by the client, so a stranger rotating ids still meets ``pa``; spraying one
  password over many phones meets ``a``; a botnet meets ``p``, which slows but
  never refuses, so the owner on a new phone still gets a turn.

Every attempt is counted *before* its password is checked, atomically (one
Lua script), so parallel guesses cannot all slip past a gate; a success takes
its own count back. Failures from unknown clients are also noted per account
for a day (:func:`alerts`), so the apps can tell the owner someone is trying.

Registration is limited per address (``REGISTER_MAX_PER_ADDRESS`` per hour),
since each attempt also tells whether a number is registered.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from backend.errors import TooManyRequests
from backend.extensions import get_redis

DEVICE_ID_HEADER = "X-Device-Id"
DEVICE_TOKEN_HEADER = "X-Device-Token"
DEVICE_COOKIE = "sy_known_device"
ALERT_WINDOW_SECONDS = 24 * 3600
_DEVICE_SALT = "suiyuan-known-device"


@dataclass(frozen=True)
class Gate:
    """One counter: ``free`` failures without delay, refusal from ``refuse`` (None: never)."""

    key: str
    free: int
    refuse: int | None
    window_s: int
    max_delay_s: int


# KEYS: the gates' hashes. ARGV: now, then per gate: free, refuse (0 = never), window, max delay.
# Returns {0, 0} (go ahead, the attempt is counted), {1, seconds} (refused) or {2, seconds} (slowed).
_GATE = """
local now = tonumber(ARGV[1])
local refused, slowed = 0, 0
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 4
  local refuse = tonumber(ARGV[base + 2])
  local state = redis.call('HMGET', key, 'n', 'next')
  local n, nxt = tonumber(state[1] or '0'), tonumber(state[2] or '0')
  if refuse > 0 and n >= refuse then
    refused = math.max(refused, redis.call('TTL', key), 1)
  elseif nxt > now then
    slowed = math.max(slowed, math.ceil(nxt - now))
  end
end
if refused > 0 then return {1, refused} end
if slowed > 0 then return {2, slowed} end
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 4
  local free, window, cap = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local n = redis.call('HINCRBY', key, 'n', 1)
  if n == 1 then redis.call('EXPIRE', key, window) end
  if n > free then
    redis.call('HSET', key, 'next', tostring(now + math.min(cap, 2 ^ (n - free))))
  end
end
return {0, 0}
"""

# KEYS: the gates; ARGV[1]: how many of them (from the first) belong to this client alone.
# A success forgets this client's own failures and takes its count back from the shared gates.
_RELEASE = """
local own = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if i <= own then
    redis.call('DEL', key)
  elseif redis.call('HINCRBY', key, 'n', -1) <= 0 then
    redis.call('DEL', key)
  end
end
return 1
"""


def _cfg(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def client_address() -> str:
    """The caller's address (``remote_addr``; behind a proxy, deploy werkzeug's ProxyFix)."""
    return request.remote_addr or "unknown"


def device_id() -> str:
    """The device id the app sent (``X-Device-Id``), or ``""``."""
    return (request.headers.get(DEVICE_ID_HEADER) or "").strip()[:64]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def issue_device_token(user_id: int) -> str:
    """Return a signed token saying this device (``X-Device-Id``, if sent) logged in as ``user_id`` now."""
    return _serializer().dumps({"u": user_id, "d": device_id()})


def known_device(user_id: int | None) -> str | None:
    """Return the device id of the request's valid device token for ``user_id``, or None.

    The token comes from ``X-Device-Token`` (the apps) or the ``sy_known_device``
    cookie (the console); it must be younger than ``LOGIN_KNOWN_DEVICE_DAYS`` and,
    when the request names a device id, have been issued to that device.
    """
    raw = request.headers.get(DEVICE_TOKEN_HEADER) or request.cookies.get(DEVICE_COOKIE)
    if user_id is None or not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=_cfg("LOGIN_KNOWN_DEVICE_DAYS", 180) * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != user_id:
        return None
    if device_id() and data.get("d") != device_id():
        return None
    return str(data.get("d") or "")


def gates(phone: str, user_id: int | None, known: str | None) -> tuple[list[Gate], int]:
    """Return the gates of a log-in attempt and how many of them (from the first) are this client's own."""
    window = _cfg("LOGIN_LOCKOUT_SECONDS", 900)
    max_failures = _cfg("LOGIN_MAX_FAILURES", 10)
    cap = _cfg("LOGIN_MAX_DELAY_SECONDS", 300)
    if known is not None:
        return [Gate(f"login:k:{user_id}:{_digest(known)}", 3, max_failures, window, cap)], 1
    addr = client_address()
    return [
        Gate(f"login:pc:{phone}:{_digest(addr, device_id())}", 3, max_failures, window, cap),
        Gate(f"login:pa:{phone}:{_digest(addr)}", 10, 3 * max_failures, window, cap),
        Gate(f"login:a:{_digest(addr)}", 20, _cfg("LOGIN_ADDRESS_MAX_FAILURES", 100), 3600, cap),
        Gate(f"login:p:{phone}", 20, None, 3600, _cfg("LOGIN_PHONE_MAX_DELAY_SECONDS", 60)),
    ], 2


def now_s() -> float:
    """Seconds since the epoch (a function, so tests can move time)."""
    return time.time()


def enter(gate_list: list[Gate]) -> None:
    """Count an attempt at every gate, or raise ``TooManyRequests`` without counting it.

    Raises ``login_refused`` (the client's failures passed a refusal count; it
    may try again when the window ends) or ``login_slowed`` (wait out the
    delay), both with ``Retry-After``.
    """
    args: list = [now_s()]
    for g in gate_list:
        args += [g.free, g.refuse or 0, g.window_s, g.max_delay_s]
    outcome, seconds = (int(x) for x in get_redis().eval(_GATE, len(gate_list), *[g.key for g in gate_list], *args))
    if outcome == 0:
        return
    retry = max(1, seconds)
    if outcome == 1:
        raise TooManyRequests("Too many failed log-ins from here; try again later.", code="login_refused",
                              retry_after_seconds=retry, headers={"Retry-After": str(retry)})
    raise TooManyRequests(f"Wrong passwords slow log-ins down; try again in {retry} s.", code="login_slowed",
                          retry_after_seconds=retry, headers={"Retry-After": str(retry)})


def release(gate_list: list[Gate], own: int) -> None:
    """Take back a successful attempt's count: its own gates are cleared, the shared ones decremented."""
    get_redis().eval(_RELEASE, len(gate_list), *[g.key for g in gate_list], own)


def _alert_key(user_id: int) -> str:
    return f"login-alert:{user_id}"


def note_unknown_attempt(user_id: int, field: str) -> None:
    """Note a wrong password (``failed``) or a throttled attempt (``blocked``) from an unknown client."""
    key = _alert_key(user_id)
    now = int(now_s())
    pipe = get_redis().pipeline()
    pipe.hincrby(key, field, 1)
    pipe.hsetnx(key, "first_at", now)
    pipe.hset(key, "last_at", now)
    pipe.expire(key, ALERT_WINDOW_SECONDS)  # kept a day after the last attempt
    pipe.execute()


def alerts(user_id: int) -> dict:
    """Return the account's log-in attempts from unknown clients, kept until a day after the last one.

    ``{"failed": n, "blocked": m, "first_at": datetime | None, "last_at": datetime | None,
    "window_hours": 24}``: wrong passwords, attempts refused or slowed by the gates.
    """
    raw = {k.decode(): v.decode() for k, v in get_redis().hgetall(_alert_key(user_id)).items()}

    def at(name: str) -> datetime | None:
        return datetime.fromtimestamp(int(raw[name]), UTC) if name in raw else None

    return {"failed": int(raw.get("failed", 0)), "blocked": int(raw.get("blocked", 0)),
            "first_at": at("first_at"), "last_at": at("last_at"), "window_hours": ALERT_WINDOW_SECONDS // 3600}


_REGISTER = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return math.max(redis.call('TTL', KEYS[1]), 1) end
return 0
"""


def enter_registration() -> None:
    """Count a registration attempt from this address; raise ``TooManyRequests`` past the hourly limit."""
    limit = _cfg("REGISTER_MAX_PER_ADDRESS", 20)
    wait = int(get_redis().eval(_REGISTER, 1, f"register:a:{_digest(client_address())}", 3600, limit))
    if wait:
        raise TooManyRequests(f"At most {limit} registrations an hour from one address; try again later.",
                              code="registration_limited", retry_after_seconds=wait,
                              headers={"Retry-After": str(wait)})
