"""Demonstration zones (示范区) and who manages them."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

ZONE_KINDS = ("business_district", "scenic_area", "convention_centre", "finance_district", "industrial_park")

#: The zones named in the Guangzhou action plan: code, Chinese, English, kind, district.
PLAN_ZONES = (
    ("yongqingfang", "永庆坊", "Yongqingfang", "scenic_area", "荔湾区"),
    ("baiyunshan", "白云山", "Baiyun Mountain", "scenic_area", "白云区"),
    ("beijinglu", "北京路", "Beijing Road", "business_district", "越秀区"),
    ("pazhou", "琶洲会展中心", "Pazhou Convention Centre", "convention_centre", "海珠区"),
    ("tianhelu", "天河路商圈", "Tianhe Road", "business_district", "天河区"),
    ("gifc", "广州国际金融城", "Guangzhou International Finance City", "finance_district", "天河区"),
    ("liangshan", "环两山生态旅游风景区", "Two-Mountains Eco-tourism Area", "scenic_area", "从化区"),
    ("huadu_sunac", "花都融创商圈", "Huadu Sunac", "business_district", "花都区"),
    ("huangpu_park", "黄埔科学城产业园", "Huangpu Science City Industrial Park", "industrial_park", "黄埔区"),
)


class Zone(db.Model):
    __tablename__ = "zones"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('business_district', 'scenic_area', 'convention_centre', 'finance_district', 'industrial_park')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(24))
    district: Mapped[str] = mapped_column(String(20))


class ZoneManager(db.Model):
    """A zone manager's assignment to one zone."""

    __tablename__ = "zone_managers"
    __table_args__ = (UniqueConstraint("user_id", "zone_id", name="uq_zone_managers_user_zone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
