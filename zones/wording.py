"""How the zone reports name and print their figures (Chinese and English labels, units), shared by the
CSV and the PDF (``zones.pdf``), so the PDF needs nothing from ``zones.reports``."""

from __future__ import annotations

from suiyuan_protocol.money import format_fen
from zones.models import ReportPeriod

SCENARIO_EN = {"food": "Food", "lodging": "Lodging", "transport": "Transport", "tourism": "Tourism",
               "shopping": "Shopping", "entertainment": "Entertainment", "medical": "Medical"}

#: key → (Chinese label, English label, unit)
LABELS = {
    "payment_count": ("支付笔数", "Payments", "count"),
    "payment_fen": ("交易金额", "Payment volume", "fen"),
    "refund_count": ("退款笔数", "Refunds", "count"),
    "refund_fen": ("退款金额", "Refund volume", "fen"),
    "net_fen": ("净交易额", "Net volume", "fen"),
    "average_ticket_fen": ("客单价", "Average ticket", "fen"),
    "active_wallets": ("活跃钱包", "Active wallets", "count"),
    "wallets_opened": ("新开钱包（首笔消费）", "Wallets opened (first payment)", "count"),
    "merchants_accepting": ("受理商户", "Merchants accepting", "count"),
    "merchants_enrolled": ("入驻商户", "Merchants enrolled", "count"),
    "scenarios_covered": ("场景覆盖", "Scenarios covered", "of 7"),
    "subsidy_fen": ("补贴支出", "Subsidy spent", "fen"),
    "subsidised_payment_count": ("补贴交易笔数", "Subsidised payments", "count"),
    "subsidy_driven_fen": ("带动消费", "Volume driven by subsidy", "fen"),
    "campaign_leverage": ("补贴杠杆", "Campaign leverage", "ratio"),
}
SUMMARY_KEYS = ("payment_count", "payment_fen", "refund_count", "refund_fen", "net_fen", "average_ticket_fen",
                "active_wallets", "wallets_opened", "merchants_accepting", "merchants_enrolled", "scenarios_covered",
                "subsidy_fen", "subsidised_payment_count", "subsidy_driven_fen", "campaign_leverage")
DAILY_KEYS = ("payment_count", "payment_fen", "refund_count", "refund_fen", "net_fen", "average_ticket_fen",
              "active_wallets", "wallets_opened", "merchants_accepting", "scenarios_covered", "subsidy_fen",
              "subsidy_driven_fen")
PERIOD_NAMES = {ReportPeriod.WEEKLY: ("周报", "Weekly"), ReportPeriod.MONTHLY: ("月报", "Monthly")}


def summary_value(totals: dict, key: str):
    """Return the value of a summary figure from period totals."""
    if key == "scenarios_covered":
        return totals["scenario_coverage"]["covered_count"]
    return totals[key]


def display(key: str, value) -> str:
    """Return a figure as a person reads it (¥ for fen, "5 / 7" for coverage)."""
    unit = LABELS[key][2]
    if value is None:
        return "—"
    if unit == "fen":
        return format_fen(int(value))
    if unit == "of 7":
        return f"{value} / 7"
    if unit == "ratio":
        return f"{value:.2f}×"
    return f"{int(value):,}"
