"""What every presenter of both apps shares (Kivy-free, tested without a window).

A presenter gets the app's :class:`~payclient.services.Services` and a view; the view answers
``show_busy(bool)``, ``show_error(text)``, ``go(screen)`` and ``show_login_alert(title, text)``.
:class:`LoginFlow` is the log-in both apps run: check the fields, sign in in the background, refuse
an account of a role the app does not serve, and warn the owner when strangers tried the account.
"""

from __future__ import annotations

from payclient import fmt
from payclient.errors import ApiError

__all__ = ["LoginFlow", "Presenter", "WrongApp"]


class WrongApp(Exception):
    """The account's role is not one this app serves (a merchant in the wallet, a consumer at the till)."""


class Presenter:
    """Base of every presenter: ``s`` (services), ``view``, ``tr`` and the one way a failure is shown."""

    def __init__(self, services, view):
        self.s = services
        self.view = view

    @property
    def tr(self):
        return self.s.tr

    def explain(self, exc: Exception) -> str | None:
        """Return the app's own wording for ``exc``, or ``None`` for the common handling."""
        return None

    def _fail(self, exc: Exception) -> None:
        """Show ``exc``: the app's wording if it has one; an expired session signs out and goes to log-in."""
        self.view.show_busy(False)
        text = self.explain(exc)
        if text is not None:
            self.view.show_error(text)
        elif isinstance(exc, ApiError) and exc.status == 401 and exc.code != "bad_credentials":
            self.s.api.tokens.clear()
            self.view.show_error(self.tr.error(exc))
            self.view.go("login")
        else:
            self.view.show_error(self.tr.error(exc))


class LoginFlow(Presenter):
    """The log-in both apps run. Subclasses set ``roles`` and write ``_login`` (in the background, from
    :meth:`_sign_in`) and ``_logged_in`` (on the UI thread, with what ``_login`` returned)."""

    #: The roles this app serves; any other account is signed out again with :class:`WrongApp`.
    roles: tuple[str, ...] = ()

    def login(self, phone: str, password: str) -> None:
        phone = phone.strip()
        if not phone or not password:
            self.view.show_error(self.tr("err.required"))
            return
        self.view.show_busy(True)
        self.s.runner.submit(self._login, phone, password, on_done=self._logged_in, on_error=self._fail)

    def _sign_in(self, phone: str, password: str):
        """Log in (background thread); return the answer, or sign out and raise ``WrongApp``."""
        result = self.s.api.login(phone, password)
        if result.user.role not in self.roles:
            self.s.api.logout()
            raise WrongApp(result.user.role)
        return result

    def _login(self, phone: str, password: str):
        raise NotImplementedError

    def _logged_in(self, result) -> None:
        raise NotImplementedError

    def _warn_owner(self, user) -> None:
        """Tell the owner that strangers tried this account (the log-in answer's user carries the alerts)."""
        alert = fmt.login_alert(self.tr, user)
        if alert:
            self.view.show_login_alert(*alert)
