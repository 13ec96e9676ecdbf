"""Network and other blocking work off the UI thread; results back on it through ``Clock``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock

__all__ = ["KivyRunner", "run_async"]


class KivyRunner:
    """The apps' :class:`payclient.tasks.Runner`: ``fn`` on a daemon thread, callbacks on the UI thread.

    ``busy`` counts work in flight (the UI tests wait for it to reach 0).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.busy = 0

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[Exception], None] | None = None) -> None:
        with self._lock:
            self.busy += 1

        def work():
            try:
                result = fn(*args)
            except Exception as exc:  # noqa: BLE001 - delivered to on_error on the UI thread
                self._deliver(on_error, exc, error=exc)
            else:
                self._deliver(on_done, result)

        threading.Thread(target=work, daemon=True, name=f"suiyuan-{getattr(fn, '__name__', 'task')}").start()

    def _deliver(self, callback, value, error: Exception | None = None) -> None:
        def on_ui(_dt):
            try:
                if callback is not None:
                    callback(value)
                elif error is not None:
                    raise error
            finally:
                with self._lock:
                    self.busy -= 1
        Clock.schedule_once(on_ui, 0)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the UI thread at the next frame (safe from any thread)."""
        with self._lock:
            self.busy += 1

        def on_ui(_dt):
            try:
                fn(*args)
            finally:
                with self._lock:
                    self.busy -= 1
        Clock.schedule_once(on_ui, 0)

    def every(self, seconds: float, fn: Callable[[], Any]) -> Callable[[], None]:
        """Call ``fn()`` on the UI thread every ``seconds``; return a function that stops it."""
        ev = Clock.schedule_interval(lambda _dt: fn(), seconds)
        return ev.cancel


_default = KivyRunner()


def run_async(fn: Callable[..., Any], *args: Any, on_done=None, on_error=None) -> None:
    """Run ``fn(*args)`` on a thread; deliver its result or exception on the UI thread."""
    _default.submit(fn, *args, on_done=on_done, on_error=on_error)
