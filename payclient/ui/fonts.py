"""The CJK font shipped with the apps (WenQuanYi Micro Hei), registered as Kivy's default font.

Registering it under Kivy's default name makes every Label, Button and
TextInput render Chinese on any machine, with no per-widget ``font_name``.
"""

from __future__ import annotations

from payclient.receipt import CJK_FONT

FONT_DIR = CJK_FONT.parent
CJK_NAME = "SuiyuanCJK"

_registered = False


def register_fonts() -> str:
    """Register the CJK font (as ``SuiyuanCJK`` and as Kivy's default); return its path. Idempotent."""
    global _registered
    if not _registered:
        from kivy.core.text import DEFAULT_FONT, LabelBase

        path = str(CJK_FONT)
        LabelBase.register(CJK_NAME, path)
        LabelBase.register(DEFAULT_FONT, path)
        _registered = True
    return str(CJK_FONT)
