"""Demonstration zones (示范区): registry, who manages them, where merchants are, and their daily figures.

The aggregate tables (``zone_kpi_daily``, ``zone_merchant_daily``,
``zone_daily_payers``) are derived data: ``zones.kpis`` keeps them up to date
as payments settle and can rebuild them from the ledger at any time. What each
column means is defined once, in ``zones.kpis``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

BIGINT = BigInteger().with_variant(Integer, "sqlite")

ZONE_KINDS = ("business_district", "scenic_area", "convention_centre", "finance_district", "industrial_park")
ZONE_KIND_NAMES = {
    "business_district": ("商圈", "Business district"),
    "scenic_area": ("景区", "Scenic area"),
    "convention_centre": ("会展中心", "Convention centre"),
    "finance_district": ("金融区", "Finance district"),
    "industrial_park": ("产业园区", "Industrial park"),
}

#: The zones named in the Guangzhou action plan: code, Chinese, English, kind, district.
#: Their outlines are in ``zones/data/zones.geojson``.
PLAN_ZONES = (
    ("yongqingfang", "永庆坊", "Yongqingfang", "scenic_area", "荔湾区"),
    ("baiyunshan", "白云山", "Baiyun Mountain", "scenic_area", "白云区"),
    ("beijinglu", "北京路", "Beijing Road", "business_district", "越秀区"),
    ("pazhou", "琶洲会展中心", "Pazhou Convention Centre", "convention_centre", "海珠区"),
    ("tianhelu", "天河路商圈", "Tianhe Road", "business_district", "天河区"),
    ("gifc", "广州国际金融城", "Guangzhou International Finance City", "finance_district", "天河区"),
    ("liangshan", "环两山生态旅游风景区", "Two-Mountains Eco-tourism Area", "scenic_area", "白云区"),
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
    # The outline as GeoJSON (Polygon or MultiPolygon, WGS 84), validated by shapely on the way in.
    boundary_geojson: Mapped[str | None] = mapped_column(Text)
    # Its bounding box: the zones that could contain a point are found without parsing every outline.
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ZoneManager(db.Model):
    """A zone manager's assignment to one zone."""

    __tablename__ = "zone_managers"
    __table_args__ = (UniqueConstraint("user_id", "zone_id", name="uq_zone_managers_user_zone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)


class ZoneMerchant(db.Model):
    """Where an approved merchant is: the zone whose outline contains it, or none (``zone_id`` NULL).

    The position is copied from the merchant at placement, indexed, so that
    "merchants near this point" is a range query on this table.
    """

    __tablename__ = "zone_merchants"
    __table_args__ = (Index("ix_zone_merchants_latitude_longitude", "latitude", "longitude"),)

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True, autoincrement=False)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ZoneKpiDaily(db.Model):
    """One zone's figures for one local day (Asia/Shanghai). See ``zones.kpis`` for the definitions."""

    __tablename__ = "zone_kpi_daily"
    __table_args__ = (
        CheckConstraint(
            "payment_count >= 0 AND payment_fen >= 0 AND refund_count >= 0 AND refund_fen >= 0 "
            "AND active_wallets >= 0 AND wallets_opened >= 0 AND merchants_accepting >= 0 "
            "AND subsidy_fen >= 0 AND subsidised_payment_count >= 0 AND subsidy_driven_fen >= 0",
            name="not_negative",
        ),
    )

    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    payment_count: Mapped[int] = mapped_column(Integer, default=0)
    payment_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    active_wallets: Mapped[int] = mapped_column(Integer, default=0)
    wallets_opened: Mapped[int] = mapped_column(Integer, default=0)
    merchants_accepting: Mapped[int] = mapped_column(Integer, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidised_payment_count: Mapped[int] = mapped_column(Integer, default=0)
    subsidy_driven_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class ZoneMerchantDaily(db.Model):
    """One merchant's figures for one local day, in the zone it is placed in (scenario coverage, top merchants)."""

    __tablename__ = "zone_merchant_daily"
    __table_args__ = (
        CheckConstraint(
            "payment_count >= 0 AND payment_fen >= 0 AND refund_count >= 0 AND refund_fen >= 0 "
            "AND subsidy_fen >= 0 AND subsidy_driven_fen >= 0",
            name="not_negative",
        ),
    )

    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(16))
    payment_count: Mapped[int] = mapped_column(Integer, default=0)
    payment_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_driven_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class ZoneDailyPayer(db.Model):
    """A wallet that paid in a zone on a day: the unique key that makes "active wallets" count each once."""

    __tablename__ = "zone_daily_payers"

    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class ZoneKpiApplied(db.Model):
    """A settled payment or refund already counted in the aggregates (so counting it again is a no-op).

    Keyed by the transfer that settled it: the order's payment transfer, or the refund's first reversal.
    """

    __tablename__ = "zone_kpi_applied"
    __table_args__ = (
        CheckConstraint("kind IN ('payment', 'refund')", name="kind_known"),
        Index("ix_zone_kpi_applied_day_zone_id", "day", "zone_id"),
    )

    transfer_id: Mapped[int] = mapped_column(BIGINT, ForeignKey("transfers.id"), primary_key=True,
                                             autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8))
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    day: Mapped[date] = mapped_column(Date)


class ReportPeriod:
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    ALL = (WEEKLY, MONTHLY)


class ReportStatus:
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"

    ALL = (PENDING, READY, FAILED)


class ZoneReport(db.Model):
    """The periodic scenario report (场景定期报送) of one zone and period: a PDF and a CSV of the figures."""

    __tablename__ = "zone_reports"
    __table_args__ = (
        UniqueConstraint("zone_id", "period", "start", name="uq_zone_reports_zone_period_start"),
        CheckConstraint("period IN ('weekly', 'monthly')", name="period_known"),
        CheckConstraint("status IN ('pending', 'ready', 'failed')", name="status_known"),
        CheckConstraint("status <> 'ready' OR (pdf IS NOT NULL AND csv IS NOT NULL)", name="ready_has_files"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    period: Mapped[str] = mapped_column(String(8))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)  # the last day covered (inclusive)
    status: Mapped[str] = mapped_column(String(8))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    csv: Mapped[str | None] = mapped_column(Text)
    figures_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # NULL when the schedule asked for it.
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ZoneThreshold(db.Model):
    """A threshold the pilot office set for the demonstration-zone application (one row per figure)."""

    __tablename__ = "zone_thresholds"
    __table_args__ = (CheckConstraint("value >= 0", name="value_not_negative"),)

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
