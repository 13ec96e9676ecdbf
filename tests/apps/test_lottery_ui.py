"""The lottery card in the consumer app, offscreen: the secret revealed by itself, a won draw with its link."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from backend.clock import utcnow
from backend.extensions import db
from campaigns.models import Campaign
from tests.apps import harness as h
from tests.apps.test_ui import log_in, overflowing


def set_times(campaign_id: int, **times) -> None:
    """Time travel on the server's database: move a campaign's windows (as tests/campaigns/helpers does; not
    imported from there, so that module's assertion rewriting is not lost to an early import)."""
    db.session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id).values(**times))
    db.session.commit()


def test_lottery_cards_show_reveal_and_result(ui, world, campaigns, shots):  # noqa: F811
    revealing = campaigns.make("lottery", name="西关美食节抽签红包")
    won = campaigns.make("lottery", name="永庆坊新春抽签", split="fixed", packet_count=2, budget_fen=1_000)
    consumer = ui("consumer")
    h.mount(consumer)
    log_in(consumer, world.consumer.phone, world.password, "home")
    h.tap(consumer.screen("home").ids.tile_redpackets)
    h.idle(consumer)
    near = consumer.screen("campaigns")
    for cid in (revealing.id, won.id):
        cards = {card.campaign_id: card for card in near.ids.cards.children}
        h.tap(cards[cid].ids.act)
        h.idle(consumer)
    cards = {card.campaign_id: card for card in near.ids.cards.children}
    assert cards[revealing.id].lottery.startswith("已提交随机数承诺") and cards[revealing.id].ids.act.disabled
    # Registration of one closes (its reveal window opens); the other's reveal window is over and it is drawn.
    now = utcnow()
    set_times(revealing.id, opens_at=now - timedelta(hours=2), closes_at=now - timedelta(seconds=1))
    reveal_s = db.session.get(Campaign, won.id).reveal_s
    set_times(won.id, opens_at=now - timedelta(hours=2), closes_at=now - timedelta(seconds=30))
    db.session.rollback()
    near.presenter.load()  # reveals both
    h.idle(consumer)
    set_times(won.id, closes_at=utcnow() - timedelta(seconds=reveal_s + 1))
    db.session.rollback()
    doc = campaigns.staff.draw(won.id)
    assert doc["status"] == "drawn" and doc["revealed"] == 1 and doc["winners"][0]["amount_fen"] == 500
    near.presenter.load()
    h.idle(consumer)
    h.clear_toasts()
    cards = {card.campaign_id: card for card in near.ids.cards.children}
    assert cards[revealing.id].lottery.startswith("随机数已揭示，将计入")
    assert cards[won.id].lottery == "中签！¥5.00 红包已到账 · 你的随机数已计入开奖"
    assert cards[won.id].action == "核验开奖结果" and not cards[won.id].ids.act.disabled
    assert not overflowing(near), overflowing(near)
    shots("consumer-lottery", consumer)
