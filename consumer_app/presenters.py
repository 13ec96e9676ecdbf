"""The consumer app's screen logic, without Kivy (tested without a window).

Each presenter takes :class:`payclient.services.Services` and a *view*: the
screen, which implements the few ``show_*`` methods named in the presenter's
docstring, plus ``go(screen)`` to navigate. Presenters never touch widgets;
network work goes through ``services.runner`` so the UI thread never blocks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime

from payclient import fmt, fraud
from payclient import lottery as lot
from payclient.errors import ApiError, NetworkError, NotFoundError
from payclient.presenter import LoginFlow, Presenter, WrongApp
from payclient.scan import UnreadableImage, classify, decode_image
from payclient.services import Services, installation_id
from suiyuan_protocol.money import MoneyError, format_fen, parse_yuan

__all__ = [
    "HistoryPresenter", "HomePresenter", "split_rows", "LoginPresenter", "OpenWalletPresenter", "PaidVM",
    "PayPresenter",
    "PaycodePresenter", "PreviewVM", "QUICK_TOPUPS_FEN", "TopupPresenter", "TxnVM", "UpgradePresenter", "WalletVM",
    "WrongApp", "CampaignVM", "CampaignsPresenter", "PerkVM", "PerksPresenter", "campaign_vm", "countdown_text",
    "lottery_line",
]


#: Fields whose refusal the server words for people (in the language asked): shown as it comes.
_WORDED_FIELDS = ("payment_password", "new_password", "current_password")


class _Base(Presenter):
    def explain(self, exc: Exception) -> str | None:
        if isinstance(exc, WrongApp):
            return self.tr("c.err.not_consumer")
        if isinstance(exc, ApiError) and exc.code == "validation_failed":
            for name in _WORDED_FIELDS:
                if exc.field_errors.get(name):
                    return exc.field_errors[name]
        return None


# ---------------------------------------------------------------- signing in


class LoginPresenter(_Base, LoginFlow):
    """View: ``show_busy(bool)``, ``show_error(text)``, ``go(screen)``, ``show_login_alert(title, text)``."""

    roles = ("consumer",)

    def restore(self) -> str:
        """Return the first screen: home when a session is stored (checked in the background), else login."""
        if not self.s.api.signed_in:
            return "login"
        self.s.runner.submit(self.s.api.wallet, on_done=lambda _w: None, on_error=self._restore_failed)
        return "home"

    def _restore_failed(self, exc: Exception) -> None:
        if isinstance(exc, NotFoundError) and exc.code == "wallet_not_open":
            self.view.go("open_wallet")
        elif isinstance(exc, ApiError) and exc.status == 401:
            self.s.api.tokens.clear()
            self.view.go("login")

    def _login(self, phone: str, password: str):
        result = self._sign_in(phone, password)
        try:
            return result.user, self.s.api.wallet()
        except NotFoundError as exc:
            if exc.code == "wallet_not_open":
                return result.user, None
            raise

    def _logged_in(self, result) -> None:
        user, wallet = result
        self.view.show_busy(False)
        self.view.go("home" if wallet is not None else "open_wallet")
        self._warn_owner(user)

    def register(self, phone: str, password: str, name: str = "") -> None:
        phone = phone.strip()
        if not phone or not password:
            self.view.show_error(self.tr("err.required"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(lambda: self.s.api.register(phone, password, display_name=name.strip()),
                             on_done=lambda _r: (self.view.show_busy(False), self.view.go("open_wallet")),
                             on_error=self._fail)


class OpenWalletPresenter(_Base):
    """View: ``show_banks([(code, name)])``, ``show_busy``, ``show_error``, ``go``."""

    def load(self) -> None:
        self.s.runner.submit(self.s.api.banks, on_done=self._banks, on_error=self._fail)

    def _banks(self, banks) -> None:
        self.view.show_banks([(b.code, self.tr.pick(b.name_zh, b.name_en)) for b in banks])

    def open(self, bank_code: str | None, card_number: str = "", password: str = "", again: str = "") -> None:
        from consumer_app.security import check_new_password

        if not bank_code:
            self.view.show_error(self.tr("c.err.choose_bank"))
            return
        problem = check_new_password(self.tr, password, again)
        if problem:
            self.view.show_error(problem)
            return
        self.view.show_busy(True)
        card = "".join(card_number.split())
        self.s.runner.submit(lambda: self.s.api.open_wallet(bank_code, card or None, payment_password=password),
                             on_done=lambda _w: (self.view.show_busy(False), self.view.go("home")),
                             on_error=self._fail)


# ---------------------------------------------------------------- home


@dataclass(frozen=True)
class WalletVM:
    balance: str
    class_label: str
    wallet_class: int
    bank: str
    wallet_number: str
    limits: list[tuple[str, str]]
    today_left: str
    can_upgrade: bool
    owner: str


def _cap(tr, fen: int | None) -> str:
    return tr("no_limit") if fen is None else format_fen(fen)


class HomePresenter(_Base):
    """View: ``show_wallet(WalletVM)``, ``show_notice(text)``, ``show_error``, ``show_busy``, ``go``."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self._load, on_done=self._loaded, on_error=self._fail)

    def _load(self):
        resumed = self.s.api.resume_pending()
        user = self.s.api.user
        if user is not None:  # lottery secrets whose reveal window is open go out with the other pending work
            lot.reveal_pending(self.s.api, self.s.lottery, str(user.id))
        return self.s.api.wallet(), resumed

    def _loaded(self, result) -> None:
        wallet, resumed = result
        self.view.show_busy(False)
        self.view.show_wallet(self.wallet_vm(wallet))
        if not getattr(wallet, "payment_password_set", True):
            self.view.show_notice(self.tr("c.home.set_password"), "warning")
        for entry, outcome in resumed:
            if isinstance(outcome, ApiError):
                self.view.show_notice(self.tr("c.home.resumed_refused", reason=self.tr.error(outcome)))
            elif entry.path == "/payments":
                self.view.show_notice(self.tr("c.home.resumed_paid", amount=format_fen(outcome["amount_fen"])))

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, NotFoundError) and exc.code == "wallet_not_open":
            self.view.show_busy(False)
            self.view.go("open_wallet")
            return
        super()._fail(exc)

    def wallet_vm(self, w) -> WalletVM:
        tr = self.tr
        lim = w.limits
        user = self.s.api.user
        return WalletVM(
            balance=format_fen(w.balance_fen), class_label=tr(f"class.{w.wallet_class}"), wallet_class=w.wallet_class,
            bank=tr.pick(w.bank.name_zh, w.bank.code),  # "ICBC" reads better than its long English name
            wallet_number=f"{w.wallet_number[:4]} •••• {w.wallet_number[-4:]}",
            limits=[(tr("limit.single"), _cap(tr, lim.single_payment_cap_fen)),
                    (tr("limit.day"), _cap(tr, lim.day_cap_fen)),
                    (tr("limit.balance"), _cap(tr, lim.balance_cap_fen))],
            today_left=_cap(tr, w.remaining_today_fen), can_upgrade=w.wallet_class > 2,
            owner=(user.display_name or fmt.mask_phone(user.phone)) if user else "")

    def logout(self) -> None:
        self.s.runner.submit(self.s.api.logout, on_done=lambda _r: self.view.go("login"),
                             on_error=lambda _e: self.view.go("login"))

    def toggle_lang(self) -> str:
        return self.s.toggle_lang()


