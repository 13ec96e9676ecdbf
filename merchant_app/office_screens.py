"""The owner's back-office screens (layout in ``office.kv``): cashiers, past days with the statement."""

from __future__ import annotations

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from merchant_app.screens import MScreen, MTodayScreen
from payclient.ui.theme import COLORS, ListRow

__all__ = ["MCashiersScreen", "MDayScreen"]


class MCashiersScreen(MScreen):
    empty = BooleanProperty(False)
    added_text = StringProperty("")
    dialog = ObjectProperty(None, allownone=True)  # the open refund-limit dialog

    def on_pre_enter(self, *_):
        self.added_text = ""
        self.presenter.load()

    def show_cashiers(self, items) -> None:
        box = self.ids.rows
        box.clear_widgets()
        from payclient.ui.i18n import tr

        for vm in items:
            row = ListRow(title=vm.name, subtitle=vm.line, value=tr("m.cash.edit"), value_color=COLORS.red, item=vm)
            row.bind(on_release=lambda r: self.edit(r.item))
            box.add_widget(row)
        self.empty = not items

    def edit(self, vm):
        """The owner changes one cashier's refund limit."""
        from kivy.factory import Factory

        from payclient.ui.i18n import tr

        dialog = self.dialog = Factory.MLimitDialog()
        dialog.title = tr("m.cash.edit_title", name=vm.name)
        dialog.ids.amount.text = vm.limit_yuan
        dialog.ids.cancel_button.bind(on_release=lambda *_: self.close_dialog())
        dialog.ids.save_button.bind(on_release=lambda *_: (self.presenter.change_limit(vm.user_id,
                                                                                        dialog.ids.amount.text),
                                                           self.close_dialog()))
        dialog.open(animation=False)
        return dialog

    def close_dialog(self) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.dismiss(animation=False)

    def submit(self) -> None:
        ids = self.ids
        self.presenter.add(ids.name.text, ids.phone.text, ids.password.text, ids.limit.text)

    def show_added(self, text: str) -> None:
        self.added_text = text
        for name in ("name", "phone", "password", "limit"):
            self.ids[name].text = ""


class MDayScreen(MScreen):
    """A past day: the today screen's totals and rows, the date, and the statement saved as a file."""

    net = StringProperty("¥0.00")
    paid = StringProperty("")
    refunded = StringProperty("")
    count = StringProperty("")
    empty = BooleanProperty(False)
    day = StringProperty("")
    can_go_next = BooleanProperty(False)
    saved_text = StringProperty("")
    folder = StringProperty("")
    is_owner = BooleanProperty(False)  # the statement is the owner's

    show_totals = MTodayScreen.show_totals
    show_orders = MTodayScreen.show_orders
    open_order = MTodayScreen.open_order

    def on_pre_enter(self, *_):
        from merchant_app.office import exports_dir, shown

        self.saved_text = ""
        self.is_owner = self.state.get("role") == "merchant_owner"
        self.folder = shown(exports_dir(self.shell.services))
        self.presenter.open(self.presenter.day)

    def show_day(self, text: str, can_go_next: bool) -> None:
        self.day, self.can_go_next = text, can_go_next
        self.saved_text = ""

    def show_saved(self, text: str) -> None:
        self.saved_text = text
