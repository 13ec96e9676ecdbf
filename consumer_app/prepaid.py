"""The consumer app's prepaid cards (我的预付卡), without Kivy: plans on sale, buying, my cards with the units
left, a card's terms and their hash, the code the shop scans, and the refund.

View of ``PrepaidPresenter``: ``show_zones([(id, name)], selected)`` (id 0: every zone), ``show_cards([CardVM])``,
``show_plans([PlanVM])``, ``show_message(text)``,
``show_busy``, ``show_error``, ``go(name)``. View of ``PrepaidCardPresenter``: ``show_card(CardDetailVM)``,
``show_message``, ``show_busy``, ``show_error``.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumer_app.presenters import _Base
from payclient import fmt
from suiyuan_protocol.money import format_fen


def left_text(tr, c) -> str:
    """``剩余 7/10 次`` — the units left, in the card's unit."""
    if c.kind == "stored_value":
        return tr("c.pp.left.stored_value", left=format_fen(c.units_left))
    return tr(f"c.pp.left.{c.kind}", left=c.units_left, total=c.units_total)


@dataclass(frozen=True)
class CardVM:
    contract_id: int
    title: str
    merchant: str
    kind_label: str
    left: str
    escrow: str
    status: str
    active: bool


@dataclass(frozen=True)
class PlanVM:
    plan_id: int
    title: str
    merchant: str
    kind_label: str
    detail: str
    grade: str
    buy: str


@dataclass(frozen=True)
class CardDetailVM:
    contract_id: int
    title: str
    merchant: str
    left: str
    escrow: str
    status: str
    code: str
    terms: list  # [(label, value)]
    terms_sha256: str
    refund_note: str
    can_refund: bool
    history: list = ()  # [(what, fen to the shop)]


def card_vm(tr, c) -> CardVM:
    t = c.terms
    return CardVM(c.id, t.get("plan", {}).get("name", ""), t.get("merchant", {}).get("name_zh", ""),
                  tr(f"c.pp.kind.{c.kind}"), left_text(tr, c), tr("c.pp.escrow", amount=format_fen(c.escrow_fen)),
                  tr(f"c.pp.status.{c.status}"), c.status == "active")


def plan_vm(tr, p) -> PlanVM:
    if p.kind == "sessions":
        detail = tr("c.pp.plan_detail.sessions", units=p.units, unit=format_fen(p.unit_price_fen or 0),
                    days=p.cooling_off_days)
    elif p.kind == "stored_value":
        detail = tr("c.pp.plan_detail.stored_value", price=format_fen(p.price_fen), value=format_fen(p.units),
                    days=p.cooling_off_days)
    else:
        detail = tr("c.pp.plan_detail.time_pass", months=p.months or 0, days=p.cooling_off_days)
    grade = tr("c.pp.grade", grade=p.credit_grade["grade"]) if p.credit_grade else ""
    return PlanVM(p.id, p.name, p.merchant_name_zh, tr(f"c.pp.kind.{p.kind}"), detail, grade,
                  tr("c.pp.buy", price=format_fen(p.price_fen)))


def refund_preview(c) -> tuple[int, int]:
    """Return ``(back_fen, fee_fen)`` a refund now would give: the escrow, minus the fee after cooling-off."""
    fee = 0 if c.in_cooling_off else c.escrow_fen * c.refund_fee_bp // 10_000
    return c.escrow_fen - fee, fee


