"""The merchant app's screens: thin views over the presenters (layout in ``merchant.kv``)."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, OptionProperty, StringProperty

from merchant_app import presenters as p
from payclient import fmt
from payclient.ui.i18n import tr
from payclient.ui.screen import AppScreen
from payclient.ui.theme import ListRow
from suiyuan_protocol.money import format_fen


class MScreen(AppScreen):
    """The merchant app's screens (``merchant.kv`` lays them out); ``state`` holds the shop and role."""

    @property
    def state(self) -> dict:
        return self.shell.services.state


class MLoginScreen(MScreen):
    def login(self) -> None:
        self.presenter.login(self.ids.phone.text, self.ids.password.text)


class MCollectScreen(MScreen):
    shop = StringProperty("")
    role = StringProperty("")
    amount = StringProperty("¥0")
    ready = BooleanProperty(False)

    def on_pre_enter(self, *_):
        m = self.state.get("merchant")
        self.shop = tr.catalog.pick(m.name_zh, m.name_en) if m else ""
        self.role = tr(f"m.role.{self.state.get('role')}")
        self.role_key = self.state.get("role") or "" if self.state.get("role") else ""
        self.presenter.new()

    def show_amount(self, text: str, ready: bool) -> None:
        self.amount, self.ready = text, ready

    def create(self) -> None:
        self.presenter.create(self.ids.note.text)

    # CollectPresenter's view, for the QR screen
    def show_order(self, vm) -> None:
        self.ids.note.text = ""
        qr = self.shell.screen("collect_qr")
        qr.show_order(vm)
        self.shell.go("collect_qr")

    def _qr(self):
        return self.shell.screen("collect_qr")

    def show_countdown(self, text: str) -> None:
        self._qr().show_countdown(text)

    def show_paid(self, amount: str, when: str) -> None:
        self._qr().show_paid(amount, when)

    def show_split(self, text: str) -> None:
        qr = self._qr()
        if qr.state == "paid":
            qr.status_text = tr("m.qr.paid_at", time=qr.paid_time) + "\n" + text

    def show_expired(self) -> None:
        self._qr().show_state("expired")

    def show_cancelled(self) -> None:
        self._qr().show_state("cancelled")


class MCollectQrScreen(MScreen):
    payload = StringProperty("")
    amount = StringProperty("")
    merchant = StringProperty("")
    state = OptionProperty("waiting", options=["waiting", "paid", "expired", "cancelled"])
    status_title = StringProperty("")
    status_text = StringProperty("")
    paid_time = StringProperty("")
    collect = ObjectProperty(None)  # the CollectPresenter
    printing = ObjectProperty(None)  # the PrintPresenter

    def print_receipt(self) -> None:
        if self.collect.order is not None:
            self.printing.print_order(self.collect.order.id)

    def show_printed(self, text: str) -> None:
        self.shell.message(text)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._tick = None

    def show_order(self, vm) -> None:
        self.payload, self.amount, self.merchant = vm.payload, vm.amount, vm.merchant
        self.state, self.status_title = "waiting", ""
        self.status_text = tr("m.qr.scan_to_pay")

    def on_enter(self, *_):
        self._tick = Clock.schedule_interval(lambda _dt: self.collect.tick(), 1)

    def on_leave(self, *_):
        if self._tick:
            self._tick.cancel()
        self.collect.stop_watching()

    def show_countdown(self, text: str) -> None:
        if self.state == "waiting":
            self.status_text = tr("m.qr.scan_to_pay") + "\n" + tr("m.qr.expires", left=text)

    def show_paid(self, amount: str, when: str) -> None:
        self.state = "paid"
        self.paid_time = when
        self.status_title = tr("m.qr.paid") + " " + amount
        self.status_text = tr("m.qr.paid_at", time=when)

    def show_state(self, state: str) -> None:
        self.state = state
        self.status_title = tr(f"m.qr.{state}")
        self.status_text = ""

    def primary_action(self) -> None:
        if self.state == "waiting":
            self.collect.cancel()
        else:
            self.collect.new()
            self.shell.go("collect")

    def cancel(self) -> None:
        if self.state == "waiting":
            self.collect.cancel()
        self.shell.go("collect")


