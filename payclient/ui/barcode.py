"""A Code 128 barcode widget for the payment code (bars from :mod:`payclient.barcode`)."""

from __future__ import annotations

from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

from payclient.barcode import code128c_modules

__all__ = ["BarcodeWidget"]


class BarcodeWidget(Widget):
    """Shows the digits ``data`` as a Code 128 (set C) barcode filling the widget's height.

    The bars are drawn at a whole number of pixels per module, centred; the widget's white
    background around them is the quiet zone.
    """

    data = StringProperty("")

    def __init__(self, **kwargs):
        self._modules = ""
        self._texture = None
        super().__init__(**kwargs)
        with self.canvas:
            Color(1, 1, 1, 1)
            self._bg = Rectangle()
            self._rect = Rectangle()
        self.bind(data=self._rebuild, pos=self._layout, size=self._layout)
        self._rebuild()

    def _rebuild(self, *_):
        try:
            self._modules = code128c_modules(self.data, quiet=0) if self.data else ""
        except ValueError:
            self._modules = ""
        if self._modules:
            buf = b"".join(b"\x00\x00\x00\xff" if m == "1" else b"\xff\xff\xff\xff" for m in self._modules)
            tex = Texture.create(size=(len(self._modules), 1), colorfmt="rgba")
            tex.blit_buffer(buf, colorfmt="rgba", bufferfmt="ubyte")
            tex.mag_filter = tex.min_filter = "nearest"
            self._texture = tex
        else:
            self._texture = None
        self._layout()

    def _layout(self, *_):
        self._bg.pos, self._bg.size = self.pos, self.size
        if not self._texture or self.width <= 0:
            self._rect.size = (0, 0)
            return
        n = len(self._modules)
        scale = max(1, int(self.width // n))
        drawn = scale * n
        self._rect.texture = self._texture
        self._rect.pos = (int(self.center_x - drawn / 2), int(self.y))
        self._rect.size = (drawn, int(self.height))
