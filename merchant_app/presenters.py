"""The merchant app's screen logic, without Kivy (tested without a window).

Each presenter takes :class:`payclient.services.Services` and a *view* (the
screen) with the ``show_*`` methods named in its docstring plus ``go(screen)``.
The signed-in shop is ``services.state["merchant"]`` and the role
``services.state["role"]`` (``merchant_owner`` or ``cashier``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from payclient import fmt
from payclient.api import watch_order
from payclient.errors import ApiError
from payclient.keypad import AmountEntry
from payclient.models import Merchant, Order
from payclient.presenter import LoginFlow, Presenter, WrongApp
from payclient.scan import UnreadableImage, classify, decode_image, normalize_paycode
from payclient.services import Services
from suiyuan_protocol.money import MoneyError, format_fen, parse_yuan

__all__ = [
    "CampaignsPresenter", "ChargePresenter", "CollectPresenter", "LoginPresenter", "OrderRowVM", "PosterPresenter",
    "RefundConfirmVM", "RefundPolicyPresenter", "RefundPresenter", "TodayPresenter", "TotalsVM", "merchant_split",
]

STAFF_ROLES = ("merchant_owner", "cashier")


class NoShop(Exception):
    """The account has no approved shop."""


class _Base(Presenter):
    @property
    def merchant(self) -> Merchant:
        return self.s.state["merchant"]

    @property
    def is_owner(self) -> bool:
        return self.s.state.get("role") == "merchant_owner"

    def explain(self, exc: Exception) -> str | None:
        if isinstance(exc, WrongApp):
            return self.tr("m.err.not_staff")
        if isinstance(exc, NoShop):
            return self.tr("m.err.no_shop")
        if isinstance(exc, UnreadableImage):
            return self.tr("err.image_unreadable")
        return None


# ---------------------------------------------------------------- log in


class LoginPresenter(_Base, LoginFlow):
    """View: ``show_busy``, ``show_error``, ``go``, ``show_login_alert(title, text)``."""

    roles = STAFF_ROLES

    def restore(self) -> str:
        """Return the first screen (log-in); with a stored session the shop is fetched in the
        background and the app moves on to collecting."""
        if self.s.api.signed_in:
            self.view.show_busy(True)
            self.s.runner.submit(self._shop, on_done=self._logged_in, on_error=self._restore_failed)
        return "login"

    def _restore_failed(self, exc: Exception) -> None:
        self.view.show_busy(False)
        self.s.api.tokens.clear()
        self.view.go("login")

    def _login(self, phone: str, password: str):
        result = self._sign_in(phone, password)
        _user, shop = self._shop()
        return result.user, shop  # the log-in answer's user: it carries the log-in alerts

    def _shop(self):
        user = self.s.api.user
        shops = [m for m in self.s.api.merchants() if m.verified]
        if not shops:
            raise NoShop()
        return user, shops[0]

    def _logged_in(self, result) -> None:
        user, shop = result
        self.s.state.update(merchant=shop, role=user.role, user=user)
        self.view.show_busy(False)
        self.view.go("collect")
        self._warn_owner(user)

    def logout(self) -> None:
        self.s.state.clear()
        self.s.runner.submit(self.s.api.logout, on_done=lambda _r: self.view.go("login"),
                             on_error=lambda _e: self.view.go("login"))


# ---------------------------------------------------------------- collect (dynamic QR)


@dataclass(frozen=True)
class OrderVM:
    order_id: int
    payload: str
    amount: str
    merchant: str
    reference: str
    expires_at: float | None


class CollectPresenter(_Base):
    """Keypad → dynamic QR → "paid" (event stream) or expiry.

    View: ``show_amount(text, ready)``, ``show_order(OrderVM)``, ``show_countdown(text)``,
    ``show_paid(amount, time)``, ``show_split(text)`` (after paid, when subsidised), ``show_expired()``,
    ``show_cancelled()``, ``show_busy``, ``show_error``.
    """

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.entry = AmountEntry()
        self.order: Order | None = None
        self.status = ""
        self._stop: threading.Event | None = None
        self._watchers: list[threading.Thread] = []  # a stopped one may still be finishing a request
        #: (order id, status) → when the event stream (or a poll) reported it (monotonic clock)
        self.heard_at: dict[tuple[int, str], float] = {}

    def press(self, key: str) -> None:
        self.entry.press(key)
        self.view.show_amount(self.entry.display, self.entry.fen > 0)

    def create(self, description: str = "") -> None:
        fen = self.entry.fen
        if fen <= 0:
            self.view.show_error(self.tr("err.amount_zero"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(lambda: self.s.api.create_order(self.merchant.id, fen, description=description or None),
                             on_done=self._created, on_error=self._fail)

    def _created(self, order: Order) -> None:
        self.view.show_busy(False)
        self.order, self.status = order, order.status
        self.view.show_order(OrderVM(order.id, order.payload or "", format_fen(order.amount_fen),
                                     self.tr.pick(order.merchant.name_zh, order.merchant.name_en), order.reference,
                                     order.expires_at.timestamp() if order.expires_at else None))
        self.tick()
        self._watch(order.id)

    def _watch(self, order_id: int) -> None:
        self.stop_watching()
        stop = self._stop = threading.Event()

        def on_status(status, _event):
            self.heard_at.setdefault((order_id, status), time.monotonic())
            self.s.runner.post(self._status, order_id, status)

        def follow():
            try:
                watch_order(self.s.api, order_id, on_status, stop=stop)
            except Exception:  # noqa: BLE001 - the countdown still ends the screen at expiry
                pass

        # A long-lived watcher is not "work in flight": it does not hold the busy veil.
        watcher = threading.Thread(target=follow, daemon=True, name=f"order-{order_id}-events")
        self._watchers = [t for t in self._watchers if t.is_alive()] + [watcher]
        watcher.start()

    def _status(self, order_id: int, status: str) -> None:
        if self.order is None or order_id != self.order.id or status == self.status:
            return
        self.status = status
        if status == "paid":
            self.stop_watching()
            self.s.announcer.paid(order_id, self.order.amount_fen)
            self.view.show_paid(format_fen(self.order.amount_fen), fmt.hhmm(_now_dt()))
            self.entry.press("clear")
            self.s.runner.submit(self.s.api.order, order_id, on_done=self._paid_split,
                                 on_error=lambda _e: None)  # "paid" is already shown; the split is extra
        elif status == "expired":
            self.stop_watching()
            self.view.show_expired()
        elif status == "cancelled":
            self.stop_watching()
            self.view.show_cancelled()

    def _paid_split(self, order: Order) -> None:
        """Say when red packets or coupons paid part of it: the shop still received the full price."""
        if self.order is None or order.id != self.order.id or order.breakdown is None:
            return
        note, rows = merchant_split(self.tr, order.breakdown)
        if note:
            self.view.show_split(note + "\n" + " · ".join(f"{label} {value}" for label, value in rows))

    def tick(self, now: float | None = None) -> None:
        """Update the countdown (call every second while the code is shown)."""
        if self.order is None or self.order.expires_at is None or self.status != "created":
            return
        left = self.order.expires_at.timestamp() - (time.time() if now is None else now)
        self.view.show_countdown(fmt.countdown(left))
        if left <= 0:
            self._status(self.order.id, "expired")

    def cancel(self) -> None:
        order = self.order
        if order is None or self.status != "created":
            self.new()
            return
        self.stop_watching()
        self.s.runner.submit(self.s.api.cancel_order, order.id,
                             on_done=lambda o: self._status(o.id, o.status), on_error=self._fail)

    def new(self) -> None:
        """Back to the keypad for the next customer."""
        self.stop_watching()
        self.order, self.status = None, ""
        self.entry.press("clear")
        self.view.show_amount(self.entry.display, False)

    def stop_watching(self, wait: float | None = None) -> bool:
        """Stop following the order (its stream is closed at once); with ``wait``, also wait up to that
        many seconds for the watcher's thread to end (the request it has in flight finishes first).
        Return whether no watcher thread is left running."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        if wait:
            deadline = time.monotonic() + wait
            for t in self._watchers:
                t.join(max(0.0, deadline - time.monotonic()))
        self._watchers = [t for t in self._watchers if t.is_alive()]
        return not self._watchers


