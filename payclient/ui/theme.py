"""The apps' look: e-CNY red accents, clean white cards, big amounts.

:func:`load_theme` registers the CJK font and loads ``theme.kv`` (once); the
widget classes here are styled there and used by both apps' ``.kv`` files.
"""

from __future__ import annotations

from pathlib import Path

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget
from kivy.utils import get_color_from_hex as hex_color

from payclient.ui.fonts import register_fonts

__all__ = ["COLORS", "Badge", "Banner", "Card", "CheckBadge", "Field", "ListRow", "PhoneFrame", "RoundButton",
           "SyScreen", "TabButton", "Tile", "TopBar", "Txt", "load_theme", "toast"]


class _Colors(EventDispatcher):
    red = ColorProperty(hex_color("#C8102E"))
    red_dark = ColorProperty(hex_color("#A00C24"))
    red_soft = ColorProperty(hex_color("#FCEBEE"))
    bg = ColorProperty(hex_color("#F4F5F7"))
    card = ColorProperty(hex_color("#FFFFFF"))
    text = ColorProperty(hex_color("#1D1D1F"))
    muted = ColorProperty(hex_color("#6E6E73"))
    line = ColorProperty(hex_color("#E5E5EA"))
    green = ColorProperty(hex_color("#13A05A"))
    green_soft = ColorProperty(hex_color("#E7F6EE"))
    amber = ColorProperty(hex_color("#B26A00"))
    amber_soft = ColorProperty(hex_color("#FFF4DE"))
    blue = ColorProperty(hex_color("#1F6FEB"))
    blue_soft = ColorProperty(hex_color("#E8F0FE"))
    gold = ColorProperty(hex_color("#D9A441"))
    white = ColorProperty([1, 1, 1, 1])
    disabled = ColorProperty(hex_color("#C7C7CC"))


COLORS = _Colors()


class SyScreen(Screen):
    """A screen with the app background; subclasses implement their presenter's view methods."""

    busy = BooleanProperty(False)


class Txt(Label):
    """Text that wraps to its width and grows in height."""


class Card(BoxLayout):
    """A white rounded panel that is as tall as its content."""

    bg = ColorProperty(None, allownone=True)
    radius = NumericProperty(dp(14))


class RoundButton(ButtonBehavior, Label):
    """A rounded button. ``kind``: primary (red), secondary (white, red text), ghost (text only),
    success (green), danger (outlined red), dark (on red backgrounds)."""

    kind = OptionProperty("primary", options=["primary", "secondary", "ghost", "success", "danger", "dark"])
    radius = NumericProperty(dp(12))


class Tile(ButtonBehavior, BoxLayout):
    """A home-screen action: a round badge with one character (the icon) and a caption."""

    icon = StringProperty("")
    caption = StringProperty("")
    tint = ColorProperty(hex_color("#C8102E"))


class TopBar(BoxLayout):
    """The red bar at the top of a screen: back, title, an optional action on the right."""

    title = StringProperty("")
    back = BooleanProperty(True)
    action_text = StringProperty("")
    __events__ = ("on_back", "on_action")

    def on_back(self, *_):
        pass

    def on_action(self, *_):
        pass


class Field(TextInput):
    """A single-line input on a white rounded box."""

    label = StringProperty("")


class Badge(Label):
    """A small pill of text on a coloured background."""

    bg = ColorProperty(hex_color("#E7F6EE"))


class Banner(BoxLayout):
    """A coloured message across the screen: ``danger`` (do not pay), ``warning``, ``success``, ``info``."""

    kind = OptionProperty("info", options=["info", "warning", "danger", "success"])
    text = StringProperty("")
    title = StringProperty("")


class ListRow(ButtonBehavior, BoxLayout):
    """A row of a list: title and subtitle on the left, a value (amount) on the right."""

    title = StringProperty("")
    subtitle = StringProperty("")
    value = StringProperty("")
    value_color = ColorProperty(hex_color("#1D1D1F"))
    value_markup = BooleanProperty(False)  # the value carries Kivy markup (e.g. [s] for money not received)
    item = ObjectProperty(None, allownone=True)


class CheckBadge(Widget):
    """A round badge with a drawn tick (fonts differ in how they draw ✓)."""

    tint = ColorProperty(hex_color("#13A05A"))


class TabButton(ButtonBehavior, BoxLayout):
    icon = StringProperty("")
    caption = StringProperty("")
    active = BooleanProperty(False)
    target = StringProperty("")


class PhoneFrame(AnchorLayout):
    """Keeps the app phone-shaped on a wide desktop window: content at most ``max_width`` wide, centred."""

    max_width = NumericProperty(dp(480))

    def add_widget(self, widget, *args, **kwargs):
        super().add_widget(widget, *args, **kwargs)
        widget.size_hint = (None, 1)
        self._fit()

    def on_size(self, *_):
        self._fit()

    def on_max_width(self, *_):
        self._fit()

    def _fit(self):
        for child in self.children:
            child.width = min(self.width, self.max_width)


class ToastLabel(Label):
    pass


def toast(text: str, seconds: float = 2.5) -> None:
    """Show ``text`` near the bottom of the window for a moment."""
    from kivy.core.window import Window

    label = ToastLabel(text=text)
    Window.add_widget(label)
    label.opacity = 0
    Animation(opacity=1, d=0.15).start(label)
    Clock.schedule_once(lambda _dt: Window.remove_widget(label), seconds)


THEME_KV = Path(__file__).with_name("theme.kv")
_loaded = False


def load_theme() -> None:
    """Register the CJK font and load the shared styles (idempotent)."""
    global _loaded
    if _loaded:
        return
    register_fonts()
    from payclient.ui import barcode, keypad, qr  # noqa: F401 - register widget classes for kv

    Builder.load_file(str(THEME_KV))
    _loaded = True