class MChargeScreen(MScreen):
    amount = StringProperty("¥0")
    ready = BooleanProperty(False)
    has_camera = BooleanProperty(False)

    def on_pre_enter(self, *_):
        from payclient.ui.scanner import camera_available

        self.has_camera = camera_available()
        self.ids.code.text = ""
        self.show_amount(self.presenter.entry.display, self.presenter.entry.fen > 0)

    def show_amount(self, text: str, ready: bool) -> None:
        self.amount, self.ready = text, ready

    def show_code(self, code: str) -> None:
        self.ids.code.text = code

    def charge(self) -> None:
        self.presenter.charge(self.ids.code.text)

    def scan(self, start_dir: str | None = None):
        if self.has_camera:
            return self._camera()
        from payclient.ui.scanner import ImagePicker

        picker = ImagePicker(callback=self.presenter.scan_image)
        if start_dir:
            picker.start_dir = start_dir
        picker.open()
        return picker

    def _camera(self):
        from payclient.ui.scanner import ScanView

        view = ScanView(on_text=self.presenter.charge, on_picture=self.presenter.scan_image,
                        title=tr("m.charge.scan_title"))
        view.open(animation=False)
        return view

    def show_charged(self, vm) -> None:
        self.shell.screen("charged").show(vm)
        self.shell.go("charged", remember=False)
        self.show_amount("¥0", False)


class MChargedScreen(MScreen):
    amount = StringProperty("")
    reference = StringProperty("")
    time = StringProperty("")
    subsidy = StringProperty("")
    order_id = NumericProperty(0)
    printing = ObjectProperty(None)  # the PrintPresenter

    def print_receipt(self) -> None:
        self.printing.print_order(self.order_id)

    def show_printed(self, text: str) -> None:
        self.shell.message(text)

    def show(self, vm) -> None:
        from kivy.factory import Factory

        self.amount, self.reference, self.time, self.subsidy = vm.amount, vm.reference, vm.time, vm.subsidy
        self.order_id = vm.order_id
        box = self.ids.split_rows
        box.clear_widgets()
        for label, value in vm.rows:
            row = Factory.MRow()
            row.label, row.value = label, value
            box.add_widget(row)


class MTodayScreen(MScreen):
    net = StringProperty("¥0.00")
    paid = StringProperty("")
    refunded = StringProperty("")
    count = StringProperty("")
    empty = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_totals(self, vm: p.TotalsVM) -> None:
        self.net, self.paid, self.refunded, self.count = vm.net, vm.paid, vm.refunded, vm.count

    def show_orders(self, rows) -> None:
        box = self.ids.rows
        box.clear_widgets()
        from payclient.ui.theme import COLORS

        for vm in rows:
            color = COLORS.green if vm.income else COLORS.muted  # only money received looks like income
            row = ListRow(title=vm.title, subtitle=vm.subtitle, value=vm.amount, value_color=color, item=vm.order,
                          value_markup=True)
            row.bind(on_release=lambda r: self.open_order(r.item))
            box.add_widget(row)
        self.empty = not rows

    def open_order(self, order) -> None:
        self.shell.screen("order").presenter.open(order)
        self.shell.go("order")


class MOrderScreen(MScreen):
    amount = StringProperty("")
    title = StringProperty("")
    status = StringProperty("")
    time = StringProperty("")
    reference = StringProperty("")
    refundable = StringProperty("")
    can_refund = BooleanProperty(False)
    cashier = BooleanProperty(False)
    done_text = StringProperty("")
    confirm_dialog = ObjectProperty(None, allownone=True)
    printable = BooleanProperty(False)  # paid once: its receipt can be printed again
    printing = ObjectProperty(None)  # the PrintPresenter

    def reprint(self) -> None:
        if self.presenter.order is not None:
            self.printing.print_order(self.presenter.order.id, reprint=True)

    def show_printed(self, text: str) -> None:
        self.shell.message(text)

    def on_pre_enter(self, *_):
        self.done_text = ""
        self.cashier = self.state.get("role") == "cashier"
        self.ids.refund_amount.text = ""
        self.ids.reason.text = ""

    def show_order(self, vm, can_refund: bool) -> None:
        o = vm.order
        self.amount, self.title = format_fen(o.amount_fen), vm.title  # the order's price, not the list's markup
        self.status = tr(f"status.{o.status}")
        self.time = fmt.day_time(o.paid_at or o.created_at)
        self.reference = o.reference
        self.refundable = format_fen(o.refundable_fen)
        self.can_refund = can_refund
        self.printable = o.paid_at is not None

    def refund(self) -> None:
        self.presenter.ask(self.ids.refund_amount.text, self.ids.reason.text)

    def show_confirm(self, vm) -> None:
        """The confirmation before any refund: exact amount, the order, the owner's password if needed."""
        from kivy.factory import Factory

        self.hide_confirm()
        dialog = self.confirm_dialog = Factory.MRefundConfirm()
        dialog.amount, dialog.order_line, dialog.paid_line = vm.amount, vm.order_line, vm.paid_line
        dialog.button, dialog.needs_password = vm.button, vm.needs_password
        dialog.ids.cancel_button.bind(on_release=lambda *_: self.presenter.cancel())
        dialog.ids.confirm_button.bind(on_release=lambda *_: self.presenter.confirm(dialog.ids.password.text))
        dialog.open(animation=False)

    def hide_confirm(self) -> None:
        dialog, self.confirm_dialog = self.confirm_dialog, None
        if dialog is not None:
            dialog.dismiss(animation=False)

    def on_leave(self, *_):
        self.presenter.cancel()

    def show_refunded(self, text: str) -> None:
        self.done_text = text
        self.ids.refund_amount.text = ""


