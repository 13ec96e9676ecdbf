"""The consumer app's pay slips (工资/补贴到账), without Kivy: salaries, allowances, subsidies and reimbursements
organisations paid me, each with its organisation, category, memo, amount, time and where the money went; a
line that could not reach the wallet says why and how to upgrade it.

View of ``PayslipsPresenter``: ``show_slips([SlipVM])``, ``show_notice(text)`` (the newest one paid, or ""),
``show_busy``, ``show_error``.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumer_app.presenters import _Base
from payclient import fmt
from suiyuan_protocol.money import format_fen


@dataclass(frozen=True)
class SlipVM:
    line_id: int
    category: str
    organisation: str
    title: str
    amount: str
    memo: str
    when: str
    status: str
    paid: bool
    split: str  # "" unless part of it went to the bank account
    notice: str  # why it could not be paid and what to do ("" when paid)


def slip_vm(tr, p) -> SlipVM:
    category = tr.pick(p.category_zh, p.category.capitalize())
    split = (tr("c.ps.split", wallet=format_fen(p.to_wallet_fen), bank=format_fen(p.to_bank_fen))
             if p.to_bank_fen else "")
    notice = tr.pick(p.notice.get("message_zh", ""), p.notice.get("message_en", "")) if p.notice else ""
    return SlipVM(p.id, category, p.organisation, p.title, format_fen(p.amount_fen), p.memo or "",
                  fmt.day_time(p.paid_at), tr(f"c.ps.status.{p.status}"), p.status == "paid", split, notice)


class PayslipsPresenter(_Base):
    """My pay slips, newest first; a "工资/补贴到账" notice for the newest one paid."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(lambda: self.s.api.payslips(limit=50)[0], on_done=self._loaded, on_error=self._fail)

    def _loaded(self, slips) -> None:
        self.view.show_busy(False)
        items = [slip_vm(self.tr, p) for p in slips]
        self.view.show_slips(items)
        newest = next((vm for vm in items if vm.paid), None)
        self.view.show_notice(tr_notice(self.tr, newest) if newest else "")


def tr_notice(tr, vm: SlipVM) -> str:
    """``越秀区财政局 的工资已到账 ¥3,850.50``."""
    return tr("c.ps.arrived", org=vm.organisation, category=vm.category, amount=vm.amount)
