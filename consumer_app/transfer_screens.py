"""The transfer (转账) and redeem (兑回) screens (layout in ``transfer.kv``)."""

from __future__ import annotations

from kivy.properties import NumericProperty, StringProperty

from consumer_app.screens import CScreen

__all__ = ["CRedeemScreen", "CTransferScreen"]


class CTransferScreen(CScreen):
    done_text = StringProperty("")

    def on_pre_enter(self, *_):
        self.done_text = ""

    def submit(self) -> None:
        self.presenter.send(self.ids.phone.text, self.ids.amount.text, self.ids.memo.text)

    def show_done(self, text: str) -> None:
        self.done_text = text
        self.ids.amount.text = ""
        self.ids.memo.text = ""


class CRedeemScreen(CScreen):
    done_text = StringProperty("")
    card_text = StringProperty("")
    balance = StringProperty("")
    balance_fen = NumericProperty(0)

    def on_pre_enter(self, *_):
        self.done_text = ""
        self.ids.amount.text = ""
        self.presenter.load()

    def show_wallet(self, card: str, balance: str, balance_fen: int) -> None:
        self.card_text, self.balance, self.balance_fen = card, balance, balance_fen

    def fill_all(self) -> None:
        self.ids.amount.text = f"{self.balance_fen // 100}.{self.balance_fen % 100:02d}"

    def submit(self) -> None:
        self.presenter.redeem(self.ids.amount.text)

    def show_done(self, text: str) -> None:
        self.done_text = text
        self.ids.amount.text = ""
