"""The counter on the merchant app's window: a static-code payment is announced while the cashier looks at
another screen, the counter settings screen, printing from the paid screen and reprinting from today's list."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from payclient.api import ApiClient
from tests.apps import harness as h
from tests.apps.test_counter import Recorder
from tests.apps.test_ui import Shots, log_in

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]


class TcpPrinter:
    """A network receipt printer's socket (port 9100 on a real one): keeps each job's bytes."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.jobs: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                self.jobs.append(b"".join(chunks))

    def close(self):
        self.server.close()


def test_counter_announces_prints_and_reprints(ui, world, live_url, tmp_path):
    shots = Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))
    printer = TcpPrinter()
    merchant = ui("merchant")
    voice = merchant.services.announcer.engine = Recorder()
    h.mount(merchant)
    log_in(merchant, world.owner.phone, world.password, "collect")

    # Counter settings: the printer's address, announcements on.
    merchant.go("more")
    h.idle(merchant)
    h.tap(merchant.screen("more").ids.counter_row)
    h.idle(merchant)
    counter = merchant.screen("counter")
    assert merchant.sm.current == "counter" and counter.speech_on and counter.volume == 80
    counter.ids.printer.text = printer.address
    h.tap(counter.ids.save_printer)
    h.idle(merchant)
    assert counter.printer == printer.address
    shots("merchant-counter", merchant)

    # A customer pays the shop's static code while nobody waits for it on screen: it is said aloud.
    consumer = ApiClient(live_url)
    consumer.login(world.consumer.phone, world.password)
    shop = ApiClient(live_url)
    shop.login(world.owner.phone, world.password)
    consumer.pay(shop.static_qr(world.merchant_id).payload, 3_850)
    h.wait_until(lambda: voice.spoken, timeout=15, what="the announcement of the static-code payment")
    assert voice.spoken == [("数字人民币收款三十八元五角", 80)]

    # Reprint it from today's list: the printer gets the receipt, marked as a reprint.
    merchant.go("today")
    h.idle(merchant)
    today = merchant.screen("today")
    h.wait_until(lambda: today.ids.rows.children, what="today's orders")
    h.tap(today.ids.rows.children[-1])
    h.idle(merchant)
    order = merchant.screen("order")
    assert order.printable
    h.tap(order.ids.reprint_button)
    h.idle(merchant)
    h.wait_until(lambda: printer.jobs, what="the printer to receive the receipt")
    assert "（补打）".encode("gb18030") in printer.jobs[0] and "￥38.50".encode("gb18030") in printer.jobs[0]
    shots("merchant-order-reprint", merchant)
    printer.close()
    h.pump(5)
    assert voice.spoken == [("数字人民币收款三十八元五角", 80)]  # heard again by the feed: said once
