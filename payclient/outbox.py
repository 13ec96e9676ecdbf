"""The outbox: money-moving requests are written down before they are sent.

Each entry has its ``Idempotency-Key``, fixed when the entry is created. If the
connection breaks after the server applied the request but before its answer
arrived, the client cannot know whether money moved; sending the same entry
again with the same key is safe, because the server replays the first response
instead of moving money twice. Entries survive an app restart (SQLite file), so
an interrupted payment is finished (or its refusal learned) at the next start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outbox", "OutboxEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    owner TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    status INTEGER,
    response TEXT,
    created_at REAL NOT NULL,
    done_at REAL
)
"""


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    method: str
    path: str
    body: dict
    owner: str | None = None
    state: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    status: int | None = None
    response: dict | None = None
    created_at: float = 0.0

    @property
    def pending(self) -> bool:
        return self.state == "pending"


class Outbox:
    """Requests that must reach the server exactly once, persisted in SQLite.

    ``path`` is a file, or ``":memory:"`` (the default) for tests. Safe to use
    from several threads.
    """

    def __init__(self, path: str | Path = ":memory:", *, keep_done_s: float = 7 * 24 * 3600):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self.keep_done_s = keep_done_s
        with self._lock:
            self._db.execute(_SCHEMA)
            self._db.execute("DELETE FROM outbox WHERE state = 'done' AND done_at < ?", (time.time() - keep_done_s,))

    def add(self, method: str, path: str, body: dict, *, owner: str | None = None,
            key: str | None = None) -> OutboxEntry:
        """Write a request down (durably) before it is sent; return it with its new Idempotency-Key."""
        key = key or f"sy-{uuid.uuid4().hex}"
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO outbox (key, owner, method, path, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, owner, method.upper(), path, json.dumps(body, ensure_ascii=False, sort_keys=True), now))
        return OutboxEntry(key, method.upper(), path, dict(body), owner, created_at=now)

    def attempt_failed(self, key: str, error: str) -> None:
        """Record a try that got no answer; the entry stays pending."""
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE key = ?",
                             (error[:500], key))

    def complete(self, key: str, status: int, response: dict | None) -> None:
        """Record the server's answer (success or refusal); the entry is done and never sent again."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'done', attempts = attempts + 1, status = ?, response = ?, done_at = ?"
                " WHERE key = ?",
                (status, json.dumps(response, ensure_ascii=False) if response is not None else None, time.time(),
                 key))

    def get(self, key: str) -> OutboxEntry | None:
        with self._lock:
            row = self._db.execute(f"SELECT {self._COLS} FROM outbox WHERE key = ?", (key,)).fetchone()
        return self._entry(row) if row else None

    def pending(self, owner: str | None = None) -> list[OutboxEntry]:
        """Return the entries not yet answered (of ``owner`` if given), oldest first."""
        sql = f"SELECT {self._COLS} FROM outbox WHERE state = 'pending'"
        args: tuple = ()
        if owner is not None:
            sql += " AND owner = ?"
            args = (owner,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at", args).fetchall()
        return [self._entry(r) for r in rows]

    def all(self) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {self._COLS} FROM outbox ORDER BY created_at").fetchall()
        return [self._entry(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    _COLS = "key, method, path, body, owner, state, attempts, last_error, status, response, created_at"

    @staticmethod
    def _entry(row) -> OutboxEntry:
        key, method, path, body, owner, state, attempts, last_error, status, response, created_at = row
        return OutboxEntry(key, method, path, json.loads(body), owner, state, attempts, last_error, status,
                           json.loads(response) if response else None, created_at)
