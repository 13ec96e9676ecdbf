"""Generate a month of payment traffic quickly, through the real settlement primitives.

Money moves only through ``backend.ledger.service`` (transfer / reverse),
orders and refunds are written as the payments service writes them — legs
sharing the order reference as batch id, subsidy legs from a campaign budget
or a red-packet (restricted) account — and after each commit the core's
signals are sent exactly as the views send them, so the zones receivers do
the counting. A fake clock stamps the transfers, so a month passes in seconds.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import event, insert, select, update

from backend.auth.models import Role
from backend.banks.models import OperatorBank
from backend.extensions import db
from backend.hooks import announce, merchant_approved, payment_settled, refund_settled
from backend.ledger import service as ledger
from backend.ledger.models import Account, AccountKind, Transfer
from backend.merchants.models import SCENARIOS
from backend.payments.models import Order, OrderStatus, Refund
from zones.models import Zone

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAYMENT_LEG_CODES = ("payment", "red_packet_spend", "coupon_subsidy")
#: Shop names by scenario, so that reports read like a real zone's.
SHOP_NAMES = {"food": ("茶餐厅", "Cafe"), "lodging": ("客栈", "Inn"), "transport": ("单车驿站", "Bikes"),
              "tourism": ("文化馆", "Gallery"), "shopping": ("手信店", "Gifts"), "entertainment": ("粤剧社", "Opera"),
              "medical": ("大药房", "Pharmacy")}
#: A point in Guangzhou outside every zone outline (Fangcun, Liwan).
OUTSIDE = (23.0830, 113.2300)


@contextmanager
def sqlite_without_fsync():
    """Let SQLite skip fsync while the month is generated (every payment and every receiver commits):
    the code under test is the same, the test just does not wait for the disk. Pooled connections are
    dropped afterwards, so the rest of the session runs with the default again."""
    if db.engine.dialect.name != "sqlite":
        yield
        return

    def no_fsync(dbapi_conn, *_):
        dbapi_conn.execute("PRAGMA synchronous = OFF")

    db.session.remove()
    db.engine.dispose()
    event.listen(db.engine, "connect", no_fsync)
    try:
        yield
    finally:
        event.remove(db.engine, "connect", no_fsync)
        db.session.remove()
        db.engine.dispose()


class FakeClock:
    """Stands in for ``utcnow`` in the ledger: the time the generator says it is."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Traffic:
    """What was generated: merchants and where the generator put them, the period, the counts."""

    month_start: date
    month_end: date
    merchant_zone: dict[int, int | None] = field(default_factory=dict)  # merchant id → zone id (None: outside)
    merchant_account: dict[int, int] = field(default_factory=dict)
    merchant_scenario: dict[int, str] = field(default_factory=dict)
    owners: dict[int, int] = field(default_factory=dict)
    payments: int = 0
    refunds: int = 0
    subsidised: int = 0


def point_inside(zone: Zone, rng: random.Random) -> tuple[float, float]:
    """Return a random (lat, lon) inside the zone's outline."""
    geom = shapely.from_geojson(zone.boundary_geojson)
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    while True:
        lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
        if geom.contains(shapely.Point(lon, lat)):
            return round(lat, 6), round(lon, 6)


def local_instant(day: date, seconds: int) -> datetime:
    """Return the UTC instant ``seconds`` after local midnight of ``day``."""
    return (datetime.combine(day, time(), SHANGHAI) + timedelta(seconds=seconds)).astimezone(UTC)


def _reference() -> str:
    return "T" + secrets.token_hex(10).upper()


