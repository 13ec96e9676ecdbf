"""The payment-password pad (a modal over any screen) and the password/免密 screen (layout in ``security.kv``)."""

from __future__ import annotations

import os

from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from consumer_app.screens import CScreen
from payclient.ui.theme import RoundButton

__all__ = ["CSecurityScreen", "PayPasswordPad", "ask_password"]


class PayPasswordPad(ModalView):
    """Six dots and a digit pad; the sixth digit closes it and calls ``callback(text)``."""

    message = StringProperty("")
    typed = NumericProperty(0)
    callback = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._digits = ""

    def press(self, key: str) -> None:
        if key == "del":
            self._digits = self._digits[:-1]
        elif key.isdigit() and len(self._digits) < 6:
            self._digits += key
        self.typed = len(self._digits)
        if len(self._digits) == 6:
            password, callback = self._digits, self.callback
            self._digits = ""
            self.dismiss(animation=False)
            if callback is not None:
                callback(password)


def ask_password(text: str, on_password) -> PayPasswordPad:
    """Open the pad with ``text``; return it (tests press its keys)."""
    pad = PayPasswordPad(message=text, callback=on_password)
    pad.open(animation=not os.environ.get("SUIYUAN_NO_ANIMATION"))
    return pad


class CSecurityScreen(CScreen):
    password_set = BooleanProperty(False)
    limit_text = StringProperty("")
    done_text = StringProperty("")

    def on_pre_enter(self, *_):
        self.done_text = ""
        for name in ("current", "new", "again"):
            self.ids[name].text = ""
        self.presenter.load()

    def show_state(self, password_set: bool, limit_fen: int, choices) -> None:
        self.password_set = password_set
        grid = self.ids.limits
        grid.clear_widgets()
        for fen, label in choices:
            b = RoundButton(text=label, kind="primary" if fen == limit_fen else "secondary", font_size=dp(14),
                            height=dp(40), disabled=not password_set and fen != limit_fen)
            b.fen = fen
            b.bind(on_release=lambda btn: self.presenter.choose_limit(btn.fen))
            grid.add_widget(b)
        label = dict(choices).get(limit_fen, "")
        from payclient.ui.i18n import tr

        self.limit_text = tr("c.sec.limit_now", limit=label)

    def save(self) -> None:
        self.presenter.save_password(self.ids.current.text, self.ids.new.text, self.ids.again.text)

    def show_done(self, text: str) -> None:
        self.done_text = text
        for name in ("current", "new", "again"):
            self.ids[name].text = ""
