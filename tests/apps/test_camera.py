"""Scanning with the camera: the viewfinder reads frames of real codes from a synthetic camera — clean,
blurred and turned — and the merchant app charges the pay code it sees; without a camera the screens fall
back to a picture or a pasted code."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payclient.device import DeviceStore
from payclient.scan import decode_frame, inspect_merchant_code
from suiyuan_protocol import codec, paycode
from tests.apps import harness as h
from tests.apps.camera import SyntheticCamera, empty_frame, frame

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

#: A consumer's pay code and a merchant's signed dynamic code, made as the apps and the server make them.
PAYCODE = paycode.generate(4242, b"0123456789abcdef0123", 1_780_000_000)
_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
MERCHANT_QR = codec.sign(codec.suiyuan_payload(
    merchant_id=1, bank_code="ICBC", name="Yongqingfang Tea House", city="Guangzhou", name_zh="永庆坊茶居",
    city_zh="广州", mcc="5812", amount_fen=3_850, reference="SY27FB845A86A7347B",
    expires_at=datetime(2026, 12, 3, 6, 0, tzinfo=UTC)), "k2026-12", _KEY)


FRAMES = {
    "clean": dict(),
    "blurred": dict(blur=4),
    "rotated": dict(angle=33),
}


@pytest.mark.parametrize("kind", sorted(FRAMES))
@pytest.mark.parametrize("text", [PAYCODE, MERCHANT_QR], ids=["paycode", "merchant_qr"])
def test_the_viewfinder_reads_clean_blurred_and_rotated_frames(kind, text, ui):
    from payclient.ui.scanner import CameraScanner

    ui("consumer")  # the window and theme as an app sets them up (the viewfinder lives in one)
    camera = SyntheticCamera([empty_frame(), empty_frame(), frame(text, **FRAMES[kind])])
    scanner = CameraScanner(camera=camera, interval=0.05)
    seen = []
    scanner.bind(on_code=lambda _w, t: seen.append(t))
    frame_widget = h.mount(scanner)
    try:
        h.wait_until(lambda: seen, what=f"the {kind} code to be read")
        h.pump(5)
    finally:
        frame_widget.remove_widget(scanner)
        h.window().remove_widget(frame_widget)
        scanner.stop()
    assert seen == [text]  # read once, then the camera stops
    if text == MERCHANT_QR:  # what the camera read is the genuine signed code, byte for byte
        assert inspect_merchant_code(seen[0], {"k2026-12": _KEY.public_key()}, now=0).ok
    assert camera.stopped and camera.shown >= 3


def test_a_blurred_frame_needs_the_sharpening_pass():
    """The blurred frame is not one zxing-cpp reads as it is: the scanner's second look is what reads it."""
    import zxingcpp

    blurred = frame(MERCHANT_QR, **FRAMES["blurred"])
    assert not zxingcpp.read_barcodes(blurred.convert("L"))
    assert decode_frame(blurred) == [MERCHANT_QR]


def test_a_frame_too_blurred_or_with_no_code_reads_nothing():
    assert decode_frame(empty_frame()) == []
    assert decode_frame(frame(MERCHANT_QR, blur=12)) == [] and decode_frame(frame(PAYCODE, blur=12)) == []


def shots_dir(tmp_path) -> Path:
    return Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots")


@pytest.mark.slow
def test_merchant_charges_the_pay_code_its_camera_sees(ui, world, factory, live_url, tmp_path):
    from kivy.core.window import Window

    from payclient.api import ApiClient
    from payclient.ui import scanner as sc
    from tests.apps.test_ui import Shots, log_in

    consumer = ApiClient(live_url)
    consumer.login(world.consumer.phone, world.password)
    reg = consumer.register_device("test phone")
    code = DeviceStore().save("me", reg.device.id, reg.secret_b32).code()
    cameras = []

    def make():
        # Focusing first (too blurred to read), then sharp enough.
        cameras.append(SyntheticCamera([frame(code, angle=12, blur=12)] * 8 + [frame(code, angle=12, blur=1.5)],
                                       fps=10))
        return cameras[-1]

    sc.use_camera(make)
    try:
        merchant = ui("merchant")
        h.mount(merchant)
        log_in(merchant, world.owner.phone, world.password, "collect")
        merchant.go("charge")
        h.idle(merchant)
        charge = merchant.screen("charge")
        for key in ("1", "2"):
            h.tap(charge.ids.keypad.buttons[key])
        assert charge.has_camera
        h.tap(charge.ids.pick_image)
        h.wait_until(lambda: cameras and cameras[0].shown >= 2, what="the viewfinder to show frames")
        [view] = [w for w in Window.children if isinstance(w, sc.ScanView)]
        shots = Shots(shots_dir(tmp_path))
        shots("merchant-scan-viewfinder")
        h.wait_until(lambda: merchant.sm.current == "charged", timeout=20, what="the charge after the scan")
        h.idle(merchant)
        assert view not in Window.children and cameras[0].stopped
        assert merchant.screen("charged").amount == "¥12.00"
    finally:
        sc.use_camera(None)


@pytest.mark.slow
def test_consumer_camera_reads_the_merchants_dynamic_code_and_confirms(ui, world, live_url, tmp_path):
    from payclient.api import ApiClient
    from payclient.ui import scanner as sc
    from tests.apps.test_ui import Shots, log_in

    shop = ApiClient(live_url)
    shop.login(world.owner.phone, world.password)
    order = shop.create_order(world.merchant_id, 3_850)
    cameras = []

    def make():
        cameras.append(SyntheticCamera([frame(order.payload, angle=-20, blur=12)] * 8
                                       + [frame(order.payload, angle=-20, blur=2)], fps=10))
        return cameras[-1]

    sc.use_camera(make)
    try:
        consumer = ui("consumer")
        h.mount(consumer)
        log_in(consumer, world.consumer.phone, world.password, "home")
        h.tap(consumer.screen("home").ids.tile_scan)
        h.wait_until(lambda: cameras and cameras[0].shown >= 2, what="the viewfinder to show frames")
        Shots(shots_dir(tmp_path))("consumer-scan-viewfinder", consumer)
        h.wait_until(lambda: consumer.sm.current == "confirm", timeout=20, what="the confirm screen")
        h.idle(consumer)
        confirm = consumer.screen("confirm")
        assert (confirm.amount, confirm.verified, confirm.can_pay) == ("¥38.50", True, True)
        assert cameras[0].stopped
    finally:
        sc.use_camera(None)


@pytest.mark.slow
def test_without_a_camera_the_screens_offer_a_picture_or_a_pasted_code(ui, world, tmp_path):
    from payclient.ui import scanner as sc
    from tests.apps.test_ui import log_in

    sc.use_camera(None)
    os.environ["SUIYUAN_NO_CAMERA"] = "1"
    sc._camera = None
    try:
        merchant = ui("merchant")
        h.mount(merchant)
        log_in(merchant, world.owner.phone, world.password, "collect")
        merchant.go("charge")
        h.idle(merchant)
        charge = merchant.screen("charge")
        assert not charge.has_camera and charge.ids.pick_image.text == "图片识别"
        assert charge.ids.code.hint_text  # the paste field is there
    finally:
        del os.environ["SUIYUAN_NO_CAMERA"]
        sc._camera = None
