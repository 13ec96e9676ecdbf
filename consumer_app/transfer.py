"""Transfer (转账) and redeem (兑回) in the consumer app, without Kivy; the API existed before the screens.

Both always need the payment password once the wallet has one: the server asks for it (403
``payment_password_required``) and the prompt of :mod:`consumer_app.security` sends the request again with it."""

from __future__ import annotations

from consumer_app.presenters import _Base
from consumer_app.security import ask_again
from payclient import fmt
from suiyuan_protocol.money import MoneyError, format_fen, parse_yuan

__all__ = ["RedeemPresenter", "TransferPresenter"]


class _AmountPresenter(_Base):
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

    def _failed(self, exc: Exception, retry) -> None:
        if not ask_again(self, exc, retry):
            self._fail(exc)


class TransferPresenter(_AmountPresenter):
    """View: ``show_done(text)``, ``ask_password(text, on_password)``, ``show_error``, ``show_busy``."""

    def send(self, phone: str, amount_text: str, memo: str = "", password: str | None = None) -> None:
        phone = "".join(ch for ch in phone if ch.isdigit())
        if not phone:
            self.view.show_error(self.tr("err.required"))
            return
        fen = self._amount(amount_text)
        if fen is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.transfer, phone, fen, memo.strip() or None, password,
                             on_done=lambda posted: self._done(posted, phone),
                             on_error=lambda exc: self._failed(exc, lambda pw: self.send(phone, amount_text, memo,
                                                                                          pw)))

    def _done(self, posted, phone: str) -> None:
        self.view.show_busy(False)
        self.view.show_done(self.tr("c.tr.done", to=fmt.mask_phone(phone), amount=format_fen(posted.amount_fen),
                                    balance=format_fen(posted.balance_after_fen)))


class RedeemPresenter(_AmountPresenter):
    """View: ``show_wallet(card: str, balance: str, balance_fen: int)``, ``show_done(text)``, ``ask_password``,
    ``show_error``, ``show_busy``."""

    def load(self) -> None:
        self.s.runner.submit(self.s.api.wallet, on_done=self._wallet, on_error=self._fail)

    def _wallet(self, w) -> None:
        card = self.tr("c.rd.to_card", card=w.card_masked) if w.card_masked else self.tr("c.rd.no_card")
        self.view.show_wallet(card, format_fen(w.balance_fen), w.balance_fen)

    def redeem(self, amount_text: str, password: str | None = None) -> None:
        fen = self._amount(amount_text)
        if fen is None:
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.redeem, fen, password, on_done=self._done,
                             on_error=lambda exc: self._failed(exc, lambda pw: self.redeem(amount_text, pw)))

    def _done(self, posted) -> None:
        self.view.show_busy(False)
        self.view.show_done(self.tr("c.rd.done", amount=format_fen(posted.amount_fen),
                                    balance=format_fen(posted.balance_after_fen)))
        self.load()
