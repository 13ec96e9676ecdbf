"""The consumer app's hard wallets (硬钱包), without Kivy: my cards with their balance and last sync, issuing one,
load (圈存) and unload (圈提), reporting one lost, and the journeys of its synced records with the caps reached.

The card and its server calls are :mod:`payclient.transit.wallet`; these presenters only word and show them.
Nothing is asked that the server or the card does not enforce: an amount, and for a lost card one more tap.

View of ``HardWalletsPresenter``: ``show_cards([HardWalletRowVM])``, ``show_message``, ``show_busy``,
``show_error``, ``go``. View of ``HardWalletPresenter``: ``show_card(HardWalletVM)``, ``show_days([DayVM])``,
``show_message``, ``show_busy``, ``show_error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consumer_app.presenters import _Base
from payclient import fmt
from payclient.errors import ApiError
from payclient.transit import wallet
from suiyuan_protocol.money import MoneyError, format_fen, parse_yuan
from suiyuan_protocol.transit.card import CardRefused
from suiyuan_protocol.transit.fares import DEFAULT_RULES, local_day


@dataclass(frozen=True)
class HardWalletRowVM:
    card_id: str
    title: str
    subtitle: str
    balance: str
    active: bool


@dataclass(frozen=True)
class HardWalletVM:
    card_id: str
    title: str
    status: str
    active: bool
    near: bool
    balance: str
    balance_label: str
    lines: list  # what the server knows, limits, today's rides
    notice: str  # lost or blocked: what happens next ("" when active)
    notice_kind: str


@dataclass(frozen=True)
class DayVM:
    day: str
    summary: str
    capped: str  # "" or the cap reached
    journeys: list  # [(trip, time, fare)]


def card_title(tr, card_id: str, ytc_number: str | None = None) -> str:
    title = tr("c.hw.card", tail=card_id[-4:])
    return f"{title} · {tr('c.hw.ytc', number=ytc_number)}" if ytc_number else title


def trip_text(tr, trip: str) -> str:
    """``bus:B1`` → ``公交 B1``; ``metro:L3-TYXL>L3-KC`` → ``地铁 体育西路 → 客村`` (``?``: a missing tap)."""
    mode, _, where = trip.partition(":")
    if mode == "bus":
        return tr("c.hw.trip.bus", route=where)
    if mode == "metro":
        entry, _, exit_ = where.partition(">")

        def name(code):
            if code in ("", "?"):
                return tr("c.hw.trip.unknown")
            station = DEFAULT_RULES.stations.get(code)
            return tr.pick(station[0], code) if station else code

        return tr("c.hw.trip.metro", entry=name(entry), exit=name(exit_))
    return tr("c.hw.trip.other")


def day_vms(tr, records) -> list[DayVM]:
    out = []
    for d in wallet.journey_days(records):
        out.append(DayVM(d.day, tr("c.hw.day_summary", count=len(d.journeys), total=format_fen(d.total_fen)),
                         tr(f"c.hw.capped.{d.capped}") if d.capped else "",
                         [(trip_text(tr, j.trip), fmt.hhmm(j.at), format_fen(j.fare_fen)) for j in d.journeys]))
    return out


class _HwBase(_Base):
    def explain(self, exc: Exception) -> str | None:
        if isinstance(exc, LookupError):
            return self.tr("c.hw.not_near")
        if isinstance(exc, CardRefused):
            key = f"c.hw.card.{exc.code}"
            return self.tr(key) if self.tr.has(key) else self.tr("c.hw.card.other")
        if isinstance(exc, ApiError) and exc.code == "payee_limit_exceeded":
            return self.tr("c.hw.err.over_cap", cap=format_fen(exc.get("limit_fen") or 100_000))
        return super().explain(exc)

    def _amount(self, text: str) -> int | None:
        try:
            fen = parse_yuan(text)
        except MoneyError as exc:
            self.view.show_error(self.tr.error(exc))
            return None
        if fen <= 0:
            self.view.show_error(self.tr("err.amount_zero"))
            return None
        return fen


class HardWalletsPresenter(_HwBase):
    """My hard wallets; getting a new one."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self._load, on_done=self._loaded, on_error=self._fail)

    def _load(self):
        wallet.resend_unloads(self.s.api, self.s.cards)  # finish an unload whose answer was lost
        return self.s.api.transit_cards()

    def row_vm(self, c) -> HardWalletRowVM:
        tr = self.tr
        chip = self.s.cards.card(c.card_id)
        near = chip is not None and c.status == "active"
        synced = tr("c.hw.synced", when=fmt.day_time(c.last_synced_at)) if c.last_synced_at else tr("c.hw.never_synced")
        reach = [tr("c.hw.near" if near else "c.hw.far")] if c.status == "active" else []  # a lost card: moot
        subtitle = " · ".join([tr(f"c.hw.status.{c.status}"), *reach, synced])
        balance = chip.balance_fen if near else c.balance_fen
        return HardWalletRowVM(c.card_id, card_title(tr, c.card_id, c.ytc_number), subtitle, format_fen(balance),
                               c.status == "active")

    def _loaded(self, cards) -> None:
        self.view.show_busy(False)
        self.view.show_cards([self.row_vm(c) for c in cards])

    def issue(self, ytc_number: str = "") -> None:
        """Get a new hard wallet, bound to the Yangchengtong number if one is given (the server checks it)."""
        self.view.show_busy(True)
        self.s.runner.submit(wallet.issue, self.s.api, self.s.cards, ytc_number.strip() or None,
                             on_done=self._issued, on_error=self._fail)

    def _issued(self, card) -> None:
        self.view.show_busy(False)
        self.view.show_message(self.tr("c.hw.issued", card=card.card_id))
        self.open(card.card_id)

    def open(self, card_id: str) -> None:
        self.s.state["hardwallet_id"] = card_id
        self.view.go("hardwallet")


