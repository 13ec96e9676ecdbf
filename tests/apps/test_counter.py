"""At the counter, against the real backend: payments announced once each and in order, refunds as
refunds, receipts printed as ESC/POS bytes (the library's dummy printer and a TCP printer) and drawn."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from merchant_app import counter as c
from merchant_app import presenters as p
from merchant_app.strings import STRINGS
from payclient.api import ApiClient
from payclient.receipt import PAPER_CHARS, parse_printer, print_escpos, render_image
from payclient.scan import decode_image
from payclient.speech import SpeechSettings
from tests.apps.conftest import FakeView


class Recorder:
    """An engine that keeps what it was asked to say."""

    name = "recorder"

    def __init__(self):
        self.spoken: list[tuple[str, int]] = []

    def speak(self, text: str, volume: int) -> None:
        self.spoken.append((text, volume))


@pytest.fixture
def sv(services):
    s = services()
    s.tr.add(STRINGS)
    s.announcer.engine = Recorder()
    return s


@pytest.fixture
def owner(sv, view, world):
    p.LoginPresenter(sv, view).login(world.owner.phone, world.password)
    assert view.last("go") == ("collect",)
    return sv


@pytest.fixture
def shop_api(world, live_url):
    api = ApiClient(live_url)
    api.login(world.owner.phone, world.password)
    return api


@pytest.fixture
def consumer_api(world, live_url):
    api = ApiClient(live_url)
    api.login(world.consumer.phone, world.password)
    return api


def said(sv) -> list[str]:
    assert sv.announcer.wait(10)
    return [t for t, _ in sv.announcer.engine.spoken]


def test_three_payments_in_one_second_are_announced_once_each_in_order(owner, world, shop_api, consumer_api):
    feed = c.PaymentFeed(owner)
    feed.poll()  # before anything is paid: nothing to say
    first = shop_api.create_order(world.merchant_id, 3_850)
    second = shop_api.create_order(world.merchant_id, 1_000)
    static = shop_api.static_qr(world.merchant_id)
    started = time.monotonic()
    consumer_api.pay(first.payload)
    consumer_api.pay(second.payload)
    consumer_api.pay(static.payload, 10_005)  # ¥100.05 (a static code is capped at ¥500 a day)
    assert time.monotonic() - started < 1.0
    feed.poll()
    feed.poll()  # seen again: said once
    assert said(owner) == ["数字人民币收款三十八元五角", "数字人民币收款十元", "数字人民币收款一百元零五分"]

    # The collect screen heard the first one on its own event stream too: still said once.
    assert owner.announcer.paid(first.id, 3_850) is False
    # A refund made on another device is announced as a refund, once.
    shop_api.refund(first.id, 850)
    feed.poll()
    feed.poll()
    assert said(owner)[3:] == ["数字人民币退款八元五角"]


def test_refund_from_this_app_is_announced_at_once_and_not_again_by_the_feed(owner, world, shop_api, consumer_api):
    feed = c.PaymentFeed(owner)
    order = shop_api.create_order(world.merchant_id, 2_000)
    consumer_api.pay(order.payload)
    feed.poll()
    view = FakeView()
    refund = p.RefundPresenter(owner, view)
    refund.open(owner.api.order(order.id))
    refund.ask("20")
    refund.confirm()
    assert view.last("show_refunded")
    feed.poll()
    assert said(owner) == ["数字人民币收款二十元", "数字人民币退款二十元"]


def test_switched_off_the_counter_stays_quiet(owner, world, shop_api, consumer_api):
    view = FakeView()
    settings = c.CounterSettingsPresenter(owner, view)
    settings.set_speech(enabled=False)
    assert view.last("show_counter")[0] == c.CounterVM(False, 80, "recorder", "")
    feed = c.PaymentFeed(owner)
    order = shop_api.create_order(world.merchant_id, 500)
    consumer_api.pay(order.payload)
    feed.poll()
    assert said(owner) == []
    settings.set_speech(enabled=True, volume=35)
    assert SpeechSettings.load(owner.settings) == SpeechSettings(True, 35)
    settings.try_voice()
    assert owner.announcer.wait(10) and owner.announcer.engine.spoken == [("数字人民币收款三十八元五角", 35)]


def paid_order(owner, world, shop_api, consumer_api, fen=3_850, description="凤凰单丛 1 壶"):
    order = shop_api.create_order(world.merchant_id, fen, description=description)
    consumer_api.pay(order.payload)
    return owner.api.order(order.id)


def test_receipt_bytes_on_the_dummy_printer(owner, world, shop_api, consumer_api):
    from escpos.printer import Dummy

    order = paid_order(owner, world, shop_api, consumer_api)
    doc = c.receipt_doc(owner.tr, order)
    printer = Dummy()
    print_escpos(doc, printer)
    out = printer.output
    gb = "gb18030"
    assert out.startswith(b"\x1b@")  # ESC @: the printer starts from its defaults
    for text in ("永庆坊茶居", "数字人民币收款小票", "￥38.50", "数字人民币 动态码", "凤凰单丛 1 壶",
                 f"手机尾号 {world.consumer.phone[-4:]}", "已支付", order.reference):
        assert text.encode(gb) in out, text
    assert world.consumer.phone.encode() not in out  # only the last digits of the payer
    assert b"\x1c\x26" in out and b"\x1c\x2e" in out  # Chinese mode around the text
    # The reference as the printer's own QR: GS ( k store (cn 49, fn 80) with the reference, then print.
    data = order.reference.encode()
    store = b"\x1d(k" + bytes([(len(data) + 3) % 256, (len(data) + 3) // 256]) + b"1P0" + data
    assert store in out and b"\x1d(k\x03\x001Q0" in out
    assert out.endswith(b"\x1bd\x06\x1dV\x00")  # feed six lines past the cutter (ESC d 6), then cut (GS V 0)
    # Every printed line fits 58 mm paper (32 columns; a Chinese character takes two).
    for label, value in doc.lines:
        assert len(label.encode(gb)) + len(value.encode(gb)) < PAPER_CHARS, (label, value)


def test_print_and_reprint_over_tcp_from_todays_list(owner, world, shop_api, consumer_api):
    """A network printer (a TCP listener here) receives the receipt; a reprint is marked as such."""
    order = paid_order(owner, world, shop_api, consumer_api, fen=10_005, description="")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[bytes] = []

    def accept(n):
        for _ in range(n):
            conn, _addr = server.accept()
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                received.append(b"".join(chunks))

    t = threading.Thread(target=accept, args=(2,), daemon=True)
    t.start()
    view = FakeView()
    settings = c.CounterSettingsPresenter(owner, view)
    assert settings.set_printer("not a printer/") is False
    assert view.last("show_error") == ("打印机地址应为 192.168.1.50:9100 或 usb://04b8:0202",)
    assert settings.set_printer(f"tcp://127.0.0.1:{server.getsockname()[1]}")
    printing = c.PrintPresenter(owner, view)
    printing.print_order(order.id)
    assert view.last("show_printed") == ("已打印 ¥100.05 的小票",)
    p.TodayPresenter(owner, view).load()
    row = next(r for r in view.last("show_orders")[0] if r.order_id == order.id)
    printing.print_order(row.order_id, reprint=True)
    t.join(10)
    server.close()
    assert len(received) == 2
    assert "￥100.05".encode("gb18030") in received[0] and "补打".encode("gb18030") not in received[0]
    assert "（补打）".encode("gb18030") in received[1]


def test_printer_unreachable_or_missing_is_said_plainly(owner, world, shop_api, consumer_api):
    view = FakeView()
    order = paid_order(owner, world, shop_api, consumer_api, fen=100)
    c.PrintPresenter(owner, view).print_order(order.id)
    assert view.last("show_error")[0].startswith("还没有设置小票打印机")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c.CounterSettingsPresenter(owner, view).set_printer(f"127.0.0.1:{port}")
    c.PrintPresenter(owner, view).print_order(order.id)
    assert view.last("show_error")[0].startswith("打印失败")


@pytest.mark.parametrize("spec,parsed", [("tcp://192.168.1.50:9100", ("tcp", "192.168.1.50", 9100)),
                                         ("printer.local", ("tcp", "printer.local", 9100)),
                                         ("usb://04b8:0202", ("usb", 0x04B8, 0x0202))])
def test_printer_addresses(spec, parsed):
    assert parse_printer(spec) == parsed


@pytest.mark.parametrize("spec", ["", "tcp://:9100", "host:99999", "usb://zz:01", "a b:9100"])
def test_bad_printer_addresses(spec):
    with pytest.raises(ValueError):
        parse_printer(spec)


def test_rendered_receipt_image_carries_the_reference_as_a_qr(owner, world, shop_api, consumer_api, tmp_path):
    order = paid_order(owner, world, shop_api, consumer_api)
    image = render_image(c.receipt_doc(owner.tr, order))
    shots = Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    image.save(shots / "merchant-receipt.png")
    assert decode_image(image) == [order.reference]
    assert image.width == 576 and image.height > 600
