"""The merchant app's prepaid release screen (layout in ``prepaid.kv``)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty

from merchant_app.screens import MScreen
from payclient.ui.theme import COLORS, ListRow


class MPrepaidScreen(MScreen):
    result = StringProperty("")
    today = StringProperty("")
    empty = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.result = ""
        self.presenter.load()

    def release(self) -> None:
        self.presenter.release(self.ids.code.text, self.ids.units.text)

    def scan(self, start_dir: str | None = None):
        from payclient.ui.scanner import ImagePicker

        picker = ImagePicker(callback=lambda path: self.presenter.scan_image(path, self.ids.units.text))
        if start_dir:
            picker.start_dir = start_dir
        picker.open()
        return picker

    def show_code(self, code: str) -> None:
        self.ids.code.text = code

    def show_result(self, text: str) -> None:
        self.result = text
        self.ids.code.text = ""
        self.ids.units.text = "1"

    def show_today(self, total: str, rows) -> None:
        self.today = total
        box = self.ids.rows
        box.clear_widgets()
        for vm in rows:
            box.add_widget(ListRow(title=vm.title, subtitle=vm.units, value=vm.amount, value_color=COLORS.green))
        self.empty = not rows


class MSellScreen(MScreen):
    kind = StringProperty("sessions")
    result = StringProperty("")

    def on_pre_enter(self, *_):
        self.result = ""

    def show_kind(self, kind: str) -> None:
        self.kind = kind

    def publish(self) -> None:
        self.presenter.publish(self.ids.name.text, self.ids.first.text, self.ids.second.text, self.ids.fee.text)

    def show_published(self, text: str) -> None:
        self.result = text
        for name in ("name", "first", "second"):
            self.ids[name].text = ""