class HardWalletPresenter(_HwBase):
    """One hard wallet: its balance (the card's when within reach), load, unload, report lost, journeys."""

    @property
    def card_id(self) -> str | None:
        return self.s.state.get("hardwallet_id")

    def load(self) -> None:
        if self.card_id is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(self._load, self.card_id, on_done=self._loaded, on_error=self._fail)

    def _load(self, card_id: str):
        wallet.resend_unloads(self.s.api, self.s.cards)
        try:
            wallet.apply_missed_loads(self.s.api, self.s.cards, card_id)  # the touch applies loads made meanwhile
        except CardRefused:
            pass  # shown as the card's balance; the server keeps the load
        return self.s.api.transit_card(card_id), self.s.api.transit_records(card_id, limit=50)

    def detail_vm(self, c, now: datetime | None = None) -> HardWalletVM:
        tr = self.tr
        chip = self.s.cards.card(c.card_id)
        near = chip is not None
        active = c.status == "active"
        lines = [tr("c.hw.ytc", number=c.ytc_number)] if c.ytc_number else []
        lines.append(tr("c.hw.server_line", amount=format_fen(c.balance_fen), spent=format_fen(c.spent_fen)))
        lines.append(tr("c.hw.synced", when=fmt.day_time(c.last_synced_at)) if c.last_synced_at
                     else tr("c.hw.never_synced"))
        if near and chip.spent_fen > c.spent_fen + c.unloaded_fen:
            lines.append(tr("c.hw.unsynced", amount=format_fen(chip.spent_fen - c.spent_fen - c.unloaded_fen)))
        limits = c.limits or {}
        lines.append(tr("c.hw.limits", cap=format_fen(limits.get("balance_cap_fen", 100_000)),
                        single=format_fen(limits.get("single_payment_cap_fen", 50_000))))
        today = local_day(int((now or datetime.now().astimezone()).timestamp()))
        if near and chip.fare_state.day == today and DEFAULT_RULES.day_cap_fen is not None:
            lines.append(tr("c.hw.today", spent=format_fen(chip.fare_state.day_spent_fen),
                            cap=format_fen(DEFAULT_RULES.day_cap_fen)))
        notice, kind = "", "info"
        if c.status == "lost":
            notice = (tr("c.hw.refunded_note", amount=format_fen(c.refunded_fen), when=fmt.day_time(c.refunded_at))
                      if c.refunded_at else tr("c.hw.lost_note", when=fmt.day_time(c.refund_due_at)))
        elif c.status == "blacklisted":
            notice, kind = tr("c.hw.blacklisted_note"), "danger"
        balance = chip.balance_fen if near and active else c.balance_fen
        return HardWalletVM(c.card_id, card_title(tr, c.card_id), tr(f"c.hw.status.{c.status}"),
                            active, near, format_fen(balance),
                            tr("c.hw.balance_card" if near and active else "c.hw.balance_server"), lines, notice, kind)

    def _loaded(self, result) -> None:
        card, records = result
        self.view.show_busy(False)
        self.view.show_card(self.detail_vm(card))
        self.view.show_days(day_vms(self.tr, records))

    def load_value(self, amount_text: str) -> None:
        fen = self._amount(amount_text)
        if fen is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(wallet.load, self.s.api, self.s.cards, self.card_id, fen,
                             on_done=lambda card: self._loaded_value(card, fen), on_error=self._fail)

    def _loaded_value(self, card, fen: int) -> None:
        self.view.show_busy(False)
        chip = self.s.cards.card(card.card_id)
        balance = chip.balance_fen if chip is not None else card.balance_fen
        self.view.show_message(self.tr("c.hw.loaded", amount=format_fen(fen), balance=format_fen(balance)))
        self.load()

    def unload_value(self, amount_text: str) -> None:
        fen = self._amount(amount_text)
        if fen is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(wallet.unload, self.s.api, self.s.cards, self.card_id, fen,
                             on_done=lambda _card: self._unloaded(fen), on_error=self._fail)

    def _unloaded(self, fen: int) -> None:
        self.view.show_busy(False)
        self.view.show_message(self.tr("c.hw.unloaded", amount=format_fen(fen)))
        self.load()

    def report_lost(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(wallet.report_lost, self.s.api, self.card_id, on_done=self._reported,
                             on_error=self._fail)

    def _reported(self, _card) -> None:
        self.view.show_busy(False)
        self.view.show_message(self.tr("c.hw.reported"))
        self.load()
