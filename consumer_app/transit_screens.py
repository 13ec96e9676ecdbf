"""The consumer app's hard-wallet screens (layout in ``transit.kv``): my hard wallets, one hard wallet."""

from __future__ import annotations

from kivy.properties import BooleanProperty, ListProperty, StringProperty

from consumer_app.screens import CScreen, _make
from payclient.ui.theme import COLORS


class CHardWalletsScreen(CScreen):
    no_cards = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_cards(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.cards
        box.clear_widgets()
        for vm in items:
            row = _make(Factory.CHardWalletRow, card_id=vm.card_id, title=vm.title, subtitle=vm.subtitle,
                        value=vm.balance, value_color=COLORS.red if vm.active else COLORS.muted)
            row.bind(on_release=lambda r: self.presenter.open(r.card_id))
            box.add_widget(row)
        self.no_cards = not items

    def show_message(self, text: str) -> None:
        self.ids.ytc.text = ""
        self.shell.message(text)


class CHardWalletScreen(CScreen):
    title = StringProperty("")
    status = StringProperty("")
    active = BooleanProperty(True)
    near = BooleanProperty(False)
    balance = StringProperty("")
    balance_label = StringProperty("")
    lines = ListProperty([])
    notice = StringProperty("")
    notice_kind = StringProperty("info")
    no_days = BooleanProperty(False)
    confirm_lost = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.confirm_lost = False
        self.presenter.load()

    def show_card(self, vm) -> None:
        self.title, self.status, self.active, self.near = vm.title, vm.status, vm.active, vm.near
        self.balance, self.balance_label, self.lines = vm.balance, vm.balance_label, vm.lines
        self.notice, self.notice_kind = vm.notice, vm.notice_kind

    def show_days(self, days) -> None:
        from kivy.factory import Factory

        box = self.ids.days
        box.clear_widgets()
        for d in days:
            card = _make(Factory.CJourneyDay, day=d.day, summary=d.summary, capped=d.capped)
            for trip, when, fare in d.journeys:
                card.ids.rows.add_widget(_make(Factory.CJourneyRow, trip=trip, when=when, fare=fare))
            box.add_widget(card)
        self.no_days = not days

    def load_value(self) -> None:
        self.presenter.load_value(self.ids.amount.text)

    def unload_value(self) -> None:
        self.presenter.unload_value(self.ids.amount.text)

    def lost(self) -> None:
        if not self.confirm_lost:  # one more tap: a lost card stays lost
            self.confirm_lost = True
            return
        self.confirm_lost = False
        self.presenter.report_lost()

    def show_message(self, text: str) -> None:
        self.ids.amount.text = ""
        self.shell.message(text)
