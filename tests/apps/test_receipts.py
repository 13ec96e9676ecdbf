"""E-receipts in the consumer app, against the real backend: a coupon payment at a verified shop in a zone,
then its partial refund; the receipt shared as a picture; the receipt screen on the window."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consumer_app import presenters as p
from consumer_app.receipts import ReceiptPresenter
from consumer_app.strings import STRINGS
from payclient.api import ApiClient
from payclient.scan import decode_image
from tests.apps.conftest import FakeView


@pytest.fixture
def paid(services, world, campaigns, live_url):
    """The consumer claimed a ¥5-off-¥30 coupon and paid ¥38.50 at the tea house (a verified shop in
    Yongqingfang); returns (services, order, shop client)."""
    coupon = campaigns.make("coupon")
    sv = services()
    sv.tr.add(STRINGS)
    p.LoginPresenter(sv, FakeView()).login(world.consumer.phone, world.password)
    sv.api.claim(coupon.id, sv.api.device_id)  # the installation's id, as the app sends (X-Device-Id)
    shop = ApiClient(live_url)
    shop.login(world.owner.phone, world.password)
    order = shop.create_order(world.merchant_id, 3_850, description="凤凰单丛 1 壶")
    sv.api.pay(order.payload)
    return sv, order, shop


def test_history_opens_the_e_receipt_with_badge_zone_split_and_refund_status(paid, tmp_path):
    sv, order, shop = paid
    view = FakeView()
    p.HistoryPresenter(sv, view).load()
    items = view.last("show_items")[0]
    [row] = [vm for vm in items if vm.reference]
    assert (row.reference, row.amount) == (order.reference, "-¥33.50")
    assert all(not vm.reference for vm in items if vm is not row)  # top-ups open nothing

    receipts = ReceiptPresenter(sv, view)
    receipts.open(row.reference)
    vm = view.last("show_receipt")[0]
    assert (vm.merchant, vm.verified, vm.zone, vm.amount, vm.status) == ("永庆坊茶居", True, "永庆坊", "¥38.50",
                                                                           "已支付")
    assert vm.rows == (("商品金额", "¥38.50"), ("消费券优惠", "-¥5.00"), ("钱包已付", "¥33.50"))
    assert vm.reference == order.reference and vm.time and not vm.refunded

    shop.refund(order.id, 1_000)
    view = FakeView()
    p.HistoryPresenter(sv, view).load()
    refund_row = view.last("show_items")[0][0]
    # The refund is named by its shop (#20 item 6), what it is under the name.
    assert (refund_row.title, refund_row.reference) == ("永庆坊茶居", order.reference)
    assert "退款" in refund_row.subtitle
    receipts = ReceiptPresenter(sv, view)
    receipts.open(refund_row.reference)
    vm = view.last("show_receipt")[0]
    assert vm.status == "部分退款" and vm.refunded and vm.rows[-1] == ("已退回钱包", "¥10.00")

    path = receipts.share(tmp_path)
    assert view.last("show_shared") == (f"小票图片已保存：{path}", path)
    assert decode_image(path) == [order.reference]
    shots = Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    path.replace(shots / "consumer-e-receipt-shared.png")


def test_someone_elses_reference_opens_nothing(paid, factory, live_url, world, services):
    from tests.payclient.live import settle

    _sv, order, _shop = paid
    stranger = factory.consumer(balance_fen=1_000)
    settle()
    sv = services()
    sv.tr.add(STRINGS)
    p.LoginPresenter(sv, FakeView()).login(stranger.phone, world.password)
    view = FakeView()
    ReceiptPresenter(sv, view).open(order.reference)
    assert view.named("show_error") and not view.named("show_receipt")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_receipt_screen_on_the_window(ui, world, campaigns, live_url, tmp_path):
    from tests.apps import harness as h
    from tests.apps.test_ui import Shots, log_in

    coupon = campaigns.make("coupon")
    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    consumer.services.api.claim(coupon.id, consumer.services.api.device_id)
    shop = ApiClient(live_url)
    shop.login(world.owner.phone, world.password)
    order = shop.create_order(world.merchant_id, 3_850)
    consumer.services.api.pay(order.payload)
    consumer.go("history")
    h.idle(consumer)
    history = consumer.screen("history")
    h.wait_until(lambda: history.ids.rows.children, what="the history")
    [row] = [r for r in history.ids.rows.children if r.item.reference]
    h.tap(row)
    h.idle(consumer)
    receipt = consumer.screen("receipt")
    h.wait_until(lambda: receipt.reference == order.reference, what="the receipt")
    assert (receipt.merchant, receipt.verified, receipt.zone, receipt.amount) == ("永庆坊茶居", True, "永庆坊",
                                                                                    "¥38.50")
    Shots(Path(os.environ.get("SUIYUAN_SCREENSHOTS") or tmp_path / "shots"))("consumer-e-receipt", consumer)
    path = receipt.share(tmp_path / "receipts")
    assert decode_image(path) == [order.reference]