def _now_dt():
    from datetime import UTC, datetime

    return datetime.now(UTC)


# ---------------------------------------------------------------- charge a payment code


@dataclass(frozen=True)
class ChargedVM:
    amount: str
    reference: str
    time: str
    subsidy: str
    rows: tuple[tuple[str, str], ...] = ()  # the split: customer's wallet, red packet, coupon, received
    order_id: int = 0


def merchant_split(tr, b) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What the shop sees of a payment's split (a ``Breakdown``): a line saying it was subsidised (or "")
    and the rows — from the customer's wallet, red packet, coupon, and the full price received."""
    if not b.subsidy_fen:
        return "", ()
    rows = [(tr("m.split.from_wallet"), format_fen(b.from_wallet_fen))]
    if b.red_packet_fen:
        rows.append((tr("m.split.red_packet"), format_fen(b.red_packet_fen)))
    if b.coupon_fen:
        rows.append((tr("m.split.coupon"), format_fen(b.coupon_fen)))
    rows.append((tr("m.split.received"), format_fen(b.merchant_receives_fen or b.price_fen)))
    return tr("m.split.subsidised", amount=format_fen(b.subsidy_fen)), tuple(rows)


class ChargePresenter(_Base):
    """Amount, then the consumer's payment code (camera, picture or typed digits) → charge.

    View: ``show_amount(text, ready)``, ``show_code(text)``, ``show_charged(ChargedVM)``,
    ``show_busy``, ``show_error``.
    """

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.entry = AmountEntry()

    def press(self, key: str) -> None:
        self.entry.press(key)
        self.view.show_amount(self.entry.display, self.entry.fen > 0)

    def set_amount(self, text: str) -> bool:
        try:
            fen = parse_yuan(text)
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return False
        self.entry = AmountEntry(f"{fen // 100}.{fen % 100:02d}" if fen % 100 else str(fen // 100))
        self.view.show_amount(self.entry.display, fen > 0)
        return True

    def charge(self, code_text: str) -> None:
        code = normalize_paycode(code_text)
        if classify(code) != "paycode":
            self.view.show_error(self.tr("err.paycode_invalid"))
            return
        fen = self.entry.fen
        if fen <= 0:
            self.view.show_error(self.tr("err.amount_zero"))
            return
        self.view.show_code(code)
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.charge, self.merchant.id, code, fen, on_done=self._charged,
                             on_error=self._fail)

    def scan_image(self, path: str) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(decode_image, path, on_done=self._decoded, on_error=self._fail)

    def _decoded(self, texts: list[str]) -> None:
        self.view.show_busy(False)
        codes = [t for t in texts if classify(t) == "paycode"]
        if not texts:
            self.view.show_error(self.tr("err.no_code_found"))
        elif not codes:
            self.view.show_error(self.tr("err.not_a_paycode"))
        else:
            self.charge(codes[0])

    def _charged(self, payment) -> None:
        self.view.show_busy(False)
        o = payment.order
        self.s.announcer.paid(o.id, o.amount_fen)
        self.entry = AmountEntry()
        note, rows = merchant_split(self.tr, payment.split)
        self.view.show_charged(ChargedVM(format_fen(o.amount_fen), o.reference, fmt.hhmm(o.paid_at), note, rows,
                                         o.id))


# ---------------------------------------------------------------- today, refunds, poster


@dataclass(frozen=True)
class TotalsVM:
    net: str
    paid: str
    refunded: str
    count: str


@dataclass(frozen=True)
class OrderRowVM:
    order_id: int
    title: str
    subtitle: str
    amount: str  # Kivy markup: income "+¥20.00"; money that never came or went back struck through
    status: str
    refundable_fen: int
    order: Order
    income: bool = False  # styled as money received (only paid, partly refunded orders)


#: Orders whose money is (still partly) the shop's.
INCOME_STATUSES = ("paid", "partially_refunded")


class TodayPresenter(_Base):
    """View: ``show_totals(TotalsVM)``, ``show_orders(list[OrderRowVM])``, ``show_busy``, ``show_error``."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self._load, on_done=self._loaded, on_error=self._fail)

    def _load(self):
        self.s.api.resume_pending()  # a charge or refund cut off by the network is finished first
        return self.s.api.orders(self.merchant.id)

    def _loaded(self, page) -> None:
        self.view.show_busy(False)
        t = page.totals
        self.view.show_totals(TotalsVM(format_fen(t.net_fen), format_fen(t.paid_fen), format_fen(t.refunded_fen),
                                       self.tr("m.today.count", paid=t.paid_count, orders=t.order_count)))
        self.view.show_orders([self.row(o) for o in page.items])

    def row(self, o: Order) -> OrderRowVM:
        tr = self.tr
        when = fmt.hhmm(o.paid_at or o.created_at)
        subtitle = f"{when} · {tr(f'status.{o.status}')} · …{o.reference[-6:]}"
        if o.refunded_fen:
            subtitle += " · " + tr("m.today.refunded_part", amount=format_fen(o.refunded_fen))
        title = o.description or tr(f"m.today.kind.{o.kind}")
        income = o.status in INCOME_STATUSES
        if income:
            amount = "+" + format_fen(o.amount_fen - o.refunded_fen)
        elif o.status == "created":
            amount = format_fen(o.amount_fen)  # waiting: not money yet, not struck either
        else:
            amount = f"[s]{format_fen(o.amount_fen)}[/s]"  # cancelled, expired, refunded: not received
        return OrderRowVM(o.id, title, subtitle, amount, o.status, o.refundable_fen, o, income)


@dataclass(frozen=True)
class RefundConfirmVM:
    """The question asked before any refund: the exact amount, the order, and (above the owner's limit)
    the owner's password."""

    amount: str
    order_line: str
    paid_line: str
    needs_password: bool
    button: str


class RefundPresenter(_Base):
    """An order and its refund: amount typed → confirmation (exact amount and order; the owner's password
    above the owner's limit) → refund. An empty amount refunds nothing.

    View: ``show_order(OrderRowVM, can_refund)``, ``show_confirm(RefundConfirmVM)``, ``hide_confirm()``,
    ``show_refunded(text)``, ``show_busy``, ``show_error``.
    """

    def __init__(self, services: Services, view):
        super().__init__(services, view)
        self.order: Order | None = None
        self.pending: tuple[int, str | None, bool] | None = None  # (amount_fen, reason, needs_password)

    def open(self, order: Order) -> None:
        self.order, self.pending = order, None
        self.view.show_order(TodayPresenter(self.s, self.view).row(order), order.refundable_fen > 0)

    def needs_password(self, amount_fen: int) -> bool:
        limit = getattr(self.merchant, "refund_approval_above_fen", None)
        return limit is not None and amount_fen > limit

    def ask(self, amount_text: str = "", reason: str = "") -> None:
        """Check the amount typed and ask for confirmation; never refunds by itself."""
        order = self.order
        if order is None:
            return
        if not amount_text.strip():
            self.view.show_error(self.tr("m.refund.enter_amount"))
            return
        try:
            amount = parse_yuan(amount_text)
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return
        if amount <= 0:
            self.view.show_error(self.tr("err.amount_zero"))
            return
        if amount > order.refundable_fen:
            self.view.show_error(self.tr("err.refund_exceeds_paid"))
            return
        self._confirm(amount, reason.strip() or None, self.needs_password(amount))

    def _confirm(self, amount: int, reason: str | None, needs_password: bool) -> None:
        order, tr = self.order, self.tr
        self.pending = (amount, reason, needs_password)
        title = order.description or tr(f"m.today.kind.{order.kind}")
        self.view.show_confirm(RefundConfirmVM(
            amount=format_fen(amount),
            order_line=tr("m.refund.confirm_order", title=title, ref=order.reference[-6:],
                          time=fmt.day_time(order.paid_at or order.created_at)),
            paid_line=tr("m.refund.confirm_paid", paid=format_fen(order.amount_fen),
                         left=format_fen(order.refundable_fen)),
            needs_password=needs_password,
            button=tr("m.refund.confirm_button", amount=format_fen(amount))))

    def cancel(self) -> None:
        self.pending = None
        self.view.hide_confirm()

    def confirm(self, owner_password: str = "") -> None:
        """Refund what the confirmation showed (once: a second tap finds nothing pending)."""
        order, pending = self.order, self.pending
        if order is None or pending is None:
            return
        amount, reason, needs_password = pending
        if needs_password and not owner_password:
            self.view.show_error(self.tr("m.refund.password_required"))
            return
        self.pending = None
        self.view.hide_confirm()
        self.view.show_busy(True)
        self.s.runner.submit(self._refund, order.id, amount, reason, owner_password if needs_password else None,
                             on_done=self._refunded, on_error=lambda exc: self._refund_failed(exc, pending))

    def _refund(self, order_id: int, amount: int, reason: str | None, owner_password: str | None):
        approval = self.s.api.refund_approval(order_id, amount, owner_password) if owner_password else None
        return self.s.api.refund(order_id, amount, reason, owner_approval=approval)

    def _refund_failed(self, exc: Exception, pending) -> None:
        if isinstance(exc, ApiError) and exc.code in ("owner_approval_required", "password_wrong"):
            # The owner's limit changed since log-in, or the password was mistyped: ask again, with it.
            self.view.show_busy(False)
            self.view.show_error(self.tr.error(exc))
            self._confirm(pending[0], pending[1], True)
            return
        self._fail(exc)

    def _refunded(self, result) -> None:
        self.view.show_busy(False)
        self.order = result.order
        self.s.announcer.refunded(result.order.id, result.order.refunded_fen, result.refund.amount_fen)
        self.view.show_order(TodayPresenter(self.s, self.view).row(result.order), result.order.refundable_fen > 0)
        self.view.show_refunded(self.tr("m.refund.done", amount=format_fen(result.refund.amount_fen)))


class RefundPolicyPresenter(_Base):
    """The owner's limit above which any refund needs the owner's password (enforced by the server).

    View: ``show_policy(text, can_edit)``, ``policy_saved(text)``, ``show_busy``, ``show_error``.
    """

    def text(self) -> str:
        limit = getattr(self.merchant, "refund_approval_above_fen", None)
        return self.tr("m.policy.off") if limit is None else self.tr("m.policy.above", amount=format_fen(limit))

    def load(self) -> None:
        self.view.show_policy(self.text(), self.is_owner)

    def save(self, amount_text: str, password: str) -> None:
        """Set the limit (an empty amount turns the password off); the owner types their password."""
        if not self.is_owner:
            return
        above = None
        if amount_text.strip():
            try:
                above = parse_yuan(amount_text)
            except MoneyError as exc:
                self.view.show_error(self.tr.error(exc))
                return
        if not password:
            self.view.show_error(self.tr("m.policy.password_required"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.set_refund_policy, self.merchant.id, above, password,
                             on_done=self._saved, on_error=self._fail)

    def _saved(self, merchant: Merchant) -> None:
        self.view.show_busy(False)
        self.s.state["merchant"] = merchant
        self.view.show_policy(self.text(), self.is_owner)
        self.view.policy_saved(self.tr("m.policy.saved"))


class PosterPresenter(_Base):
    """View: ``show_poster(payload, name_zh, name_en, number, cap_text)``, ``show_busy``, ``show_error``."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(lambda: self.s.api.static_qr(self.merchant.id), on_done=self._loaded,
                             on_error=self._fail)

    def _loaded(self, static) -> None:
        self.view.show_busy(False)
        m = self.merchant
        self.view.show_poster(static.payload, m.name_zh, m.name_en, m.merchant_number,
                              self.tr("m.poster.cap", cap=format_fen(static.daily_cap_per_consumer_fen)))


# ---------------------------------------------------------------- campaigns the shop takes part in


@dataclass(frozen=True)
class ShopCampaignVM:
    campaign_id: int
    title: str
    kind_label: str
    detail: str
    status: str
    when: str


class CampaignsPresenter(_Base):
    """Campaigns the shop takes part in (red packets and coupons its customers can spend here).

    View: ``show_zone(text)``, ``show_campaigns([ShopCampaignVM])``, ``show_busy``, ``show_error``.
    """

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self._load, on_done=self._loaded, on_error=self._fail)

    def _load(self):
        m = self.merchant
        zone = None
        if m.latitude is not None and m.longitude is not None:
            zone = self.s.api.locate(m.latitude, m.longitude).zone
        # The server says which campaigns this shop takes (``accepted_here``): the one eligibility rule.
        items = self.s.api.campaigns(zone_id=zone.id, merchant_id=m.id) if zone else []
        return zone, [c for c in items if c.status in ("scheduled", "live", "ended") and c.accepted_here]

    def _loaded(self, result) -> None:
        zone, items = result
        self.view.show_busy(False)
        tr = self.tr
        self.view.show_zone(tr("m.camp.zone", zone=tr.pick(zone.name_zh, zone.name_en)) if zone
                            else tr("m.camp.no_zone"))
        vms = []
        for c in items:
            if c.kind == "coupon":
                kind = tr("m.camp.kind.coupon")
                detail = tr("m.camp.coupon_detail", min=format_fen(c.min_spend_fen or 0),
                            off=format_fen(c.discount_fen or 0))
            else:
                kind = tr("m.camp.kind.lottery" if c.kind == "lottery" else "m.camp.kind.grab")
                detail = tr("m.camp.packet_detail", n=c.packet_count, budget=format_fen(c.budget_fen or 0))
            when = tr("m.camp.spend_until", at=fmt.day_time(c.window("spend_ends_at")))
            vms.append(ShopCampaignVM(c.id, c.name, kind, detail, tr(f"m.camp.status.{c.status}"), when))
        self.view.show_campaigns(vms)
