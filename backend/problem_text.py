"""The words of problem+json in the language the client asks for (``Accept-Language``).

Domain code raises errors with an English ``detail``; the one renderer (``backend.errors``) passes
each body through :func:`localise`, which, for a client that prefers Chinese, replaces ``title``,
``detail`` and each field ``reason`` from this catalogue, keyed by the stable ``code``. A code the
catalogue does not know gets the Chinese sentence of its HTTP status: a Chinese screen never shows an
English server sentence. ``code``, ``type`` and field names stay as they are, for programs.
"""

from __future__ import annotations

import re

#: Titles by HTTP status.
TITLES_ZH = {
    400: "请求有误", 401: "需要登录", 403: "无权操作", 404: "未找到", 405: "不支持的操作", 409: "与当前状态冲突",
    410: "已失效", 413: "内容过大", 423: "已冻结", 415: "不支持的内容类型", 422: "未通过检查", 428: "缺少必要的请求头",
    429: "请求过于频繁", 500: "服务器出错", 502: "上游服务出错", 503: "服务暂时不可用", 504: "上游服务超时",
}

#: What the status means when the code has no sentence of its own.
DETAILS_BY_STATUS_ZH = {
    400: "请求的格式不正确。", 401: "请先登录。", 403: "您的账号无权进行此操作。",
    404: "要找的内容不存在或您无权查看。",
    405: "此地址不支持这种操作。", 409: "操作与当前状态冲突，请刷新后再试。", 413: "提交的内容太大。",
    415: "提交的内容类型不受支持。", 422: "请求未通过业务规则检查。", 423: "相关账户已冻结，暂时不能动账。",
    428: "缺少必要的请求头。",
    429: "请求太频繁，请稍后再试。", 500: "服务器出错，请稍后再试。", 503: "服务暂时不可用，请稍后用同一请求重试。",
}

