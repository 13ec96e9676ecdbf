"""The amount keypad's logic: what a cashier's key presses mean (no Kivy)."""

from __future__ import annotations

from suiyuan_protocol.money import MAX_AMOUNT_FEN, format_fen, parse_yuan

__all__ = ["AmountEntry"]


class AmountEntry:
    """Digits typed on a keypad, kept as text ("38.5") and read as fen.

    Keys: ``"0"``–``"9"``, ``"00"``, ``"."``, ``"del"`` (backspace), ``"clear"``.
    A key that would make the amount invalid (a second dot, a third decimal, an
    amount over ``max_fen``, by default the one maximum :data:`suiyuan_protocol.money.MAX_AMOUNT_FEN`)
    is ignored, so the text is always a valid amount or empty.
    """

    def __init__(self, text: str = "", max_fen: int = MAX_AMOUNT_FEN):
        self.max_fen = max_fen
        self.text = ""
        for ch in text:
            self.press(ch)

    def press(self, key: str) -> str:
        """Apply a key and return the new text."""
        if key == "clear":
            self.text = ""
        elif key == "del":
            self.text = self.text[:-1]
        elif key == ".":
            if "." not in self.text:
                self.text = (self.text or "0") + "."
        elif key in ("00",) or (len(key) == 1 and key.isdigit()):
            for digit in key:
                self._digit(digit)
        return self.text

    def _digit(self, d: str) -> None:
        whole, dot, frac = self.text.partition(".")
        if dot:
            candidate = self.text + d if len(frac) < 2 else self.text
        elif whole == "0":
            candidate = d  # no leading zeros: "0" then "5" is "5"
        else:
            candidate = self.text + d
        if parse_yuan(candidate, max_fen=2**63 - 1) <= self.max_fen:
            self.text = candidate

    @property
    def fen(self) -> int:
        """The amount in fen (0 when empty)."""
        return parse_yuan(self.text) if self.text.strip(".") else 0

    @property
    def display(self) -> str:
        """The amount as people read it while typing: "¥38.5" stays "¥38.5", empty is "¥0"."""
        if not self.text:
            return "¥0"
        whole, dot, frac = self.text.partition(".")
        return f"¥{int(whole or 0):,}{dot}{frac}"

    @property
    def formatted(self) -> str:
        """The amount in full form, "¥38.50"."""
        return format_fen(self.fen)
