"""A QR code widget drawn from its payload (one texture, crisp at any size)."""

from __future__ import annotations

import qrcode
from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.widget import Widget
from qrcode.constants import ERROR_CORRECT_M

__all__ = ["QRCodeWidget", "qr_matrix"]


def qr_matrix(data: str) -> list[list[bool]]:
    """Return the QR modules of ``data`` (UTF-8, error correction M, no border), True = dark."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(data.encode("utf-8"))
    qr.make(fit=True)
    return qr.get_matrix()


class QRCodeWidget(Widget):
    """Shows ``data`` as a QR code, centred, with a white quiet zone.

    Each module is a whole number of pixels (the code is drawn at the largest
    integer scale that fits), so a camera or a screenshot decodes it reliably.
    """

    data = StringProperty("")
    quiet = NumericProperty(4)

    def __init__(self, **kwargs):
        self._texture: Texture | None = None
        self._n = 0
        super().__init__(**kwargs)
        with self.canvas:
            self._bg_color = Color(1, 1, 1, 1)
            self._bg = Rectangle()
            self._fg_color = Color(1, 1, 1, 1)
            self._rect = Rectangle()
        self.bind(data=self._rebuild, quiet=self._rebuild, pos=self._layout, size=self._layout)
        self._rebuild()

    def _rebuild(self, *_):
        if not self.data:
            self._texture, self._n = None, 0
            self._layout()
            return
        matrix = qr_matrix(self.data)
        q = int(self.quiet)
        n = len(matrix) + 2 * q
        white, black = b"\xff\xff\xff\xff", b"\x00\x00\x00\xff"
        rows = []
        for y in range(n - 1, -1, -1):  # textures start at the bottom row
            my = y - q
            row = bytearray()
            for x in range(n):
                mx = x - q
                dark = 0 <= my < len(matrix) and 0 <= mx < len(matrix) and matrix[my][mx]
                row += black if dark else white
            rows.append(bytes(row))
        tex = Texture.create(size=(n, n), colorfmt="rgba")
        tex.blit_buffer(b"".join(rows), colorfmt="rgba", bufferfmt="ubyte")
        tex.mag_filter = "nearest"
        tex.min_filter = "nearest"
        self._texture, self._n = tex, n
        self._layout()

    def _layout(self, *_):
        side = min(self.width, self.height)
        if not self._texture or side <= 0:
            self._bg.size = (0, 0)
            self._rect.size = (0, 0)
            self._rect.texture = None
            return
        scale = max(1, int(side // self._n))
        drawn = scale * self._n
        x = int(self.center_x - drawn / 2)
        y = int(self.center_y - drawn / 2)
        self._bg.pos, self._bg.size = (x, y), (drawn, drawn)
        self._rect.texture = self._texture
        self._rect.pos, self._rect.size = (x, y), (drawn, drawn)
