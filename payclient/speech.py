"""Voice announcements at the counter (语音播报): amounts read the way people say them, one at a time.

- :func:`amount_words` — fen as spoken Mandarin: ``3850`` → ``三十八元五角``, ``1000500`` → ``一万零五元``.
- :func:`announcement` — the sentence for a payment or a refund (``数字人民币收款三十八元五角``).
- :class:`Announcer` — a queue: each event (keyed by order and what happened) is said once, in the
  order it arrived, never two at a time; switchable, with a volume.
- :func:`default_engine` — the platform's text-to-speech: Android's through pyjnius (plyer as the
  fallback), espeak-ng on a desktop; :class:`SilentEngine` where there is none.

The amounts are the ones the server sent in fen; formatting for the screen stays in
``suiyuan_protocol.money``. Pure Python: never imports Kivy.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Announcer", "EspeakEngine", "AndroidEngine", "SilentEngine", "SpeechSettings", "amount_words",
           "announcement", "default_engine", "integer_words"]

log = logging.getLogger(__name__)

_DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")


def _group_words(n: int, leading: bool = False) -> str:
    """Read 1..9999 (no leading 零): ``1005`` → ``一千零五``; the number's first digit 2 before 百 or
    千 is 两 (``leading``: 两千二百), every other 2 is 二 (二十, 十二, 一千二百)."""
    out: list[str] = []
    zero = False
    for pos in range(3, -1, -1):
        d = n // 10 ** pos % 10
        if d == 0:
            zero = bool(out)  # a zero between spoken digits is read once, as 零
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(("两" if d == 2 and pos >= 2 and leading and not out else _DIGITS[d]) + _SMALL_UNITS[pos])
    return "".join(out)


def integer_words(n: int) -> str:
    """Read a whole number as people say it: ``10`` → ``十``, ``10005`` → ``一万零五``,
    ``20000`` → ``两万``, ``12000`` → ``一万二千``, ``100000`` → ``十万``.
    Raises ``ValueError`` below 0 or from 10^16 on."""
    if n < 0 or n >= 10 ** 16:
        raise ValueError(f"cannot read {n}")
    if n == 0:
        return "零"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        if out and (g < 1000 or groups[i + 1] == 0):  # 一万零五, 一亿零五百, 一亿零五万
            out.append("零")
        words = _group_words(g, leading=not out)
        if g == 2 and i > 0 and not out:
            words = "两"  # 两万, 两亿 (but 一万零二)
        out.append(words + _BIG_UNITS[i])
    text = "".join(out)
    if text.startswith("一十"):  # 十, 十五, 十万 — but 一百一十 keeps its 一
        text = text[1:]
    return text


def amount_words(fen: int) -> str:
    """Read an amount of fen as spoken at the counter: ``5`` → ``五分``, ``1000`` → ``十元``,
    ``3850`` → ``三十八元五角``, ``105`` → ``一元零五分``, ``0`` → ``零元``. Raises ``ValueError``
    for a negative amount."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
        raise ValueError(f"not an amount of fen: {fen!r}")
    yuan, rest = divmod(fen, 100)
    jiao, f = divmod(rest, 10)
    if fen == 0:
        return "零元"
    out = ""
    if yuan:
        out = ("两" if yuan == 2 else integer_words(yuan)) + "元"
    if jiao:
        out += ("两" if jiao == 2 else _DIGITS[jiao]) + "角"
    if f:
        if yuan and not jiao:
            out += "零"
        out += ("两" if f == 2 else _DIGITS[f]) + "分"
    return out


#: What each event says before the amount.
_LEADS = {"payment": "数字人民币收款", "refund": "数字人民币退款"}


def announcement(kind: str, amount_fen: int) -> str:
    """The sentence for ``kind`` (``payment`` or ``refund``) of ``amount_fen``; raises ``KeyError``
    for another kind."""
    return _LEADS[kind] + amount_words(amount_fen)


# ---------------------------------------------------------------- engines


class SilentEngine:
    """No text-to-speech on this device: says nothing (the screen still shows the payment)."""

    name = "silent"

    def speak(self, text: str, volume: int) -> None:
        pass


class EspeakEngine:
    """espeak-ng, offline, on a desktop (Debian's ``espeak-ng``), in its Mandarin voice.

    ``speak`` blocks until the sentence has been said, so queued announcements never overlap.
    """

    name = "espeak-ng"
    voice = "cmn"

    def __init__(self, binary: str | None = None):
        self.binary = binary or shutil.which("espeak-ng") or "espeak-ng"

    def command(self, text: str, volume: int, wav_path: str | None = None) -> list[str]:
        # espeak-ng's amplitude runs 0..200 with 100 normal; our volume is 0..100 with 80 the default.
        cmd = [self.binary, "-v", self.voice, "-s", "150", "-a", str(round(volume * 1.5))]
        if wav_path:
            cmd += ["-w", wav_path]
        return cmd + ["--", text]

    def speak(self, text: str, volume: int) -> None:
        subprocess.run(self.command(text, volume), check=True, capture_output=True, timeout=30)

    def render(self, text: str, volume: int, wav_path: str) -> str:
        """Write what ``speak`` would say to a WAV file; return its path."""
        subprocess.run(self.command(text, volume, wav_path), check=True, capture_output=True, timeout=30)
        return wav_path


