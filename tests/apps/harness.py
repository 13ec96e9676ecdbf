"""Driving the Kivy apps in a test: one offscreen window, shells mounted on it, touches, waiting, screenshots.

No X server: SDL renders offscreen on Mesa. One window per process; a test
mounts an app's shell on it (two apps can take turns, as two phones would).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("SUIYUAN_NO_ANIMATION", "1")
os.environ.setdefault("SUIYUAN_NO_CAMERA", "1")
os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # no xclip/xsel probing on a machine without X

PHONE = (360, 640)
BIG_PHONE = (412, 915)


def window(size=PHONE):
    """Create (once) and return the offscreen window, 360×640.

    SDL's offscreen surface cannot be resized once created, so other phone
    sizes are laid out in a frame of that size and drawn into an FBO (see
    :func:`mount` and :func:`shoot`).
    """
    from kivy.config import Config

    Config.set("graphics", "width", str(PHONE[0]))
    Config.set("graphics", "height", str(PHONE[1]))
    for name, _ in Config.items("input"):
        Config.remove_option("input", name)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    if Window not in EventLoop.event_listeners:
        Window.register()  # touches reach widgets only through a registered window
    return Window


def pump(frames: int = 2) -> None:
    """Run ``frames`` frames of the event loop: clock, layout, drawing."""
    from kivy.base import EventLoop

    for _ in range(frames):
        EventLoop.idle()


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    """Run frames until ``condition()`` is true (network work finishes on threads, results arrive by Clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump(1)
        if condition():
            pump(2)
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def idle(shell, timeout: float = 15.0) -> None:
    """Wait until the shell's runner has no work in flight and nothing is busy."""
    runner = shell.services.runner
    wait_until(lambda: runner.busy == 0 and not shell.busy, timeout, "the app to finish its work")


_frame = None


def mount(shell, size=PHONE):
    """Put ``shell`` alone on the window, inside the phone frame, laid out at ``size``."""
    global _frame
    from payclient.ui.theme import PhoneFrame

    win = window()
    for child in list(win.children):
        win.remove_widget(child)
    if shell.parent is not None:
        shell.parent.remove_widget(shell)
    frame = PhoneFrame()
    if tuple(size) != tuple(win.size):
        frame.size_hint = (None, None)
        frame.size = size
    frame.add_widget(shell)
    win.add_widget(frame)
    _frame = frame
    pump(3)
    return frame


def tap(widget, timeout: float = 0) -> None:
    """Touch ``widget`` at its centre (down, then up) through the window, as a finger would."""
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.scrollview import ScrollView

    pump(2)  # lay out what changed since the last frame
    assert widget.get_root_window() is not None, f"{widget} is not on the window"
    assert not widget.disabled, f"{widget} is disabled"
    parent = widget.parent
    while parent is not None and parent is not parent.parent:
        if isinstance(parent, ScrollView):
            x0, y0 = widget.to_window(widget.x, widget.y)
            x1, y1 = widget.to_window(widget.right, widget.top)
            vx0, vy0 = parent.to_window(parent.x, parent.y)
            vx1, vy1 = parent.to_window(parent.right, parent.top)
            if y0 < vy0 or y1 > vy1:
                parent.scroll_to(widget, padding=10, animate=False)  # out of view: a finger scrolls first
                pump(3)
            break
        parent = parent.parent
    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    pump(1)
    touch.touch_up()
    pump(2)


def shoot(path: str | Path) -> Path:
    """Save what the person sees: the window, or the mounted frame when it has another size."""
    from kivy.core.window import Window

    from payclient.ui.capture import capture_window

    pump(2)
    if _frame is not None and tuple(_frame.size) != tuple(Window.size):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _frame.export_to_png(str(path))
        return path
    return capture_window(path)


def toasts() -> list[str]:
    """Texts of the toasts on the window now."""
    from kivy.core.window import Window

    from payclient.ui.theme import ToastLabel

    return [w.text for w in Window.children if isinstance(w, ToastLabel)]


def clear_toasts() -> None:
    from kivy.core.window import Window

    from payclient.ui.theme import ToastLabel

    for w in list(Window.children):
        if isinstance(w, ToastLabel):
            Window.remove_widget(w)