# ---------------------------------------------------------------- scan and pay


@dataclass
class PreviewVM:
    """What the confirm screen shows before any money moves."""

    payload: str
    merchant_zh: str = ""
    merchant_en: str = ""
    verified: bool = False
    zone: str = ""
    scenario: str = ""
    amount_fen: int | None = None
    amount: str = ""
    dynamic: bool = True
    expires_at: datetime | None = None
    warning_title: str = ""
    warning: str = ""
    problem: str = ""  # machine code of the warning (qr_unsigned, expired…)
    can_pay: bool = False
    #: The code failed verification: its amount and merchant must not be trusted. A genuine code whose
    #: order was cancelled or expired is not suspicious (it keeps its verified badge).
    suspicious: bool = False
    order_label: str = ""  # "商户已取消" / "已过期" / "已支付" for a genuine code that cannot be paid
    rows: list[tuple[str, str]] = field(default_factory=list)  # price, red packet, coupon, from the wallet
    pay_label: str = ""  # the button names what leaves the wallet
    balance_note: str = ""  # too little balance, said before the tap
    needs_topup: bool = False
    priced_fen: int | None = None  # the price the split was worked out for (a static code: the amount typed)
    password_needed: bool = False  # above my password-free limit: the payment password is asked before paying

    @property
    def needs_amount(self) -> bool:
        return not self.dynamic and (self.can_pay or self.needs_topup)


@dataclass(frozen=True)
class PaidVM:
    amount: str
    merchant: str
    balance_after: str
    time: str
    reference: str
    subsidy: str = ""
    rows: tuple[tuple[str, str], ...] = ()  # the split, as on the confirm screen
    title: str = ""


def split_rows(tr, b, *, paid: bool = False) -> list[tuple[str, str]]:
    """The lines of a payment's split (a ``Breakdown``): price, red packet, coupon, what leaves the wallet."""
    rows = [(tr("c.split.price"), format_fen(b.price_fen))]
    if b.red_packet_fen:
        rows.append((tr("c.split.red_packet"), "-" + format_fen(b.red_packet_fen)))
    if b.coupon_fen:
        rows.append((tr("c.split.coupon"), "-" + format_fen(b.coupon_fen)))
    rows.append((tr("c.split.paid_from_wallet" if paid else "c.split.from_wallet"), format_fen(b.from_wallet_fen)))
    return rows


#: Genuine codes that cannot be paid because of their order's state (not forgeries).
_ORDER_STATES = {"order_cancelled": "c.confirm.state.cancelled", "order_expired": "c.confirm.state.expired",
                 "order_already_paid": "c.confirm.state.paid"}

def paid_vm(tr, payment, *, title: str = "") -> PaidVM:
    """The result screen of a payment (scanned, or a payment code a merchant charged): merchant, amount,
    split, balance after."""
    o = payment.order
    split = payment.split
    return PaidVM(
        amount=format_fen(split.from_wallet_fen), merchant=tr.pick(o.merchant.name_zh, o.merchant.name_en),
        balance_after=format_fen(payment.payer_balance_after_fen) if payment.payer_balance_after_fen is not None
        else "", time=fmt.day_time(o.paid_at), reference=o.reference,
        subsidy=format_fen(split.subsidy_fen) if split.subsidy_fen else "",
        rows=tuple(split_rows(tr, split, paid=True)), title=title or tr("c.paid.title"))