#: One sentence per stable code.
DETAILS_ZH = {
    "account_disabled": "此账号已停用。",
    "account_not_found": "账户不存在。",
    "already_applied": "已提交过申请。",
    "already_claimed": "您已领取过。",
    "already_active": "这个账号正在使用中。",
    "already_disabled": "这个账号已经停用。",
    "already_frozen": "已经冻结。",
    "already_lifted": "冻结已解除。",
    "already_member": "此人已是成员。",
    "already_registered": "您已报名。",
    "amount_not_allowed": "此二维码不接受自定金额。",
    "amount_required": "请输入金额。",
    "auth_unavailable": "暂时无法核验登录状态，请稍后重试。",
    "bad_credentials": "手机号或密码不正确。",
    "bad_period": "统计周期不正确。",
    "bank_required": "运营机构审核员须选择所属运营机构。",
    "bad_request": "请求的格式不正确。",
    "batch_id_reused": "这个批次编号已用于其他记录。",
    "batch_not_found": "批次不存在。",
    "batch_reference_taken": "批次编号已被使用。",
    "campaign_cancelled": "活动已取消。",
    "campaign_forbidden": "您不能管理这个活动。",
    "campaign_not_found": "活动不存在。",
    "campaign_not_live": "活动不在进行中。",
    "campaign_paused": "活动已暂停。",
    "card_declined": "银行拒绝了这笔扣款。",
    "card_not_active": "这张卡当前不可用。",
    "card_not_found": "卡不存在。",
    "category_unknown": "投诉类别不在所列类别之中。",
    "claim_busy": "正在领取的人太多，请稍候；应用会用同一请求自动重试。",
    "cashier_not_found": "这家店没有这位收银员。",
    "closure_not_found": "记录不存在。",
    "complaint_already_open": "您对此已有一件处理中的投诉，请等待处理结果。",
    "complaint_not_found": "投诉不存在。",
    "concurrent_update": "数据刚被他人修改，请刷新后再试。",
    "conflict": "操作与当前状态冲突，请刷新后再试。",
    "contract_ended": "合同已结束。",
    "contract_expired": "合同已过期。",
    "contract_not_found": "合同不存在。",
    "control_total_mismatch": "合计金额或笔数与填写的核对数不符。",
    "database_unavailable": "数据库暂时不可用，请用同一请求（同一幂等键）重试。",
    "day_not_finished": "这一天还没有结束。",
    "device_cap": "这台设备的领取次数已用完。",
    "device_frozen": "这台设备的付款码已冻结，请换一种方式付款。",
    "device_id_required": "缺少设备编号。",
    "device_not_found": "设备不存在。",
    "device_revoked": "设备已被停用。",
    "draw_not_due": "还没到开奖时间。",
    "entry_not_found": "记录不存在。",
    "file_invalid": "文件内容不正确。",
    "file_too_large": "文件太大。",
    "forbidden": "您的账号无权进行此操作。",
    "freeze_not_found": "冻结记录不存在。",
    "frozen": "相关账户已冻结，暂时不能动账。",
    "fund_transfer_not_found": "拨款记录不存在。",
    "funder_exists": "这个出资方已经登记。",
    "funder_forbidden": "您不能使用这个出资方。",
    "gate_unavailable": "领取服务暂时不可用，请稍后再试。",
    "held_transfer_finished": "这笔转账已经完成或已失败，不能再取消。",
    "held_transfer_not_found": "没有这笔冷静期中的转账。",
    "idempotency_key_in_use": "同一请求正在处理中，请稍候。",
    "idempotency_key_invalid": "幂等键格式不正确。",
    "idempotency_key_missing": "涉及资金的请求需要幂等键。",
    "idempotency_key_reused": "这个幂等键已用于另一个请求。",
    "identity_in_use": "这个身份已用于另一个钱包。",
    "identity_mismatch": "身份信息不一致。",
    "illegal_transition": "当前状态下不能进行此操作。",
    "incident_not_found": "事件不存在。",
    "insufficient_funds": "余额不足。",
    "invalid_geometry": "区域边界不正确。",
    "invalid_token": "登录凭证无效，请重新登录。",
    "invalid_value": "填写的内容不正确。",
    "json_too_deep": "提交的数据层级太深。",
    "json_too_large": "提交的数据太大。",
    "limit_exceeded": "超出钱包限额。",
    "login_refused": "暂时无法登录。",
    "login_slowed": "尝试次数过多，请稍后再登录。",
    "lottery_needs_registration": "抽奖活动需要先报名。",
    "maker_checker": "经办人和复核人不能是同一人。",
    "manager_not_found": "管理员不存在。",
    "merchant_frozen": "该商户已冻结，暂时不能收款或退款。",
    "merchant_insufficient_funds": "商户余额不足，无法退款。",
    "merchant_not_active": "商户未开通收款。",
    "merchant_not_found": "商户不存在。",
    "method_not_allowed": "此地址不支持这种操作。",
    "missing_token": "请先登录。",
    "no_commitment": "缺少承诺值。",
    "no_failed_lines": "没有失败的明细可重试。",
    "no_linked_card": "钱包未绑定银行卡。",
    "not_a_lottery": "这不是抽奖活动。",
    "not_a_member": "此人不是成员。",
    "not_a_zone_manager": "此账号不是示范区管理员。",
    "not_an_approver": "您不是复核人。",
    "not_an_officer": "您不是经办人。",
    "not_an_upgrade": "只能升级到更高类别的钱包。",
    "not_draft": "只有草稿可以修改或删除。",
    "not_due": "时间未到。",
    "not_eligible": "不符合参加条件。",
    "not_enough_units": "剩余课时不足。",
    "not_found": "要找的内容不存在或您无权查看。",
    "not_org_staff": "您不是该单位的工作人员。",
    "not_registered": "您没有报名。",
    "not_your_bank": "这份申请不属于您的银行。",
    "not_your_contract": "这不是您的合同。",
    "not_your_industry": "这不属于您监管的行业。",
    "not_your_merchant": "这不是您的商户。",
    "nothing_to_pay": "没有需要支付的金额。",
    "offline_amount_cap": "超出离线支付的单笔上限。",
    "offline_count_cap": "离线支付次数已用完，请联网同步。",
    "operator_exists": "该运营单位已存在。",
    "operator_not_found": "运营单位不存在。",
    "order_already_paid": "订单已支付。",
    "order_cancelled": "订单已取消。",
    "order_expired": "订单已过期。",
    "order_not_found": "订单不存在。",
    "order_not_refundable": "这笔订单不能退款。",
    "organisation_not_found": "单位不存在。",
    "over_reversal": "冲正金额超过原交易。",
    "own_account": "不能停用自己的账号，请由试点办的其他同事操作。",
    "owner_approval_invalid": "店主密码不正确。",
    "owner_approval_required": "这笔退款需要店主输入密码。",
    "password_locked": "密码错误次数过多，已暂时锁定。",
    "password_wrong": "密码不正确。",
    "paycode_expired_or_forged": "付款码已过期或无效。",
    "paycode_invalid": "付款码无效。",
    "paycode_used": "付款码已使用。",
    "payee_limit_exceeded": "超出收款人的钱包限额。",
    "payee_not_found": "收款人不存在。",
    "payee_reported_fraud": "收款方已被确认为诈骗，付款已拦截。",
    "payee_wallet_frozen": "收款方钱包已冻结，暂时不能收款。",
    "payer_cannot_pay": "付款人无法支付。",
    "payment_password_locked": "支付密码错误次数过多，已暂时锁定，请稍后再试。",
    "payment_password_not_set": "请先设置支付密码。",
    "payment_password_required": "请输入支付密码。",
    "payment_password_wrong": "支付密码不正确。",
    "payslip_not_found": "工资单不存在。",
    "phone_taken": "这个手机号已注册。",
    "photo_not_found": "照片不存在。",
    "photo_too_large": "照片太大，请压缩后再传。",
    "photo_type_unsupported": "只能上传 JPEG 或 PNG 格式的照片。",
    "plan_not_found": "套餐不存在。",
    "platform_read_only": "处置突发事件期间暂停付款和转账，余额和记录仍可查看。请稍后再试。",
    "prepaid_limit": "超出预付费购买上限。",
    "prepaid_merchant_not_found": "预付费商户不存在。",
    "prepaid_not_approved": "预付费经营未获批准。",
    "qr_amount_tampered": "二维码金额被改动过。",
    "qr_bad_signature": "二维码签名无效，可能被覆盖或伪造。",
    "qr_crc_mismatch": "二维码校验失败。",
    "qr_invalid": "二维码无效。",
    "qr_malformed": "二维码格式不正确。",
    "qr_merchant_mismatch": "二维码与商户不符。",
    "qr_not_ours": "这不是本平台的收款码。",
    "qr_unknown_key": "二维码的签名密钥未知。",
    "qr_unsigned": "二维码没有签名。",
    "reason_required": "请填写原因。",
    "record_refused": "卡上的交易记录未通过核验。",
    "refund_exceeds_paid": "退款金额超过实付金额。",
    "refund_not_applicable": "此处理结果不能退款：只有支持投诉且针对一笔付款时才能判定退款。",
    "refund_over_cashier_limit": "超出收银员的退款权限。",
    "registration_limited": "报名人数已满。",
    "report_not_found": "报告不存在。",
    "report_not_ready": "报告尚未生成。",
    "request_expired": "请求已过期。",
    "request_not_found": "请求不存在。",
    "request_not_pending": "请求已处理。",
    "reveal_not_open": "现在不是公开种子的时间。",
    "risk_confirmation_required": "这笔交易有风险提示，请阅读后确认再继续。",
    "risk_confirmation_used": "这次确认已经用过，请重新发起。",
    "role_forbidden": "您的角色不能进行此操作。",
    "rule_not_found": "规则不存在。",
    "same_account": "付款方和收款方不能相同。",
    "sold_out": "已经领完了。",
    "staff_not_found": "找不到这个工作人员账号。",
    "static_qr_daily_cap": "超出静态码每人每日限额。",
    "target_not_found": "要处理的对象不存在。",
    "terminal_exists": "该终端已存在。",
    "terminal_key_invalid": "终端密钥不正确。",
    "terminal_key_missing": "缺少终端密钥。",
    "terminal_mismatch": "记录不属于这个终端。",
    "terminal_not_found": "终端不存在。",
    "time_pass": "时间已过。",
    "token_expired": "登录已过期，请重新登录。",
    "token_revoked": "登录已失效，请重新登录。",
    "too_many_photos": "每件投诉最多上传 3 张照片。",
    "too_many_requests": "请求太频繁，请稍后再试。",
    "topup_voided": "这笔充值已撤销。",
    "transfer_not_found": "转账不存在。",
    "unauthorized": "请先登录。",
    "unprocessable": "请求未通过业务规则检查。",
    "uscc_taken": "这个统一社会信用代码已被使用。",
    "user_not_found": "用户不存在。",
    "validation_failed": "有字段填写不正确，见各字段说明。",
    "wallet_exists": "您已开立钱包。",
    "wallet_frozen": "钱包已冻结。",
    "wallet_not_found": "钱包不存在。",
    "wallet_not_open": "请先开立钱包。",
    "window_past": "时间已经过了。",
    "zone_already_stopped": "这个示范区的活动已经全部暂停。",
    "zone_campaigns_stopped": "这个示范区的活动已全部暂停，暂时不能领取或报名；已领取的红包和券仍可使用。",
    "zone_code_taken": "示范区编号已被使用。",
    "zone_forbidden": "您不能管理这个示范区。",
    "zone_not_found": "示范区不存在。",
    "zone_stop_ended": "这次全区暂停已经结束。",
    "zone_stop_not_found": "没有这次全区暂停。",
}

