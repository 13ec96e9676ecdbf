"""Render a zone report as a PDF: figures, three charts, tables, definitions — Chinese with English labels.

Text is set in WenQuanYi Micro Hei (shipped in ``payclient/fonts``), which has
both the Latin and the CJK glyphs, so nothing falls back to a font without
them: reportlab embeds it as a TrueType subset and the charts are drawn by
matplotlib (Agg, no display) with the same font.
"""

from __future__ import annotations

import io
import threading
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator  # noqa: E402
from reportlab.lib import colors  # noqa: E402
from reportlab.lib.enums import TA_LEFT  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import ParagraphStyle  # noqa: E402
from reportlab.lib.units import mm  # noqa: E402
from reportlab.pdfbase import pdfmetrics  # noqa: E402
from reportlab.pdfbase.ttfonts import TTFont  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from backend.clock import local_zone, utcnow  # noqa: E402
from backend.merchants.models import SCENARIOS  # noqa: E402
from suiyuan_protocol.money import format_fen  # noqa: E402
from zones.models import ZONE_KIND_NAMES  # noqa: E402
from zones.wording import LABELS, PERIOD_NAMES, SCENARIO_EN, display, summary_value  # noqa: E402

FONT_PATH = Path(__file__).resolve().parents[1] / "payclient" / "fonts" / "wqy-microhei.ttc"
FONT = "WQYMicroHei"

RED = "#c0392b"  # the e-CNY red, for volume
INK = "#1f2d3d"
TEAL = "#16817a"
GOLD = "#d4a017"
GREY = "#9aa5b1"
LIGHT = colors.HexColor("#f4f1ec")
RULE = colors.HexColor("#d9d4cc")

_setup_lock = threading.Lock()
_font_family: list[str] = []

#: The KPI definitions printed at the end of every report (from ``zones.kpis``).
DEFINITIONS = (  # term, Chinese, English
    ("交易金额 Payment volume",
     "本期在示范区内商户完成支付的订单金额（含红包、消费券补贴部分）。",
     "Full price of orders paid at the zone's merchants, including any red-packet or coupon part."),
    ("退款 Refunds", "按退款发生日统计。", "Counted on the day of the refund, not of the order."),
    ("活跃钱包 Active wallets",
     "在区内商户有支付的不同钱包数；期间数为去重数。",
     "Distinct wallets that paid at the zone's merchants; for a period, distinct over the period."),
    ("新开钱包 Wallets opened",
     "首笔商户消费发生在本区的钱包数（每个钱包只计一次）。",
     "Wallets whose first-ever merchant payment was made in this zone; each wallet counts once, in one zone."),
    ("受理商户 Merchants accepting",
     "期间内至少受理一笔支付的区内商户；入驻商户为当前已审核通过并位于本区的商户。",
     "Merchants with at least one payment; enrolled = approved merchants located in the zone now."),
    ("场景覆盖 Scenario coverage",
     "食住行游购娱医七类场景中，期间内至少有一家该类商户受理支付的场景。",
     "A scenario is covered when a merchant of it accepted a payment in the period."),
    ("补贴与杠杆 Subsidy and leverage",
     "活动（红包、消费券）资金支付的部分；带动消费为含补贴订单的全额；杠杆 = 带动消费 ÷ 补贴。",
     "Campaign-funded part of payments; volume driven = full price of subsidised orders; "
     "leverage = driven ÷ subsidy."),
)


def _setup() -> str:
    """Register the font with reportlab and matplotlib once per process; return matplotlib's family name."""
    with _setup_lock:
        if not _font_family:
            pdfmetrics.registerFont(TTFont(FONT, str(FONT_PATH), subfontIndex=0))
            # One weight only: <b>/<i> markup maps to the same face instead of failing.
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)
            font_manager.fontManager.addfont(str(FONT_PATH))
            _font_family.append(font_manager.FontProperties(fname=str(FONT_PATH)).get_name())
        return _font_family[0]


# ---------------------------------------------------------------- charts


