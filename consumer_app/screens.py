"""The consumer app's screens: thin views over the presenters (layout in ``consumer.kv``)."""

from __future__ import annotations

import time
from pathlib import Path

from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from consumer_app import presenters as p
from payclient import fmt
from payclient.ui.i18n import tr
from payclient.ui.screen import AppScreen
from payclient.ui.theme import COLORS, Banner, ListRow, RoundButton
from suiyuan_protocol.money import format_fen


def _make(cls, **values):
    """Instantiate a kv dynamic class (its properties exist only once its rule ran) and set ``values``."""
    widget = cls()
    for name, value in values.items():
        setattr(widget, name, value)
    return widget


def _fill_rows(box, rows) -> None:
    """Put one ``LimitRow`` per (label, value) in ``box``."""
    from kivy.factory import Factory

    box.clear_widgets()
    for label, value in rows:
        box.add_widget(_make(Factory.LimitRow, label=label, value=value))


class CScreen(AppScreen):
    """The consumer app's screens (``consumer.kv`` lays them out)."""

    def ask_password(self, text: str, on_password) -> None:
        """Ask the payment password over this screen (``security_screens.PayPasswordPad``)."""
        from consumer_app.security_screens import ask_password

        ask_password(text, on_password)


class CLoginScreen(CScreen):
    def login(self) -> None:
        self.presenter.login(self.ids.phone.text, self.ids.password.text)


class CRegisterScreen(CScreen):
    def submit(self) -> None:
        self.presenter.register(self.ids.phone.text, self.ids.password.text, self.ids.name.text)


class COpenWalletScreen(CScreen):
    selected = StringProperty("")

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_banks(self, banks) -> None:
        grid = self.ids.banks
        grid.clear_widgets()
        for code, name in banks:
            b = RoundButton(text=name, kind="secondary", font_size=dp(14), height=dp(44))
            b.code = code
            b.bind(on_release=lambda btn: self.choose(btn.code))
            grid.add_widget(b)
        if banks and not self.selected:
            self.choose(banks[0][0])
        else:
            self.choose(self.selected)

    def choose(self, code: str) -> None:
        self.selected = code
        for b in self.ids.banks.children:
            b.kind = "primary" if getattr(b, "code", None) == code else "secondary"

    def submit(self) -> None:
        self.presenter.open(self.selected, self.ids.card.text, self.ids.pw.text, self.ids.pw2.text)


class CHomeScreen(CScreen):
    balance = StringProperty("¥—")
    class_label = StringProperty("")
    bank = StringProperty("")
    wallet_number = StringProperty("")
    owner = StringProperty("")
    today_left = StringProperty("")
    can_upgrade = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_wallet(self, vm: p.WalletVM) -> None:
        self.balance, self.class_label, self.bank = vm.balance, vm.class_label, vm.bank
        self.wallet_number, self.owner, self.today_left = vm.wallet_number, vm.owner, vm.today_left
        self.can_upgrade = vm.can_upgrade
        from kivy.factory import Factory

        box = self.ids.limits
        box.clear_widgets()
        for label, value in vm.limits:
            box.add_widget(_make(Factory.LimitRow, label=label, value=value))
        self.ids.notices.clear_widgets()

    def show_notice(self, text: str, kind: str = "success") -> None:
        self.ids.notices.add_widget(Banner(kind=kind, text=text))

    def toggle_lang(self) -> None:
        super().toggle_lang()
        self.presenter.load()  # amounts and bank names in the other language

    def logout(self) -> None:
        self.presenter.logout()


