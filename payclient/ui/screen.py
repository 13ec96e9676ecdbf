"""The base of every app screen: a thin view that a presenter drives (``go``, ``show_busy``,
``show_error``, ``show_login_alert``), wired to the shell that holds it."""

from __future__ import annotations

from kivy.properties import ObjectProperty

from payclient.ui.theme import SyScreen

__all__ = ["AppScreen"]


class AppScreen(SyScreen):
    """Common view methods; ``shell`` and ``presenter`` are set when the shell adds the screen."""

    shell = ObjectProperty(None)
    presenter = ObjectProperty(None)

    def go(self, name: str) -> None:
        self.shell.go(name)

    def show_busy(self, busy: bool) -> None:
        self.shell.set_busy(busy)

    def show_error(self, text: str) -> None:
        self.shell.error(text)

    def show_login_alert(self, title: str, text: str) -> None:
        self.shell.alert(title, text)

    def toggle_lang(self) -> None:
        self.shell.services.toggle_lang()