#: Whole English sentences the services write, where the code alone would say too little (gettext's
#: model: the English text is the key; a sentence built with numbers falls back to its code's sentence).
SENTENCES_ZH = {
    "No such cashier at this shop.": "这家店没有这位收银员。",
    "The payment password is six digits.": "支付密码为 6 位数字。",
    "Choose a payment password that is not one repeated digit or a run like 123456.":
        "支付密码不能是同一个数字重复或 123456 这样的连续数字。",
    "Choose one of the offered password-free limits.": "请从提供的免密额度中选择。",
    "min_spend_fen must be at least the discount (满 X 减 Y with X ≥ Y).":
        "满额门槛不能低于优惠金额（满 X 减 Y 要求 X ≥ Y）。",
    "A coupon campaign's budget is count × discount; change those instead.":
        "消费券的预算等于张数 × 优惠金额，请修改这两项。",
    "A coupon needs discount_fen.": "消费券需要填写优惠金额。",
    "A red-packet campaign needs budget_fen.": "红包活动需要填写预算。",
    "Give times with a UTC offset, e.g. 2026-12-01T10:00:00+08:00.": "时间需带时区，例如 2026-12-01T10:00:00+08:00。",
    "The campaign's window has already closed.": "活动的领取时间已经结束。",
    "No such funder.": "出资方不存在。",
    "No such zone.": "示范区不存在。",
    "A zone with this code exists.": "已有同一编号的示范区。",
    "No wallet is registered with this phone number.": "这个手机号没有开立钱包。",
    "This wallet is already a funder.": "这个钱包已是出资方。",
    "Only lotteries are drawn.": "只有抽奖活动需要开奖。",
    "This lottery was cancelled; it is never drawn.": "这个抽奖活动已取消，不会开奖。",
    "'from' must not be after 'to'.": "开始日期不能晚于结束日期。",
    "period is weekly or monthly.": "周期只能是每周或每月。",
    "This period has not begun.": "这个周期还没有开始。",
}

