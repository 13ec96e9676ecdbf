"""Code 128 barcodes for the payment code (digits only, code set C).

An 18-digit payment code is nine code set C symbols: Start C, the digit pairs,
the mod-103 check symbol and Stop. :func:`code128c_modules` returns the bars as
a string of ``"1"`` (dark) and ``"0"`` (light) modules, with the quiet zones,
for a widget or an image to draw.
"""

from __future__ import annotations

__all__ = ["PATTERNS", "code128c_modules", "code128c_symbols"]

#: Bar/space widths (bar first) of the 107 Code 128 symbols (ISO/IEC 15417); 106 is Stop.
PATTERNS = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)
START_C = 105
STOP = 106
QUIET_MODULES = 10


def code128c_symbols(digits: str) -> list[int]:
    """Return the symbol values for an even number of digits: start, pairs, check, stop.

    Raises ``ValueError`` for anything but a non-empty even-length string of ASCII digits.
    """
    if not digits or len(digits) % 2 or not digits.isascii() or not digits.isdigit():
        raise ValueError("code set C needs a non-empty, even number of digits")
    values = [START_C] + [int(digits[i:i + 2]) for i in range(0, len(digits), 2)]
    check = (values[0] + sum(v * i for i, v in enumerate(values[1:], start=1))) % 103
    return values + [check, STOP]


def code128c_modules(digits: str, quiet: int = QUIET_MODULES) -> str:
    """Return the barcode of ``digits`` as ``"0"``/``"1"`` modules, ``quiet`` light modules each side."""
    out = []
    for value in code128c_symbols(digits):
        for i, width in enumerate(PATTERNS[value]):
            out.append(("1" if i % 2 == 0 else "0") * int(width))
    light = "0" * quiet
    return light + "".join(out) + light