def money_axis(axis, top_yuan: float) -> list[float]:
    """Put money on ``axis`` from ¥0 to just above ``top_yuan``: at most six round ticks, all in one unit (yuan,
    or 万 when the axis reaches ¥10,000), in fen (two decimals) only when a step is less than a yuan: never
    "¥1 ¥1 ¥0" on small data. Return the tick values."""
    locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    ticks = [float(v) for v in locator.tick_values(0, max(top_yuan * 1.1, 0.05)) if v >= 0]
    unit, suffix = (10_000, "万") if ticks[-1] >= 10_000 else (1, "")
    scaled = [v / unit for v in ticks]
    whole = all(abs(v - round(v)) < 1e-9 for v in scaled)
    decimals = 0 if whole else 2 if unit == 1 else next(d for d in (1, 2, 3) if all(
        abs(round(v, d) - v) < 1e-9 for v in scaled))
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"¥{v / unit:,.{decimals}f}{suffix}"))
    axis.axes.set_ylim(0, ticks[-1]) if axis is axis.axes.yaxis else axis.axes.set_xlim(0, ticks[-1])
    return ticks


def _nothing_to_draw(ax, text: str) -> None:
    """An empty state instead of blank axes: no ticks, the sentence in the middle."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10, color=GREY)


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=200)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _style_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(GREY)
    ax.spines["bottom"].set_color(GREY)
    ax.tick_params(colors=INK, labelsize=8)
    ax.grid(axis="y", color="#e6e1d8", linewidth=0.6)
    ax.set_axisbelow(True)


def chart_trend(figures: dict) -> bytes:
    """Daily volume (bars, ¥) and payment count (line) over the period."""
    days = figures["days"]
    labels = [d["day"][5:] for d in days]
    volume = [d["payment_fen"] / 100 for d in days]  # display only: yuan for the axis
    counts = [d["payment_count"] for d in days]
    fig = _figure(7.2, 2.7)
    ax = fig.add_subplot()
    x = range(len(days))
    ax.bar(x, volume, color=RED, width=0.7, label="交易金额 Volume (¥)")
    money_axis(ax.yaxis, max(volume + [0]))
    ax.set_ylabel("交易金额 Volume", color=INK, fontsize=8)
    _style_axes(ax)
    ax2 = ax.twinx()
    ax2.plot(list(x), counts, color=INK, linewidth=1.4, marker="o", markersize=2.5, label="支付笔数 Payments")
    ax2.set_ylabel("支付笔数 Payments", color=INK, fontsize=8)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.tick_params(colors=INK, labelsize=8)
    ax2.spines["top"].set_visible(False)
    ax2.set_ylim(bottom=0)
    step = max(1, len(days) // 10)
    ax.set_xticks(list(x)[::step])
    ax.set_xticklabels(labels[::step])
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=7.5,
              frameon=False, ncol=2, borderaxespad=0.2)
    if not any(counts):
        ax2.remove()
        ax.get_legend().remove()
        ax.set_ylabel("")
        _nothing_to_draw(ax, "本期无交易\nNo payments in this period")
    return _png(fig)


def chart_scenarios(figures: dict) -> bytes:
    """Volume per scenario; scenarios without any payment are marked as not covered."""
    coverage = figures["totals"]["scenario_coverage"]
    rows = list(reversed(coverage["by_scenario"]))
    names = [f"{SCENARIOS[r['scenario']]} {SCENARIO_EN[r['scenario']]}" for r in rows]
    volume = [r["payment_fen"] / 100 for r in rows]
    fig = _figure(7.2, 2.6)
    ax = fig.add_subplot()
    covered = set(coverage["covered"])
    bar_colors = [TEAL if r["scenario"] in covered else GREY for r in rows]
    ax.barh(names, volume, color=bar_colors, height=0.6)
    top = money_axis(ax.xaxis, max(volume + [0]))[-1]
    for i, r in enumerate(rows):
        if r["scenario"] in covered:
            ax.text(volume[i] + top * 0.01, i, f"{format_fen(r['payment_fen'])} · {r['payment_count']:,} 笔",
                    va="center", fontsize=7, color=INK)
        else:
            why = "无入驻商户 no merchant" if not r["merchants_enrolled"] else "有商户未受理 no payment"
            ax.text(top * 0.01, i, f"未覆盖 not covered — {why}", va="center", fontsize=7, color=RED)
    ax.set_xlim(0, top * 1.35)  # room for the labels beside the bars
    _style_axes(ax)
    ax.grid(axis="x", color="#e6e1d8", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def chart_campaigns(figures: dict) -> bytes:
    """Subsidy spent and the volume it drove, per day, with the period's leverage."""
    days = figures["days"]
    totals = figures["totals"]
    fig = _figure(7.2, 2.4)
    ax = fig.add_subplot()
    x = list(range(len(days)))
    subsidy = [d["subsidy_fen"] / 100 for d in days]
    driven = [d["subsidy_driven_fen"] / 100 for d in days]
    w = 0.4
    ax.bar([i - w / 2 for i in x], driven, width=w, color=GOLD, label="带动消费 Volume driven (¥)")
    ax.bar([i + w / 2 for i in x], subsidy, width=w, color=RED, label="补贴支出 Subsidy spent (¥)")
    money_axis(ax.yaxis, max(driven + subsidy + [0]))
    _style_axes(ax)
    step = max(1, len(days) // 10)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([d["day"][5:] for d in days][::step])
    if totals["campaign_leverage"] is None:
        _nothing_to_draw(ax, "本期无活动补贴\nNo campaign subsidy in this period")
    else:
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=7.5, frameon=False, ncol=2,
                  borderaxespad=0.2)
    return _png(fig)


