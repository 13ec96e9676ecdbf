"""The operator banks that open wallets and exchange e-CNY."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

#: The ten operator banks of the e-CNY pilot: code, Chinese and English name.
OPERATOR_BANKS = (
    ("ICBC", "中国工商银行", "Industrial and Commercial Bank of China"),
    ("ABC", "中国农业银行", "Agricultural Bank of China"),
    ("BOC", "中国银行", "Bank of China"),
    ("CCB", "中国建设银行", "China Construction Bank"),
    ("BOCOM", "交通银行", "Bank of Communications"),
    ("PSBC", "中国邮政储蓄银行", "Postal Savings Bank of China"),
    ("CMB", "招商银行", "China Merchants Bank"),
    ("CIB", "兴业银行", "Industrial Bank"),
    ("WEBANK", "微众银行", "WeBank"),
    ("MYBANK", "网商银行", "MYbank"),
)


class OperatorBank(db.Model):
    __tablename__ = "operator_banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    # Negative balance = e-CNY this bank has issued against deposits.
    issuance_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
