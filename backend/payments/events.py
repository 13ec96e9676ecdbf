"""Order status changes, pushed to whoever watches the order (server-sent events).

A change is published on Redis after its transaction commits; the SSE stream
subscribes, and also re-reads the order every second so that nothing is missed
if a message is (Redis pub/sub is at-most-once). Any gunicorn worker can serve
any stream: no state lives in the process.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import redis

from backend.extensions import get_redis

log = logging.getLogger(__name__)


def channel(order_id: int) -> str:
    return f"order-events:{order_id}"


def publish(order_id: int, status: str) -> None:
    """Tell watchers that ``order_id`` is now ``status`` (after commit); best effort.

    The change is already committed, so a Redis outage must not turn its
    answer into an error: watchers see it within a second from their re-read.
    """
    try:
        get_redis().publish(channel(order_id), json.dumps({"status": status}))
    except redis.RedisError:
        log.warning("could not publish order %s → %s (Redis unavailable); watchers re-read it", order_id, status,
                    exc_info=True)


def sse(event: str, data: dict) -> str:
    """Return one server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream(order_id: int, read: Callable[[], dict], *, is_final: Callable[[dict], bool],
           timeout_s: float, poll_s: float = 1.0) -> Iterator[str]:
    """Yield SSE text: the current state, then every change, until final or ``timeout_s``.

    ``read`` returns the order's public state (re-read from the database).
    """
    redis = get_redis()
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel(order_id))
    try:
        state = read()
        yield sse("status", state)
        deadline = time.monotonic() + timeout_s
        while not is_final(state) and time.monotonic() < deadline:
            msg = pubsub.get_message(timeout=poll_s)
            fresh = read()
            if fresh != state:
                state = fresh
                yield sse("status", state)
            elif msg is None:
                yield ": keep-alive\n\n"
        yield sse("end", {"status": state["status"]})
    finally:
        pubsub.close()
