"""The consumer app's pay-slip screen (layout in ``payouts.kv``): 工资/补贴到账."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty

from consumer_app.screens import CScreen, _make


class CPayslipsScreen(CScreen):
    no_slips = BooleanProperty(False)
    notice = StringProperty("")

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_slips(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.slips
        box.clear_widgets()
        for vm in items:
            box.add_widget(_make(Factory.CPayslipCard, line_id=vm.line_id, category=vm.category,
                                 organisation=vm.organisation, title=vm.title, amount=vm.amount, memo=vm.memo,
                                 when=vm.when, status=vm.status, paid=vm.paid, split=vm.split, notice=vm.notice))
        self.no_slips = not items

    def show_notice(self, text: str) -> None:
        self.notice = text
