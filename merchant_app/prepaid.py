"""The merchant app's prepaid release (核销), without Kivy: scan (or type) the consumer's card code, release one
use or more, and see today's releases.

View of ``ReleasePresenter``: ``show_result(text)``, ``show_today(total_text, [ReleaseRowVM])``, ``show_busy``,
``show_error``. View of ``SellPresenter`` (the owner publishes a plan): ``show_kind(kind)``, ``show_published(text)``,
``show_busy``, ``show_error``.
"""

from __future__ import annotations

from dataclasses import dataclass

from merchant_app.presenters import _Base
from payclient import fmt
from payclient.errors import ApiError
from payclient.scan import decode_image
from suiyuan_protocol.money import MoneyError, format_fen, parse_yuan

CODE_PREFIX = "PPC"


@dataclass(frozen=True)
class ReleaseRowVM:
    title: str
    units: str
    amount: str


def parse_units(text: str) -> int | None:
    """Return the units typed, or None unless a whole number ≥ 1."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


class ReleasePresenter(_Base):
    def load(self) -> None:
        self.s.runner.submit(self.s.api.prepaid_releases, on_done=self._today, on_error=self._fail)

    def _today(self, result) -> None:
        items, total = result
        tr = self.tr
        rows = [ReleaseRowVM(tr("m.pp.row", time=fmt.hhmm(r.created_at), number=r.contract_number),
                             tr("m.pp.row_units", units=r.units), format_fen(r.amount_fen)) for r in items]
        self.view.show_today(tr("m.pp.today", count=len(items), amount=format_fen(total)), rows)

    def release(self, code_text: str, units_text: str = "1") -> None:
        code = (code_text or "").strip()
        if not code.startswith(CODE_PREFIX):
            self.view.show_error(self.tr("m.pp.bad_code"))
            return
        units = parse_units(units_text)
        if units is None:
            self.view.show_error(self.tr("m.pp.bad_units"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.prepaid_release, code, units, on_done=self._released, on_error=self._fail)

    def _released(self, r) -> None:
        self.view.show_busy(False)
        self.view.show_result(self.tr("m.pp.released", units=r.units, amount=format_fen(r.amount_fen),
                                      number=r.contract_number, left=r.units_left))
        self.load()

    def scan_image(self, path: str, units_text: str = "1") -> None:
        self.view.show_busy(True)
        self.s.runner.submit(decode_image, path, on_done=lambda texts: self._decoded(texts, units_text),
                             on_error=self._fail)

    def _decoded(self, texts: list[str], units_text: str) -> None:
        self.view.show_busy(False)
        codes = [t for t in texts if t.startswith(CODE_PREFIX)]
        if not codes:
            self.view.show_error(self.tr("err.no_code_found" if not texts else "m.pp.bad_code"))
            return
        self.view.show_code(codes[0])
        self.release(codes[0], units_text)


PLAN_KINDS = ("sessions", "stored_value", "time_pass")


def parse_percent_bp(text: str) -> int | None:
    """Return ``"10"`` / ``"2.5"`` percent as basis points (1000 / 250), or None when not a percentage."""
    text = (text or "").strip().rstrip("%") or "0"
    try:
        whole, _, frac = text.partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
            return None
        bp = int(whole) * 100 + int((frac + "00")[:2])
    except ValueError:
        return None
    return bp if bp <= 10_000 else None


class SellPresenter(_Base):
    """The owner publishes a plan of the shop: sessions × unit price, stored value with a bonus, or months."""

    def __init__(self, services, view):
        super().__init__(services, view)
        self.kind = "sessions"

    def choose(self, kind: str) -> None:
        self.kind = kind
        self.view.show_kind(kind)

    def _body(self, name: str, first: str, second: str, fee: str) -> dict | None:
        tr = self.tr
        if not (name or "").strip():
            self.view.show_error(tr("m.sell.need_name"))
            return None
        fee_bp = parse_percent_bp(fee)
        if fee_bp is None:
            self.view.show_error(tr("m.sell.bad_fee"))
            return None
        body = {"kind": self.kind, "name": name.strip(), "refund_fee_bp": fee_bp}
        try:
            if self.kind == "sessions":
                units = parse_units(first)
                if units is None:
                    self.view.show_error(tr("m.pp.bad_units"))
                    return None
                body.update(units=units, unit_price_fen=parse_yuan(second))
            elif self.kind == "stored_value":
                body.update(price_fen=parse_yuan(first), bonus_fen=parse_yuan(second) if second.strip() else 0)
            else:
                months = parse_units(second)
                if months is None:
                    self.view.show_error(tr("m.sell.bad_months"))
                    return None
                body.update(price_fen=parse_yuan(first), months=months)
        except MoneyError:
            self.view.show_error(tr("err.amount"))
            return None
        if not body.get("unit_price_fen", body.get("price_fen")):
            self.view.show_error(tr("err.amount"))
            return None
        return body

    def publish(self, name: str, first: str, second: str, fee: str = "0") -> None:
        body = self._body(name, first, second, fee)
        if body is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(self._publish, body, on_done=self._published, on_error=self._refused)

    def _publish(self, body: dict):
        shop = next((m for m in self.s.api.prepaid_merchants() if m["merchant_id"] == self.merchant.id
                     and m["status"] == "approved"), None)
        if shop is None:
            raise NotPrepaid()
        return self.s.api.prepaid_publish(shop["id"], body)

    def _published(self, plan) -> None:
        self.view.show_busy(False)
        self.view.show_published(self.tr("m.sell.published", name=plan.name, price=format_fen(plan.price_fen)))

    def _refused(self, exc: Exception) -> None:
        if isinstance(exc, NotPrepaid):
            self.view.show_busy(False)
            self.view.show_error(self.tr("m.sell.not_prepaid"))
        elif isinstance(exc, ApiError) and exc.code == "prepaid_limit":
            self.view.show_busy(False)
            rule, limit = exc.get("rule", ""), exc.get("limit")
            shown = (format_fen(limit) if rule.endswith("_fen") else f"{limit / 100:g}%" if rule.endswith("_bp")
                     else str(limit))
            self.view.show_error(self.tr("m.sell.limit", rule=self.tr(f"m.sell.rule.{rule}")
                                         if self.tr.has(f"m.sell.rule.{rule}") else rule, limit=shown))
        else:
            self._fail(exc)


class NotPrepaid(Exception):
    """The shop has no approved prepaid acceptance."""