def shop_zone(api, shop) -> dict | None:
    """The demonstration zone ``shop`` (a ``Merchant``) is in, by its location: ``{id, name_zh, name_en}``,
    or ``None`` when it has no location, lies in no zone, or the server cannot be asked (a nicety)."""
    if shop.latitude is None or shop.longitude is None:
        return None
    try:
        zone = api.locate(shop.latitude, shop.longitude).zone
    except (ApiError, NetworkError):
        return None
    return {"id": zone.id, "name_zh": zone.name_zh, "name_en": zone.name_en} if zone else None


_LOCAL_PROBLEMS = {"unsigned": "qr_unsigned", "bad_signature": "qr_bad_signature", "unknown_key": "qr_unknown_key",
                   "crc_mismatch": "qr_crc_mismatch", "malformed": "qr_malformed", "not_ours": "qr_not_ours",
                   "expired": "order_expired", "reported_payee": "payee_reported_fraud"}


class PayPresenter(_Base):
    """Scan → check → confirm → pay.

    View: ``show_preview(PreviewVM)`` (and go to the confirm screen),
    ``show_paid(PaidVM)``, ``show_error``, ``show_busy``, ``go``.
    """

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.current: PreviewVM | None = None

    def submit_text(self, text: str) -> None:
        text = (text or "").strip()
        if classify(text) != "merchant_qr":
            phishing = text and fraud.assess(text, {}, self.s.fraud_lists.fraud_list()).kind == "phishing_url"
            self.view.show_error(self.tr("err.phishing_url" if phishing else
                                         "err.not_a_merchant_code" if text else "err.required"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self._check, text, on_done=self._checked, on_error=self._fail)

    def submit_image(self, path: str) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(decode_image, path, on_done=self._decoded, on_error=self._fail)

    def _decoded(self, texts: list[str]) -> None:
        self.view.show_busy(False)
        codes = [t for t in texts if classify(t) == "merchant_qr"]
        if not texts:
            self.view.show_error(self.tr("err.no_code_found"))
        elif not codes:
            self.view.show_error(self.tr("err.not_a_merchant_code"))
        else:
            self.submit_text(codes[0])

    def _check(self, text: str):
        local = self.s.keyring.check(text, self.s.api)
        try:
            self.s.fraud_lists.refresh(self.s.api)
        except (ApiError, NetworkError):
            pass  # offline: the cached list still answers
        verdict = fraud.assess(text, self.s.keyring.public_keys(), self.s.fraud_lists.fraud_list())
        if verdict.kind == "reported_payee":
            local = dataclasses.replace(local, problem="reported_payee", detail=verdict.detail)
        try:
            preview = self.s.api.preview(text)
        except (ApiError, NetworkError) as exc:
            return text, local, None, exc
        return text, local, preview, None, self._zone_of(preview)

    def _zone_of(self, preview):
        """The demonstration zone the merchant is in: from the preview, else from its location."""
        if preview.merchant.zone:
            return preview.merchant.zone
        try:
            shop = self.s.api.merchant(preview.merchant.id)
        except (ApiError, NetworkError):
            return None  # the zone is a nicety; never block a payment on it
        return shop_zone(self.s.api, shop)

    def _checked(self, result) -> None:
        self.view.show_busy(False)
        self.current = vm = self.preview_vm(*result)
        self.view.show_preview(vm)

    def preview_vm(self, text: str, local, preview, problem: Exception | None, zone: dict | None = None) -> PreviewVM:
        """Combine the device's check (``local``, a QrCheck) and the server's preview (or the
        refusal ``problem``) into what the person sees; ``zone`` is the merchant's zone if known."""
        tr = self.tr
        payload = local.payload
        vm = PreviewVM(payload=text, expires_at=local.expires_at)
        if payload is not None:
            vm.merchant_en = payload.name
            vm.merchant_zh = payload.alt_language.name if payload.alt_language else ""
            vm.amount_fen = payload.amount_fen
            vm.dynamic = payload.is_dynamic
        if preview is not None:
            m = preview.merchant
            vm.merchant_zh, vm.merchant_en, vm.verified = m.name_zh, m.name_en, m.verified and preview.genuine
            vm.scenario = tr(f"scenario.{m.scenario}") if m.scenario else ""
            zone = zone or m.zone
            if zone:
                vm.zone = tr.pick(zone.get("name_zh"), zone.get("name_en"))
            vm.amount_fen, vm.dynamic = preview.amount_fen, preview.dynamic
            vm.expires_at = preview.expires_at or vm.expires_at
        vm.amount = format_fen(vm.amount_fen) if vm.amount_fen is not None else ""
        code = ""
        if isinstance(problem, ApiError):
            code = problem.code
        elif local.problem:
            code = _LOCAL_PROBLEMS.get(local.problem, "qr_invalid")
        elif preview is not None and preview.order_status in ("paid", "expired", "cancelled", "refunded",
                                                               "partially_refunded"):
            code = {"expired": "order_expired", "cancelled": "order_cancelled"}.get(preview.order_status,
                                                                                    "order_already_paid")
        if isinstance(problem, NetworkError) and not local.problem:
            vm.problem, vm.warning_title, vm.warning = "network", tr("c.pay.warn_network"), tr("err.network")
        elif code in _ORDER_STATES and (preview is not None or not code.startswith("qr_")):
            self._order_state(vm, code, problem)
        elif code:
            vm.problem = code
            vm.warning_title = tr("c.pay.warn_fraud") if code == "payee_reported_fraud" else \
                tr("c.pay.warn_fake") if code.startswith("qr_") and code != "qr_crc_mismatch" \
                else tr("c.pay.warn_cannot")
            vm.warning = tr.error(problem) if isinstance(problem, ApiError) else tr(f"err.{code}")
            vm.verified = False
            vm.suspicious = True
        vm.can_pay = not vm.problem and preview is not None
        if vm.can_pay and preview.breakdown is not None:
            self._price(vm, preview.breakdown)
        vm.password_needed = bool(preview is not None and getattr(preview, "payment_password_needed", False))
        return vm

    def _order_state(self, vm: PreviewVM, code: str, problem: Exception | None = None) -> None:
        """A genuine code whose order can no longer be paid: say which state, keep the verified badge."""
        tr = self.tr
        vm.problem = code
        vm.order_label = tr(_ORDER_STATES[code])
        vm.warning_title = vm.order_label
        vm.warning = tr(f"err.{code}")
        vm.can_pay = False

    def _price(self, vm: PreviewVM, b) -> None:
        """Show the split and name what leaves the wallet on the button; stop a payment the balance
        cannot cover before the tap, offering top-up."""
        tr = self.tr
        vm.priced_fen = b.price_fen
        vm.rows = split_rows(tr, b)
        vm.pay_label = tr("c.confirm.pay_amount", amount=format_fen(b.from_wallet_fen))
        vm.needs_topup, vm.balance_note = False, ""
        if b.enough_balance is False:
            vm.needs_topup, vm.can_pay = True, False
            vm.balance_note = tr("c.confirm.low_balance", balance=format_fen(b.wallet_balance_fen or 0),
                                 short=format_fen(b.short_fen))

    def _typed(self, amount_text: str) -> int | None:
        try:
            amount = parse_yuan(amount_text)
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return None
        if amount <= 0:
            self.view.show_error(self.tr("err.amount_zero"))
            return None
        return amount

    def price(self, amount_text: str) -> None:
        """A static code: work out the split of the amount typed (red packets, coupons, what leaves the
        wallet) and show it, so the button names what will leave the wallet."""
        vm = self.current
        if vm is None or vm.dynamic or not vm.needs_amount:
            return
        amount = self._typed(amount_text)
        if amount is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.preview, vm.payload, amount, on_done=self._priced, on_error=self._fail)

    def _priced(self, preview) -> None:
        self.view.show_busy(False)
        vm = self.current
        if vm is None or preview.breakdown is None:
            return
        vm.can_pay = True
        vm.password_needed = preview.payment_password_needed
        self._price(vm, preview.breakdown)
        self.view.show_preview(vm)

    def pay(self, amount_text: str = "", password: str | None = None) -> None:
        vm = self.current
        if vm is None or not vm.can_pay:
            return  # a warned code never reaches the payment call
        amount = None
        if not vm.dynamic:
            amount = self._typed(amount_text)
            if amount is None:
                return
            if vm.priced_fen != amount:
                self.price(amount_text)  # first show what it costs; the next tap pays
                return
        if vm.password_needed and password is None:
            self.view.ask_password(self.tr("c.pw.enter"), lambda pw: self.pay(amount_text, pw))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.pay, vm.payload, amount, password, on_done=self._paid,
                             on_error=lambda exc: self._pay_failed(exc, amount_text))

    def _paid(self, payment) -> None:
        self.view.show_busy(False)
        self.view.show_paid(paid_vm(self.tr, payment))
        self.current = None

    def topup(self) -> None:
        """Too little balance: go top up (the confirm screen stays behind, to come back to)."""
        self.view.go("topup")

    def _pay_failed(self, exc: Exception, amount_text: str = "") -> None:
        from consumer_app.security import ask_again

        if ask_again(self, exc, lambda pw: self.pay(amount_text, pw)):
            return
        if isinstance(exc, ApiError) and exc.code in _ORDER_STATES and self.current is not None:
            self._order_state(self.current, exc.code, exc)
            self.view.show_busy(False)
            self.view.show_preview(self.current)
            return
        if isinstance(exc, ApiError) and (exc.code.startswith("qr_") or exc.code.startswith("order_")) \
                and self.current is not None:
            self.current.can_pay = False
            self.current.problem = exc.code
            self.current.warning_title = self.tr("c.pay.warn_cannot")
            self.current.warning = self.tr.error(exc)
            self.view.show_busy(False)
            self.view.show_preview(self.current)
            return
        self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, UnreadableImage):
            self.view.show_busy(False)
            self.view.show_error(self.tr("err.image_unreadable"))
            return
        super()._fail(exc)



