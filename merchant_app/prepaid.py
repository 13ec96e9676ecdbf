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
