"""The consumer app's prepaid cards (我的预付卡), without Kivy: plans on sale, buying, my cards with the units
left, a card's terms and their hash, the code the shop scans, and the refund.

View of ``PrepaidPresenter``: ``show_cards([CardVM])``, ``show_plans([PlanVM])``, ``show_message(text)``,
``show_busy``, ``show_error``, ``go(name)``. View of ``PrepaidCardPresenter``: ``show_card(CardDetailVM)``,
``show_message``, ``show_busy``, ``show_error``.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumer_app.presenters import _Base
from payclient import fmt
from payclient.money import format_fen

STRINGS = {
    "zh": {
        "c.home.prepaid": "预付卡",
        "c.pp.title": "我的预付卡",
        "c.pp.mine": "我持有的预付卡",
        "c.pp.plans": "可购买的预付卡",
        "c.pp.empty": "还没有预付卡",
        "c.pp.no_plans": "暂无在售的预付卡",
        "c.pp.note": "预付资金存放在每张卡自己的托管账户中，每次消费后才按次划给商户；冷静期内可全额退还剩余部分。",
        "c.pp.kind.sessions": "次卡",
        "c.pp.kind.stored_value": "储值卡",
        "c.pp.kind.time_pass": "期限卡",
        "c.pp.left.sessions": "剩余 {left}/{total} 次",
        "c.pp.left.stored_value": "余值 {left}",
        "c.pp.left.time_pass": "剩余 {left}/{total} 天",
        "c.pp.escrow": "托管中 {amount}",
        "c.pp.status.active": "使用中",
        "c.pp.status.completed": "已用完",
        "c.pp.status.refunded": "已退款",
        "c.pp.plan_detail.sessions": "{units} 次 × {unit} · 冷静期 {days} 天",
        "c.pp.plan_detail.stored_value": "付 {price} 得 {value} · 冷静期 {days} 天",
        "c.pp.plan_detail.time_pass": "{months} 个月 · 冷静期 {days} 天",
        "c.pp.grade": "信用 {grade} 级",
        "c.pp.buy": "购买 {price}",
        "c.pp.bought": "已购买「{name}」，{price} 已存入托管账户",
        "c.pp.card_title": "预付卡详情",
        "c.pp.show_code": "请商户扫码核销",
        "c.pp.terms": "合约条款",
        "c.pp.hash": "条款哈希（SHA-256，商户端显示相同）",
        "c.pp.number": "合约编号",
        "c.pp.merchant": "商户",
        "c.pp.price": "购买金额",
        "c.pp.cooling": "冷静期至",
        "c.pp.fee": "冷静期后退款手续费",
        "c.pp.expires": "有效期至",
        "c.pp.refund": "申请退款",
        "c.pp.refund_note.cooling": "冷静期内：剩余 {amount} 全额退回钱包",
        "c.pp.refund_note.late": "已过冷静期：退回 {amount}，扣手续费 {fee}",
        "c.pp.refunded": "已退回 {amount} 到钱包",
        "err.prepaid_limit": "超出预付卡限额（实名钱包单笔不超过 ¥5,000，四类钱包不超过 ¥1,000）",
        "err.contract_ended": "这张预付卡已用完或已退款",
        "err.not_enough_units": "剩余次数不足",
    },
    "en": {
        "c.home.prepaid": "Prepaid",
        "c.pp.title": "My prepaid cards",
        "c.pp.mine": "Cards I hold",
        "c.pp.plans": "Plans on sale",
        "c.pp.empty": "No prepaid cards yet",
        "c.pp.no_plans": "No plans on sale",
        "c.pp.note": "Your money waits in each card's own escrow and reaches the shop one use at a time; within "
                     "the cooling-off period you get back everything left.",
        "c.pp.kind.sessions": "Sessions",
        "c.pp.kind.stored_value": "Stored value",
        "c.pp.kind.time_pass": "Time pass",
        "c.pp.left.sessions": "{left}/{total} left",
        "c.pp.left.stored_value": "{left} of value left",
        "c.pp.left.time_pass": "{left}/{total} days left",
        "c.pp.escrow": "{amount} in escrow",
        "c.pp.status.active": "In use",
        "c.pp.status.completed": "Used up",
        "c.pp.status.refunded": "Refunded",
        "c.pp.plan_detail.sessions": "{units} × {unit} · {days}-day cooling-off",
        "c.pp.plan_detail.stored_value": "Pay {price}, get {value} · {days}-day cooling-off",
        "c.pp.plan_detail.time_pass": "{months} months · {days}-day cooling-off",
        "c.pp.grade": "Grade {grade}",
        "c.pp.buy": "Buy {price}",
        "c.pp.bought": "Bought {name}: {price} is in escrow",
        "c.pp.card_title": "Prepaid card",
        "c.pp.show_code": "Let the shop scan this to use it",
        "c.pp.terms": "Terms",
        "c.pp.hash": "Terms hash (SHA-256, the shop sees the same)",
        "c.pp.number": "Contract",
        "c.pp.merchant": "Shop",
        "c.pp.price": "Paid",
        "c.pp.cooling": "Cooling-off until",
        "c.pp.fee": "Refund fee after cooling-off",
        "c.pp.expires": "Valid until",
        "c.pp.refund": "Refund",
        "c.pp.refund_note.cooling": "Within cooling-off: all {amount} left comes back",
        "c.pp.refund_note.late": "After cooling-off: {amount} back, fee {fee}",
        "c.pp.refunded": "{amount} is back in your wallet",
        "err.prepaid_limit": "Above the prepaid limit (¥5,000 per purchase for a named wallet, ¥1,000 for class 4)",
        "err.contract_ended": "This card is used up or refunded",
        "err.not_enough_units": "Not enough left on the card",
    },
}


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
    """My cards and the plans on sale; buying one."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(lambda: (self.s.api.prepaid_contracts(), self.s.api.prepaid_plans()),
                             on_done=self._loaded, on_error=self._fail)

    def _loaded(self, result) -> None:
        cards, plans = result
        self.view.show_busy(False)
        self.view.show_cards([card_vm(self.tr, c) for c in cards])
        self.view.show_plans([plan_vm(self.tr, p) for p in plans])

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
        self.s.runner.submit(self.s.api.prepaid_contract, contract_id, on_done=self._loaded, on_error=self._fail)

    def detail_vm(self, c) -> CardDetailVM:
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
                            note if active else "", active and c.escrow_fen > 0)

    def _loaded(self, contract) -> None:
        self.view.show_busy(False)
        self.view.show_card(self.detail_vm(contract))

    def refund(self) -> None:
        contract_id = self.s.state.get("prepaid_contract_id")
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.prepaid_refund, contract_id, on_done=self._refunded, on_error=self._fail)

    def _refunded(self, contract) -> None:
        self.view.show_busy(False)
        self.view.show_message(self.tr("c.pp.refunded", amount=format_fen(contract.refunded_fen)))
        self._loaded(contract)
