"""Receipts: the counter's printed slip (ESC/POS thermal printers) and the consumer's e-receipt image.

A :class:`ReceiptDoc` is what a receipt says — shop, amount, the lines (time, method, payer, status,
the split) and the order reference, also as a QR code for refunds. The apps' presenters build it
(their words, their masking); this module only lays it out:

- :func:`print_escpos` sends it to a python-escpos printer (network, USB or the library's ``Dummy``):
  Chinese text in the printers' Chinese mode (FS &, GB18030), the reference as the printer's own QR.
- :func:`open_printer` opens ``tcp://host:9100`` or ``usb://04b8:0202``.
- :func:`render_image` draws it as a picture (the shared e-receipt, the printed slip's preview).

Pure Python (Pillow, qrcode, python-escpos); never imports Kivy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CJK_FONT", "PAPER_CHARS", "ReceiptDoc", "open_printer", "parse_printer", "print_escpos",
           "render_image"]

#: The CJK font shipped with the apps (WenQuanYi Micro Hei); Kivy registers it too.
CJK_FONT = Path(__file__).resolve().parent / "fonts" / "wqy-microhei.ttc"

#: Characters per line on 58 mm paper in font A (a Chinese character takes two).
PAPER_CHARS = 32


@dataclass(frozen=True)
class ReceiptDoc:
    """What a receipt says, already in the reader's words."""

    title: str                                  # "收款小票" / "电子小票"
    shop: str                                   # the shop's name
    amount: str                                 # "¥38.50"
    lines: tuple[tuple[str, str], ...] = ()     # (label, value): time, method, payer, status, split…
    reference: str = ""                         # the order reference: the QR's content
    qr_caption: str = ""                        # what the QR is for ("退款请扫此码")
    subtitle: str = ""                          # under the shop: merchant number, verified badge, zone
    footer: str = ""


def _width(text: str) -> int:
    """Columns ``text`` takes on a thermal printer (East Asian characters are double width)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _for_printer(text: str) -> str:
    # "¥" (U+00A5) is outside GB2312, which most Chinese printer fonts stop at; the full-width "￥" is in it.
    return text.replace("¥", "￥")


def _row(label: str, value: str, width: int = PAPER_CHARS) -> str:
    gap = max(1, width - _width(label) - _width(value))
    return label + " " * gap + value


def print_escpos(doc: ReceiptDoc, printer, *, cut: bool = True) -> None:
    """Print ``doc`` on a python-escpos ``printer``.

    python-escpos encodes text through single-byte code pages only, so Chinese goes as raw GB18030
    bytes between FS & and FS . (the printer's Chinese mode); layout, the QR and the cut are the
    library's commands.
    """

    def zh(text: str) -> None:
        printer._raw(b"\x1c\x26" + _for_printer(text).encode("gb18030") + b"\x1c\x2e\n")

    printer.hw("INIT")
    printer.set(align="center", bold=True, double_height=True, double_width=True)
    zh(doc.shop)
    printer.set(align="center", bold=False, normal_textsize=True)
    if doc.subtitle:
        zh(doc.subtitle)
    zh(doc.title)
    zh("-" * PAPER_CHARS)
    printer.set(align="center", bold=True, double_height=True, double_width=True)
    zh(doc.amount)
    printer.set(align="left", bold=False, normal_textsize=True)
    for label, value in doc.lines:
        zh(_row(label, value))
    zh("-" * PAPER_CHARS)
    if doc.reference:
        printer.set(align="center")
        if doc.qr_caption:
            zh(doc.qr_caption)
        printer.qr(doc.reference, size=6, native=True, center=False)
    if doc.footer:
        printer.set(align="center")
        zh(doc.footer)
    if cut:
        printer.cut()


def parse_printer(spec: str) -> tuple[str, object, int]:
    """Read a printer address: ``tcp://192.168.1.50:9100`` (or ``host:port``, ``host``: port 9100) →
    ``("tcp", host, port)``; ``usb://04b8:0202`` (vendor:product, hex) → ``("usb", vendor, product)``.
    Raises ``ValueError`` for anything else."""
    spec = (spec or "").strip()
    if spec.startswith("usb://"):
        vendor, _, product = spec[len("usb://"):].partition(":")
        try:
            return "usb", int(vendor, 16), int(product, 16)
        except ValueError as exc:
            raise ValueError(f"not a USB printer id: {spec}") from exc
    host = spec[len("tcp://"):] if spec.startswith("tcp://") else spec
    name, _, port = host.rpartition(":") if ":" in host else (host, "", "9100")
    if not name or not port.isdigit() or not 0 < int(port) < 65536 or any(c in name for c in "/ "):
        raise ValueError(f"not a printer address: {spec}")
    return "tcp", name, int(port)


def open_printer(spec: str):
    """Open the printer at ``spec`` (see :func:`parse_printer`, whose ``ValueError`` it raises); the
    library's errors when the printer cannot be reached."""
    kind, a, b = parse_printer(spec)
    if kind == "usb":
        from escpos.printer import Usb

        return Usb(a, b)
    from escpos.printer import Network

    return Network(a, b, timeout=5)


def render_image(doc: ReceiptDoc, width: int = 576):
    """Draw ``doc`` as a receipt picture ``width`` pixels wide (576: 80 mm paper at 203 dpi); return a
    Pillow image (RGB)."""
    import qrcode
    from PIL import Image, ImageDraw, ImageFont

    def font(size):
        return ImageFont.truetype(str(CJK_FONT), size)

    big, mid, small = font(44), font(26), font(22)
    pad = 32
    canvas = Image.new("RGB", (width, 2400), "white")
    draw = ImageDraw.Draw(canvas)
    y = pad

    def centred(text, f, fill=(20, 20, 20)):
        nonlocal y
        w = draw.textlength(text, font=f)
        draw.text(((width - w) / 2, y), text, font=f, fill=fill)
        y += f.size + 14

    def rule():
        nonlocal y
        for x in range(pad, width - pad, 12):
            draw.line((x, y + 6, x + 6, y + 6), fill=(150, 150, 150), width=2)
        y += 22

    centred(doc.shop, mid)
    if doc.subtitle:
        centred(doc.subtitle, small, (110, 110, 110))
    centred(doc.title, small, (110, 110, 110))
    rule()
    centred(doc.amount, big, (196, 30, 58))
    rule()
    for label, value in doc.lines:
        draw.text((pad, y), label, font=small, fill=(110, 110, 110))
        w = draw.textlength(value, font=small)
        draw.text((width - pad - w, y), value, font=small, fill=(20, 20, 20))
        y += small.size + 14
    if doc.reference:
        rule()
        if doc.qr_caption:
            centred(doc.qr_caption, small, (110, 110, 110))
        code = qrcode.QRCode(border=2, box_size=6)
        code.add_data(doc.reference)
        img = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
        canvas.paste(img, ((width - img.width) // 2, y))
        y += img.height + 10
    if doc.footer:
        centred(doc.footer, small, (110, 110, 110))
    return canvas.crop((0, 0, width, y + pad))