class CScanScreen(CScreen):
    has_camera = BooleanProperty(False)
    pay = ObjectProperty(None)  # the PayPresenter shared with the confirm screen

    def on_pre_enter(self, *_):
        from payclient.ui.scanner import camera_available

        self.has_camera = camera_available()
        if self.has_camera and not self.ids.camera_box.children:
            from payclient.ui.scanner import CameraScanner

            scanner = CameraScanner()
            scanner.bind(on_code=lambda _w, text: self.pay.submit_text(text))
            self.ids.camera_box.add_widget(scanner)

    def on_leave(self, *_):
        for child in self.ids.camera_box.children:
            child.stop()
        self.ids.camera_box.clear_widgets()

    def pick_image(self, start_dir: str | None = None):
        from payclient.ui.scanner import ImagePicker

        picker = ImagePicker(callback=self.pay.submit_image)
        if start_dir:
            picker.start_dir = start_dir
        picker.open()
        return picker

    def submit_pasted(self) -> None:
        self.pay.submit_text(self.ids.pasted.text)

    # PayPresenter's view (shared with CConfirmScreen through the shell)
    def show_preview(self, vm: p.PreviewVM) -> None:
        self.shell.screen("confirm").show_preview(vm)
        self.go("confirm")

    def show_paid(self, vm) -> None:
        self.shell.screen("confirm").show_paid(vm)


