"""The consumer app: ``ConsumerApp`` and its shell (screens wired to presenters)."""

from __future__ import annotations

from pathlib import Path

from consumer_app import presenters as p
from consumer_app import screens as s
from consumer_app.strings import STRINGS
from payclient.ui.app import SuiyuanApp
from payclient.ui.shell import Shell


class ConsumerShell(Shell):
    """Screens: login, register, open_wallet, home, scan, confirm, paid, paycode, history, topup, upgrade,
    campaigns (red packets and coupons by zone), perks (my red packets and coupons), prepaid (my prepaid cards
    and plans on sale), prepaid_card (one card: its code, terms, hash and refund), payslips (工资/补贴到账: what
    organisations paid me), hardwallets (my hard wallets, 硬钱包), hardwallet (one:
    balance, load/unload, report lost, journeys and the caps reached)."""

    def build_screens(self) -> None:
        add = self.add_screen
        add(s.CLoginScreen(name="login"), p.LoginPresenter)
        add(s.CRegisterScreen(name="register"), p.LoginPresenter)
        add(s.COpenWalletScreen(name="open_wallet"), p.OpenWalletPresenter)
        add(s.CHomeScreen(name="home"), p.HomePresenter)
        scan = add(s.CScanScreen(name="scan"))
        scan.pay = p.PayPresenter(self.services, scan)
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
        from consumer_app import payouts, payouts_screens

        add(payouts_screens.CPayslipsScreen(name="payslips"), payouts.PayslipsPresenter)
        from consumer_app import transit, transit_screens

        add(transit_screens.CHardWalletsScreen(name="hardwallets"), transit.HardWalletsPresenter)
        add(transit_screens.CHardWalletScreen(name="hardwallet"), transit.HardWalletPresenter)
        from consumer_app import receipts

        add(s.CReceiptScreen(name="receipt"), receipts.ReceiptPresenter)
        from consumer_app import security, security_screens, transfer, transfer_screens

        add(security_screens.CSecurityScreen(name="security"), security.SecurityPresenter)
        add(transfer_screens.CTransferScreen(name="transfer"), transfer.TransferPresenter)
        add(transfer_screens.CRedeemScreen(name="redeem"), transfer.RedeemPresenter)


class ConsumerApp(SuiyuanApp):
    app_id = "suiyuan-consumer"
    kv_path = Path(__file__).with_name("consumer.kv")
    extra_kv_paths = (Path(__file__).with_name("prepaid.kv"), Path(__file__).with_name("payouts.kv"),
                      Path(__file__).with_name("receipt.kv"), Path(__file__).with_name("transit.kv"),
                      Path(__file__).with_name("security.kv"), Path(__file__).with_name("transfer.kv"))
    strings = STRINGS
    shell_class = ConsumerShell
    title_text = "穗元钱包 Suiyuan Wallet"
