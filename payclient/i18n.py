"""Text in Chinese first, with an English switch (a tiny table, no gettext).

:class:`Catalog` holds ``{lang: {key: text}}`` tables and the current language;
``catalog.t("key", name=...)`` formats. The apps add their own tables on top of
the common one here (error messages for every problem code, transaction kinds,
wallet classes, order statuses). Pure Python: presenters use it without Kivy;
``payclient.ui.i18n`` makes the language a Kivy property for ``.kv`` bindings.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGS", "COMMON", "Catalog"]

LANGS = ("zh", "en")

COMMON: dict[str, dict[str, str]] = {
    "zh": {
        "ok": "好的", "cancel": "取消", "back": "返回", "retry": "重试", "loading": "加载中…", "done": "完成",
        "confirm": "确认", "close": "关闭", "lang.switch": "English", "none": "—", "no_limit": "不限",
        "picker.title": "选择二维码或条码图片", "picker.open": "打开",
        "scan.hint": "将二维码或条码放入框内，即可自动扫描", "scan.picture": "从相册选图",
        "err.generic": "操作未成功：{detail}",
        "err.network": "网络不可用，请检查连接后重试",
        "err.network_pending": "网络中断，这笔交易已保存，恢复网络后会自动确认，不会重复扣款",
        "err.amount": "请输入正确的金额（最多两位小数）",
        "err.amount_zero": "金额必须大于 0",
        "err.required": "请填写完整",
        "err.bad_credentials": "手机号或密码不正确",
        "err.login_slowed": "密码错误次数较多，请 {seconds} 秒后再试",
        "err.login_refused": "此设备登录失败次数过多，请稍后再试",
        "err.registration_limited": "注册过于频繁，请稍后再试",
        "err.claim_busy": "正在领取的人太多，请稍后再试（不会重复领取）",
        "err.amount_max": "金额不能超过 {max}",
        "login_alert.title": "有人尝试登录您的账户",
        "login_alert.text": "过去 24 小时内，其他设备输错您的密码 {failed} 次，"
                            "另有 {blocked} 次尝试已被拦截（最近一次 {last}）。"
                            "您在本机登录不受影响。如非本人操作，请勿向他人透露密码。",
        "err.token_expired": "登录已过期，请重新登录",
        "err.token_revoked": "登录已失效，请重新登录",
        "err.invalid_token": "登录已失效，请重新登录",
        "err.missing_token": "请先登录",
        "err.account_disabled": "该账户已停用",
        "err.phone_taken": "该手机号已注册，请直接登录",
        "err.validation_failed": "填写的信息有误：{fields}",
        "err.role_forbidden": "当前账户无权进行此操作",
        "err.wallet_not_open": "请先开通钱包",
        "err.wallet_exists": "您已开通钱包",
        "err.wallet_frozen": "钱包已冻结，请联系运营机构",
        "err.no_linked_card": "请先绑定银行卡",
        "err.card_declined": "银行卡扣款被拒绝",
        "err.insufficient_funds": "余额不足",
        "err.limit_exceeded": "超出钱包限额（{limit}）",
        "err.payee_limit_exceeded": "收款方钱包余额已达上限",
        "err.payee_not_found": "该手机号未开通数字人民币钱包",
        "err.not_an_upgrade": "钱包已是该等级或更高",
        "err.identity_in_use": "该身份证已在本机构开通实名钱包",
        "err.identity_mismatch": "与钱包已登记的身份信息不一致",
        "err.static_qr_daily_cap": "静态码付款每天最多 ¥500，请让商户出示动态码",
        "err.qr_unsigned": "此码没有穗元签名，可能是伪造的收款码，请勿付款",
        "err.qr_bad_signature": "此码签名不符，可能被覆盖或篡改，请勿付款",
        "err.qr_amount_tampered": "此码的金额被篡改过，请勿付款",
        "err.qr_merchant_mismatch": "此码的收款商户被替换过，请勿付款",
        "err.qr_unknown_key": "此码的签名密钥未知，请勿付款",
        "err.qr_crc_mismatch": "二维码已损坏，请重新扫描",
        "err.qr_malformed": "这不是有效的收款码",
        "err.qr_not_ours": "这不是穗元商户收款码",
        "err.qr_invalid": "此码不能付款",
        "err.merchant_not_active": "该商户当前不能收款",
        "err.merchant_not_found": "找不到该商户",
        "err.order_expired": "收款码已过期，请让商户重新生成",
        "err.order_already_paid": "该订单已支付，请勿重复付款",
        "err.order_cancelled": "商户已取消该订单",
        "err.order_not_found": "找不到该订单",
        "err.order_not_refundable": "该订单不能退款",
        "err.refund_exceeds_paid": "退款金额超过可退金额",
        "err.refund_over_cashier_limit": "超出收银员退款权限，请店主操作",
        "err.merchant_insufficient_funds": "商户钱包余额不足，无法退款",
        "err.not_your_merchant": "这不是您的店铺",
        "err.amount_required": "静态码需要输入付款金额",
        "err.amount_not_allowed": "动态码金额已固定",
        "err.paycode_invalid": "付款码应为 69 开头的 18 位数字",
        "err.paycode_expired_or_forged": "付款码已过期或无效，请让顾客刷新",
        "err.paycode_used": "该付款码已使用，请让顾客刷新",
        "err.device_revoked": "该设备的付款码已停用",
        "err.offline_amount_cap": "付款码单笔最多 ¥500，请使用收款码",
        "err.offline_count_cap": "离线付款次数已满，请顾客联网后再付",
        "err.device_not_found": "付款码设备不存在",
        "err.idempotency_key_reused": "请求重复，请刷新后重试",
        "err.no_code_found": "图片中没有找到二维码或条码",
        "err.not_a_merchant_code": "这不是商户收款码",
        "err.phishing_url": "这是仿冒数字人民币的诈骗网址，切勿打开或付款",
        "err.payee_reported_fraud": "收款方已被举报并核实为诈骗，付款已拦截",
        "err.not_a_paycode": "这不是付款码",
        "err.image_unreadable": "无法读取该图片",
        "limit.single": "单笔", "limit.day": "日累计", "limit.year": "年累计", "limit.balance": "余额上限",
        "class.1": "一类钱包", "class.2": "二类钱包", "class.3": "三类钱包", "class.4": "四类钱包",
        "txn.topup": "充值", "txn.redeem": "兑回银行卡", "txn.transfer": "转账", "txn.payment": "付款",
        "txn.payment.in": "收款", "txn.refund": "退款", "txn.reversal": "冲正",
        "txn.red_packet_claim": "领取红包", "txn.red_packet_spend": "红包抵扣", "txn.coupon_subsidy": "消费券补贴",
        "txn.reclaim": "红包过期收回", "txn.escrow": "活动预存", "txn.budget_return": "活动退回",
        "txn.payout": "工资/补贴到账",
        "status.created": "待支付", "status.paid": "已支付", "status.expired": "已过期",
        "status.cancelled": "已取消", "status.refunded": "已退款", "status.partially_refunded": "部分退款",
        "kind.dynamic": "动态码", "kind.static": "静态码", "kind.paycode": "付款码",
        "scenario.food": "食", "scenario.lodging": "住", "scenario.transport": "行", "scenario.tourism": "游",
        "scenario.shopping": "购", "scenario.entertainment": "娱", "scenario.medical": "医",
    },
    "en": {
        "ok": "OK", "cancel": "Cancel", "back": "Back", "retry": "Retry", "loading": "Loading…", "done": "Done",
        "confirm": "Confirm", "close": "Close", "lang.switch": "中文", "none": "—", "no_limit": "No limit",
        "picker.title": "Choose a picture of the code", "picker.open": "Open",
        "scan.hint": "Hold the QR code or barcode inside the frame", "scan.picture": "From a picture",
        "err.generic": "That did not work: {detail}",
        "err.network": "No network. Check the connection and try again",
        "err.network_pending": "The connection dropped. The payment is saved and will be confirmed when the "
                               "network is back; you will not be charged twice",
        "err.amount": "Enter a valid amount (at most two decimals)",
        "err.amount_zero": "The amount must be above 0",
        "err.required": "Please fill in every field",
        "err.bad_credentials": "Wrong phone number or password",
        "err.login_slowed": "Several wrong passwords; try again in {seconds} s",
        "err.login_refused": "Too many failed log-ins from this device; try again later",
        "err.registration_limited": "Too many registrations; try again later",
        "err.claim_busy": "Too many people are claiming right now; try again in a moment (you cannot get it twice)",
        "err.amount_max": "The amount may be at most {max}",
        "login_alert.title": "Someone tried to log in to your account",
        "login_alert.text": "In the last 24 hours other devices entered a wrong password {failed} times and {blocked} "
                            "more attempts were blocked (last at {last}). Logging in on this phone is not affected. "
                            "If it was not you, keep your password to yourself.",
        "err.token_expired": "Your session expired; please log in again",
        "err.token_revoked": "Your session ended; please log in again",
        "err.invalid_token": "Your session ended; please log in again",
        "err.missing_token": "Please log in",
        "err.account_disabled": "This account is disabled",
        "err.phone_taken": "This phone number is already registered; log in instead",
        "err.validation_failed": "Please check: {fields}",
        "err.role_forbidden": "This account may not do that",
        "err.wallet_not_open": "Open a wallet first",
        "err.wallet_exists": "You already have a wallet",
        "err.wallet_frozen": "This wallet is frozen; contact your bank",
        "err.no_linked_card": "Link a bank card first",
        "err.card_declined": "The bank card was declined",
        "err.insufficient_funds": "Not enough balance",
        "err.limit_exceeded": "Above this wallet's limit ({limit})",
        "err.payee_limit_exceeded": "The payee's wallet is at its balance limit",
        "err.payee_not_found": "No e-CNY wallet is registered to that phone number",
        "err.not_an_upgrade": "The wallet is already at that class or higher",
        "err.identity_in_use": "This ID already backs a verified wallet at this bank",
        "err.identity_mismatch": "This does not match the identity on the wallet",
        "err.static_qr_daily_cap": "Static codes pay at most ¥500 a day; ask for a dynamic code",
        "err.qr_unsigned": "This code is not signed by Suiyuan. It may be a fake sticker: do not pay",
        "err.qr_bad_signature": "The code's signature does not match: it may be pasted over. Do not pay",
        "err.qr_amount_tampered": "The amount in this code was changed. Do not pay",
        "err.qr_merchant_mismatch": "The merchant in this code was swapped. Do not pay",
        "err.qr_unknown_key": "This code is signed with an unknown key. Do not pay",
        "err.qr_crc_mismatch": "The code is damaged; scan it again",
        "err.qr_malformed": "This is not a valid payment code",
        "err.qr_not_ours": "This is not a Suiyuan merchant code",
        "err.qr_invalid": "This code cannot be paid",
        "err.merchant_not_active": "This merchant cannot accept payments now",
        "err.merchant_not_found": "Merchant not found",
        "err.order_expired": "This code has expired; ask the merchant for a new one",
        "err.order_already_paid": "This order is already paid",
        "err.order_cancelled": "The merchant cancelled this order",
        "err.order_not_found": "Order not found",
        "err.order_not_refundable": "This order cannot be refunded",
        "err.refund_exceeds_paid": "That is more than can be refunded",
        "err.refund_over_cashier_limit": "Above your cashier refund limit; ask the owner",
        "err.merchant_insufficient_funds": "The shop's wallet does not hold enough to refund",
        "err.not_your_merchant": "Not your shop",
        "err.amount_required": "Enter the amount for a static code",
        "err.amount_not_allowed": "A dynamic code carries its own amount",
        "err.paycode_invalid": "A payment code has 18 digits starting with 69",
        "err.paycode_expired_or_forged": "The payment code expired or is not genuine; ask for a fresh one",
        "err.paycode_used": "This payment code was already used; ask for a fresh one",
        "err.device_revoked": "This device's payment codes were switched off",
        "err.offline_amount_cap": "Payment codes pay at most ¥500 at a time; show a QR instead",
        "err.offline_count_cap": "Too many offline payments; the customer must go online first",
        "err.device_not_found": "Payment-code device not found",
        "err.idempotency_key_reused": "Duplicate request; refresh and try again",
        "err.no_code_found": "No QR code or barcode found in the picture",
        "err.not_a_merchant_code": "This is not a merchant's payment QR",
        "err.phishing_url": "This is a scam link pretending to be the digital yuan. Do not open it or pay",
        "err.payee_reported_fraud": "This payee was reported and confirmed as a scam; the payment is stopped",
        "err.not_a_paycode": "This is not a payment code",
        "err.image_unreadable": "That file could not be read as an image",
        "limit.single": "per payment", "limit.day": "per day", "limit.year": "per year",
        "limit.balance": "balance cap",
        "class.1": "Class 1 wallet", "class.2": "Class 2 wallet", "class.3": "Class 3 wallet",
        "class.4": "Class 4 wallet",
        "txn.topup": "Top-up", "txn.redeem": "Back to bank card", "txn.transfer": "Transfer", "txn.payment": "Payment",
        "txn.payment.in": "Received", "txn.refund": "Refund", "txn.reversal": "Reversal",
        "txn.red_packet_claim": "Red packet", "txn.red_packet_spend": "Red packet used",
        "txn.coupon_subsidy": "Coupon", "txn.reclaim": "Red packet expired", "txn.escrow": "Campaign escrow",
        "txn.budget_return": "Campaign return",
        "txn.payout": "Salary/subsidy received",
        "status.created": "Waiting", "status.paid": "Paid", "status.expired": "Expired",
        "status.cancelled": "Cancelled", "status.refunded": "Refunded", "status.partially_refunded": "Part refunded",
        "kind.dynamic": "Dynamic QR", "kind.static": "Static QR", "kind.paycode": "Pay code",
        "scenario.food": "Food", "scenario.lodging": "Lodging", "scenario.transport": "Transport",
        "scenario.tourism": "Tourism", "scenario.shopping": "Shopping", "scenario.entertainment": "Fun",
        "scenario.medical": "Medical",
    },
}


class Catalog:
    """Translated text for the current language (``"zh"`` by default)."""

    def __init__(self, *tables: dict[str, dict[str, str]], lang: str = "zh"):
        self.tables: dict[str, dict[str, str]] = {code: {} for code in LANGS}
        self.add(COMMON)
        for table in tables:
            self.add(table)
        self.lang = lang if lang in LANGS else "zh"
        self._listeners: list[Callable[[str], None]] = []

    def add(self, table: dict[str, dict[str, str]]) -> None:
        for code, entries in table.items():
            self.tables.setdefault(code, {}).update(entries)

    def has(self, key: str) -> bool:
        return key in self.tables.get(self.lang, {}) or key in self.tables["zh"]

    def t(self, key: str, **kw) -> str:
        """Return the text of ``key`` in the current language (Chinese, then the key, as fallbacks)."""
        text = self.tables.get(self.lang, {}).get(key) or self.tables["zh"].get(key) or key
        if kw:
            try:
                return text.format(**kw)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    __call__ = t

    def set_lang(self, lang: str) -> None:
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}")
        if lang != self.lang:
            self.lang = lang
            for fn in list(self._listeners):
                fn(lang)

    def toggle(self) -> str:
        self.set_lang("en" if self.lang == "zh" else "zh")
        return self.lang

    def bind(self, fn: Callable[[str], None]) -> None:
        self._listeners.append(fn)

    def pick(self, zh: str | None, en: str | None) -> str:
        """Return whichever of a Chinese/English pair suits the language (the other if missing)."""
        return (en or zh or "") if self.lang == "en" else (zh or en or "")

    def error(self, exc: BaseException) -> str:
        """Return a person's explanation of what went wrong."""
        from payclient.errors import ApiError, NetworkError
        from suiyuan_protocol.money import AmountTooLarge, MoneyError, format_fen

        if isinstance(exc, NetworkError):
            return self.t("err.network_pending" if exc.pending_key else "err.network")
        if isinstance(exc, AmountTooLarge):
            return self.t("err.amount_max", max=format_fen(exc.max_fen))
        if isinstance(exc, MoneyError):
            return self.t("err.amount")
        if isinstance(exc, ApiError):
            key = f"err.{exc.code}"
            if exc.code == "validation_failed":
                fields = ("、" if self.lang == "zh" else ", ").join(sorted(exc.field_errors))
                return self.t(key, fields=fields or exc.detail)
            if exc.code == "login_slowed":
                return self.t(key, seconds=exc.get("retry_after_seconds", "?"))
            if exc.code in ("limit_exceeded",):
                limit = self.t(f"limit.{exc.get('limit', 'single')}")
                if isinstance(exc.get("limit_fen"), int):
                    limit += " " + format_fen(exc.get("limit_fen"))
                return self.t(key, limit=limit)
            if self.has(key):
                return self.t(key)
            return self.t("err.generic", detail=exc.detail or exc.code)
        return self.t("err.generic", detail=str(exc) or type(exc).__name__)
