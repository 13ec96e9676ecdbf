"""Red packets, lotteries and coupons in both apps' presenters, against the real backend."""

from __future__ import annotations

from datetime import UTC, datetime

from consumer_app import presenters as c
from consumer_app.strings import STRINGS as CONSUMER
from merchant_app import presenters as m
from merchant_app.strings import STRINGS as MERCHANT
from payclient.i18n import Catalog
from tests.apps.conftest import FakeView


def test_near_me_grab_register_and_claim(services, world, campaigns):
    grab, lottery, coupon = campaigns.make("grab"), campaigns.make("lottery"), campaigns.make("coupon")
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(world.consumer.phone, world.password)
    view = FakeView()
    near = c.CampaignsPresenter(sv, view)
    near.load()
    zones, selected = view.last("show_zones")
    assert selected == campaigns.zone.id and (campaigns.zone.id, "永庆坊") in zones
    cards = {vm.campaign_id: vm for vm in view.last("show_campaigns")[0]}
    assert (cards[grab.id].kind_label, cards[grab.id].action, cards[grab.id].can_act) == ("普通红包", "抢红包", True)
    assert cards[grab.id].detail == "共 10 个 · 总额 ¥10.00"
    assert (cards[lottery.id].action, cards[coupon.id].action) == ("报名抽签", "领取")
    assert cards[coupon.id].detail == "满 ¥30.00 减 ¥5.00 · 共 10 张"

    near.act(grab.id)
    assert view.last("show_message")[0].startswith("抢到 ¥1.00 红包")
    near.act(lottery.id)
    assert view.last("show_message") == ("已报名「西关美食节抽签红包」，开奖后中签红包自动到账",)
    near.act(coupon.id)
    assert view.last("show_message")[0].startswith("已领取满 ¥30.00 减 ¥5.00 消费券")
    cards = {vm.campaign_id: vm for vm in view.last("show_campaigns")[0]}
    assert [(cards[i].action, cards[i].can_act) for i in (grab.id, lottery.id, coupon.id)] == [
        ("已领 ¥1.00", False), ("已报名", False), ("已领取", False)]

    # The outbox made the grab idempotent: the same entry again is a replay, not a second packet.
    entry = next(e for e in sv.api.outbox.all() if e.path == f"/campaigns/{grab.id}/claims")
    assert sv.api.deliver(entry)["amount_fen"] == 100

    perks = c.PerksPresenter(sv, view)
    perks.load()
    assert view.last("show_summary") == ("可用红包 ¥1.00 · 可用消费券 1 张",)
    items = view.last("show_items")[0]
    assert {(i.title, i.value, i.state_label) for i in items} == {
        ("永庆坊开街红包", "¥1.00", "可用"), ("茶居满30减5", "¥5.00", "可用")}
    assert perks.countdown(items[0]).startswith("还剩 1 天")


def test_countdown_text():
    tr = Catalog(CONSUMER)
    deadline = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    base = deadline.timestamp()
    assert c.countdown_text(tr, deadline, base - 3661) == "还剩 01:01:01"
    assert c.countdown_text(tr, deadline, base - (2 * 86400 + 5)) == "还剩 2 天 00:00:05"
    assert c.countdown_text(tr, deadline, base + 1) == "已过期"
    assert c.countdown_text(tr, None) == ""
    tr.set_lang("en")
    assert c.countdown_text(tr, deadline, base - 65) == "00:01:05 left"


def test_a_sold_out_campaign_says_so(services, world, campaigns, factory):
    one = campaigns.make("grab", packet_count=1, budget_fen=100)
    first = services()
    first.api.login(world.consumer.phone, world.password)
    first.api.claim(one.id)
    other = factory.consumer(balance_fen=0)
    from tests.payclient.live import settle

    settle()
    sv = services()
    sv.tr.add(CONSUMER)
    sv.api.login(other.phone, world.password)
    view = FakeView()
    near = c.CampaignsPresenter(sv, view)
    near.load()
    near.act(one.id)
    assert view.named("show_error"), view.calls


def test_the_shop_sees_the_campaigns_it_takes_part_in(services, world, campaigns):
    mine = campaigns.make("coupon")
    campaigns.make("grab", merchant_ids=[], scenarios=["shopping"])  # other shops only
    sv = services()
    sv.tr.add(MERCHANT)
    m.LoginPresenter(sv, FakeView()).login(world.owner.phone, world.password)
    view = FakeView()
    m.CampaignsPresenter(sv, view).load()
    assert view.last("show_zone") == ("本店所在示范区：永庆坊",)
    [vm] = view.last("show_campaigns")[0]
    assert (vm.campaign_id, vm.kind_label, vm.status) == (mine.id, "消费券", "进行中")
    assert vm.detail == "满 ¥30.00 减 ¥5.00，差额由活动资金补给本店"