class AndroidEngine:
    """Android's TextToSpeech through pyjnius (zh-CN, with the volume as a speech parameter); where
    pyjnius cannot be had, plyer's ``tts`` (system volume)."""

    name = "android"

    def __init__(self):
        self._tts = None
        self._bundle = None
        try:
            from jnius import autoclass  # type: ignore[import-not-found]
        except ImportError:
            from plyer import tts  # type: ignore[import-not-found]

            self._plyer = tts
            return
        self._plyer = None
        activity = autoclass("org.kivy.android.PythonActivity").mActivity
        TextToSpeech = autoclass("android.speech.tts.TextToSpeech")
        Locale = autoclass("java.util.Locale")
        self._TTS = TextToSpeech
        self._Bundle = autoclass("android.os.Bundle")
        self._tts = TextToSpeech(activity, None)
        self._tts.setLanguage(Locale.SIMPLIFIED_CHINESE)

    def speak(self, text: str, volume: int) -> None:
        if self._plyer is not None:
            self._plyer.speak(message=text)
            return
        params = self._Bundle()
        params.putFloat(self._TTS.Engine.KEY_PARAM_VOLUME, max(0.0, min(1.0, volume / 100)))
        self._tts.speak(text, self._TTS.QUEUE_ADD, params, None)


def default_engine(platform: str | None = None):
    """The text-to-speech of this platform (``kivy.utils.platform`` names); silent where there is none."""
    if platform == "android":
        try:
            return AndroidEngine()
        except Exception:  # noqa: BLE001 - no TTS service on the device: announce nothing, never crash
            log.warning("no Android text-to-speech", exc_info=True)
            return SilentEngine()
    if shutil.which("espeak-ng"):
        return EspeakEngine()
    return SilentEngine()


# ---------------------------------------------------------------- the queue


@dataclass(frozen=True)
class SpeechSettings:
    """Whether to announce, and how loud (0..100). Kept in the app's settings file."""

    enabled: bool = True
    volume: int = 80

    @classmethod
    def load(cls, store) -> SpeechSettings:
        data = store.load().get("speech") or {}
        volume = data.get("volume", cls.volume)
        volume = volume if isinstance(volume, int) and not isinstance(volume, bool) else cls.volume
        return cls(bool(data.get("enabled", True)), max(0, min(100, volume)))

    def save(self, store) -> None:
        data = store.load()
        data["speech"] = {"enabled": self.enabled, "volume": self.volume}
        store.save(data)


class Announcer:
    """Says each payment and refund once, in arrival order, one after another, on its own thread.

    ``announce(key, kind, amount_fen)`` queues a sentence unless ``key`` was heard before (the same
    order reported by its event stream and by the list of today's orders is said once). ``said`` keeps
    what was said, in order. The settings are read from ``store`` (the app's settings file) at each
    announcement, so switching off or turning the volume down takes effect at once.
    """

    #: How many keys are remembered to drop repeats.
    memory = 2000

    def __init__(self, engine=None, store=None):
        self.engine = engine if engine is not None else SilentEngine()
        self.store = store
        self._queue: queue.Queue = queue.Queue()
        self._seen: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.said: list[str] = []

    def settings(self) -> SpeechSettings:
        return SpeechSettings.load(self.store) if self.store is not None else SpeechSettings()

    def announce(self, key, kind: str, amount_fen: int) -> bool:
        """Queue the announcement of ``kind`` (``payment``/``refund``) of ``amount_fen`` under ``key``;
        return False (and say nothing) for a key already announced or while announcements are off."""
        text = announcement(kind, amount_fen)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = True
            while len(self._seen) > self.memory:
                self._seen.popitem(last=False)
            if not self.settings().enabled:
                return False
            self._queue.put(text)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="announcer")
                self._thread.start()
        return True

    def paid(self, order_id: int, amount_fen: int) -> bool:
        """Say that order ``order_id`` was paid (once, however many times and ways it is reported)."""
        return self.announce(("paid", order_id), "payment", amount_fen)

    def refunded(self, order_id: int, refunded_total_fen: int, amount_fen: int) -> bool:
        """Say a refund of ``amount_fen`` that brought the order's refunds to ``refunded_total_fen`` (once)."""
        return self.announce(("refund", order_id, refunded_total_fen), "refund", amount_fen)

    def _run(self) -> None:
        while True:
            try:
                text = self._queue.get(timeout=5)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                settings = self.settings()
                if settings.enabled:
                    self.engine.speak(text, settings.volume)
                    self.said.append(text)
            except Exception:  # noqa: BLE001 - a failed announcement must not stop the next ones
                log.warning("announcement failed: %s", text, exc_info=True)
            finally:
                self._queue.task_done()

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued has been said; return whether it was within ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True
