"""Helpers of the zones tests: onboarding merchants over HTTP, points at a distance, outlines."""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from backend.auth.models import Role
from backend.extensions import db
from backend.merchants.uscc import check_char
from tests.backend.helpers import url
from zones.models import ZoneMerchant

_serial = itertools.count(1)
#: The demo tea house in Yongqingfang and a point in Fangcun, outside every zone.
TEA_HOUSE = (23.1184, 113.2446)
NOODLE_SHOP = (23.1250, 113.2690)
OUTSIDE = (23.0830, 113.2300)


def valid_uscc() -> str:
    first17 = f"91440103{next(_serial) + 500_000:09d}"
    return first17 + check_char(first17)


@dataclass
class Shop:
    id: int
    owner: object


def onboard(client, factory, lat: float, lon: float, *, scenario: str = "food", approve: bool = True,
            name: str = "Zone Test Shop") -> Shop:
    """Apply as a new owner and (unless ``approve`` is False) approve as an ICBC reviewer, over HTTP;
    return the merchant and its owner. Approval sends ``merchant_approved``, which places the merchant."""
    owner = factory.user(Role.MERCHANT_OWNER)
    body = {"name_zh": "示范区测试店", "name_en": name, "uscc": valid_uscc(), "mcc": "5812", "scenario": scenario,
            "address": "广州市", "latitude": lat, "longitude": lon, "bank_code": "ICBC"}
    resp = client.post(url("/merchants"), json=body, headers=owner.auth)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    merchant_id = resp.get_json()["id"]
    if approve:
        reviewer = factory.user(Role.BANK_REVIEWER, bank_code="ICBC")
        resp = client.post(url(f"/merchants/{merchant_id}/review"), json={"decision": "approve"},
                           headers=reviewer.auth)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    return Shop(merchant_id, owner)


def pay_over_http(client, factory, shop: Shop, amount_fen: int, consumer=None) -> dict:
    """The owner shows a dynamic QR for ``amount_fen`` and a consumer pays it, over HTTP; return the order."""
    consumer = consumer or factory.consumer(balance_fen=200_000)
    resp = client.post(url("/orders"), json={"merchant_id": shop.id, "amount_fen": amount_fen},
                       headers=shop.owner.auth)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    order = resp.get_json()
    resp = client.post(url("/payments"), json={"payload": order["payload"]},
                       headers={**consumer.auth, "Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return order


def refund_over_http(client, shop: Shop, order_id: int, amount_fen: int) -> dict:
    resp = client.post(url(f"/orders/{order_id}/refunds"), json={"amount_fen": amount_fen},
                       headers={**shop.owner.auth, "Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def placement(merchant_id: int) -> tuple[bool, int | None]:
    """Return (placed at all, zone id) of a merchant."""
    db.session.rollback()
    row = db.session.execute(select(ZoneMerchant.zone_id).where(ZoneMerchant.merchant_id == merchant_id)).first()
    return (row is not None, row[0] if row else None)


def north_of(lat: float, lon: float, metres: float) -> tuple[float, float]:
    """Return the point ``metres`` due north (along the meridian)."""
    return lat + math.degrees(metres / 6_371_008.8), lon


def square(lat: float, lon: float, half_side_deg: float) -> dict:
    """Return a GeoJSON Polygon: a square around the point."""
    d = half_side_deg
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}
