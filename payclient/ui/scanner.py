"""Where scanned text comes from: the camera (where the device has one), an image file, or pasted text.

:func:`camera_available` asks Kivy whether a camera provider exists; on a
desktop without one the scan screens offer :class:`ImagePicker` (a file chooser
whose pictures are decoded with zxing-cpp) and a paste field instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView

__all__ = ["CameraScanner", "ImagePicker", "camera_available"]

_camera: bool | None = None


def camera_available() -> bool:
    """Return True if Kivy has a camera provider on this device (cached)."""
    global _camera
    if _camera is None:
        if os.environ.get("SUIYUAN_NO_CAMERA"):
            _camera = False
        else:
            try:
                from kivy.core.camera import Camera as CoreCamera
                _camera = CoreCamera is not None
            except Exception:  # noqa: BLE001 - any provider failure means "no camera"
                _camera = False
    return _camera


class CameraScanner(BoxLayout):
    """Live camera preview that decodes each few frames with zxing-cpp; dispatches ``on_code(text)``."""

    __events__ = ("on_code",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from kivy.uix.camera import Camera

        self.camera = Camera(play=True, resolution=(640, 480))
        self.add_widget(self.camera)
        self._ev = Clock.schedule_interval(self._scan, 0.4)

    def _scan(self, _dt):
        tex = self.camera.texture
        if tex is None:
            return
        from PIL import Image

        from payclient.scan import decode_image

        image = Image.frombytes("RGBA", tex.size, tex.pixels)
        found = decode_image(image)
        if found:
            self.stop()
            self.dispatch("on_code", found[0])

    def stop(self):
        self._ev.cancel()
        self.camera.play = False

    def on_code(self, text: str) -> None:
        pass


Builder.load_string("""
#:import C payclient.ui.theme.COLORS
#:import dp kivy.metrics.dp
#:import tr payclient.ui.i18n.tr

<ImagePicker>:
    size_hint: .94, .86
    auto_dismiss: True
    background_color: 0, 0, 0, .45
    BoxLayout:
        orientation: 'vertical'
        padding: dp(12)
        spacing: dp(8)
        canvas.before:
            Color:
                rgba: C.card
            RoundedRectangle:
                pos: self.pos
                size: self.size
                radius: [dp(14)]
        Txt:
            text: tr('picker.title', tr.lang)
            bold: True
            font_size: dp(17)
        FileChooserListView:
            id: chooser
            path: root.start_dir
            filters: ['*.png', '*.jpg', '*.jpeg', '*.PNG', '*.JPG', '*.bmp', '*.webp']
            on_submit: root.choose(self.selection)
            canvas.before:
                Color:
                    rgba: C.bg
                Rectangle:
                    pos: self.pos
                    size: self.size
        BoxLayout:
            size_hint_y: None
            height: dp(48)
            spacing: dp(8)
            RoundButton:
                kind: 'secondary'
                text: tr('cancel', tr.lang)
                on_release: root.dismiss()
            RoundButton:
                id: open_button
                text: tr('picker.open', tr.lang)
                disabled: not chooser.selection
                on_release: root.choose(chooser.selection)
""")


class ImagePicker(ModalView):
    """Choose a picture of a code; calls ``callback(path)``."""

    start_dir = StringProperty(str(Path.home()))
    callback = ObjectProperty(None)

    def choose(self, selection):
        if selection:
            path = selection[0]
            self.dismiss()
            if self.callback:
                self.callback(path)
