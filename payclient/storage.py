"""Small private files on the device: the session token, the pay-code secret, settings.

:class:`JsonFile` writes atomically (temp file + rename) with mode 0600, since
a token or a pay-code secret is as good as the wallet. :class:`MemoryStore`
is the same interface in memory, for tests.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["JsonFile", "MemoryStore", "TokenStore", "FileTokenStore", "MemoryTokenStore"]


class MemoryStore:
    """A dict kept in memory; ``load()`` returns a copy, ``save()`` replaces it."""

    def __init__(self, initial: dict | None = None):
        self._data = dict(initial or {})
        self._lock = threading.Lock()

    def load(self) -> dict:
        with self._lock:
            return dict(self._data)

    def save(self, data: dict) -> None:
        with self._lock:
            self._data = dict(data)

    def clear(self) -> None:
        self.save({})


class JsonFile(MemoryStore):
    """A JSON object in one file readable only by its owner (0600)."""

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.path = Path(path)

    def load(self) -> dict:
        with self._lock:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}

    def save(self, data: dict) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.path.parent)
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, ensure_ascii=False)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)


class TokenStore:
    """Where the client keeps the bearer token and who it belongs to."""

    def __init__(self, store: MemoryStore):
        self._store = store

    @property
    def token(self) -> str | None:
        return self._store.load().get("token")

    @property
    def user(self) -> dict | None:
        return self._store.load().get("user")

    @property
    def refresh_token(self) -> str | None:
        """The session's refresh token, which buys a new access token when the one in ``token`` expires."""
        return self._store.load().get("refresh_token")

    def save(self, token: str, user: dict | None = None, **extra: Any) -> None:
        """Remember ``token`` (and the user it was issued to; ``refresh_token=`` the session's)."""
        self._store.save({"token": token, "user": user, **extra})

    def replace_token(self, token: str) -> None:
        """Keep the session, with a new access token."""
        data = dict(self._store.load())
        data["token"] = token
        self._store.save(data)

    def clear(self) -> None:
        self._store.clear()


class MemoryTokenStore(TokenStore):
    def __init__(self):
        super().__init__(MemoryStore())


class FileTokenStore(TokenStore):
    """Token kept in ``<dir>/session.json`` (mode 0600) so the app stays logged in."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(JsonFile(path))
        self.path = Path(path)
