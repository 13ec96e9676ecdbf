"""What both Kivy apps share: where their files live, the window, the first-frame mark for the benchmark."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder

from payclient.api import DEFAULT_BASE_URL
from payclient.i18n import Catalog
from payclient.services import Services
from payclient.ui.i18n import tr
from payclient.ui.theme import PhoneFrame, load_theme
from payclient.ui.worker import KivyRunner

__all__ = ["SuiyuanApp", "configure_window"]

#: Set by the benchmark: print this mark after the first frame and quit.
BENCH_ENV = "SUIYUAN_BENCH_FIRST_FRAME"
FIRST_FRAME_MARK = "suiyuan-first-frame"


def configure_window(width: int = 412, height: int = 860) -> None:
    """Set the desktop window size before the window is created (phone-shaped by default)."""
    from kivy.config import Config

    Config.set("graphics", "width", str(int(os.environ.get("SUIYUAN_WINDOW_WIDTH", width))))
    Config.set("graphics", "height", str(int(os.environ.get("SUIYUAN_WINDOW_HEIGHT", height))))
    Config.set("input", "mouse", "mouse,multitouch_on_demand")
    Config.set("kivy", "exit_on_escape", "0")


_loaded_kv: set[Path] = set()


def load_kv(kv_path: Path, strings: dict | None = None) -> None:
    """Add an app's ``strings`` to the catalog and load its ``.kv``, once per process."""
    if kv_path in _loaded_kv:
        return
    if strings:
        tr.add(strings)
    Builder.load_file(str(kv_path))
    _loaded_kv.add(kv_path)


class SuiyuanApp(App):
    """Base of ConsumerApp and MerchantApp: builds services (files under ``data_dir``) and the shell."""

    kv_file = None  # the apps load their .kv explicitly (two apps may share one process in tests)
    app_id = "suiyuan"
    #: The app's layout (loaded once per process, after its ``strings`` are added to the catalog).
    kv_path: Path | None = None
    strings: dict | None = None
    #: Further layouts (a plug-in's screens), loaded after ``kv_path``.
    extra_kv_paths: tuple[Path, ...] = ()
    #: The shell class that adds the app's screens, and the window's title.
    shell_class = None
    title_text = "Suiyuan"

    def __init__(self, api_url: str | None = None, data_dir: str | os.PathLike | None = None,
                 services: Services | None = None, **kwargs):
        super().__init__(**kwargs)
        self.api_url = api_url or os.environ.get("SUIYUAN_API", DEFAULT_BASE_URL)
        self._data_dir = data_dir or os.environ.get("SUIYUAN_DATA_DIR")
        self.services = services
        self.shell = None

    @property
    def data_dir(self) -> Path:
        return Path(self._data_dir) if self._data_dir else Path(self.user_data_dir)

    def load_app_kv(self) -> None:
        load_kv(self.kv_path, self.strings)
        for path in self.extra_kv_paths:
            load_kv(path)

    def make_shell(self, services: Services):
        return self.shell_class(services)

    def build_shell(self):
        """Return the app's shell (tests put it on the window without ``run()``)."""
        load_theme()
        self.load_app_kv()
        if self.services is None:
            catalog: Catalog = tr.catalog
            self.services = Services.on_disk(self.api_url, self.data_dir, KivyRunner(), catalog)
        self.shell = self.make_shell(self.services)
        return self.shell

    def build(self):
        self.title = self.window_title()
        frame = PhoneFrame()
        frame.add_widget(self.build_shell())
        return frame

    def window_title(self) -> str:
        return self.title_text

    def on_start(self):
        self.shell.start()
        if os.environ.get(BENCH_ENV):
            from kivy.core.window import Window

            def mark(*_):
                Window.unbind(on_flip=mark)
                sys.stdout.write(f"{FIRST_FRAME_MARK} {time.perf_counter():.6f} {self.shell.sm.current}\n")
                sys.stdout.flush()
                Clock.schedule_once(lambda _dt: self.stop(), 0)
            Window.bind(on_flip=mark)