class CConfirmScreen(CScreen):
    merchant_zh = StringProperty("")
    merchant_en = StringProperty("")
    verified = BooleanProperty(False)
    zone = StringProperty("")
    scenario = StringProperty("")
    amount = StringProperty("")
    warning = StringProperty("")
    warning_title = StringProperty("")
    can_pay = BooleanProperty(False)
    needs_amount = BooleanProperty(False)
    expiry_text = StringProperty("")
    pay_presenter = ObjectProperty(None)
    suspicious = BooleanProperty(False)
    order_label = StringProperty("")
    pay_label = StringProperty("")
    balance_note = StringProperty("")
    needs_topup = BooleanProperty(False)
    has_split = BooleanProperty(False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._vm: p.PreviewVM | None = None
        self._tick = None

    def show_preview(self, vm: p.PreviewVM) -> None:
        self._vm = vm
        self.merchant_zh, self.merchant_en, self.verified = vm.merchant_zh, vm.merchant_en, vm.verified
        self.zone, self.scenario, self.amount = vm.zone, vm.scenario, vm.amount
        self.warning, self.warning_title, self.can_pay = vm.warning, vm.warning_title, vm.can_pay
        self.needs_amount = vm.needs_amount
        self.suspicious, self.order_label, self.pay_label = vm.suspicious, vm.order_label, vm.pay_label
        self.balance_note, self.needs_topup = vm.balance_note, vm.needs_topup
        _fill_rows(self.ids.split_rows, vm.rows)
        self.has_split = bool(vm.rows)
        if vm.priced_fen is None:
            self.ids.static_amount.text = ""  # a new code; a priced one keeps the amount typed
        self._update_expiry()
        if self.shell.sm.current != "confirm":
            self.go("confirm")

    def on_enter(self, *_):
        from kivy.clock import Clock

        self._tick = Clock.schedule_interval(lambda _dt: self._update_expiry(), 1)

    def on_leave(self, *_):
        if self._tick:
            self._tick.cancel()

    def _update_expiry(self) -> None:
        vm = self._vm
        if vm is None:
            self.expiry_text = ""
        elif not vm.dynamic:
            self.expiry_text = tr("c.confirm.static") if vm.can_pay else ""
        elif vm.expires_at and vm.can_pay:
            left = vm.expires_at.timestamp() - time.time()
            self.expiry_text = tr("c.confirm.expires", left=fmt.countdown(left))
            if left <= 0:
                self.can_pay = vm.can_pay = False
                self.order_label = tr("c.confirm.state.expired")  # a genuine code, only too late
                self.warning_title, self.warning = self.order_label, tr("err.order_expired")
                self.needs_topup, self.balance_note = False, ""
        else:
            self.expiry_text = ""

    def pay(self) -> None:
        self.pay_presenter.pay(self.ids.static_amount.text)

    def topup(self) -> None:
        self.pay_presenter.topup()

    def price(self) -> None:
        self.pay_presenter.price(self.ids.static_amount.text)

    def show_paid(self, vm) -> None:
        self.shell.screen("paid").show(vm)
        self.shell.go("paid", remember=False)


class CPaidScreen(CScreen):
    amount = StringProperty("")
    merchant = StringProperty("")
    time = StringProperty("")
    balance_after = StringProperty("")
    reference = StringProperty("")
    subsidy = StringProperty("")
    title = StringProperty("")

    def show(self, vm) -> None:
        self.amount, self.merchant, self.time = vm.amount, vm.merchant, vm.time
        self.balance_after, self.reference, self.subsidy = vm.balance_after, vm.reference, vm.subsidy
        self.title = vm.title
        # The split only when something else than the wallet paid (else it repeats the amount).
        _fill_rows(self.ids.split_rows, vm.rows if vm.subsidy else ())

    def finish(self) -> None:
        self.shell.go("home")


class CPaycodeScreen(CScreen):
    code = StringProperty("")
    grouped = StringProperty("")
    seconds = NumericProperty(15)
    fraction = NumericProperty(1.0)
    offline = BooleanProperty(True)
    reveal = BooleanProperty(False)
    notice = StringProperty("")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._stops = []

    def on_pre_enter(self, *_):
        self.notice = ""
        self.presenter.start()
        runner = self.shell.services.runner
        self._stops = [runner.every(1.0, self.presenter.tick), runner.every(3.0, self.presenter.poll)]

    def on_leave(self, *_):
        for stop in self._stops:
            stop()
        self._stops = []

    def leave(self) -> None:
        self.shell.back()

    def show_code(self, code: str, grouped: str) -> None:
        self.code, self.grouped = code, grouped

    def show_countdown(self, seconds_left: float, fraction: float) -> None:
        self.seconds = int(seconds_left + 0.999)
        self.fraction = max(0.0, min(1.0, fraction))

    def show_offline(self, offline: bool) -> None:
        self.offline = offline

    def show_paid_notice(self, text: str) -> None:
        self.notice = text
        self.shell.message(text)

    def show_receipt(self, vm) -> None:
        self.shell.screen("paid").show(vm)
        self.shell.go("paid", remember=False)


class CHistoryScreen(CScreen):
    has_more = BooleanProperty(False)
    empty = BooleanProperty(False)
    month_text = StringProperty("")
    can_go_next = BooleanProperty(False)

    def show_month(self, text: str, can_go_next: bool) -> None:
        self.month_text, self.can_go_next = text, can_go_next

    def on_pre_enter(self, *_):
        self.presenter.load()

    def show_items(self, items, more: bool, append: bool) -> None:
        rows = self.ids.rows
        if not append:
            rows.clear_widgets()
        for vm in items:
            row = ListRow(title=vm.title, subtitle=vm.subtitle, value=vm.amount,
                          value_color=COLORS.green if vm.incoming else COLORS.text, item=vm)
            if vm.reference:  # a payment or its refund: opens its e-receipt
                row.bind(on_release=lambda r: self.open_receipt(r.item.reference))
            else:  # any other bill: its detail
                row.bind(on_release=lambda r: self.shell.alert(tr("c.history.detail"), r.item.detail, kind="info"))
            rows.add_widget(row)
        self.has_more = more
        self.empty = not rows.children


    def open_receipt(self, reference: str) -> None:
        self.shell.go("receipt")
        self.shell.screen("receipt").presenter.open(reference)


class CReceiptScreen(CScreen):
    """One payment's e-receipt (``receipt.kv``): merchant with badge and zone, the split, refund status."""

    merchant = StringProperty("")
    verified = BooleanProperty(False)
    zone = StringProperty("")
    amount = StringProperty("")
    time = StringProperty("")
    reference = StringProperty("")
    status = StringProperty("")
    refunded = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.reference = ""

    def show_receipt(self, vm) -> None:
        from kivy.factory import Factory

        self.merchant, self.verified, self.zone, self.amount = vm.merchant, vm.verified, vm.zone, vm.amount
        self.time, self.reference, self.status, self.refunded = vm.time, vm.reference, vm.status, vm.refunded
        box = self.ids.rows
        box.clear_widgets()
        for label, value in vm.rows:
            row = Factory.LimitRow()
            row.label, row.value = label, value
            box.add_widget(row)

    def share(self, folder: str | Path | None = None):
        """Save the receipt's picture (under the app's data folder) and offer it to the share sheet."""
        if folder is None:
            import tempfile

            from kivy.app import App

            app = App.get_running_app()
            folder = (Path(app.data_dir) if app else Path(tempfile.gettempdir()) / "suiyuan") / "receipts"
        return self.presenter.share(folder)

    def show_shared(self, text: str, _path) -> None:
        self.shell.message(text)


class CTopupScreen(CScreen):
    done_text = StringProperty("")

    def on_kv_post(self, *_):
        for fen in p.QUICK_TOPUPS_FEN:
            b = RoundButton(text=format_fen(fen).replace(".00", ""), kind="secondary", font_size=dp(14),
                            height=dp(40))
            b.bind(on_release=lambda _b, f=fen: setattr(self.ids.amount, "text", str(f // 100)))
            self.ids.quick.add_widget(b)

    def on_pre_enter(self, *_):
        self.done_text = ""
        self.ids.amount.text = ""

    def submit(self) -> None:
        self.presenter.topup(self.ids.amount.text)

    def show_done(self, text: str) -> None:
        self.done_text = text
        self.ids.amount.text = ""


class CUpgradeScreen(CScreen):
    done_text = StringProperty("")

    def on_pre_enter(self, *_):
        self.done_text = ""

    def upgrade(self, target: int) -> None:
        self.presenter.upgrade(target, real_name=self.ids.real_name.text, id_number=self.ids.id_number.text,
                               bank_account=self.ids.bank_account.text)

    def show_done(self, text: str) -> None:
        self.done_text = text


class CCampaignsScreen(CScreen):
    empty = BooleanProperty(False)
    _tick = None

    def on_pre_enter(self, *_):
        self.presenter.load()

    def on_enter(self, *_):
        from kivy.clock import Clock

        # A lottery's reveal window and draw pass while the list is open: reveal and show the result by itself.
        self._tick = Clock.schedule_interval(lambda _dt: self.presenter.tick(), 15)

    def on_leave(self, *_):
        if self._tick:
            self._tick.cancel()
            self._tick = None

    def open_url(self, url: str) -> None:
        """The published draw, for anyone to recompute (``python -m campaigns.verify_draw``)."""
        import webbrowser

        webbrowser.open(url)
        self.shell.message(url)

    def show_zones(self, zones, selected) -> None:
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

    def show_campaigns(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.cards
        box.clear_widgets()
        for vm in items:
            card = _make(Factory.CCampaignCard, campaign_id=vm.campaign_id, title=vm.title, kind=vm.kind,
                         kind_label=vm.kind_label, detail=vm.detail, when=vm.when, spend=vm.spend,
                         action=vm.action, can_act=vm.can_act, lottery=vm.lottery, lottery_state=vm.lottery_state)
            card.ids.act.bind(on_release=lambda _b, cid=vm.campaign_id: self.presenter.act(cid))
            box.add_widget(card)
        self.empty = not items

    def show_message(self, text: str) -> None:
        self.shell.message(text)


class CPerksScreen(CScreen):
    summary = StringProperty("")
    empty = BooleanProperty(False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._rows = []
        self._tick = None

    def on_pre_enter(self, *_):
        self.presenter.load()

    def on_enter(self, *_):
        from kivy.clock import Clock

        self._tick = Clock.schedule_interval(lambda _dt: self._update(), 1)

    def on_leave(self, *_):
        if self._tick:
            self._tick.cancel()

    def show_summary(self, text: str) -> None:
        self.summary = text

    def show_items(self, items) -> None:
        from kivy.factory import Factory

        box = self.ids.rows
        box.clear_widgets()
        self._rows = []
        for vm in items:
            row = _make(Factory.CPerkRow, title=vm.title, value=vm.value, note=vm.note, active=vm.active,
                        countdown=self.presenter.countdown(vm))
            self._rows.append((row, vm))
            box.add_widget(row)
        self.empty = not items

    def _update(self) -> None:
        for row, vm in self._rows:
            row.countdown = self.presenter.countdown(vm)