#: Reasons of the items in a ``problems`` list (a refused file's lines), by code, with the item's ``params``
#: (the text found, a limit) filled in, so a Chinese reader keeps the specifics the English reason names.
PROBLEM_REASONS_ZH = {
    "phone_invalid": "「{value}」不是中国大陆手机号（11 位数字，以 13–19 开头）。",
    "name_missing": "收款人姓名为空。",
    "name_too_long": "姓名最多 {max} 个字。",
    "amount_missing": "金额为空。",
    "amount_invalid": "「{value}」不是以元为单位的金额（例如 3850.50）。",
    "amount_not_positive": "金额须大于零。",
    "amount_precision": "「{value}」超过两位小数；金额以元为单位，最多到分。",
    "amount_too_large": "单笔最多 ¥{max}，「{value}」超过了。",
    "category_unknown": "「{value}」不是可用的类别，请填 工资、津贴、补贴 或 报销。",
    "memo_too_long": "备注最多 {max} 个字。",
    "column_unknown": "第 {position} 列的表头「{value}」不认识，可用：手机号、姓名、金额、类别、备注。",
    "column_repeated": "「{value}」列出现了两次。",
    "columns_missing": "表头缺少：{missing}（应为 手机号、姓名、金额、类别、备注）。",
    "file_empty": "文件是空的。",
    "too_many_lines": "一个批次最多 {max} 行，请拆成几个文件。",
    "wrong_column_count": "这一行有 {fields} 个字段，表头有 {header} 个（字段里有逗号时须用双引号括起）。",
    "encoding_unsupported": "文件是 UTF-16 编码（Excel 的「Unicode 文本」），请另存为「CSV UTF-8」或普通 CSV。",
    "encoding_unreadable": "文件既不是 UTF-8 也不是 GBK/GB18030 文本，请在 Excel 中另存为「CSV UTF-8」。",
    "malformed_csv": "从这一行起无法读取 CSV：请检查引号（含逗号或引号的字段须用双引号括起，字段内的引号写两次）。",
    "xlsx_unreadable": "无法打开这个工作簿，请在 Excel 中另存为 .xlsx。",
}


