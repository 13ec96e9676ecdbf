"""The validator's one screen (Kivy): a coloured panel with the result of the last tap.

    python -m validator_app.main TERMINAL_ID MODE PLACE CARD_FILE

In the simulator a tap is a card file (``suiyuan_protocol.transit.card.HardCard.to_file``); the button reads
it. No network is needed to tap; uploading and downloads run when the terminal is online.
"""

from __future__ import annotations

import sys
import time

from kivy.app import App
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

from payclient.ui.fonts import register_fonts
from validator_app.presenter import Screen, ValidatorPresenter


class ValidatorView(BoxLayout):
    """Header, the big result and its details on a coloured panel, and the simulator's tap button."""

    def __init__(self, presenter: ValidatorPresenter, card_path: str | None = None, **kw):
        register_fonts()
        super().__init__(orientation="vertical", padding=16, spacing=8, **kw)
        self.presenter, self.card_path = presenter, card_path
        self.header = Label(font_size="15sp", size_hint_y=0.18, halign="center", color=(1, 1, 1, 1))
        self.big = Label(font_size="38sp", bold=True, size_hint_y=0.34, halign="center", color=(1, 1, 1, 1))
        self.detail = Label(font_size="20sp", size_hint_y=0.30, halign="center", color=(1, 1, 1, 1))
        self.timing = Label(font_size="12sp", size_hint_y=0.06, color=(1, 1, 1, 0.8))
        self.button = Button(text="模拟刷卡（读取卡文件）", size_hint_y=0.12, font_size="18sp")
        self.button.bind(on_release=lambda *_: self.tap())
        for w in (self.header, self.big, self.detail, self.timing, self.button):
            self.add_widget(w)
        with self.canvas.before:
            self._colour = Color(*presenter.idle().colour)
            self._rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._layout, size=self._layout)
        self.render(presenter.idle())

    def _layout(self, *_):
        self._rect.pos, self._rect.size = self.pos, self.size
        for label in (self.header, self.big, self.detail):
            label.text_size = (self.width - 32, None)

    def render(self, screen: Screen) -> None:
        self.header.text, self.big.text, self.detail.text = screen.header, screen.big, screen.detail
        if screen.elapsed_ms is None:
            self.timing.text = ""
        else:  # the gate's budget is 300 ms; a slower tap says by how much
            elapsed = screen.elapsed_ms
            self.timing.text = "300 ms 内完成" if elapsed < 300 else f"用时 {elapsed:.0f} ms（超时）"
        self._colour.rgba = screen.colour

    def tap(self) -> None:
        if self.card_path:
            self.render(self.presenter.tap_file(self.card_path, int(time.time())))


class ValidatorApp(App):
    title = "穗元 验票机"

    def __init__(self, presenter: ValidatorPresenter, card_path: str | None = None, **kw):
        super().__init__(**kw)
        self.presenter, self.card_path = presenter, card_path

    def build(self):
        return ValidatorView(self.presenter, self.card_path)


def main(argv=None) -> int:
    from suiyuan_protocol.transit.terminal import Terminal

    terminal_id, mode, place, card_path = (argv or sys.argv[1:])[:4]
    terminal = Terminal(terminal_id, mode, place, f"{terminal_id}.sqlite")
    ValidatorApp(ValidatorPresenter(terminal, place), card_path).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