class PrepaidPresenter(_Base):
    """My cards and the plans on sale near me (by zone, or everywhere); buying one."""

    ALL = 0  # the zone choice "every zone"

    def load(self) -> None:
        self.view.show_busy(True)
        zone_id = self.s.settings.load().get("prepaid_zone_id") or self.ALL
        self.s.runner.submit(self._load, zone_id, on_done=self._loaded, on_error=self._fail)

    def _load(self, zone_id: int):
        zones = self.s.api.zones()
        if zone_id not in {z.id for z in zones}:
            zone_id = self.ALL
        plans = self.s.api.prepaid_plans(zone_id=zone_id or None)
        return zones, zone_id, self.s.api.prepaid_contracts(), plans

    def _loaded(self, result) -> None:
        zones, zone_id, cards, plans = result
        self.view.show_busy(False)
        choices = [(self.ALL, self.tr("c.pp.all_zones"))] + [(z.id, self.tr.pick(z.name_zh, z.name_en)) for z in zones]
        self.view.show_zones(choices, zone_id)
        self.view.show_cards([card_vm(self.tr, c) for c in cards])
        self.view.show_plans([plan_vm(self.tr, p) for p in plans])

    def select_zone(self, zone_id: int) -> None:
        data = self.s.settings.load()
        data["prepaid_zone_id"] = zone_id
        self.s.settings.save(data)
        self.load()

    def buy(self, plan_id: int) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.prepaid_buy, plan_id, on_done=self._bought, on_error=self._fail)

    def _bought(self, contract) -> None:
        self.view.show_busy(False)
        self.view.show_message(self.tr("c.pp.bought", name=contract.terms.get("plan", {}).get("name", ""),
                                       price=format_fen(contract.price_fen)))
        self.load()

    def open(self, contract_id: int) -> None:
        self.s.state["prepaid_contract_id"] = contract_id
        self.view.go("prepaid_card")


class PrepaidCardPresenter(_Base):
    """One card: the code to scan, the terms and their hash, the refund."""

    def load(self) -> None:
        contract_id = self.s.state.get("prepaid_contract_id")
        if contract_id is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(lambda: (self.s.api.prepaid_contract(contract_id),
                                      self.s.api.prepaid_history(contract_id)),
                             on_done=lambda r: self._loaded(*r), on_error=self._fail)

    def history_rows(self, c, releases) -> list[tuple[str, str]]:
        tr = self.tr
        return [(tr(f"c.pp.used.{c.kind}", time=fmt.day_time(r.created_at), units=r.units,
                    value=format_fen(r.units)), format_fen(r.amount_fen)) for r in releases]

    def detail_vm(self, c, releases=()) -> CardDetailVM:
        tr, t = self.tr, c.terms
        back, fee = refund_preview(c)
        terms = [
            (tr("c.pp.number"), c.number),
            (tr("c.pp.merchant"), t.get("merchant", {}).get("name_zh", "")),
            (tr("c.pp.price"), format_fen(c.price_fen)),
            (tr("c.pp.cooling"), fmt.day_time(c.cooling_off_ends_at)),
            (tr("c.pp.fee"), f"{c.refund_fee_bp / 100:g}%"),
            (tr("c.pp.expires"), fmt.day_time(c.expires_at)),
        ]
        note = (tr("c.pp.refund_note.cooling", amount=format_fen(back)) if c.in_cooling_off
                else tr("c.pp.refund_note.late", amount=format_fen(back), fee=format_fen(fee)))
        active = c.status == "active"
        return CardDetailVM(c.id, t.get("plan", {}).get("name", ""), t.get("merchant", {}).get("name_zh", ""),
                            left_text(tr, c), tr("c.pp.escrow", amount=format_fen(c.escrow_fen)),
                            tr(f"c.pp.status.{c.status}"), c.code or "" if active else "", terms, c.terms_sha256,
                            note if active else "", active and c.escrow_fen > 0, self.history_rows(c, releases))

    def _loaded(self, contract, releases=()) -> None:
        self.view.show_busy(False)
        self.view.show_card(self.detail_vm(contract, releases))

    def refund(self) -> None:
        contract_id = self.s.state.get("prepaid_contract_id")
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.prepaid_refund, contract_id, on_done=self._refunded, on_error=self._fail)

    def _refunded(self, contract) -> None:
        self.view.show_busy(False)
        self.view.show_message(self.tr("c.pp.refunded", amount=format_fen(contract.refunded_fen)))
        self.load()
