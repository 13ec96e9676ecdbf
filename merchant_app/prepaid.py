"""The merchant app's prepaid release (核销), without Kivy: scan (or type) the consumer's card code, release one
use or more, and see today's releases.

View of ``ReleasePresenter``: ``show_result(text)``, ``show_today(total_text, [ReleaseRowVM])``, ``show_busy``,
``show_error``.
"""

from __future__ import annotations

from dataclasses import dataclass

from merchant_app.presenters import _Base
from payclient import fmt
from payclient.money import format_fen
from payclient.scan import decode_image

STRINGS = {
    "zh": {
        "m.more.prepaid": "预付卡核销",
        "m.more.prepaid_note": "扫消费者的预付卡码，按次划款",
        "m.pp.title": "预付卡核销",
        "m.pp.code": "预付卡码",
        "m.pp.code_hint": "扫码或输入以 PPC 开头的卡码",
        "m.pp.units": "核销数量",
        "m.pp.units_hint": "次数（储值卡为消费金额的分数）",
        "m.pp.release": "确认核销",
        "m.pp.scan": "扫描图片中的卡码",
        "m.pp.note": "每次核销时，该次的价款才从消费者的托管账户划入本店；不会超过剩余次数。",
        "m.pp.released": "已核销 {units}，划入 {amount}（{number}，剩余 {left}）",
        "m.pp.today": "今日核销 {count} 笔，共 {amount}",
        "m.pp.row": "{time} · {number}",
        "m.pp.row_units": "{units} 单位",
        "m.pp.empty": "今天还没有核销",
        "m.pp.bad_units": "核销数量须为正整数",
        "m.pp.bad_code": "这不是预付卡码",
        "err.contract_not_found": "本店没有这张预付卡",
        "err.not_enough_units": "剩余次数不足",
        "err.contract_ended": "这张预付卡已用完或已退款",
        "err.contract_expired": "这张预付卡已过期",
        "err.time_pass": "期限卡按天自动划款，无需核销",
        "err.prepaid_not_approved": "本店的预付费经营已暂停",
    },
    "en": {
        "m.more.prepaid": "Prepaid release",
        "m.more.prepaid_note": "Scan a customer's prepaid card, use by use",
        "m.pp.title": "Prepaid release",
        "m.pp.code": "Card code",
        "m.pp.code_hint": "Scan, or type the code starting with PPC",
        "m.pp.units": "Units",
        "m.pp.units_hint": "Sessions (fen of value for a stored-value card)",
        "m.pp.release": "Release",
        "m.pp.scan": "Read the code from a picture",
        "m.pp.note": "Each release moves that use's price from the customer's escrow to the shop; never more than "
                     "what is left.",
        "m.pp.released": "Released {units}: {amount} received ({number}, {left} left)",
        "m.pp.today": "{count} releases today, {amount}",
        "m.pp.row": "{time} · {number}",
        "m.pp.row_units": "{units} units",
        "m.pp.empty": "No releases today",
        "m.pp.bad_units": "Units must be a whole number above zero",
        "m.pp.bad_code": "This is not a prepaid card code",
        "err.contract_not_found": "No card of this shop has this code",
        "err.not_enough_units": "Not enough left on the card",
        "err.contract_ended": "This card is used up or refunded",
        "err.contract_expired": "This card has expired",
        "err.time_pass": "A time pass is paid day by day; nothing to release",
        "err.prepaid_not_approved": "The shop's prepaid sales are suspended",
    },
}

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
