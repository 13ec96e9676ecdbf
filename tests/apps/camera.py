"""A synthetic camera: a Kivy camera provider (``CameraBase``) whose frames are pictures of real codes.

The device camera is the app's true external edge; this stands in for it the way a provider does —
frames go into the provider's texture through ``_copy_to_gpu`` and ``on_texture`` fires — so the
scanner under test is the one that runs on a phone. :func:`frame` draws a code the way a camera sees
it: on a grey counter, possibly turned and out of focus.
"""

from __future__ import annotations

import itertools
import math

import qrcode
from kivy.clock import Clock
from kivy.core.camera import CameraBase
from kivy.graphics.texture import Texture
from PIL import Image, ImageFilter


def frame(text: str, *, angle: float = 0, blur: float = 0, size=(960, 720)) -> Image.Image:
    """A camera frame (RGB) of a QR code holding ``text``, filling most of the frame as a person aims it:
    ``angle`` degrees turned, ``blur`` pixels of Gaussian blur (out of focus)."""
    q = qrcode.QRCode(border=4, box_size=1)
    q.add_data(text)
    q.make(fit=True)
    turned = abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))
    q.box_size = max(2, int(min(size) * 0.8 / ((q.modules_count + 8) * turned)))
    code = q.make_image().get_image().convert("L")
    if angle:
        code = code.rotate(angle, expand=True, fillcolor=255, resample=Image.BICUBIC)
    picture = Image.new("L", size, 190)
    picture.paste(code, ((size[0] - code.width) // 2, (size[1] - code.height) // 2))
    if blur:
        picture = picture.filter(ImageFilter.GaussianBlur(blur))
    return picture.convert("RGB")


def empty_frame(size=(960, 720)) -> Image.Image:
    return Image.new("RGB", size, (190, 186, 180))


class SyntheticCamera(CameraBase):
    """Shows ``frames`` in turn (then the last one again), ``fps`` a second, once started."""

    def __init__(self, frames, fps: float = 15, **kwargs):
        self.frames = [f.convert("RGB") for f in frames]
        self.fps = fps
        self.shown = 0
        self._event = None
        kwargs.setdefault("resolution", self.frames[0].size)
        kwargs.setdefault("stopped", True)
        super().__init__(**kwargs)

    def init_camera(self):
        self._texture = None
        self._source = itertools.chain(self.frames, itertools.repeat(self.frames[-1]))

    def start(self):
        super().start()
        if self._event is None:
            self._event = Clock.schedule_interval(self._update, 1 / self.fps)

    def stop(self):
        super().stop()
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def _update(self, dt):
        if self.stopped:
            return
        picture = next(self._source)
        if self._texture is None:
            self._texture = Texture.create(size=picture.size, colorfmt="rgb")
            self._texture.flip_vertical()  # the picture's first row is its top, as cameras deliver them
            self.dispatch("on_load")
        self._format = "rgb"
        self._buffer = picture.tobytes()
        self._copy_to_gpu()
        self.shown += 1
