"""What the camera or an image file saw, and whether it is safe to pay.

- :func:`decode_image` reads every QR code and barcode in a picture (zxing-cpp).
- :func:`decode_frame` reads a camera frame, trying harder on a blurred one.
- :func:`classify` tells a merchant QR from a consumer payment code.
- :func:`inspect_merchant_code` checks a merchant code on the device, before
  any money moves: CRC, Suiyuan signature (with the published keys, cached so
  it works offline) and the expiry a dynamic code carries in template 80.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from payclient.storage import MemoryStore
from suiyuan_protocol.checks import QrCheck, classify, inspect_merchant_code, normalize_paycode

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from payclient.api import ApiClient

__all__ = ["KeyRing", "QrCheck", "UnreadableImage", "classify", "decode_frame", "decode_image",
           "inspect_merchant_code", "normalize_paycode"]


class UnreadableImage(ValueError):
    """The chosen file is not a picture that can be read."""


def decode_image(source) -> list[str]:
    """Return the texts of every QR code / barcode found in ``source`` (path, bytes or PIL image).

    Raises ``UnreadableImage`` if the file cannot be read as an image.
    """
    import io

    from PIL import Image

    try:
        if isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(source))
        elif isinstance(source, (str, os.PathLike)):
            image = Image.open(source)
        else:
            image = source
        image.load()
    except (OSError, ValueError) as exc:
        raise UnreadableImage(str(exc)) from exc
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    read = _reader()
    found = read(image)
    if not found:  # small or low-contrast codes: try once more, upscaled
        found = read(image.resize((image.width * 2, image.height * 2), Image.NEAREST))
    return list(dict.fromkeys(found))


def decode_frame(frame) -> list[str]:
    """Return the texts of the codes in one camera frame (a PIL image, any mode), ``[]`` if none.

    zxing-cpp finds codes at any angle; a frame out of focus is read again sharpened (contrast
    stretched, unsharp mask), then at half size, where the blur spans fewer pixels.
    """
    from PIL import Image, ImageFilter, ImageOps

    gray = frame.convert("L")
    read = _reader()
    found = read(gray)
    if not found:
        found = read(ImageOps.autocontrast(gray).filter(ImageFilter.UnsharpMask(3, 250, 0)))
    if not found:
        half = gray.resize((max(1, gray.width // 2), max(1, gray.height // 2)), Image.BOX)
        found = read(ImageOps.autocontrast(half).filter(ImageFilter.UnsharpMask(2, 300, 0)))
    return list(dict.fromkeys(found))


def _reader():
    """zxing-cpp where it is installed (desktop); pyzbar on Android, where p4a has a recipe for it."""
    try:
        import zxingcpp
    except ImportError:
        from pyzbar import pyzbar

        return lambda image: [r.data.decode("utf-8") for r in pyzbar.decode(image) if r.data]
    return lambda image: [r.text for r in zxingcpp.read_barcodes(image) if r.text]


class KeyRing:
    """The QR-signing public keys, fetched from ``/keys`` and cached on the device.

    ``store`` keeps ``{"keys": [{"kid", "x"}…]}`` between runs, so a code can
    be checked with no network.
    """

    def __init__(self, store: MemoryStore | None = None):
        self.store = store or MemoryStore()

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from payclient.models import PublicKey

        out = {}
        for k in self.store.load().get("keys", []):
            try:
                out[k["kid"]] = Ed25519PublicKey.from_public_bytes(PublicKey(kid=k["kid"], x=k["x"]).raw())
            except (KeyError, ValueError):
                continue
        return out

    def refresh(self, api: ApiClient) -> dict[str, Ed25519PublicKey]:
        """Fetch the published keys and cache them; return them. Raises the client's errors."""
        keys = api.keys()
        self.store.save({"keys": [{"kid": k.kid, "x": k.x, "status": k.status} for k in keys],
                         "fetched_at": time.time()})
        return self.public_keys()

    def check(self, text: str, api: ApiClient | None = None) -> QrCheck:
        """Inspect ``text`` with the cached keys, refreshing them once if its key id is unknown."""
        result = inspect_merchant_code(text, self.public_keys())
        if result.problem == "unknown_key" and api is not None:
            try:
                result = inspect_merchant_code(text, self.refresh(api))
            except Exception:  # noqa: BLE001 - offline: keep the verdict we have
                pass
        return result
