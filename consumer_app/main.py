"""The consumer app: ``ConsumerApp`` and its shell (screens wired to presenters)."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from consumer_app import presenters as p
from consumer_app import screens as s
from consumer_app.strings import STRINGS
from payclient.services import Services
from payclient.ui.app import SuiyuanApp
from payclient.ui.i18n import tr
from payclient.ui.shell import Shell

KV = Path(__file__).with_name("consumer.kv")
PREPAID_KV = Path(__file__).with_name("prepaid.kv")
_kv_loaded = False


def load_kv() -> None:
    global _kv_loaded
    if not _kv_loaded:
        tr.add(STRINGS)
        Builder.load_file(str(KV))
        Builder.load_file(str(PREPAID_KV))
        _kv_loaded = True


class ConsumerShell(Shell):
    """Screens: login, register, open_wallet, home, scan, confirm, paid, paycode, history, topup, upgrade,
    campaigns (red packets and coupons by zone), perks (my red packets and coupons), prepaid (my prepaid cards
    and plans on sale), prepaid_card (one card: its code, terms, hash and refund)."""

    def build_screens(self) -> None:
        sv: Services = self.services

        def add(screen, presenter_cls=None):
            screen.shell = self
            if presenter_cls is not None:
                screen.presenter = presenter_cls(sv, screen)
            self.sm.add_widget(screen)
            return screen

        login = add(s.CLoginScreen(name="login"), p.LoginPresenter)
        add(s.CRegisterScreen(name="register"), p.LoginPresenter)
        add(s.COpenWalletScreen(name="open_wallet"), p.OpenWalletPresenter)
        add(s.CHomeScreen(name="home"), p.HomePresenter)
        scan = add(s.CScanScreen(name="scan"))
        scan.pay = p.PayPresenter(sv, scan)
        confirm = add(s.CConfirmScreen(name="confirm"))
        confirm.pay_presenter = scan.pay
        add(s.CPaidScreen(name="paid"))
        add(s.CPaycodeScreen(name="paycode"), p.PaycodePresenter)
        add(s.CHistoryScreen(name="history"), p.HistoryPresenter)
        add(s.CTopupScreen(name="topup"), p.TopupPresenter)
        add(s.CUpgradeScreen(name="upgrade"), p.UpgradePresenter)
        add(s.CCampaignsScreen(name="campaigns"), p.CampaignsPresenter)
        add(s.CPerksScreen(name="perks"), p.PerksPresenter)
        from consumer_app import prepaid, prepaid_screens

        add(prepaid_screens.CPrepaidScreen(name="prepaid"), prepaid.PrepaidPresenter)
        add(prepaid_screens.CPrepaidCardScreen(name="prepaid_card"), prepaid.PrepaidCardPresenter)
        self._login = login

    def start(self) -> None:
        """Show the first screen: home if a session is stored, else the log-in screen."""
        first = self._login.presenter.restore()
        self.sm.current = first


class ConsumerApp(SuiyuanApp):
    app_id = "suiyuan-consumer"

    def load_app_kv(self) -> None:
        load_kv()

    def make_shell(self, services: Services) -> ConsumerShell:
        return ConsumerShell(services)

    def window_title(self) -> str:
        return "穗元钱包 Suiyuan Wallet"