# ---------------------------------------------------------------- payment code


class PaycodePresenter(_Base):
    """The rotating payment code; made on the device, so it works with no network.

    View: ``show_code(code, grouped)``, ``show_countdown(seconds_left, fraction)``,
    ``show_offline(bool)``, ``show_paid_notice(text)``, ``show_receipt(PaidVM)`` (the result screen after a
    merchant charged the code), ``show_error``, ``show_busy``.
    """

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.device = None
        self.code = ""
        self._baseline: int | None = None

    def _owner(self) -> str | None:
        user = self.s.api.user
        return str(user.id) if user else None

    def start(self) -> None:
        owner = self._owner()
        self.device = self.s.devices.get(owner) if owner else None
        if self.device is not None:
            self.tick()
            self._sync_baseline()
            return
        self.view.show_busy(True)
        self.s.runner.submit(self._register, owner, on_done=self._registered, on_error=self._fail)

    def _register(self, owner: str):
        import platform

        reg = self.s.api.register_device(f"{platform.node() or 'phone'}"[:40])
        return self.s.devices.save(owner, reg.device.id, reg.secret_b32)

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, NetworkError) and self.device is None:
            self.view.show_busy(False)
            self.view.show_error(self.tr("c.paycode.needs_network_once"))
            return
        super()._fail(exc)

    def _registered(self, device) -> None:
        self.view.show_busy(False)
        self.device = device
        self.tick()
        self._sync_baseline()

    def tick(self, now: float | None = None) -> None:
        """Show the code of this moment and the time until it changes (call every second)."""
        if self.device is None:
            return
        now = time.time() if now is None else now
        code = self.device.code(now)
        if code != self.code:
            self.code = code
            self.view.show_code(code, fmt.group_digits(code))
        left = self.device.seconds_left(now)
        self.view.show_countdown(left, left / 15.0)

    def _sync_baseline(self) -> None:
        self.s.runner.submit(self._latest_id, on_done=self._baseline_set,
                             on_error=lambda _e: self.view.show_offline(True))

    def _latest_id(self) -> int:
        page = self.s.api.transactions(limit=1)
        return page.items[0].transfer_id if page.items else 0

    def _baseline_set(self, latest: int) -> None:
        self._baseline = latest
        self.view.show_offline(False)

    def poll(self) -> None:
        """Look (online only) for a payment made with the code since the screen opened."""
        if self._baseline is None:
            self._sync_baseline()
            return
        self.s.runner.submit(lambda: self.s.api.transactions(limit=5), on_done=self._polled,
                             on_error=lambda _e: self.view.show_offline(True))

    def _polled(self, page) -> None:
        self.view.show_offline(False)
        fresh = [t for t in page.items if t.transfer_id > (self._baseline or 0)]
        if not fresh:
            return
        self._baseline = max(t.transfer_id for t in fresh)
        for t in fresh:
            if t.code == "payment" and t.direction == "out":
                self.view.show_paid_notice(self.tr("c.paycode.paid", amount=format_fen(t.amount_fen)))
                if t.memo:
                    self.s.runner.submit(self._receipt, t.memo, on_done=self._charged,
                                         on_error=lambda _e: None)  # the notice already says it was paid
                return

    def _receipt(self, reference: str):
        return self.s.api.receipt(reference), self.s.api.wallet()

    def _charged(self, result) -> None:
        """A merchant charged my code: the full result screen (merchant, amount, split, balance after)."""
        payment, wallet = result
        vm = paid_vm(self.tr, payment, title=self.tr("c.paid.charged_title"))
        self.view.show_receipt(dataclasses.replace(vm, balance_after=format_fen(wallet.balance_fen)))


