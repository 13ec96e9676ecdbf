"""The consumer app's prepaid screens (layout in ``prepaid.kv``): my cards and plans, one card."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty

from consumer_app.screens import CScreen, _make
from payclient.ui.theme import COLORS


class CPrepaidScreen(CScreen):
    no_cards = BooleanProperty(False)
    no_plans = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_zones(self, zones, selected) -> None:
        from kivy.metrics import dp

        from payclient.ui.theme import RoundButton

        box = self.ids.zones
        box.clear_widgets()
        for zone_id, name in zones:
            b = RoundButton(text=name, kind="primary" if zone_id == selected else "secondary", font_size=dp(13),
                            height=dp(36), size_hint=(None, None), radius=dp(18))
            b.texture_update()
            b.width = b.texture_size[0] + dp(28)
            b.zone_id = zone_id
            b.bind(on_release=lambda btn: self.presenter.select_zone(btn.zone_id))
            box.add_widget(b)

    def show_cards(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.cards
        box.clear_widgets()
        for vm in items:
            row = _make(Factory.CPrepaidCardRow, contract_id=vm.contract_id, title=f"{vm.title} · {vm.merchant}",
                        subtitle=f"{vm.kind_label} · {vm.status} · {vm.escrow}", value=vm.left,
                        value_color=COLORS.red if vm.active else COLORS.muted)
            row.bind(on_release=lambda r: self.presenter.open(r.contract_id))
            box.add_widget(row)
        self.no_cards = not items

    def show_plans(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.plans
        box.clear_widgets()
        for vm in items:
            card = _make(Factory.CPrepaidPlanCard, plan_id=vm.plan_id, title=vm.title, merchant=vm.merchant,
                         kind_label=vm.kind_label, detail=vm.detail, grade=vm.grade, buy=vm.buy)
            card.ids.buy.bind(on_release=lambda _b, pid=vm.plan_id: self.presenter.buy(pid))
            box.add_widget(card)
        self.no_plans = not items

    def show_message(self, text: str) -> None:
        self.shell.message(text)


class CPrepaidCardScreen(CScreen):
    title = StringProperty("")
    merchant = StringProperty("")
    left = StringProperty("")
    escrow = StringProperty("")
    status = StringProperty("")
    code = StringProperty("")
    terms_hash = StringProperty("")
    refund_note = StringProperty("")
    can_refund = BooleanProperty(False)
    no_history = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_card(self, vm) -> None:
        from kivy.factory import Factory

        self.title, self.merchant, self.left, self.escrow, self.status = (
            vm.title, vm.merchant, vm.left, vm.escrow, vm.status)
        self.code, self.terms_hash, self.refund_note, self.can_refund = (
            vm.code, vm.terms_sha256, vm.refund_note, vm.can_refund)
        box = self.ids.terms
        box.clear_widgets()
        for label, value in vm.terms:
            box.add_widget(_make(Factory.CPrepaidTermRow, label=label, value=value))
        rows = self.ids.history
        rows.clear_widgets()
        for what, amount in vm.history:
            rows.add_widget(_make(Factory.CPrepaidTermRow, label=what, value=amount))
        self.no_history = not vm.history

    def show_message(self, text: str) -> None:
        self.shell.message(text)