# ---------------------------------------------------------------- document


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=13, textColor=colors.HexColor(INK),
                          alignment=TA_LEFT, wordWrap="CJK")
    return {
        "base": base,
        "kicker": ParagraphStyle("kicker", parent=base, fontSize=8.5, textColor=colors.HexColor(RED)),
        "title": ParagraphStyle("title", parent=base, fontSize=19, leading=25, spaceAfter=2),
        "sub": ParagraphStyle("sub", parent=base, fontSize=9, textColor=colors.HexColor("#52606d")),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10.5, textColor=colors.HexColor("#52606d")),
    }


def _table(rows: list[list], widths: list[float], *, numeric_from: int = 1, header: bool = True) -> Table:
    t = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("TEXTCOLOR", (0, 0), (-1, -1), colors.HexColor(INK)),
        ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), LIGHT), ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor(INK))]
    t.setStyle(TableStyle(style))
    return t


def _printed_value(totals: dict, key: str):
    """A summary figure, or ``None`` (printed "—") for an average ticket without payments."""
    if key == "average_ticket_fen" and not totals["payment_count"]:
        return None
    return summary_value(totals, key)


def _change(key: str, now, before) -> str:
    if now is None or before is None or key == "campaign_leverage":
        return ""
    if before == 0:
        return "新增 new" if now else "—"
    pct = (now - before) * 100 / before
    return f"{pct:+.1f}%"


def _campaign_line(totals: dict) -> str:
    if totals["campaign_leverage"] is None:
        return "本期无活动补贴。No campaign subsidy was spent in this period."
    return (f"补贴支出 {format_fen(totals['subsidy_fen'])}，带动消费 {format_fen(totals['subsidy_driven_fen'])}"
            f"（{totals['subsidised_payment_count']:,} 笔），杠杆 {totals['campaign_leverage']:.2f} 倍。"
            f"Subsidy spent {format_fen(totals['subsidy_fen'])} drove {format_fen(totals['subsidy_driven_fen'])} "
            f"of spending in {totals['subsidised_payment_count']:,} payments: leverage "
            f"{totals['campaign_leverage']:.2f}×.")


def _image(png: bytes, width: float) -> Image:
    img = Image(io.BytesIO(png))
    img.drawHeight = width * img.imageHeight / img.imageWidth
    img.drawWidth = width
    return img