class MMoreScreen(MScreen):
    policy = ObjectProperty(None)  # the RefundPolicyPresenter
    policy_text = StringProperty("")
    can_edit_policy = BooleanProperty(False)
    policy_dialog = ObjectProperty(None, allownone=True)
    role_key = StringProperty("")
    shop_zh = StringProperty("")
    shop_en = StringProperty("")
    number = StringProperty("")
    bank = StringProperty("")
    role = StringProperty("")
    address = StringProperty("")

    def on_pre_enter(self, *_):
        m = self.state.get("merchant")
        if m is None:
            return
        self.shop_zh, self.shop_en, self.number = m.name_zh, m.name_en, m.merchant_number
        self.bank, self.address = m.bank_code, m.address
        from merchant_app.office import bank_name

        bank_name(self.shell.services, m.bank_code, lambda name: setattr(self, "bank", name))
        self.role = tr(f"m.role.{self.state.get('role')}")
        self.role_key = self.state.get("role") or ""
        if self.policy is not None:
            self.policy.load()

    def show_policy(self, text: str, can_edit: bool) -> None:
        self.policy_text, self.can_edit_policy = text, can_edit

    def edit_policy(self):
        """The owner sets the refund limit: amount (empty: off) and their password."""
        from kivy.factory import Factory

        if not self.can_edit_policy:
            return None
        dialog = self.policy_dialog = Factory.MPolicyDialog()
        limit = getattr(self.state.get("merchant"), "refund_approval_above_fen", None)
        dialog.ids.amount.text = "" if limit is None else f"{limit / 100:.2f}"
        dialog.ids.cancel_button.bind(on_release=lambda *_: self.close_policy())
        dialog.ids.save_button.bind(
            on_release=lambda *_: self.policy.save(dialog.ids.amount.text, dialog.ids.password.text))
        dialog.open(animation=False)
        return dialog

    def close_policy(self) -> None:
        dialog, self.policy_dialog = self.policy_dialog, None
        if dialog is not None:
            dialog.dismiss(animation=False)

    def policy_saved(self, text: str) -> None:
        self.close_policy()
        self.shell.message(text)

    def toggle_lang(self) -> None:
        super().toggle_lang()
        self.on_pre_enter()

    def logout(self) -> None:
        self.presenter.logout()


class MPosterScreen(MScreen):
    files = ObjectProperty(None)  # the PosterFilesPresenter: the poster saved as PNG or PDF
    saved_text = StringProperty("")
    folder = StringProperty("")
    payload = StringProperty("")
    name_zh = StringProperty("")
    name_en = StringProperty("")
    number = StringProperty("")
    cap = StringProperty("")

    def on_pre_enter(self, *_):
        from merchant_app.office import exports_dir, shown

        self.saved_text = ""
        self.folder = shown(exports_dir(self.shell.services))
        self.presenter.load()

    def save(self, kind: str) -> None:
        self.files.save(kind, self.ids.folder.text)

    def show_saved(self, text: str) -> None:
        self.saved_text = text

    def show_poster(self, payload, name_zh, name_en, number, cap) -> None:
        self.payload, self.name_zh, self.name_en, self.number, self.cap = payload, name_zh, name_en, number, cap


class MCampaignsScreen(MScreen):
    zone = StringProperty("")
    empty = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_zone(self, text: str) -> None:
        self.zone = text

    def show_campaigns(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.cards
        box.clear_widgets()
        for vm in items:
            card = Factory.MCampaignCard()
            card.title, card.kind_label, card.detail, card.status, card.when = (
                vm.title, vm.kind_label, vm.detail, vm.status, vm.when)
            box.add_widget(card)
        self.empty = not items


class MCounterScreen(MScreen):
    """Counter settings: announcements on/off and volume, the receipt printer (``counter.kv``)."""

    speech_on = BooleanProperty(True)
    volume = NumericProperty(80)
    engine = StringProperty("")
    printer = StringProperty("")

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_counter(self, vm) -> None:
        self.speech_on, self.volume, self.engine, self.printer = vm.speech_on, vm.volume, vm.engine, vm.printer
        self.ids.printer.text = vm.printer

    def show_printed(self, text: str) -> None:
        self.shell.message(text)