# ---------------------------------------------------------------- history, top-up, upgrade


@dataclass(frozen=True)
class TxnVM:
    title: str
    subtitle: str
    amount: str
    incoming: bool
    transfer_id: int
    reference: str = ""  # a payment's or refund's order: the row opens its e-receipt
    detail: str = ""  # the bill detail of a row without an e-receipt (top-up, transfer, redemption…)


_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")


class HistoryPresenter(_Base):
    """The bill list (账单): one month at a time, each row naming the shop (also of a refund), the bank or the
    person; a row opens its bill detail (a payment's or refund's e-receipt).

    View: ``show_items(list[TxnVM], more: bool, append: bool)``, ``show_month(text, can_go_next: bool)``,
    ``show_error``, ``show_busy``."""

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.next_before: int | None = None
        self.references: dict[int, str] = {}  # payment transfer id → its order's reference (loaded pages)
        today = fmt.local(datetime.now().astimezone())
        self.month = (today.year, today.month)
        self._this_month = self.month

    @property
    def month_key(self) -> str:
        return f"{self.month[0]:04d}-{self.month[1]:02d}"

    def month_label(self) -> str:
        y, m = self.month
        return self.tr("c.history.month", year=y, month=m, month_en=_MONTHS_EN[m - 1])

    def step_month(self, delta: int) -> None:
        y, m = self.month
        index = y * 12 + (m - 1) + delta
        wanted = (index // 12, index % 12 + 1)
        if wanted > self._this_month:
            return
        self.month = wanted
        self.load()

    def load(self) -> None:
        self.view.show_busy(True)
        self.view.show_month(self.month_label(), self.month < self._this_month)
        month = self.month_key
        self.s.runner.submit(lambda: self.s.api.transactions(month=month), on_done=lambda p: self._page(p, False),
                             on_error=self._fail)

    def more(self) -> None:
        if self.next_before:
            before, month = self.next_before, self.month_key
            self.s.runner.submit(lambda: self.s.api.transactions(before=before, month=month),
                                 on_done=lambda p: self._page(p, True), on_error=self._fail)

    def _page(self, page, append: bool) -> None:
        self.view.show_busy(False)
        if not append:
            self.references.clear()
        # A refund names the payment it reverses; the payment's memo is the order's reference.
        self.references.update({t.transfer_id: t.memo for t in page.items if t.code == "payment" and t.memo})
        self.next_before = page.next_before
        self.view.show_items([self.txn_vm(t) for t in page.items], bool(page.next_before), append)

    def txn_vm(self, t) -> TxnVM:
        key = "txn.payment.in" if t.code == "payment" and t.direction == "in" else f"txn.{t.code}"
        what = self.tr(key)
        who = t.counterparty_name(self.tr.lang) if hasattr(t, "counterparty_name") else ""
        memo = t.memo or ""
        shop = (t.counterparty or {}).get("kind") == "merchant"
        # A payment or refund is titled by its shop; the kind of move goes under it.
        title = who if shop and who else what
        # Under a shop's name the kind of move; under a kind of move the bank or person, then the note.
        sub = fmt.day_time(t.created_at) + (f" · {what}" if shop and who else (f" · {who}" if who else "")) \
            + (f" · {memo}" if memo and not shop else "")
        sign = "+" if t.signed_amount_fen > 0 else "-"
        amount = f"{sign}{format_fen(abs(t.signed_amount_fen))}"
        from consumer_app.receipts import receipt_reference

        detail = self.tr("c.history.detail_body", what=what + (f" · {memo}" if memo and not shop else ""),
                         amount=amount, when=fmt.day_time(t.created_at),
                         who=who or self.tr("c.history.unknown"), id=t.transfer_id)
        return TxnVM(title, sub, amount, t.signed_amount_fen > 0, t.transfer_id,
                     receipt_reference(t, self.references), detail)


QUICK_TOPUPS_FEN = (100_00, 200_00, 500_00, 1000_00)


class TopupPresenter(_Base):
    """View: ``show_done(text)``, ``show_error``, ``show_busy``, ``go``."""

    def topup(self, amount_text: str, password: str | None = None) -> None:
        try:
            fen = parse_yuan(amount_text)
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return
        if fen <= 0:
            self.view.show_error(self.tr("err.amount_zero"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.topup, fen, password, on_done=self._done,
                             on_error=lambda exc: self._failed(exc, amount_text))

    def _failed(self, exc: Exception, amount_text: str) -> None:
        from consumer_app.security import ask_again

        if not ask_again(self, exc, lambda pw: self.topup(amount_text, pw)):
            self._fail(exc)

    def _done(self, posted) -> None:
        self.view.show_busy(False)
        self.view.show_done(self.tr("c.topup.done", amount=format_fen(posted.amount_fen),
                                    balance=format_fen(posted.balance_after_fen)))


class UpgradePresenter(_Base):
    """View: ``show_done(text)``, ``show_error``, ``show_busy``."""

    def upgrade(self, target: int, *, real_name: str = "", id_number: str = "", bank_account: str = "") -> None:
        if target == 3 and (not real_name.strip() or not id_number.strip()):
            self.view.show_error(self.tr("err.required"))
            return
        if target == 2 and not bank_account.strip():
            self.view.show_error(self.tr("err.required"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(
            lambda: self.s.api.upgrade(target, real_name=real_name.strip() or None,
                                       id_number=id_number.strip().upper() or None,
                                       bank_account_number="".join(bank_account.split()) or None),
            on_done=self._done, on_error=self._fail)

    def _done(self, wallet) -> None:
        self.view.show_busy(False)
        self.view.show_done(self.tr("c.upgrade.done", cls=self.tr(f"class.{wallet.wallet_class}"),
                                    single=_cap(self.tr, wallet.limits.single_payment_cap_fen)))



# ---------------------------------------------------------------- red packets and coupons


@dataclass(frozen=True)
class CampaignVM:
    campaign_id: int
    title: str
    kind: str
    kind_label: str
    detail: str
    when: str
    spend: str
    action: str
    can_act: bool
    lottery: str = ""  # a registrant's standing: committed, revealed, missed reveal, won…
    lottery_state: str = ""  # one of payclient.lottery.STATES ("" when not registered for a lottery)


def lottery_line(tr, c, state: str, ticket=None) -> str:
    """What a registrant reads about their part in a lottery (``state`` from ``payclient.lottery.ticket_state``)."""
    draw_at = fmt.day_time(lot._time(c.draw_at))
    closes = fmt.day_time(c.window("registration_ends_at"))
    text = tr(f"c.lot.{state}", draw_at=draw_at, closes=closes,
              amount=format_fen(((c.me or {}).get("claim") or {}).get("amount_fen") or 0))
    if state in ("won", "lost"):
        me = c.me or {}
        revealed = me.get("revealed_at") or (ticket and ticket.revealed_at)
        if me.get("commitment") or ticket:
            text += tr("c.lot.drawn_revealed" if revealed else "c.lot.drawn_missed")
    return text


def campaign_vm(tr, c, *, verb_only: bool = False, ticket=None, now=None) -> CampaignVM:
    """How a campaign card reads, for a consumer (``c.me`` says what they already did)."""
    me = c.me or {}
    if c.kind == "coupon":
        kind_label = tr("c.camp.kind.coupon")
        detail = tr("c.camp.coupon_detail", min=format_fen(c.min_spend_fen or 0), off=format_fen(c.discount_fen or 0),
                    n=c.packet_count)
    else:
        kind_label = tr("c.camp.kind.lottery" if c.kind == "lottery" else f"c.camp.kind.{c.split or 'random'}")
        detail = tr("c.camp.packet_detail", n=c.packet_count, budget=format_fen(c.budget_fen or 0))
    if c.status == "scheduled":
        when = tr("c.camp.opens", at=fmt.day_time(c.opens_at))
    elif c.status == "live":
        when = tr("c.camp.closes", at=fmt.day_time(c.closes_at))
    else:
        when = tr(f"c.camp.status.{c.status}")
    spend = tr("c.camp.spend_until", at=fmt.day_time(c.window("spend_ends_at")))
    claim = me.get("claim") or {}
    state = lot.ticket_state(c, ticket, now) if c.kind == "lottery" and (me.get("registered") or ticket) else ""
    if state:
        line = lottery_line(tr, c, state, ticket)
        if c.drawn_at:  # the draw is public: anyone can recompute it
            action, can = tr("c.lot.verify"), True
        elif state == "reveal_open":
            action, can = tr("c.lot.reveal_now"), True
        else:
            action, can = tr("c.camp.registered"), False
        return CampaignVM(c.id, c.name, c.kind, kind_label, detail, when, spend, action, can, line, state)
    if me.get("claimed"):
        action = tr("c.camp.claimed_amount", amount=format_fen(claim["amount_fen"])) \
            if c.kind != "coupon" and claim.get("amount_fen") else tr("c.camp.claimed")
        can = False
    elif me.get("registered"):
        action, can = tr("c.camp.registered"), False
    elif c.status != "live":
        action, can = tr(f"c.camp.status.{c.status}"), False
    else:
        action = tr({"lottery": "c.camp.register", "coupon": "c.camp.take"}.get(c.kind, "c.camp.grab"))
        can = True
    return CampaignVM(c.id, c.name, c.kind, kind_label, detail, when, spend, action, can)


class CampaignsPresenter(_Base):
    """Red packets and coupons near me, by zone: list, grab/claim, register for a lottery.

    View: ``show_zones([(id, name)], selected_id)``, ``show_campaigns([CampaignVM])``, ``show_message(text)``,
    ``show_busy``, ``show_error``.
    """

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.zone_id: int | None = None
        self.campaigns: dict[int, object] = {}

    def device_id(self) -> str:
        """This installation's id, sent with claims (campaigns may cap claims per device)."""
        return installation_id(self.s.settings)

    def load(self, zone_id: int | None = None) -> None:
        self.view.show_busy(True)
        wanted = zone_id or self.zone_id or self.s.settings.load().get("zone_id")
        self.s.runner.submit(self._load, wanted, on_done=self._loaded, on_error=self._fail)

    def owner(self) -> str:
        user = self.s.api.user
        return str(user.id) if user else "-"

    def _load(self, wanted):
        zones = self.s.api.zones()
        ids = [z.id for z in zones]
        zone_id = wanted if wanted in ids else (ids[0] if ids else None)
        # My lotteries first, whatever zone is selected: registered, waiting for the reveal, drawn.
        items, seen = [], set()
        for t in self.s.lottery.of(self.owner()):
            try:
                c = self.s.api.campaign(t.campaign_id)
            except NotFoundError:
                continue
            if c.status == "settled":  # spent or reclaimed: the secret is published in the draw, drop ours
                self.s.lottery.forget(self.owner(), c.id)
            else:
                items.append(c)
                seen.add(c.id)
        if zone_id is not None:
            for c in self.s.api.campaigns(zone_id=zone_id):
                if c.status in ("live", "scheduled") and c.id not in seen:
                    items.append(self.s.api.campaign(c.id))  # with my part: claimed, registered
        # The reveal: after registration closed, before the draw, with nothing for the person to do.
        lot.reveal_due(self.s.api, self.s.lottery, self.owner(), [c for c in items if c.kind == "lottery"])
        return zones, zone_id, items

    def _loaded(self, result) -> None:
        zones, zone_id, items = result
        self.view.show_busy(False)
        self.zone_id = zone_id
        self.campaigns = {c.id: c for c in items}
        self.view.show_zones([(z.id, self.tr.pick(z.name_zh, z.name_en)) for z in zones], zone_id)
        self.view.show_campaigns(self.cards())

    def cards(self, now=None) -> list[CampaignVM]:
        owner = self.owner()
        return [campaign_vm(self.tr, c, ticket=self.s.lottery.get(owner, c.id), now=now)
                for c in self.campaigns.values()]

    def tick(self, now=None) -> bool:
        """Called every few seconds while the list is shown: reload when a lottery on it reached its reveal
        window or its draw time (so the secret is revealed and the result shown without a tap)."""
        due = False
        for vm in self.cards(now):
            c = self.campaigns[vm.campaign_id]
            if vm.lottery_state == "reveal_open":
                due = True
            elif vm.lottery_state in ("committed", "revealed", "missed", "none") and not c.drawn_at:
                closes, draw_at = lot.reveal_window(c)
                at = now or datetime.now(closes.tzinfo if closes else None)
                due = due or any(t is not None and at >= t for t in (
                    closes if vm.lottery_state == "committed" else None, draw_at))
        if due:
            self.load(self.zone_id)
        return due

    def select_zone(self, zone_id: int) -> None:
        data = self.s.settings.load()
        data["zone_id"] = zone_id
        self.s.settings.save(data)
        self.load(zone_id)

    def act(self, campaign_id: int) -> None:
        c = self.campaigns.get(campaign_id)
        if c is None:
            return
        self.view.show_busy(True)
        if c.kind == "lottery" and c.drawn_at:
            self.view.show_busy(False)
            self.view.open_url(self.s.api.draw_url(campaign_id))
        elif c.kind == "lottery" and (c.me or {}).get("registered"):
            self.s.runner.submit(lambda: lot.reveal_due(self.s.api, self.s.lottery, self.owner(), [c]),
                                 on_done=lambda _r: self._done(self.tr("c.lot.revealed_msg", name=c.name)),
                                 on_error=self._fail)
        elif c.kind == "lottery":
            ticket = self.s.lottery.issue(self.owner(), campaign_id)  # on the device before it is sent
            self.s.runner.submit(self._register, c, ticket,
                                 on_done=lambda _r: self._done(self.tr("c.camp.registered_msg", name=c.name)),
                                 on_error=self._fail)
        else:
            self.s.runner.submit(self.s.api.claim, campaign_id, self.device_id(),
                                 on_done=lambda r: self._done(self._claimed_text(c, r)), on_error=self._fail)

    def _register(self, c, ticket):
        """Register committing to the device's secret. A retry after a lost answer sends the same commitment;
        a refusal other than "already registered with it" drops the secret (there is nothing to reveal)."""
        owner = self.owner()
        try:
            answer = self.s.api.register_lottery(c.id, self.device_id(), ticket.commitment)
        except ApiError as exc:
            if exc.code == "already_registered":
                mine = (self.s.api.campaign(c.id).me or {}).get("commitment")
                if mine == ticket.commitment:
                    return self.s.lottery.update(owner, c.id, registered=True)
                self.s.lottery.forget(owner, c.id)  # registered earlier with no secret or another device's
            else:
                self.s.lottery.forget(owner, c.id)
            raise
        self.s.lottery.update(owner, c.id, registered=True)
        return answer

    def _claimed_text(self, c, r) -> str:
        until = fmt.day_time(r.spend_ends_at)
        if c.kind == "coupon":
            return self.tr("c.camp.coupon_msg", min=format_fen(r.min_spend_fen or 0),
                           off=format_fen(r.discount_fen or 0), until=until)
        return self.tr("c.camp.grabbed_msg", amount=format_fen(r.amount_fen or 0), until=until)

    def _done(self, text: str) -> None:
        self.view.show_busy(False)
        self.view.show_message(text)
        self.load(self.zone_id)

    def _fail(self, exc: Exception) -> None:
        super()._fail(exc)
        if isinstance(exc, ApiError) and self.campaigns:
            self.load(self.zone_id)  # sold out, already claimed…: show the campaign as it is now


@dataclass(frozen=True)
class PerkVM:
    key: str
    title: str
    value: str
    note: str
    state: str
    state_label: str
    deadline: datetime | None
    active: bool


def countdown_text(tr, deadline: datetime | None, now: float | None = None) -> str:
    """``"还剩 2 天 03:04:05"`` until ``deadline``; ``"已过期"`` after it."""
    if deadline is None:
        return ""
    left = int(deadline.timestamp() - (time.time() if now is None else now))
    if left <= 0:
        return tr("c.perks.expired")
    days, rest = divmod(left, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return tr("c.perks.left_days", days=days, clock=clock) if days else tr("c.perks.left", clock=clock)


class PerksPresenter(_Base):
    """My red packets and coupons, with the time left to spend them.

    View: ``show_summary(text)``, ``show_items([PerkVM])``, ``show_busy``, ``show_error``.
    """

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(lambda: (self.s.api.my_red_packets(), self.s.api.my_coupons()),
                             on_done=self._loaded, on_error=self._fail)

    def _loaded(self, result) -> None:
        (packets, spendable), coupons = result
        self.view.show_busy(False)
        tr = self.tr
        items = []
        for p in packets:
            active = p.state == "active"
            items.append(PerkVM(f"rp-{p.claim_id}", p.campaign.get("name", ""),
                                format_fen(p.balance_fen if active else p.amount_fen),
                                tr("c.perks.packet_note", amount=format_fen(p.amount_fen)),
                                p.state, tr(f"c.perks.state.{p.state}"), p.spend_ends_at, active))
        for c in coupons:
            active = c.state == "claimed"
            items.append(PerkVM(f"cp-{c.claim_id}", c.campaign.get("name", ""), format_fen(c.discount_fen),
                                tr("c.perks.coupon_note", min=format_fen(c.min_spend_fen)),
                                c.state, tr(f"c.perks.state.{c.state}"), c.spend_ends_at, active))
        items.sort(key=lambda i: (not i.active, i.deadline.timestamp() if i.deadline else 0))
        self.view.show_summary(tr("c.perks.summary", amount=format_fen(spendable),
                                  coupons=sum(1 for c in coupons if c.state == "claimed")))
        self.view.show_items(items)

    def countdown(self, item: PerkVM, now: float | None = None) -> str:
        return countdown_text(self.tr, item.deadline, now) if item.active else item.state_label
