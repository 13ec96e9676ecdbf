"""Window screenshots that work offscreen (no X server).

``Window.screenshot()`` reads the front buffer after the flip, which is black
with SDL's offscreen EGL; drawing a frame and reading the back buffer right
away gives the picture the person would see, pop-ups included.
"""

from __future__ import annotations

from pathlib import Path


def capture_window(path: str | Path) -> Path:
    """Draw the window now and save it as a PNG at ``path``; return the path."""
    from kivy.core.window import Window
    from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels
    from PIL import Image

    Window.dispatch("on_draw")
    width, height = Window.size
    data = glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE)
    image = Image.frombytes("RGBA", (width, height), data).transpose(Image.FLIP_TOP_BOTTOM).convert("RGB")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
