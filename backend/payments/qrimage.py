"""QR images: a bare code for screens and a printable poster for the counter."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M

from suiyuan_protocol.money import format_fen

FONT_PATH = Path(__file__).resolve().parents[2] / "payclient" / "fonts" / "wqy-microhei.ttc"
RED = (200, 16, 46)


def qr_image(payload: str, box_size: int = 8) -> Image.Image:
    """Return the QR code of ``payload`` (UTF-8, error correction M) as a PIL image."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    qr.add_data(payload.encode("utf-8"))
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def qr_png(payload: str) -> bytes:
    """Return the QR code of ``payload`` as PNG bytes."""
    return png_bytes(qr_image(payload))


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size)


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, width: int, fill=(0, 0, 0)) -> int:
    font = _font(size)
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (box[2] - box[0])) // 2, y), text, font=font, fill=fill)
    return y + (box[3] - box[1]) + size // 2


def poster_png(payload: str, name_zh: str, name_en: str, merchant_number: str, amount_fen: int | None = None) -> bytes:
    """Return a printable A6-proportioned poster: header, merchant name, the code, instructions."""
    width, height = 1240, 1748
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 230), fill=RED)
    _centered(draw, 50, "数字人民币 e-CNY", 72, width, fill=(255, 255, 255))
    _centered(draw, 150, "扫码付款 · Scan to pay", 44, width, fill=(255, 255, 255))
    y = _centered(draw, 290, name_zh, 84, width)
    y = _centered(draw, y, name_en, 44, width, fill=(80, 80, 80))
    code = qr_image(payload, box_size=12)
    side = min(880, width - 200)
    code = code.resize((side, side), Image.NEAREST)
    img.paste(code, ((width - side) // 2, y + 20))
    y += side + 60
    if amount_fen is not None:
        y = _centered(draw, y, format_fen(amount_fen), 72, width, fill=RED)
    y = _centered(draw, y, "请使用数字人民币App扫码，输入金额付款", 40, width)
    y = _centered(draw, y, "Open your e-CNY wallet, scan, enter the amount", 32, width, fill=(80, 80, 80))
    _centered(draw, height - 90, f"商户编号 Merchant No. {merchant_number} · 穗元 Suiyuan", 30, width,
              fill=(120, 120, 120))
    return png_bytes(img)
