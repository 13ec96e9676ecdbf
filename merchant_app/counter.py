"""At the counter: payments said aloud, printed receipts, and their settings (Kivy-free, tested without a
window).

- :class:`PaymentFeed` watches today's orders and announces each payment (dynamic QR, static QR, pay
  code) and each refund once; the collect, charge and refund screens announce their own at once, under
  the same keys, so nothing is said twice.
- :func:`receipt_doc` is the shop's receipt of an order; :class:`PrintPresenter` prints it (and reprints
  it from today's list) on the ESC/POS printer set in :class:`CounterSettingsPresenter`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from merchant_app.presenters import _Base
from payclient import fmt
from payclient.receipt import ReceiptDoc, open_printer, parse_printer, print_escpos
from payclient.speech import SpeechSettings
from suiyuan_protocol.money import format_fen

__all__ = ["CounterSettingsPresenter", "CounterVM", "PaymentFeed", "PrintPresenter", "receipt_doc"]


class PaymentFeed(_Base):
    """Today's orders, polled: announces payments that land while the app is open (a static code is paid
    with no screen waiting for it) and refunds made from another device.

    Orders paid before the feed started are not announced; ``poll`` asks the server in the background.
    """

    def __init__(self, services, view=None):
        super().__init__(services, view)
        self.started_at = datetime.now(UTC)
        self.known: dict[int, tuple[str, int]] = {}  # order id → (status, refunded_fen) last seen

    def poll(self) -> None:
        if self.s.state.get("merchant") is None or not self.s.api.signed_in:
            return
        self.s.runner.submit(self.s.api.orders, self.merchant.id, on_done=self.seen,
                             on_error=lambda _e: None)  # the next poll tries again

    def seen(self, page) -> None:
        """Announce what changed in ``page`` (an ``OrdersPage``) since the last look, oldest first."""
        announcer = self.s.announcer
        for o in sorted(page.items, key=lambda o: (o.paid_at or o.created_at, o.id)):
            before = self.known.get(o.id)
            self.known[o.id] = (o.status, o.refunded_fen)
            if o.paid_at is None:
                continue
            if before is None:
                if o.paid_at < self.started_at:
                    continue  # on the list already when the app opened
                before = ("created", 0)
            if before[0] == "created":
                announcer.paid(o.id, o.amount_fen)
            if o.refunded_fen > before[1]:
                announcer.refunded(o.id, o.refunded_fen, o.refunded_fen - before[1])


# ---------------------------------------------------------------- receipts


def receipt_doc(tr, order, *, reprint: bool = False) -> ReceiptDoc:
    """The shop's receipt of ``order`` (a paid ``Order``, fetched singly so it carries ``payer_tail``
    and ``breakdown``): shop, amount, time, method, payer's last digits, status, reference (and its QR
    for a refund), the subsidy parts."""
    m = order.merchant
    lines = [(tr("m.receipt.time"), fmt.local(order.paid_at or order.created_at).strftime("%Y-%m-%d %H:%M:%S")),
             (tr("m.receipt.method"), tr(f"m.receipt.method.{order.kind}")),
             (tr("m.receipt.payer"), tr("m.receipt.payer_tail", tail=order.payer_tail) if order.payer_tail
              else tr("m.receipt.payer_unknown")),
             (tr("m.receipt.status"), tr(f"status.{order.status}"))]
    if order.refunded_fen:
        lines.append((tr("m.receipt.refunded"), format_fen(order.refunded_fen)))
    b = order.breakdown
    if b is not None and b.subsidy_fen:
        lines.append((tr("m.receipt.from_wallet"), format_fen(b.from_wallet_fen)))
        if b.red_packet_fen:
            lines.append((tr("m.split.red_packet"), format_fen(b.red_packet_fen)))
        if b.coupon_fen:
            lines.append((tr("m.split.coupon"), format_fen(b.coupon_fen)))
    if order.description:
        lines.append((tr("m.receipt.note"), order.description))
    lines.append((tr("m.receipt.reference"), order.reference))
    title = tr("m.receipt.title") + (" " + tr("m.receipt.reprint") if reprint else "")
    return ReceiptDoc(title=title, shop=m.name_zh, amount=format_fen(order.amount_fen), lines=tuple(lines),
                      reference=order.reference, qr_caption=tr("m.receipt.qr_caption"),
                      subtitle=tr("m.receipt.merchant_number", number=m.merchant_number or ""),
                      footer=tr("m.receipt.footer"))


class PrintPresenter(_Base):
    """Print an order's receipt on the shop's printer (and reprint from today's list).

    View: ``show_printed(text)``, ``show_busy``, ``show_error``.
    """

    def printer_spec(self) -> str:
        return (self.s.settings.load().get("printer") or "").strip()

    def print_order(self, order_id: int, *, reprint: bool = False) -> None:
        spec = self.printer_spec()
        if not spec:
            self.view.show_error(self.tr("m.print.no_printer"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self._print, order_id, spec, reprint, on_done=self._printed, on_error=self._fail)

    def _print(self, order_id: int, spec: str, reprint: bool) -> ReceiptDoc:
        doc = receipt_doc(self.tr, self.s.api.order(order_id), reprint=reprint)
        printer = open_printer(spec)
        try:
            print_escpos(doc, printer)
        finally:
            printer.close()
        return doc

    def _printed(self, doc: ReceiptDoc) -> None:
        self.view.show_busy(False)
        self.view.show_printed(self.tr("m.print.done", amount=doc.amount))

    def explain(self, exc: Exception) -> str | None:
        from payclient.errors import ApiError, NetworkError

        if isinstance(exc, (ApiError, NetworkError)):
            return super().explain(exc)
        if isinstance(exc, (OSError, ValueError)) or type(exc).__module__.startswith("escpos"):
            return self.tr("m.print.failed", detail=str(exc) or type(exc).__name__)
        return super().explain(exc)


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class CounterVM:
    speech_on: bool
    volume: int
    engine: str
    printer: str


class CounterSettingsPresenter(_Base):
    """Announcements on/off and their volume; the receipt printer's address. Kept in the app's settings.

    View: ``show_counter(CounterVM)``, ``show_printed(text)``, ``show_error``.
    """

    def load(self) -> None:
        s = self.s.announcer.settings()
        self.view.show_counter(CounterVM(s.enabled, s.volume, getattr(self.s.announcer.engine, "name", ""),
                                         self.s.settings.load().get("printer") or ""))

    def set_speech(self, enabled: bool | None = None, volume: int | None = None) -> None:
        s = self.s.announcer.settings()
        SpeechSettings(s.enabled if enabled is None else bool(enabled),
                       s.volume if volume is None else max(0, min(100, int(volume)))).save(self.s.settings)
        self.load()

    def try_voice(self) -> None:
        """Say a sample announcement now (a fresh key each time, so it is never dropped as a repeat)."""
        self.s.announcer.announce(("try", time.monotonic()), "payment", 3850)

    def set_printer(self, spec: str) -> bool:
        """Keep the printer's address (empty: no printer); return False (and say why) for a bad one."""
        spec = spec.strip()
        if spec:
            try:
                parse_printer(spec)
            except ValueError:
                self.view.show_error(self.tr("m.print.bad_address"))
                return False
        data = self.s.settings.load()
        data["printer"] = spec
        self.s.settings.save(data)
        self.load()
        self.view.show_printed(self.tr("m.print.saved"))
        return True
