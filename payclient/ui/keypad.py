"""An amount keypad (1–9, ".", 0, backspace); the logic is :class:`payclient.keypad.AmountEntry`."""

from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.properties import NumericProperty
from kivy.uix.gridlayout import GridLayout

__all__ = ["Keypad", "KEYS"]

#: (key sent to AmountEntry.press, label shown)
KEYS = (("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5"), ("6", "6"), ("7", "7"), ("8", "8"),
        ("9", "9"), (".", "."), ("0", "0"), ("del", "←"))


class Keypad(GridLayout):
    """Twelve big keys; dispatches ``on_key(key)`` with the AmountEntry key name."""

    __events__ = ("on_key",)
    key_height = NumericProperty(dp(56))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from payclient.ui.theme import RoundButton

        self.buttons = {}
        for key, label in KEYS:
            b = RoundButton(text=label, kind="secondary", font_size=sp(24), height=self.key_height)
            self.bind(key_height=b.setter("height"))
            b.bind(on_release=lambda _b, k=key: self.dispatch("on_key", k))
            self.buttons[key] = b
            self.add_widget(b)

    def on_key(self, key: str) -> None:
        pass