def generate(factory, monkeypatch, *, month_start: date, zone_plan: dict[str, list[str]], outside: int = 2,
             consumers: int = 120, payments: int = 2400, refund_share: float = 0.08, seed: int = 20261,
             batch: int = 200) -> Traffic:
    """Create merchants (per zone code, one per listed scenario, plus ``outside`` in no zone), consumers,
    a campaign, then ``payments`` payments spread over the month (and a few around its edges) with refunds.
    """
    rng = random.Random(seed)
    month_end = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    traffic = Traffic(month_start, month_end)
    zones = {z.code: z for z in db.session.execute(select(Zone)).scalars()}

    # Merchants, approved and announced like a bank review does, so the receiver places them.
    specs = [(zones[code], scenario) for code, scenarios in zone_plan.items() for scenario in scenarios]
    specs += [(None, rng.choice(list(SCENARIOS))) for _ in range(outside)]
    for n, (zone, scenario) in enumerate(specs, start=1):
        lat, lon = point_inside(zone, rng) if zone else (OUTSIDE[0] + rng.uniform(-0.003, 0.003), OUTSIDE[1])
        zh, en = SHOP_NAMES[scenario]
        place_zh, place_en = (zone.name_zh, zone.name_en) if zone else ("芳村", "Fangcun")
        m = factory.merchant(scenario=scenario, latitude=lat, longitude=lon, name_zh=f"{place_zh}{zh}{n}号"[:25],
                             name_en=f"{place_en[:14]} {en} {n}"[:25])
        traffic.merchant_zone[m.id] = zone.id if zone else None
        traffic.merchant_account[m.id] = m.account_id
        traffic.merchant_scenario[m.id] = scenario
        traffic.owners[m.id] = m.owner_user_id
        announce(merchant_approved, merchant_id=m.id)

    # Consumers with uncapped wallets, and red-packet balances for some; a funded campaign budget.
    bank = db.session.execute(select(OperatorBank).where(OperatorBank.code == "ICBC")).scalar_one()
    payers = []
    for _ in range(consumers):
        user = factory.user(Role.CONSUMER).user
        wallet = ledger.open_account(AccountKind.WALLET)
        ledger.transfer(bank.issuance_account_id, wallet, 50_000_000, "topup")
        payers.append((user.id, wallet))
    campaign = ledger.open_account(AccountKind.CAMPAIGN)
    ledger.transfer(bank.issuance_account_id, campaign, 500_000_000, "escrow")
    red_packets = {}
    for user_id, _ in payers[: consumers // 3]:
        acct = ledger.open_account(AccountKind.RESTRICTED)
        ledger.transfer(campaign, acct, 200_000, "red_packet_claim")
        red_packets[user_id] = acct
    db.session.commit()

    clock = FakeClock(local_instant(month_start, 0))
    monkeypatch.setattr(ledger, "utcnow", clock)

    # Events in time order: payments over the month and one day either side (the edges of local days),
    # refunds some hours to days after their payment.
    merchant_ids = list(traffic.merchant_zone)
    weights = [rng.choice((1, 2, 4, 8)) for _ in merchant_ids]
    span_days = (month_end - month_start).days + 3
    events = []
    for i in range(payments):
        day = month_start - timedelta(days=1) + timedelta(days=rng.randrange(span_days))
        seconds = rng.choice((0, 1, 86_399)) if i % 50 == 0 else rng.randrange(86_400)
        at = local_instant(day, seconds)
        events.append((at, 0, i, {"merchant": rng.choices(merchant_ids, weights)[0], "payer": rng.choice(payers),
                                  "amount": rng.choice((800, 1_500, 2_800, 3_850, 6_600, 12_000, 25_000))
                                  + rng.randrange(0, 500), "subsidy": rng.random()}))
    events.sort(key=lambda e: (e[0], e[2]))
    refunds = []
    for at, _, i, _ in events:
        if rng.random() < refund_share:
            refunds.append((at + timedelta(hours=rng.choice((1, 5, 20, 30, 70))), 1, i, {"of": i,
                                                                                         "part": rng.random()}))
    events = sorted(events + refunds, key=lambda e: (e[0], e[1], e[2]))

    orders: dict[int, tuple[int, int, int]] = {}  # payment index → (order id, cash leg id, cash amount)
    pending: list[tuple] = []

    def flush():
        db.session.commit()
        for signal, data in pending:
            announce(signal, **data)
        pending.clear()

    for at, kind, i, e in events:
        clock.now = at
        if kind == 0:
            orders[i] = _pay(e, red_packets, campaign, traffic, pending)
        else:
            _refund(orders[e["of"]], e["part"], traffic, pending)
        if len(pending) >= batch:
            flush()
    flush()
    return traffic


def _pay(e: dict, red_packets: dict, campaign: int, traffic: Traffic, pending: list) -> tuple[int, int, int]:
    merchant_id, (payer_id, wallet), amount = e["merchant"], e["payer"], e["amount"]
    account = traffic.merchant_account[merchant_id]
    reference = _reference()
    subsidy_legs = []
    if e["subsidy"] < 0.10:  # a coupon: 满 X 减 Y, paid from the campaign budget
        subsidy_legs.append((campaign, min(1_000, amount // 4), "coupon_subsidy"))
    elif e["subsidy"] < 0.18 and payer_id in red_packets:  # a red packet
        subsidy_legs.append((red_packets[payer_id], min(600, amount // 3), "red_packet_spend"))
    cash_amount = amount - sum(leg[1] for leg in subsidy_legs)
    cash = ledger.transfer(wallet, account, cash_amount, "payment", batch_id=reference, memo=reference,
                           actor_user_id=payer_id, limited=False)
    for source, part, code in subsidy_legs:
        ledger.transfer(source, account, part, code, batch_id=reference, memo=reference, actor_user_id=payer_id,
                        limited=False)
    order_id = db.session.execute(insert(Order).values(
        reference=reference, merchant_id=merchant_id, kind="static", amount_fen=amount, status=OrderStatus.PAID,
        created_at=cash.created_at, paid_at=cash.created_at, payer_user_id=payer_id,
        payment_transfer_id=cash.id, refunded_fen=0).returning(Order.id)).scalar_one()
    traffic.payments += 1
    traffic.subsidised += bool(subsidy_legs)
    pending.append((payment_settled, {"order_id": order_id, "merchant_id": merchant_id, "amount_fen": amount,
                                      "payer_user_id": payer_id, "transfer_id": cash.id}))
    return order_id, cash.id, cash_amount


def _refund(paid: tuple[int, int, int], part: float, traffic: Traffic, pending: list) -> None:
    order_id, cash_leg, cash_amount = paid
    order = db.session.get(Order, order_id)
    left = cash_amount - order.refunded_fen
    amount = max(1, int(left * part))
    if left <= 0:
        return
    posted = ledger.reverse(cash_leg, amount, code="refund", batch_id=ledger.new_batch_id(),
                            actor_user_id=traffic.owners[order.merchant_id])
    db.session.execute(insert(Refund).values(order_id=order_id, amount_fen=amount, transfer_id=posted.id,
                                             reason="test", created_by_user_id=traffic.owners[order.merchant_id],
                                             created_at=posted.created_at))
    new_refunded = order.refunded_fen + amount
    db.session.execute(update(Order.__table__).where(Order.id == order_id).values(
        refunded_fen=new_refunded,
        status=OrderStatus.REFUNDED if new_refunded == order.amount_fen else OrderStatus.PARTIALLY_REFUNDED))
    traffic.refunds += 1
    pending.append((refund_settled, {"order_id": order_id, "amount_fen": amount}))


# ---------------------------------------------------------------- the direct computation


def expected_from_ledger(traffic: Traffic, day_from: date, day_to: date) -> tuple[dict, dict, dict]:
    """Compute every zone-day's figures straight from the ledger's transfers (not from orders, not from zones).

    A payment is the batch of payment legs into a merchant's wallet; its day is the local day of its first
    leg, its payer the legs' actor, its subsidy the legs debited from campaign or red-packet accounts. A
    refund is the batch of refund transfers out of a merchant's wallet. Merchants' zones are where the
    generator put them. Returns ``({(zone, day): figures}, {(zone, day): payers}, {(zone, day): merchants})``.
    """
    account_merchant = {a: m for m, a in traffic.merchant_account.items()}
    kinds = dict(db.session.execute(select(Account.id, Account.kind)).all())
    legs = db.session.execute(
        select(Transfer.id, Transfer.batch_id, Transfer.code, Transfer.debit_account_id, Transfer.credit_account_id,
               Transfer.amount_fen, Transfer.actor_user_id, Transfer.created_at)
        .where(Transfer.code.in_(PAYMENT_LEG_CODES + ("refund",)), Transfer.reverses_id.is_(None)
               | (Transfer.code == "refund"))
        .order_by(Transfer.id)).all()
    payments: dict[str, dict] = {}
    refunds: dict[str, dict] = {}
    for t in legs:
        if t.code == "refund":
            merchant = account_merchant.get(t.debit_account_id)
            if merchant is None:
                continue
            r = refunds.setdefault(t.batch_id, {"merchant": merchant, "first": t.id, "at": t.created_at, "fen": 0})
            r["fen"] += t.amount_fen
            continue
        merchant = account_merchant.get(t.credit_account_id)
        if merchant is None:
            continue
        p = payments.setdefault(t.batch_id, {"merchant": merchant, "first": t.id, "at": t.created_at, "fen": 0,
                                             "subsidy": 0, "payer": t.actor_user_id})
        p["fen"] += t.amount_fen
        if kinds[t.debit_account_id] in (AccountKind.CAMPAIGN, AccountKind.RESTRICTED):
            p["subsidy"] += t.amount_fen

    def local_day(at: datetime) -> date:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return at.astimezone(SHANGHAI).date()

    first_payment: dict[int, dict] = {}
    for p in payments.values():
        if p["payer"] not in first_payment or p["first"] < first_payment[p["payer"]]["first"]:
            first_payment[p["payer"]] = p
    out: dict[tuple[int, date], Counter] = defaultdict(Counter)
    payers: dict[tuple, set] = defaultdict(set)
    accepting: dict[tuple, set] = defaultdict(set)
    for p in payments.values():
        zone, day = traffic.merchant_zone[p["merchant"]], local_day(p["at"])
        if zone is None or not day_from <= day <= day_to:
            continue
        c = out[(zone, day)]
        c["payment_count"] += 1
        c["payment_fen"] += p["fen"]
        if p["subsidy"]:
            c["subsidy_fen"] += p["subsidy"]
            c["subsidised_payment_count"] += 1
            c["subsidy_driven_fen"] += p["fen"]
        payers[(zone, day)].add(p["payer"])
        accepting[(zone, day)].add(p["merchant"])
        if first_payment[p["payer"]] is p:
            c["wallets_opened"] += 1
    for r in refunds.values():
        zone, day = traffic.merchant_zone[r["merchant"]], local_day(r["at"])
        if zone is None or not day_from <= day <= day_to:
            continue
        out[(zone, day)]["refund_count"] += 1
        out[(zone, day)]["refund_fen"] += r["fen"]
    columns = ("payment_count", "payment_fen", "refund_count", "refund_fen", "active_wallets", "wallets_opened",
               "merchants_accepting", "subsidy_fen", "subsidised_payment_count", "subsidy_driven_fen")
    result = {}
    for key, c in out.items():
        c["active_wallets"] = len(payers[key])
        c["merchants_accepting"] = len(accepting[key])
        result[key] = {col: c[col] for col in columns}
    return result, payers, accepting
