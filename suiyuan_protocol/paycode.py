"""The consumer payment code (付款码): numeric, rotating, works with no network.

A device registers a secret with the server once; from then on it makes codes
offline. A code is 18 digits::

    "69" | device id (8 digits) | HOTP(secret, time step) (8 digits, RFC 4226)

The time step is 15 s. The server accepts a code for at most 60 s (the step it
was made in and the three before now, plus one step ahead for a fast clock)
and only once. The digits are shown as a QR code and a barcode.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

PREFIX = "69"
STEP_SECONDS = 15
MAX_AGE_STEPS = 3  # 4 steps of 15 s: a code lives at most 60 s
CLOCK_AHEAD_STEPS = 1
OTP_DIGITS = 8
CODE_LENGTH = len(PREFIX) + 8 + OTP_DIGITS


class PaycodeFormatError(ValueError):
    """The text is not a Suiyuan payment code."""


def step_of(unix_time: float) -> int:
    """Return the time step that ``unix_time`` falls in."""
    return int(unix_time // STEP_SECONDS)


def _hotp(secret: bytes) -> HOTP:
    return HOTP(secret, OTP_DIGITS, SHA1(), enforce_key_length=True)


def generate(device_id: int, secret: bytes, unix_time: float | None = None) -> str:
    """Return the 18-digit code of ``device_id`` for the step containing ``unix_time`` (default now)."""
    if not 0 < device_id < 10**8:
        raise ValueError("device_id must fit in 8 digits")
    step = step_of(time.time() if unix_time is None else unix_time)
    return f"{PREFIX}{device_id:08d}{_hotp(secret).generate(step).decode()}"


def split(code: str) -> tuple[int, str]:
    """Return (device id, otp) of a code; raise ``PaycodeFormatError``."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != CODE_LENGTH or not code.isdigit() or not code.startswith(PREFIX):
        raise PaycodeFormatError(f"A payment code has {CODE_LENGTH} digits starting with {PREFIX}.")
    return int(code[2:10]), code[10:]


def match_step(secret: bytes, otp: str, unix_time: float | None = None) -> int | None:
    """Return the time step whose OTP equals ``otp`` within the accepted window, or ``None``."""
    now = step_of(time.time() if unix_time is None else unix_time)
    hotp = _hotp(secret)
    for step in range(now + CLOCK_AHEAD_STEPS, now - MAX_AGE_STEPS - 1, -1):
        try:
            hotp.verify(otp.encode(), step)
            return step
        except InvalidToken:
            continue
    return None


def seconds_left(unix_time: float | None = None) -> float:
    """Return how long until the code shown now rotates (for the app's countdown)."""
    t = time.time() if unix_time is None else unix_time
    return STEP_SECONDS - (t % STEP_SECONDS)
