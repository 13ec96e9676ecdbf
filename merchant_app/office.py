"""The owner's back office in the merchant app, without Kivy (issue #20 item 7): cashiers and their refund
limits, past days with the day's statement, saving the poster, the bank by name.

"Share", "save" and "print" on a phone hand a file to the system; on a computer (and in the tests) they save
the file in a folder the person chooses (kept in the app's settings, default ``~/Suiyuan``) and say where it
is, so it can be sent or printed from there. Nothing here opens a print dialog.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from merchant_app.presenters import TodayPresenter, TotalsVM, _Base
from payclient import fmt
from suiyuan_protocol.money import MoneyError, format_fen, parse_yuan

__all__ = ["CashierVM", "CashiersPresenter", "DayPresenter", "PosterFilesPresenter", "bank_name", "exports_dir",
           "set_exports_dir", "shown"]

_SETTING = "exports_dir"


def exports_dir(services) -> Path:
    """The folder files are saved to (chosen by the person; default ``~/Suiyuan``)."""
    chosen = services.settings.load().get(_SETTING)
    return Path(chosen) if chosen else Path.home() / "Suiyuan"


def shown(path: Path) -> str:
    """A path as people read it: the home folder as ``~``."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if home not in ("", "/") and text.startswith(home) else text


def set_exports_dir(services, folder: str) -> None:
    folder = folder.strip()
    if folder:
        data = services.settings.load()
        data[_SETTING] = str(Path(folder).expanduser())
        services.settings.save(data)


def _save(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def bank_name(services, code: str, on_name) -> None:
    """Look the bank up by its code and call ``on_name(name)`` in the app's language (the code if unknown)."""
    def pick(banks):
        for b in banks:
            if b.code == code:
                on_name(services.tr.pick(b.name_zh, b.name_en))
                return
        on_name(code)

    services.runner.submit(services.api.banks, on_done=pick, on_error=lambda _e: on_name(code))


# ---------------------------------------------------------------- cashiers


@dataclass(frozen=True)
class CashierVM:
    name: str
    line: str
    user_id: int = 0
    limit_yuan: str = ""  # the limit as typed in the change dialog


class CashiersPresenter(_Base):
    """The owner's cashiers and their refund limits (a cashier's refunds above it are refused by the server).

    View: ``show_cashiers(list[CashierVM])``, ``show_added(text)``, ``show_busy``, ``show_error``."""

    def limit_text(self, fen: int) -> str:
        return self.tr("m.cash.no_refunds") if fen == 0 else format_fen(fen)

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.cashiers, self.merchant.id, on_done=self._loaded, on_error=self._fail)

    def _loaded(self, cashiers) -> None:
        self.view.show_busy(False)
        self.view.show_cashiers([
            CashierVM(c.display_name or fmt.mask_phone(c.phone),
                      self.tr("m.cash.row", phone=fmt.mask_phone(c.phone), limit=self.limit_text(c.refund_limit_fen)),
                      c.user_id, f"{c.refund_limit_fen / 100:.2f}")
            for c in cashiers])

    def change_limit(self, user_id: int, limit_text: str) -> None:
        """Change a cashier's refund limit (the server holds their refunds to it)."""
        try:
            limit = parse_yuan(limit_text) if limit_text.strip() else 0
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.set_cashier_limit, self.merchant.id, user_id, limit,
                             on_done=self._changed, on_error=self._fail)

    def _changed(self, cashier) -> None:
        self.view.show_added(self.tr("m.cash.changed", name=cashier.display_name or fmt.mask_phone(cashier.phone),
                                     limit=self.limit_text(cashier.refund_limit_fen)))
        self.load()

    def add(self, name: str, phone: str, password: str, limit_text: str) -> None:
        phone = "".join(ch for ch in phone if ch.isdigit())
        if not phone or not password:
            self.view.show_error(self.tr("err.required"))
            return
        try:
            limit = parse_yuan(limit_text) if limit_text.strip() else 0
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return
        self.view.show_busy(True)
        self.s.runner.submit(
            lambda: self.s.api.add_cashier(self.merchant.id, phone, password, display_name=name.strip(),
                                           refund_limit_fen=limit),
            on_done=self._added, on_error=self._fail)

    def _added(self, cashier) -> None:
        self.view.show_added(self.tr("m.cash.added", name=cashier.display_name or fmt.mask_phone(cashier.phone),
                                     limit=self.limit_text(cashier.refund_limit_fen)))
        self.load()


# ---------------------------------------------------------------- past days and the statement


class DayPresenter(TodayPresenter):
    """Any past day's orders (the today screen's rows) and its statement saved as CSV (owner).

    View: ``show_day(text, can_go_next)``, ``show_totals``, ``show_orders``, ``show_saved(text)``,
    ``show_busy``, ``show_error``."""

    def __init__(self, services, view):
        super().__init__(services, view)
        self.day: date | None = None

    def today(self) -> date:
        from datetime import datetime

        return fmt.local(datetime.now().astimezone()).date()

    def open(self, day: date | None = None) -> None:
        self.day = day or self.today()
        self.load()

    def step(self, days: int) -> None:
        wanted = (self.day or self.today()) + timedelta(days=days)
        if wanted > self.today():
            return
        self.open(wanted)

    def load(self) -> None:
        day = self.day or self.today()
        self.view.show_day(day.isoformat(), day < self.today())
        self.view.show_busy(True)
        self.s.runner.submit(lambda: self.s.api.orders(self.merchant.id, day=day), on_done=self._loaded,
                             on_error=self._fail)

    def _loaded(self, page) -> None:
        super()._loaded(page)
        if not page.items:
            self.view.show_totals(TotalsVM(format_fen(0), format_fen(0), format_fen(0), self.tr("m.hist.empty")))

    def save_statement(self, folder: str = "") -> None:
        set_exports_dir(self.s, folder)
        day = self.day or self.today()
        target = exports_dir(self.s)
        self.view.show_busy(True)
        self.s.runner.submit(
            lambda: _save(target, f"statement-{self.merchant.merchant_number}-{day.isoformat()}.csv",
                          self.s.api.statement_csv(self.merchant.id, day)),
            on_done=lambda path: (self.view.show_busy(False),
                                  self.view.show_saved(self.tr("m.hist.saved", path=shown(path)))),
            on_error=self._fail)


# ---------------------------------------------------------------- the poster as files


class PosterFilesPresenter(_Base):
    """Save the printable poster (the server draws it) as PNG, or as a one-page PDF for printing.

    View: ``show_saved(text)``, ``show_busy``, ``show_error``."""

    def save(self, kind: str, folder: str = "") -> None:
        set_exports_dir(self.s, folder)
        target = exports_dir(self.s)
        m = self.merchant
        self.view.show_busy(True)

        def work() -> Path:
            png = self.s.api.static_qr_png(m.id)
            if kind == "pdf":
                from PIL import Image

                out = io.BytesIO()
                Image.open(io.BytesIO(png)).convert("RGB").save(out, "PDF", resolution=300.0)
                return _save(target, f"poster-{m.merchant_number}.pdf", out.getvalue())
            return _save(target, f"poster-{m.merchant_number}.png", png)

        self.s.runner.submit(work, on_done=lambda path: (self.view.show_busy(False), self.view.show_saved(
            self.tr("m.poster.saved", path=shown(path)))), on_error=self._fail)
