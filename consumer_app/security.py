"""The payment password (支付密码) in the consumer app, without Kivy: the prompt the money screens show when the
server asks for it, and the screen that sets it and the password-free limit (免密).

The server decides (``backend/wallets/paypass.py``): a top-up, redemption or transfer, or a payment above the
limit, without the password is refused with ``payment_password_required``; a wrong one with
``payment_password_wrong`` and ``attempts_left``. :func:`ask_again` turns those refusals into the view's
``ask_password(text, on_password)`` and sends the same request again with the password typed. The password is
passed to the API for one delivery only; the outbox on disk never holds it.
"""

from __future__ import annotations

from consumer_app.presenters import _Base
from payclient.errors import ApiError
from suiyuan_protocol.money import format_fen

__all__ = ["PASSWORD_CODES", "SecurityPresenter", "ask_again", "check_new_password", "limit_label"]

PASSWORD_CODES = ("payment_password_required", "payment_password_wrong")


def ask_again(presenter, exc: Exception, retry) -> bool:
    """If ``exc`` is the server asking for the payment password, ask the view and ``retry(password)``; return
    whether it was (otherwise the caller shows the failure as usual)."""
    if not (isinstance(exc, ApiError) and exc.code in PASSWORD_CODES):
        return False
    presenter.view.show_busy(False)
    tr = presenter.tr
    text = tr("c.pw.wrong", left=exc.get("attempts_left", 0)) if exc.code == "payment_password_wrong" \
        else tr("c.pw.enter")
    presenter.view.ask_password(text, retry)
    return True


def check_new_password(tr, password: str, again: str) -> str | None:
    """Return why a new payment password can't be used (in the app's words), or None. The server also checks
    (six digits, not one repeated digit or a run); its refusal is shown as it comes."""
    if len(password) != 6 or not password.isdigit():
        return tr("c.pw.six")
    if password != again:
        return tr("c.pw.mismatch")
    return None


def limit_label(tr, fen: int) -> str:
    return tr("c.sec.always") if fen == 0 else format_fen(fen).replace(".00", "")


class SecurityPresenter(_Base):
    """View: ``show_state(password_set: bool, limit_fen: int, choices: list[(fen, label)])``, ``show_done(text)``,
    ``ask_password(text, on_password)``, ``show_error``, ``show_busy``."""

    def load(self) -> None:
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.wallet, on_done=self._show, on_error=self._fail)

    def _show(self, wallet) -> None:
        self.view.show_busy(False)
        self.password_set = wallet.payment_password_set
        choices = [(fen, limit_label(self.tr, fen)) for fen in wallet.password_free_limit_choices_fen]
        self.view.show_state(wallet.payment_password_set, wallet.password_free_limit_fen, choices)

    def save_password(self, current: str, new: str, again: str) -> None:
        problem = check_new_password(self.tr, new, again)
        if problem:
            self.view.show_error(problem)
            return
        self.view.show_busy(True)
        self.s.runner.submit(self.s.api.set_payment_password, new, current or None,
                             on_done=lambda w: (self._show(w), self.view.show_done(self.tr("c.sec.saved"))),
                             on_error=self._fail)

    def choose_limit(self, limit_fen: int, password: str | None = None) -> None:
        """Set the password-free limit; the payment password is asked first."""
        if password is None:
            self.view.ask_password(self.tr("c.pw.enter"), lambda pw: self.choose_limit(limit_fen, pw))
            return
        self.view.show_busy(True)
        self.s.runner.submit(
            self.s.api.set_password_free_limit, limit_fen, password,
            on_done=lambda w: (self._show(w), self.view.show_done(
                self.tr("c.sec.limit_done", limit=limit_label(self.tr, w.password_free_limit_fen)))),
            on_error=lambda exc: ask_again(self, exc, lambda pw: self.choose_limit(limit_fen, pw))
            or self._fail(exc))
