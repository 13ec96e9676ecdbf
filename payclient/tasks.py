"""Running work off the UI thread, as an interface the presenters depend on.

A presenter calls ``runner.submit(fn, *args, on_done=..., on_error=...)``: ``fn``
runs somewhere that may block (network), and the callbacks run where the UI
may be touched. The Kivy apps use :class:`payclient.ui.worker.KivyRunner`
(a thread, then ``Clock``); presenter tests use :class:`SyncRunner` (all inline)
so that they need no window and no event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Runner", "SyncRunner", "ThreadRunner"]


class Runner(Protocol):
    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[Exception], None] | None = None) -> None: ...

    def post(self, fn: Callable[..., Any], *args: Any) -> None: ...

    def every(self, seconds: float, fn: Callable[[], Any]) -> Callable[[], None]: ...


class SyncRunner:
    """Runs everything at once in the caller's thread (tests)."""

    def submit(self, fn, *args, on_done=None, on_error=None) -> None:
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - handed to the presenter's error path
            if on_error is None:
                raise
            on_error(exc)
            return
        if on_done is not None:
            on_done(result)

    def post(self, fn, *args) -> None:
        fn(*args)

    def every(self, seconds: float, fn) -> Callable[[], None]:
        """No clock in tests: nothing repeats; the returned function cancels nothing."""
        return lambda: None


class ThreadRunner(SyncRunner):
    """Runs ``fn`` on a daemon thread; callbacks run on that thread too (tests of background work)."""

    def __init__(self):
        self.threads: list[threading.Thread] = []

    def submit(self, fn, *args, on_done=None, on_error=None) -> None:
        t = threading.Thread(target=super().submit, args=(fn, *args),
                             kwargs={"on_done": on_done, "on_error": on_error}, daemon=True)
        self.threads.append(t)
        t.start()

    def join(self, timeout: float = 10.0) -> None:
        for t in list(self.threads):
            t.join(timeout)
