"""What the validator screen shows, from a tap's result: pure Python, tested without a window."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suiyuan_protocol.money import format_fen
from suiyuan_protocol.transit.card import HardCard
from suiyuan_protocol.transit.terminal import TapResult, Terminal

MODE_ZH = {"bus": "公交", "metro_in": "地铁进站", "metro_out": "地铁出站"}
GREEN, RED, BLUE = (0.11, 0.55, 0.27, 1), (0.75, 0.15, 0.15, 1), (0.12, 0.35, 0.65, 1)


@dataclass(frozen=True)
class Screen:
    """One frame of the validator: a header, the big line, the detail lines and the panel colour."""

    header: str
    big: str
    detail: str
    colour: tuple
    elapsed_ms: float | None = None


class ValidatorPresenter:
    """Turns taps into screens. ``place_name`` is the station or route shown."""

    def __init__(self, terminal: Terminal, place_name: str):
        self.terminal, self.place_name = terminal, place_name

    def header(self) -> str:
        pending = self.terminal.record_count(pending=True)
        return (f"{MODE_ZH[self.terminal.mode]} · {self.place_name} · {self.terminal.terminal_id}"
                f"\n待上传 {pending} 笔 · 黑名单版本 {self.terminal.blacklist_version}")

    def idle(self) -> Screen:
        return Screen(self.header(), "请刷卡", "支持数字人民币硬钱包 · 羊城通", BLUE)

    def show(self, res: TapResult) -> Screen:
        """The screen for a tap's result."""
        if not res.accepted:
            detail = f"余额 {format_fen(res.balance_fen)}" if res.balance_fen is not None else "请联系工作人员"
            return Screen(self.header(), res.message_zh, detail, RED, res.elapsed_ms)
        if res.code == "entered":
            return Screen(self.header(), res.message_zh, f"余额 {format_fen(res.balance_fen)}", GREEN, res.elapsed_ms)
        lines = [f"扣款 {format_fen(res.charge_fen)}   余额 {format_fen(res.balance_fen)}"]
        if res.full_fen and res.full_fen != res.charge_fen:
            lines.append(f"原价 {format_fen(res.full_fen)}" + ("（已封顶）" if res.capped else "（月度优惠）"))
        return Screen(self.header(), res.message_zh, "\n".join(lines), GREEN, res.elapsed_ms)

    def tap_file(self, path: str | Path, at: int) -> Screen:
        """Simulator: tap the card stored in ``path`` (its chip state is written back)."""
        card = HardCard.from_file(path)
        res = self.terminal.tap(card, at)
        card.to_file(path)
        return self.show(res)
