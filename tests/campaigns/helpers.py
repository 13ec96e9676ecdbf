"""Helpers of the campaign tests: a world (zone, staff, funder, shop), campaigns over HTTP, time travel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from backend.auth.models import Role
from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Transfer
from campaigns import service
from campaigns.models import Campaign, Claim
from tests.factories import Person
from tests.payments.helpers import Api, Shop, new_order, ok, open_shop, pay, refund
from zones.models import Zone, ZoneManager

__all__ = ["Api", "ok", "new_order", "pay", "refund"]


@dataclass
class World:
    pilot: Person
    manager: Person  # manages Yongqingfang only
    other_manager: Person  # manages Tianhe Road only
    zone_id: int
    other_zone_id: int
    funder: Person  # a class-2 wallet (the factory cannot make class 1)
    funder_id: int
    shop: Shop  # an approved merchant listed by the default campaigns

    @property
    def funder_account(self) -> int:
        return service.funder_account(self.funder_id)


def zone_id(code: str) -> int:
    return db.session.execute(select(Zone.id).where(Zone.code == code)).scalar_one()


def place(merchant_id: int, zone: int | None) -> None:
    """Place a merchant in a zone as the zones plug-in does when a bank approves it (factory merchants
    are made without that hook)."""
    from campaigns.eligibility import placement_table

    table = placement_table()
    if table is None:
        return
    values = {"merchant_id": merchant_id, "zone_id": zone, "latitude": 23.1184, "longitude": 113.2446,
              "placed_at": utcnow()}
    db.session.execute(table.insert().values({k: v for k, v in values.items() if k in table.c}))
    db.session.commit()


def make_world(factory, funder_fen: int = 10_000_000) -> World:
    pilot = factory.user(Role.PILOT_ADMIN)
    manager = factory.user(Role.ZONE_MANAGER)
    other = factory.user(Role.ZONE_MANAGER)
    yqf, tianhe = zone_id("yongqingfang"), zone_id("tianhelu")
    db.session.add_all([ZoneManager(user_id=manager.id, zone_id=yqf), ZoneManager(user_id=other.id, zone_id=tianhe)])
    db.session.commit()
    funder = factory.consumer(wallet_class=2, balance_fen=funder_fen)
    funder_id = service.add_funder("Test fund", funder.phone, None).id
    shop = open_shop(factory)
    place(shop.merchant_id, yqf)
    return World(pilot, manager, other, yqf, tianhe, funder, funder_id, shop)


def campaign_body(world: World, **overrides) -> dict:
    """A valid grab campaign body: 10 fixed packets of ¥1.00, open now, spend within 2 hours."""
    now = utcnow()
    body = {
        "name": "永庆坊测试红包", "kind": "grab", "split": "fixed", "funder_id": world.funder_id,
        "zone_ids": [world.zone_id], "merchant_ids": [world.shop.merchant_id], "packet_count": 10,
        "budget_fen": 1_000, "claim_starts_at": (now - timedelta(minutes=1)).isoformat(),
        "claim_ends_at": (now + timedelta(hours=1)).isoformat(),
        "spend_ends_at": (now + timedelta(hours=2)).isoformat(),
    }
    if overrides.get("kind") == "lottery":
        body["registration_starts_at"] = body.pop("claim_starts_at")
        body["registration_ends_at"] = body.pop("claim_ends_at")
    if overrides.get("kind") == "coupon":
        body.pop("split")
        body.pop("budget_fen")
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def create(api: Api, who: Person, world: World, **overrides) -> dict:
    return ok(api.post("/campaigns", who, json=campaign_body(world, **overrides)), 201)


def launch(api: Api, who: Person, campaign_id: int, key: str | None = None):
    return api.post(f"/campaigns/{campaign_id}/launch", who, json={}, key=key or uuid.uuid4().hex)


def live(api: Api, world: World, **overrides) -> dict:
    """Create and launch a campaign as the Yongqingfang manager; return it (live)."""
    c = create(api, world.manager, world, **overrides)
    return ok(launch(api, world.manager, c["id"]))


def grab(api: Api, consumer: Person, campaign_id: int, device: str | None = None, key: str | None = None):
    headers = {"X-Device-Id": device} if device else {}
    return api.post(f"/campaigns/{campaign_id}/claims", consumer, json={}, key=key or uuid.uuid4().hex,
                    headers=headers)


def set_times(campaign_id: int, **times: datetime) -> None:
    """Time travel: move a campaign's windows (opens_at, closes_at, spend_ends_at)."""
    db.session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id).values(**times))
    db.session.commit()


def close_window(campaign_id: int) -> None:
    """The claim (or registration) window closed a moment ago; spending goes on."""
    now = utcnow()
    set_times(campaign_id, opens_at=now - timedelta(hours=2), closes_at=now - timedelta(seconds=1))


def pass_spend_deadline(campaign_id: int) -> None:
    """Every window of the campaign is over, the spend deadline a moment ago."""
    now = utcnow()
    set_times(campaign_id, opens_at=now - timedelta(hours=3), closes_at=now - timedelta(hours=2),
              spend_ends_at=now - timedelta(seconds=1))


def restricted_balance(user_id: int, campaign_id: int) -> int:
    account = db.session.execute(select(Claim.restricted_account_id).where(
        Claim.campaign_id == campaign_id, Claim.user_id == user_id)).scalar_one()
    balance = ledger.balance(account)
    db.session.rollback()
    return balance


def balance_of(account_id: int) -> int:
    db.session.expire_all()
    b = ledger.balance(account_id)
    db.session.rollback()
    return b


def campaign_account(campaign_id: int) -> int:
    a = db.session.execute(select(Campaign.account_id).where(Campaign.id == campaign_id)).scalar_one()
    db.session.rollback()
    return a


def transfers_with(code: str) -> list:
    rows = db.session.execute(select(Transfer).where(Transfer.code == code).order_by(Transfer.id)).scalars().all()
    db.session.rollback()
    return rows


def pay_order(api: Api, world: World, consumer: Person, amount_fen: int, shop: Shop | None = None) -> dict:
    """The merchant shows a dynamic QR for ``amount_fen``; the consumer pays it. Returns the payment body."""
    shop = shop or world.shop
    order = new_order(api, shop.owner, shop.merchant_id, amount_fen)
    return ok(pay(api, consumer, order["payload"]), 201)
