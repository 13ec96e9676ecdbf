"""The frame both apps share: a ScreenManager with a history, a busy veil and transient messages."""

from __future__ import annotations

import os

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, ScreenManager, SlideTransition

from payclient.ui.theme import toast

__all__ = ["AlertView", "Shell"]

Builder.load_string("""
#:import C payclient.ui.theme.COLORS
#:import dp kivy.metrics.dp
#:import sp kivy.metrics.sp
#:import tr payclient.ui.i18n.tr

<BusyVeil@Widget>:

<AlertView>:
    size_hint: .9, None
    height: box.height
    background: ''
    background_color: 0, 0, 0, 0
    overlay_color: 0, 0, 0, .45
    BoxLayout:
        id: box
        orientation: 'vertical'
        size_hint_y: None
        height: self.minimum_height
        padding: dp(12)
        spacing: dp(12)
        canvas.before:
            Color:
                rgba: C.white
            RoundedRectangle:
                pos: self.pos
                size: self.size
                radius: [dp(14)]
        Banner:
            kind: root.kind
            title: root.title
            text: root.text
        RoundButton:
            id: ok_button
            text: tr('ok', tr.lang)
            size_hint_y: None
            height: dp(44)
            on_release: root.dismiss()

<Shell>:
    ScreenManager:
        id: sm
    FloatLayout:
        id: veil
        opacity: 1 if root.busy else 0
        canvas:
            Color:
                rgba: (1, 1, 1, .55) if root.busy else (0, 0, 0, 0)
            Rectangle:
                pos: self.pos
                size: self.size
        Label:
            size_hint: None, None
            size: dp(140), dp(52)
            pos_hint: {'center_x': .5, 'center_y': .5}
            text: tr('loading', tr.lang)
            color: C.white
            font_size: sp(15)
            canvas.before:
                Color:
                    rgba: (0, 0, 0, .72) if root.busy else (0, 0, 0, 0)
                RoundedRectangle:
                    pos: self.pos
                    size: self.size
                    radius: [dp(10)]
""")


class AlertView(ModalView):
    """A message that stays until the person taps OK (a warning about their account, say)."""

    title = StringProperty("")
    text = StringProperty("")
    kind = StringProperty("warning")


class Shell(FloatLayout):
    """Navigation (``go``/``back``), the busy veil that blocks touches while work is in flight,
    and ``message``/``error`` toasts. Subclasses add their screens in ``build_screens``."""

    busy = BooleanProperty(False)
    services = ObjectProperty(None)
    home_screen = StringProperty("home")

    def __init__(self, services, **kwargs):
        super().__init__(services=services, **kwargs)
        self.sm: ScreenManager = self.ids.sm
        animate = not os.environ.get("SUIYUAN_NO_ANIMATION")
        self.sm.transition = SlideTransition(duration=0.18) if animate else NoTransition()
        self.history: list[str] = []
        self.build_screens()
        Window.bind(on_keyboard=self._on_keyboard)

    def on_touch_down(self, touch):
        if self.busy:
            return True  # the veil swallows touches while work is in flight
        return self.sm.dispatch("on_touch_down", touch)

    def build_screens(self) -> None:
        raise NotImplementedError

    def add_screen(self, screen, presenter_cls=None):
        """Add ``screen`` (wired to this shell, with a ``presenter_cls(services, screen)`` if given); return it."""
        screen.shell = self
        if presenter_cls is not None:
            screen.presenter = presenter_cls(self.services, screen)
        self.sm.add_widget(screen)
        return screen

    def start(self) -> None:
        """Show the first screen, which the log-in presenter picks from the stored session."""
        self.sm.current = self.screen("login").presenter.restore()

    def screen(self, name: str):
        return self.sm.get_screen(name)

    def go(self, name: str, *, remember: bool = True) -> None:
        """Show screen ``name``; ``back()`` returns to the current one unless ``remember`` is False."""
        current = self.sm.current
        if name == current:
            return
        if name in (self.home_screen, "login", "collect"):
            self.history.clear()
        elif remember and current:
            self.history.append(current)
        if isinstance(self.sm.transition, SlideTransition):
            self.sm.transition.direction = "left"
        self.sm.current = name

    def back(self) -> bool:
        """Go to the previous screen; return False if there is none (the app may close)."""
        if not self.history:
            return False
        if isinstance(self.sm.transition, SlideTransition):
            self.sm.transition.direction = "right"
        self.sm.current = self.history.pop()
        return True

    def _on_keyboard(self, _window, key, *_args):
        if key == 27:  # Esc on desktop, the back button on Android
            return self.back()
        return False

    def set_busy(self, busy: bool) -> None:
        self.busy = busy

    def error(self, text: str) -> None:
        toast(text, 3.5)

    def message(self, text: str) -> None:
        toast(text, 2.5)

    def alert(self, title: str, text: str, kind: str = "warning") -> AlertView:
        """Show ``title`` and ``text`` over the screen until dismissed; return the view."""
        view = AlertView(title=title, text=text, kind=kind)
        view.open(animation=not os.environ.get("SUIYUAN_NO_ANIMATION"))
        return view

    def later(self, fn, delay: float = 0) -> None:
        Clock.schedule_once(lambda _dt: fn(), delay)
