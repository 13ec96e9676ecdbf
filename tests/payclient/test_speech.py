"""Voice announcements: amounts read the way people say them, a queue that says each payment once and in
order, and espeak-ng's real rendering of it (not silent, one announcement per payment)."""

from __future__ import annotations

import array
import math
import shutil
import threading
import time
import wave

import pytest

from payclient.speech import Announcer, EspeakEngine, SpeechSettings, amount_words, announcement, integer_words
from payclient.storage import MemoryStore

#: The worked examples (fen → what the loudspeaker says).
TABLE = [
    (0, "零元"),
    (1, "一分"),
    (5, "五分"),                      # 0.05
    (20, "两角"),
    (50, "五角"),
    (55, "五角五分"),
    (100, "一元"),
    (105, "一元零五分"),
    (200, "两元"),
    (1000, "十元"),                   # 10.00
    (1002, "十元零两分"),
    (1200, "十二元"),
    (3850, "三十八元五角"),
    (9999, "九十九元九角九分"),
    (10000, "一百元"),
    (11000, "一百一十元"),
    (20000, "两百元"),
    (100500, "一千零五元"),
    (101000, "一千零一十元"),
    (123456, "一千二百三十四元五角六分"),
    (200000, "两千元"),
    (222200, "两千二百二十二元"),
    (1000000, "一万元"),
    (1000500, "一万零五元"),          # 10,005.00
    (1005000, "一万零五十元"),
    (1050000, "一万零五百元"),
    (1200000, "一万二千元"),
    (2000000, "两万元"),
    (5000000, "五万元"),
    (10000000, "十万元"),             # 100,000.00
    (10001000, "十万零一十元"),
    (12345678, "十二万三千四百五十六元七角八分"),
    (100000000, "一百万元"),
    (10000000000, "一亿元"),
    (10000000500, "一亿零五元"),
    (10005000000, "一亿零五万元"),
]


@pytest.mark.parametrize("fen,words", TABLE)
def test_amount_words_table(fen, words):
    assert amount_words(fen) == words


def test_table_covers_the_amounts_the_issue_names():
    fens = {f for f, _ in TABLE}
    assert len(TABLE) >= 20 and {5, 1000, 1000500, 10000000} <= fens


@pytest.mark.parametrize("bad", [-1, 1.5, True, "38.50"])
def test_amount_words_refuses_what_is_not_fen(bad):
    with pytest.raises(ValueError):
        amount_words(bad)


def test_integer_words_refuses_out_of_range():
    with pytest.raises(ValueError):
        integer_words(10 ** 16)
    assert integer_words(10 ** 16 - 1).startswith("九千九百九十九万亿")


def test_announcement_sentences():
    assert announcement("payment", 3850) == "数字人民币收款三十八元五角"
    assert announcement("refund", 1000500) == "数字人民币退款一万零五元"
    with pytest.raises(KeyError):
        announcement("topup", 100)


class SlowEngine:
    """Takes time to say each sentence (like a loudspeaker) and records overlaps."""

    def __init__(self, seconds: float = 0.05):
        self.seconds, self.spoken, self.busy, self.overlaps = seconds, [], False, 0

    def speak(self, text: str, volume: int) -> None:
        if self.busy:
            self.overlaps += 1
        self.busy = True
        time.sleep(self.seconds)
        self.spoken.append((text, volume))
        self.busy = False


def test_three_payments_in_one_second_are_each_said_once_in_order():
    engine = SlowEngine()
    a = Announcer(engine)
    started = time.monotonic()
    # Each payment arrives twice (its event stream and today's list), from two threads, within a second.
    events = [("order", 1, "paid", 3850), ("order", 2, "paid", 1000), ("order", 3, "paid", 1000500)]
    for key0, oid, status, fen in events:
        threads = [threading.Thread(target=a.announce, args=((key0, oid, status), "payment", fen)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert time.monotonic() - started < 1
    assert a.wait(5)
    assert [t for t, _ in engine.spoken] == ["数字人民币收款三十八元五角", "数字人民币收款十元",
                                             "数字人民币收款一万零五元"]
    assert engine.overlaps == 0
    assert a.said == [t for t, _ in engine.spoken]


def test_refund_is_announced_as_a_refund_after_its_payment():
    engine = SlowEngine(0.01)
    a = Announcer(engine)
    a.announce(("order", 7, "paid"), "payment", 2000)
    a.announce(("order", 7, "refund", 500), "refund", 500)
    a.announce(("order", 7, "refund", 500), "refund", 500)
    assert a.wait(5)
    assert [t for t, _ in engine.spoken] == ["数字人民币收款二十元", "数字人民币退款五元"]


def test_switched_off_says_nothing_and_volume_is_passed_on():
    store = MemoryStore()
    engine = SlowEngine(0.0)
    a = Announcer(engine, store)
    SpeechSettings(enabled=False, volume=30).save(store)
    assert a.announce(("order", 1, "paid"), "payment", 100) is False
    SpeechSettings(enabled=True, volume=30).save(store)
    assert a.announce(("order", 2, "paid"), "payment", 200) is True
    assert a.wait(5)
    assert engine.spoken == [("数字人民币收款两元", 30)]


def test_settings_survive_bad_stored_values():
    store = MemoryStore({"speech": {"enabled": True, "volume": "loud"}})
    assert SpeechSettings.load(store) == SpeechSettings(True, 80)
    store.save({"speech": {"enabled": True, "volume": 400}})
    assert SpeechSettings.load(store).volume == 100


def _rms(path) -> tuple[float, float]:
    """Return (RMS of the samples, seconds) of a 16-bit mono WAV."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        samples = array.array("h", w.readframes(w.getnframes()))
        seconds = w.getnframes() / w.getframerate()
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))), seconds


class WavEngine(EspeakEngine):
    """espeak-ng rendering each sentence to its own WAV instead of the loudspeaker."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.files = folder, []

    def speak(self, text: str, volume: int) -> None:
        self.files.append(self.render(text, volume, str(self.folder / f"{len(self.files)}.wav")))


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is in .ci/run's packages")
def test_espeak_renders_two_payments_as_two_spoken_announcements(tmp_path):
    engine = WavEngine(tmp_path)
    a = Announcer(engine)
    a.announce(("order", 1, "paid"), "payment", 3850)
    a.announce(("order", 2, "paid"), "payment", 1000500)
    a.announce(("order", 1, "paid"), "payment", 3850)  # the same payment heard again
    assert a.wait(30)
    assert len(engine.files) == 2
    for path in engine.files:
        rms, seconds = _rms(path)
        assert seconds > 1.0, seconds  # a whole sentence, not a click
        assert rms > 500, rms  # speech, not silence
    # Louder when the volume is up: the setting reaches the engine.
    quiet = engine.render(announcement("payment", 3850), 20, str(tmp_path / "quiet.wav"))
    loud = engine.render(announcement("payment", 3850), 100, str(tmp_path / "loud.wav"))
    assert _rms(loud)[0] > 2 * _rms(quiet)[0]
