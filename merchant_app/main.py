"""The merchant app: ``MerchantApp`` and its shell (screens wired to presenters)."""

from __future__ import annotations

from pathlib import Path

from merchant_app import presenters as p
from merchant_app import screens as s
from merchant_app.strings import STRINGS
from payclient.ui.app import SuiyuanApp
from payclient.ui.shell import Shell


class MerchantShell(Shell):
    """Screens: login, collect, collect_qr, charge, charged, today, order, more, poster, campaigns, prepaid
    (release a customer's prepaid card use by use, today's releases), prepaid_sell (the owner publishes a plan),
    counter (announcements and the receipt printer). While the app runs, today's orders are watched so every
    payment and refund is said aloud (:class:`~merchant_app.counter.PaymentFeed`)."""

    home_screen = "collect"
    #: Seconds between two looks at today's orders (a static code is paid with no screen waiting for it).
    feed_seconds = 3.0

    def build_screens(self) -> None:
        add = self.add_screen
        add(s.MLoginScreen(name="login"), p.LoginPresenter)
        collect = add(s.MCollectScreen(name="collect"), p.CollectPresenter)
        qr = add(s.MCollectQrScreen(name="collect_qr"))
        qr.collect = collect.presenter
        add(s.MChargeScreen(name="charge"), p.ChargePresenter)
        add(s.MChargedScreen(name="charged"))
        add(s.MTodayScreen(name="today"), p.TodayPresenter)
        add(s.MOrderScreen(name="order"), p.RefundPresenter)
        more = add(s.MMoreScreen(name="more"), p.LoginPresenter)
        more.policy = p.RefundPolicyPresenter(self.services, more)
        add(s.MPosterScreen(name="poster"), p.PosterPresenter)
        add(s.MCampaignsScreen(name="campaigns"), p.CampaignsPresenter)
        from merchant_app import prepaid, prepaid_screens

        add(prepaid_screens.MPrepaidScreen(name="prepaid"), prepaid.ReleasePresenter)
        add(prepaid_screens.MSellScreen(name="prepaid_sell"), prepaid.SellPresenter)
        from merchant_app import counter

        add(s.MCounterScreen(name="counter"), counter.CounterSettingsPresenter)
        from merchant_app import office, office_screens

        add(office_screens.MCashiersScreen(name="cashiers"), office.CashiersPresenter)
        add(office_screens.MDayScreen(name="day"), office.DayPresenter)
        self.screen("poster").files = office.PosterFilesPresenter(self.services, self.screen("poster"))
        for name in ("collect_qr", "charged", "order"):
            screen = self.screen(name)
            screen.printing = counter.PrintPresenter(self.services, screen)
        self.feed = counter.PaymentFeed(self.services)
        self._stop_feed = None

    def start(self) -> None:
        super().start()
        from kivy.utils import platform

        from payclient.speech import default_engine

        if getattr(self.services.announcer.engine, "name", "") == "silent":
            self.services.announcer.engine = default_engine(platform)
        self._stop_feed = self.services.runner.every(self.feed_seconds, self.feed.poll)

    def stop(self) -> None:
        """The app is closing: stop watching today's orders."""
        if self._stop_feed is not None:
            self._stop_feed()
            self._stop_feed = None

    def go(self, name: str, *, remember: bool = True) -> None:
        # The tabs are peers: switching tabs does not stack history.
        tabs = ("collect", "charge", "today", "more")
        if name in tabs and self.sm.current in tabs:
            remember = False
        super().go(name, remember=remember)


class MerchantApp(SuiyuanApp):
    app_id = "suiyuan-merchant"
    kv_path = Path(__file__).with_name("merchant.kv")
    extra_kv_paths = (Path(__file__).with_name("prepaid.kv"), Path(__file__).with_name("counter.kv"),
                      Path(__file__).with_name("office.kv"))
    strings = STRINGS
    shell_class = MerchantShell
    title_text = "穗元商户 Suiyuan Merchant"

    def on_stop(self):
        if self.shell is not None:
            self.shell.stop()