def problem_reason_zh(item: dict, status: int) -> str:
    """One ``problems`` item's reason in Chinese, with its specifics; else the code's or the status's sentence."""
    code = str(item.get("code") or "")
    template = PROBLEM_REASONS_ZH.get(code)
    if template:
        try:
            # An empty specific counts as missing: no "「」" in a sentence.
            return template.format(**{k: v for k, v in (item.get("params") or {}).items() if v not in ("", None)})
        except (KeyError, IndexError):
            pass  # a specific is missing: the code's own sentence below, never a half-filled template
    return reason_zh(str(item.get("reason", "")), code, status)


#: Field reasons written by marshmallow/webargs, as patterns → Chinese (groups kept).
_REASONS_ZH = [
    (r"Missing data for required field\.", "必填。"),
    (r"Unknown field\.", "不认识的字段。"),
    (r"Field may not be null\.", "不能为空。"),
    (r"Not a valid integer\.", "应为整数。"),
    (r"Not a valid number\.", "应为数字。"),
    (r"Not a valid string\.", "应为文本。"),
    (r"Not a valid boolean\.", "应为是或否。"),
    (r"Not a valid datetime\.", "应为日期时间。"),
    (r"Not a valid date\.", "应为日期。"),
    (r"Not a valid list\.", "应为列表。"),
    (r"Invalid input type\.", "类型不正确。"),
    (r"Invalid value\.", "取值不正确。"),
    (r"Must be one of: (.*)\.", r"只能是：\1。"),
    (r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\.", r"应在 \1 到 \2 之间。"),
    (r"Must be greater than or equal to (\S+)\.", r"不能小于 \1。"),
    (r"Must be less than or equal to (\S+)\.", r"不能大于 \1。"),
    (r"Length must be between (\d+) and (\d+)\.", r"长度应在 \1 到 \2 之间。"),
    (r"Shorter than minimum length (\d+)\.", r"至少 \1 个字符。"),
    (r"Longer than maximum length (\d+)\.", r"最多 \1 个字符。"),
    (r"Invalid JSON body\.|Invalid JSON.*", "不是有效的 JSON。"),
]
_REASONS = [(re.compile(rf"^{p}$", re.S), zh) for p, zh in _REASONS_ZH]


def wants_chinese(accept_language) -> bool:
    """Whether a parsed ``Accept-Language`` (werkzeug's ``LanguageAccept``) prefers Chinese over English."""
    best = accept_language.best_match(["zh-CN", "zh", "en"], default="en")
    return best.lower().startswith("zh")


def reason_zh(reason: str, code: str, status: int) -> str:
    """A field's reason in Chinese: a known sentence or marshmallow's wording translated, else the code's sentence."""
    if reason in SENTENCES_ZH:
        return SENTENCES_ZH[reason]
    for pattern, zh in _REASONS:
        if pattern.match(reason):
            return pattern.sub(zh, reason)
    if code == "validation_failed":
        return "取值不正确。"
    return DETAILS_ZH.get(code) or DETAILS_BY_STATUS_ZH.get(status, "取值不正确。")


def localise(body: dict, chinese: bool) -> dict:
    """Return ``body`` with its ``title``, ``detail`` and field reasons in Chinese when ``chinese``."""
    if not chinese:
        return body
    status = int(body.get("status") or 500)
    code = str(body.get("code") or "")
    out = dict(body)
    out["title"] = TITLES_ZH.get(status) or ("服务器出错" if status >= 500 else "请求被拒绝")
    out["detail"] = (SENTENCES_ZH.get(str(body.get("detail"))) or DETAILS_ZH.get(code)
                     or DETAILS_BY_STATUS_ZH.get(status) or out["title"] + "。")
    if isinstance(body.get("errors"), list):
        out["errors"] = [dict(e, reason=reason_zh(str(e.get("reason", "")), code, status)) for e in body["errors"]]
    if isinstance(body.get("problems"), list):
        out["problems"] = [dict(p, reason=problem_reason_zh(p, status)) if isinstance(p, dict) else p
                           for p in body["problems"]]
    return out
