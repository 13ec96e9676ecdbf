"""E-receipts (电子小票): every payment in the consumer's history opens its receipt — the merchant (verified
badge, zone), the price and what red packets and coupons paid, time, reference, refund status — and the
receipt can be shared as a picture. Kivy-free, tested without a window."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consumer_app.presenters import _Base, shop_zone, split_rows
from payclient import fmt
from payclient.receipt import ReceiptDoc, render_image
from suiyuan_protocol.money import format_fen

__all__ = ["EReceiptVM", "ReceiptPresenter", "receipt_reference"]

def receipt_reference(t, payments: dict[int, str]) -> str:
    """The order reference whose receipt the history row ``t`` (a ``Transaction``) opens, or ``""``: a
    payment I made (its memo), or a refund of one (``payments`` maps payment transfer ids to references)."""
    if t.code == "payment" and t.direction == "out" and t.memo:
        return t.memo
    if t.code == "refund" and t.reverses_transfer_id is not None:
        return payments.get(t.reverses_transfer_id, "")
    return ""


@dataclass(frozen=True)
class EReceiptVM:
    merchant: str
    verified: bool
    zone: str
    amount: str  # the price
    rows: tuple[tuple[str, str], ...]  # price, red packet, coupon, paid from the wallet; refunded
    time: str
    reference: str
    status: str
    refunded: bool
    doc: ReceiptDoc  # the same receipt, for the shared picture


class ReceiptPresenter(_Base):
    """View: ``show_receipt(EReceiptVM)``, ``show_shared(text, path)``, ``show_busy``, ``show_error``."""

    def __init__(self, services, view):
        super().__init__(services, view)
        self.current: EReceiptVM | None = None

    def open(self, reference: str) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self._load, reference, on_done=self._loaded, on_error=self._fail)

    def _load(self, reference: str):
        payment = self.s.api.receipt(reference)
        shop = self.s.api.merchant(payment.order.merchant.id)
        return payment, shop, shop_zone(self.s.api, shop)

    def _loaded(self, result) -> None:
        self.view.show_busy(False)
        self.current = vm = self.receipt_vm(*result)
        self.view.show_receipt(vm)

    def receipt_vm(self, payment, shop, zone) -> EReceiptVM:
        tr = self.tr
        o = payment.order
        name = tr.pick(o.merchant.name_zh, o.merchant.name_en)
        zone_name = tr.pick(zone["name_zh"], zone["name_en"]) if zone else ""
        rows = list(split_rows(tr, payment.split, paid=True))
        if o.refunded_fen:
            rows.append((tr("c.receipt.refunded"), format_fen(o.refunded_fen)))
        when = fmt.local(o.paid_at).strftime("%Y-%m-%d %H:%M:%S") if o.paid_at else ""
        status = tr(f"status.{o.status}")
        badge = tr("c.receipt.verified") if shop.verified else tr("c.receipt.unverified")
        subtitle = " · ".join(x for x in (badge, zone_name) if x)
        doc = ReceiptDoc(title=tr("c.receipt.title"), shop=name, amount=format_fen(o.amount_fen),
                         lines=(*rows, (tr("c.receipt.time"), when), (tr("c.receipt.status"), status),
                                (tr("c.receipt.reference"), o.reference)),
                         reference=o.reference, qr_caption=tr("c.receipt.qr_caption"), subtitle=subtitle,
                         footer=tr("c.receipt.footer"))
        return EReceiptVM(name, shop.verified, zone_name, format_fen(o.amount_fen), tuple(rows), when, o.reference,
                          status, bool(o.refunded_fen), doc)

    def share(self, folder: str | Path) -> Path | None:
        """Draw the receipt as a picture in ``folder`` and hand it to the phone's share sheet (Android);
        return the picture's path (``None`` before a receipt is open)."""
        vm = self.current
        if vm is None:
            return None
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"receipt-{vm.reference}.png"
        render_image(vm.doc).save(path)
        try:
            from plyer import share  # type: ignore[import-not-found]

            share.share_file(str(path))
        except Exception:  # noqa: BLE001 - no share sheet on a desktop: the picture is saved
            pass
        self.view.show_shared(self.tr("c.receipt.saved", path=str(path)), path)
        return path