def _cell_value(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "fen":
        return format_fen(value)
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _section(sec: dict, s: dict, width: float) -> list:
    """A plug-in's section (``backend.hooks.register_report_section``): title, note and its table."""
    cols = sec["columns"]
    rows = [[Paragraph(f"{c['zh']}<br/>{c['en']}", s["cell"]) for c in cols]]
    for values in sec["rows"]:
        rows.append([Paragraph(str(values[0]), s["cell"]),
                     *(_cell_value(v, c.get("unit", "")) for c, v in zip(cols[1:], values[1:], strict=True))])
    if len(rows) == 1:
        rows.append(["无 none", *[""] * (len(cols) - 1)])
    first = 0.3
    widths = [width * first] + [width * (1 - first) / (len(cols) - 1)] * (len(cols) - 1)
    return [Paragraph(f"{sec['title_zh']} {sec['title_en']}", s["h2"]),
            Paragraph(f"{sec.get('note_zh', '')} {sec.get('note_en', '')}", s["sub"]), Spacer(1, 1 * mm),
            _table(rows, widths), Spacer(1, 6 * mm)]


def render(figures: dict) -> bytes:
    """Return the report as PDF bytes."""
    family = _setup()
    with matplotlib.rc_context({"font.family": [family], "axes.unicode_minus": False}):
        trend, scenarios, campaigns = chart_trend(figures), chart_scenarios(figures), chart_campaigns(figures)
    s = _styles()
    zone = figures["zone"]
    period_zh, period_en = PERIOD_NAMES[figures["period"]]
    kind_zh, kind_en = ZONE_KIND_NAMES[zone["kind"]]
    start, end = date.fromisoformat(figures["from"]), date.fromisoformat(figures["to"])
    generated = utcnow().astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")
    width = A4[0] - 36 * mm
    totals, previous = figures["totals"], figures["previous"]["totals"]

    story = [
        Paragraph("广州数字人民币应用示范区 · 场景定期报送 &nbsp; Guangzhou e-CNY Demonstration Zones · "
                  "Periodic Scenario Report", s["kicker"]),
        Spacer(1, 3 * mm),
        Paragraph(f"{zone['name_zh']} {zone['name_en']}", s["title"]),
        Paragraph(f"{period_zh} {period_en} &nbsp;·&nbsp; {start:%Y-%m-%d} 至 to {end:%Y-%m-%d}"
                  f"{' &nbsp;·&nbsp; 期间未结束 period in progress' if figures.get('partial') else ''}", s["h2"]),
        Paragraph(f"{kind_zh} {kind_en} &nbsp;·&nbsp; {zone['district']} &nbsp;·&nbsp; 生成时间 Generated "
                  f"{generated} ({figures['timezone']}) &nbsp;·&nbsp; 上期 Previous period: "
                  f"{figures['previous']['from']} 至 {figures['previous']['to']}", s["sub"]),
        Spacer(1, 4 * mm),
    ]
    rows = [["指标 Metric", "本期 This period", "上期 Previous", "变化 Change"]]
    for key in ("payment_count", "payment_fen", "refund_fen", "net_fen", "average_ticket_fen", "active_wallets",
                "wallets_opened", "merchants_accepting", "merchants_enrolled", "scenarios_covered", "subsidy_fen",
                "subsidy_driven_fen", "campaign_leverage"):
        zh, en, _ = LABELS[key]
        now, before = _printed_value(totals, key), _printed_value(previous, key)
        rows.append([f"{zh} {en}", display(key, now), display(key, before), _change(key, now, before)])
    story += [_table(rows, [width * 0.46, width * 0.2, width * 0.2, width * 0.14]), Spacer(1, 4 * mm),
              Paragraph("交易趋势 Volume trend", s["h2"]),
              Paragraph("每日交易金额（柱）与支付笔数（线）。"
                        "Daily payment volume (bars) and number of payments (line).", s["sub"]),
              Spacer(1, 1 * mm), _image(trend, width)]

    coverage = totals["scenario_coverage"]
    missing = "、".join(f"{SCENARIOS[m]} {SCENARIO_EN[m]}" for m in coverage["missing"]) or "无 none"
    story += [PageBreak(), Paragraph("场景覆盖 Scenario coverage", s["h2"]),
              Paragraph(f"已覆盖 {coverage['covered_count']} / {coverage['of']} 类场景 scenarios covered; "
                        f"未覆盖 missing: {missing}", s["base"]),
              Spacer(1, 2 * mm), _image(scenarios, width), Spacer(1, 2 * mm)]
    rows = [["场景\nScenario", "入驻商户\nEnrolled", "受理商户\nAccepting", "支付笔数\nPayments", "交易金额\nVolume",
             "覆盖\nCovered"]]
    for b in coverage["by_scenario"]:
        rows.append([f"{SCENARIOS[b['scenario']]} {SCENARIO_EN[b['scenario']]}", f"{b['merchants_enrolled']:,}",
                     f"{b['merchants_accepting']:,}", f"{b['payment_count']:,}", format_fen(b["payment_fen"]),
                     "是 yes" if b["scenario"] in coverage["covered"] else "否 no"])
    story += [_table(rows, [width * 0.22, width * 0.15, width * 0.16, width * 0.15, width * 0.18, width * 0.14]),
              Spacer(1, 5 * mm), Paragraph("活动效果 Campaign results", s["h2"]),
              Paragraph(_campaign_line(totals), s["base"]), Spacer(1, 1 * mm), _image(campaigns, width)]

    rows = [["商户 Merchant", "场景 Scenario", "支付笔数 Payments", "交易金额 Volume"]]
    for m in figures["top_merchants"]:
        rows.append([Paragraph(f"{m['name_zh']} {m['name_en']}", s["cell"]),
                     f"{SCENARIOS[m['scenario']]} {SCENARIO_EN[m['scenario']]}", f"{m['payment_count']:,}",
                     format_fen(m["payment_fen"])])
    if len(rows) == 1:
        rows.append(["本期无交易 No payments in this period", "", "", ""])
    story += [PageBreak(), Paragraph("交易额前十商户 Top merchants by volume", s["h2"]),
              _table(rows, [width * 0.46, width * 0.2, width * 0.14, width * 0.2], numeric_from=2),
              Spacer(1, 6 * mm)]
    for sec in figures.get("sections", ()):
        story += _section(sec, s, width)
    definitions = [Paragraph("口径说明 Definitions", s["h2"])]
    for term, zh, en in DEFINITIONS:
        definitions.append(Paragraph(f'<font color="{RED}">{term}</font>：{zh}{en}', s["small"]))
        definitions.append(Spacer(1, 1.5 * mm))
    # The pilot office reads this; it runs no commands, so the note says where figures come from, not how
    # an operator would recompute them.
    definitions.append(Paragraph(
        f"日期按 {figures['timezone']} 本地日统计；数据由平台从账本逐笔汇总，与账本一致。如对数据有疑问，"
        "请联系平台运营方核对。Days are local days; the platform totals every payment and refund from the "
        "ledger. For questions about a figure, ask the platform operator to check it.", s["small"]))
    story.append(KeepTogether(definitions))

    footer = f"穗元 Suiyuan · {zone['name_zh']} {zone['name_en']} · {period_zh} {period_en} {start:%Y-%m-%d}"

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#7b8794"))
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"第 {doc.page} 页 Page {doc.page}")
        canvas.setStrokeColor(colors.HexColor(RED))
        canvas.setLineWidth(2)
        canvas.line(18 * mm, A4[1] - 12 * mm, A4[0] - 18 * mm, A4[1] - 12 * mm)
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, initialFontName=FONT, initialFontSize=9, leftMargin=18 * mm,
                            rightMargin=18 * mm, topMargin=17 * mm, bottomMargin=16 * mm,
                            title=f"{zone['name_zh']} {period_zh} {start:%Y-%m-%d} 场景定期报送",
                            author="Suiyuan 穗元", subject="场景定期报送 Periodic scenario report")
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()
