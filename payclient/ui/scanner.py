"""Where scanned text comes from: the camera (where the device has one), an image file, or pasted text.

:func:`camera_available` asks Kivy whether a camera provider exists; on a
desktop without one the scan screens offer :class:`ImagePicker` (a file chooser
whose pictures are decoded with zxing-cpp) and a paste field instead.
:class:`CameraScanner` is the viewfinder: the camera's picture with a frame to aim
at, whose frames are read with zxing-cpp off the UI thread. :func:`use_camera` puts
another camera in place of Kivy's provider (the tests' synthetic camera).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.modalview import ModalView

__all__ = ["CameraScanner", "ImagePicker", "ScanView", "camera_available", "use_camera"]

_camera: bool | None = None
#: Makes the camera the scanners use (``None``: Kivy's provider for this platform).
_factory = None


def use_camera(factory) -> None:
    """Scan with the cameras ``factory()`` makes (a ``kivy.core.camera.CameraBase``); ``None`` goes back
    to Kivy's provider."""
    global _factory, _camera
    _factory, _camera = factory, None


def camera_available() -> bool:
    """Return True if there is a camera to scan with (cached)."""
    global _camera
    if _camera is None:
        if _factory is not None:
            _camera = True
        elif os.environ.get("SUIYUAN_NO_CAMERA"):
            _camera = False
        else:
            try:
                from kivy.core.camera import Camera as CoreCamera
                _camera = CoreCamera is not None
            except Exception:  # noqa: BLE001 - any provider failure means "no camera"
                _camera = False
    return _camera


def _open_camera():
    if _factory is not None:
        return _factory()
    from kivy.core.camera import Camera as CoreCamera

    return CoreCamera(index=0, resolution=(640, 480), stopped=True)


class CameraScanner(FloatLayout):
    """The viewfinder: the camera's live picture under a square frame to aim with. Every ``interval``
    seconds the latest frame is read (zxing-cpp, in a thread; blurred frames sharpened, any angle) and the
    first code found is dispatched once as ``on_code(text)``, then the camera stops."""

    __events__ = ("on_code",)

    texture = ObjectProperty(None, allownone=True)
    hint = StringProperty("")

    def __init__(self, camera=None, interval: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.camera = camera if camera is not None else _open_camera()
        self.frames_read = 0
        self._busy = self._done = False
        self.camera.bind(on_texture=self._frame)
        self.camera.start()
        self._ev = Clock.schedule_interval(self._scan, interval)

    def _frame(self, *_):
        self.texture = None  # the same texture object again: show its new content
        self.texture = self.camera.texture

    def _scan(self, _dt):
        tex = self.camera.texture
        if self._busy or self._done or tex is None:
            return
        from PIL import Image

        image = Image.frombytes("RGBA", tex.size, tex.pixels)  # read on the UI thread (GL), decoded off it
        self._busy = True
        threading.Thread(target=self._decode, args=(image,), daemon=True, name="scan-frame").start()

    def _decode(self, image):
        from payclient.scan import decode_frame

        try:
            found = decode_frame(image)
        except Exception:  # noqa: BLE001 - a frame that cannot be read is like one with no code
            found = []
        Clock.schedule_once(lambda _dt: self._decoded(found))

    def _decoded(self, found: list[str]) -> None:
        self._busy = False
        self.frames_read += 1
        if found and not self._done:
            self._done = True
            self.stop()
            self.dispatch("on_code", found[0])

    def stop(self):
        self._ev.cancel()
        self.camera.stop()

    def on_code(self, text: str) -> None:
        pass


Builder.load_string("""
#:import C payclient.ui.theme.COLORS
#:import dp kivy.metrics.dp
#:import sp kivy.metrics.sp
#:import tr payclient.ui.i18n.tr

<CameraScanner>:
    canvas.before:
        Color:
            rgba: 0.08, 0.08, 0.09, 1
        Rectangle:
            pos: self.pos
            size: self.size
    Image:
        id: view
        texture: root.texture
        fit_mode: 'cover'
        size_hint: 1, 1
        pos_hint: {'x': 0, 'y': 0}
    Widget:
        id: frame
        size_hint: None, None
        size: [min(root.width, root.height) * .68] * 2
        pos_hint: {'center_x': .5, 'center_y': .54}
        canvas:
            Color:
                rgba: 1, 1, 1, .9
            Line:
                points: [self.x, self.top - dp(30), self.x, self.top, self.x + dp(30), self.top]
                width: dp(2.5)
            Line:
                points: [self.right - dp(30), self.top, self.right, self.top, self.right, self.top - dp(30)]
                width: dp(2.5)
            Line:
                points: [self.x, self.y + dp(30), self.x, self.y, self.x + dp(30), self.y]
                width: dp(2.5)
            Line:
                points: [self.right - dp(30), self.y, self.right, self.y, self.right, self.y + dp(30)]
                width: dp(2.5)
            Color:
                rgba: C.red
            Rectangle:
                pos: self.x + dp(8), self.center_y
                size: self.width - dp(16), dp(2)
    Label:
        text: root.hint or tr('scan.hint', tr.lang)
        color: 1, 1, 1, .95
        font_size: sp(13)
        size_hint: 1, None
        height: dp(28)
        pos_hint: {'x': 0, 'y': .02}
        canvas.before:
            Color:
                rgba: 0, 0, 0, .35
            Rectangle:
                pos: self.pos
                size: self.size

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


Builder.load_string("""
#:import C payclient.ui.theme.COLORS
#:import dp kivy.metrics.dp
#:import sp kivy.metrics.sp
#:import tr payclient.ui.i18n.tr

<ScanView>:
    size_hint: .96, .9
    auto_dismiss: False
    background_color: 0, 0, 0, .6
    BoxLayout:
        id: box
        orientation: 'vertical'
        padding: dp(10)
        spacing: dp(8)
        canvas.before:
            Color:
                rgba: C.card
            RoundedRectangle:
                pos: self.pos
                size: self.size
                radius: [dp(14)]
        Txt:
            text: root.title
            bold: True
            font_size: dp(17)
        BoxLayout:
            id: finder
        BoxLayout:
            size_hint_y: None
            height: dp(48)
            spacing: dp(8)
            RoundButton:
                id: picture_button
                kind: 'secondary'
                text: tr('scan.picture', tr.lang)
                on_release: root.pick_picture()
            RoundButton:
                id: cancel_button
                kind: 'secondary'
                text: tr('cancel', tr.lang)
                on_release: root.dismiss()
""")


class ScanView(ModalView):
    """The camera's viewfinder in a pop-up, with the picture chooser as the way out; calls
    ``on_text(text)`` with the first code seen, or ``on_picture(path)`` with a chosen picture."""

    title = StringProperty("")

    def __init__(self, on_text, on_picture=None, camera=None, **kwargs):
        super().__init__(**kwargs)
        self.on_text, self.on_picture = on_text, on_picture
        self.scanner = CameraScanner(camera=camera)
        self.scanner.bind(on_code=self._found)
        self.ids.finder.add_widget(self.scanner)
        self.ids.picture_button.disabled = on_picture is None
        self.bind(on_dismiss=lambda *_: self.scanner.stop())

    def _found(self, _scanner, text: str) -> None:
        self.dismiss(animation=False)
        self.on_text(text)

    def pick_picture(self, start_dir: str | None = None):
        self.dismiss(animation=False)
        picker = ImagePicker(callback=self.on_picture)
        if start_dir:
            picker.start_dir = start_dir
        picker.open()
        return picker
