"""The API client against the real backend over HTTP (every call, error mapping, SSE)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from backend.auth.models import Role
from backend.extensions import db
from payclient import fmt
from payclient.api import ApiClient, watch_order
from payclient.device import DeviceStore
from payclient.errors import (
    ApiError,
    AuthError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    Unprocessable,
    ValidationError,
)
from payclient.models import Order, Payment, Wallet
from payclient.scan import KeyRing
from suiyuan_protocol import codec
from tests.factories import PASSWORD
from tests.payclient.live import settle


@pytest.fixture
def connect(live_url):
    def make(person=None, **kwargs) -> ApiClient:
        kwargs.setdefault("retries", 1)
        kwargs.setdefault("backoff_s", 0.05)
        client = ApiClient(live_url, **kwargs)
        if person is not None:
            client.login(person.phone, PASSWORD)
        return client
    return make


@pytest.fixture
def shop(factory):
    owner = factory.user(Role.MERCHANT_OWNER)
    merchant = factory.merchant(owner=owner, name_zh="永庆坊茶居", name_en="Yongqingfang Tea House")
    mid = merchant.id
    settle()
    return owner, mid


def test_register_login_me_and_logout(connect):
    c = connect()
    result = c.register("13812345678", "Tea2026ok", display_name="李小明")
    assert result.user.role == "consumer" and c.signed_in
    assert c.me().phone == "13812345678"
    c.logout()
    assert not c.signed_in
    again = connect()
    again.login("13812345678", "Tea2026ok")
    token = again.token
    again.logout()
    stale = connect()
    stale.tokens.save(token, {"id": result.user.id})
    with pytest.raises(AuthError) as err:
        stale.me()
    assert err.value.status == 401 and err.value.code == "token_revoked"


def test_refusals_come_in_the_language_on_screen(live_url):
    """The apps tie the client to their catalogue: a zh screen gets the server's words in Chinese."""
    from payclient.i18n import Catalog
    from payclient.services import Services
    from payclient.tasks import SyncRunner

    sv = Services.in_memory(live_url, SyncRunner(), Catalog())
    sv.tr.set_lang("zh")
    with pytest.raises(AuthError) as err:
        sv.api.login("13800009999", "nope12345")
    assert (err.value.code, err.value.detail) == ("bad_credentials", "手机号或密码不正确。")
    sv.tr.set_lang("en")
    with pytest.raises(AuthError) as err:
        sv.api.login("13800009999", "nope12345")
    assert err.value.detail.isascii() and err.value.code == "bad_credentials"


def test_problems_become_typed_exceptions(connect, factory):
    c = connect()
    with pytest.raises(AuthError) as err:
        c.login("13800009999", "nope12345")
    assert (err.value.status, err.value.code) == (401, "bad_credentials")
    with pytest.raises(ValidationError) as err:
        c.register("12345", "Tea2026ok")
    assert err.value.status == 422 and "phone" in err.value.field_errors
    consumer = factory.consumer()
    settle()
    c = connect(consumer)
    with pytest.raises(ConflictError) as err:
        c.open_wallet("ICBC", payment_password="135790")
    assert err.value.code == "wallet_exists"
    with pytest.raises(PermissionDenied) as err:
        c.create_order(1, 100)
    assert err.value.code == "role_forbidden"
    with pytest.raises(NotFoundError) as err:
        c.order(999999)
    assert err.value.code == "order_not_found"
    with pytest.raises(Unprocessable) as err:
        c.topup(20_000_00)  # over a class-4 wallet's ¥10,000 balance, within the ¥50,000 maximum
    assert err.value.code == "payee_limit_exceeded" and err.value.get("limit") == "balance"


def test_wallet_calls(connect, factory):
    c = connect()
    c.register("13812340001", "Tea2026ok")
    with pytest.raises(NotFoundError) as err:
        c.wallet()
    assert err.value.code == "wallet_not_open"
    banks = c.banks()
    assert {"ICBC", "WEBANK"} <= {b.code for b in banks} or len(banks) == 10
    w = c.open_wallet("ICBC", "4111111111111111", payment_password="135790")
    assert isinstance(w, Wallet) and w.wallet_class == 4 and w.balance_fen == 0
    assert w.limits.single_payment_cap_fen == 2_000_00 and w.bank.code == "ICBC"
    assert w.payment_password_set and w.password_free_limit_fen == 100_000
    with pytest.raises(PermissionDenied) as err:
        c.topup(50_000)  # the payment password is asked by the server
    assert err.value.code == "payment_password_required"
    posted = c.topup(50_000, payment_password="135790")
    assert posted.code == "topup" and posted.balance_after_fen == 50_000
    assert c.redeem(1_000, payment_password="135790").balance_after_fen == 49_000
    friend = factory.consumer()
    settle()
    sent = c.transfer(friend.phone, 2_000, memo="茶钱", payment_password="135790")
    assert not any("135790" in str(e.body) for e in c.outbox.all())  # never on disk
    assert sent.direction == "out" and sent.extra["memo"] == "茶钱"
    up = c.upgrade(3, real_name="李小明", id_number="11010519491231002X")
    assert up.wallet_class == 3 and up.limits.single_payment_cap_fen == 5_000_00
    page = c.transactions(limit=2)
    assert [t.code for t in page.items] == ["transfer", "redeem"] and page.next_before
    rest = c.transactions(before=page.next_before)
    assert [t.code for t in rest.items] == ["topup"] and rest.items[0].signed_amount_fen == 50_000
    assert c.wallet().balance_fen == 47_000


def test_merchant_calls(connect, shop):
    owner, mid = shop
    c = connect(owner)
    [m] = c.merchants()
    assert (m.id, m.name_zh, m.verified) == (mid, "永庆坊茶居", True)
    assert c.merchant(mid).merchant_number == f"M{mid:09d}"
    static = c.static_qr(mid)
    assert codec.parse(static.payload).initiation == "11" and static.daily_cap_per_consumer_fen == 500_00
    assert c.static_qr_png(mid)[:8] == b"\x89PNG\r\n\x1a\n"
    cashier = c.add_cashier(mid, "13712340000", "Cash2026ok", display_name="小周", refund_limit_fen=5_000)
    assert [x.phone for x in c.cashiers(mid)] == [cashier.phone]
    today = datetime.now(fmt.LOCAL_ZONE).date().isoformat()  # the server's day, not this machine's
    statement = c.statement(mid, today)
    assert (statement["merchant"]["id"], statement["day"], statement["provisional"]) == (mid, today, True)
    assert c.set_cashier_limit(mid, cashier.user_id, 8_000).refund_limit_fen == 8_000
    assert [x.refund_limit_fen for x in c.cashiers(mid)] == [8_000]
    csv_bytes = c.statement_csv(mid, today)
    assert isinstance(csv_bytes, bytes) and len(csv_bytes.decode("utf-8-sig").splitlines()) >= 1


def test_order_pay_refund_and_events(connect, factory, shop):
    owner, mid = shop
    consumer = factory.consumer(balance_fen=100_000)
    settle()
    merchant, payer = connect(owner), connect(consumer)
    order = merchant.create_order(mid, 3_850, description="凤凰单丛")
    assert isinstance(order, Order) and order.status == "created" and order.expires_at
    preview = payer.preview(order.payload)
    assert preview.genuine and preview.amount_fen == 3_850 and preview.merchant.name_zh == "永庆坊茶居"
    assert preview.order_status == "created"

    seen: list[tuple[float, str]] = []
    stream = merchant.order_events(order.id)
    first = next(iter(stream))
    assert (first.event, first.status) == ("status", "created")

    def follow():
        for ev in stream:
            seen.append((time.monotonic(), ev.status))
    t = threading.Thread(target=follow, daemon=True)
    t.start()
    paid_at = time.monotonic()
    payment = payer.pay(order.payload)
    t.join(10)
    assert isinstance(payment, Payment) and payment.order.status == "paid"
    assert payment.payer_balance_after_fen == 100_000 - 3_850
    assert seen and seen[0][1] == "paid" and seen[0][0] - paid_at < 1.0
    assert stream.closed

    with pytest.raises(ConflictError) as err:
        payer.pay(order.payload)
    assert err.value.code == "order_already_paid"

    page = merchant.orders(mid)
    assert page.totals.paid_fen == 3_850 and page.items[0].id == order.id
    part = merchant.refund(order.id, 850, reason="少一壶")
    assert part.refund.amount_fen == 850 and part.order.status == "partially_refunded"
    rest = merchant.refund(order.id)
    assert rest.refund.amount_fen == 3_000 and rest.order.status == "refunded"
    assert payer.wallet().balance_fen == 100_000

    other = merchant.create_order(mid, 100)
    assert merchant.cancel_order(other.id).status == "cancelled"
    with pytest.raises(ConflictError) as err:
        payer.pay(other.payload)
    assert err.value.code == "order_cancelled"


def test_watch_order_reports_paid(connect, factory, shop):
    owner, mid = shop
    consumer = factory.consumer(balance_fen=10_000)
    settle()
    merchant, payer = connect(owner), connect(consumer)
    order = merchant.create_order(mid, 1_200)
    statuses = []
    stop, listening = threading.Event(), threading.Event()

    def on_status(status, _event):
        statuses.append(status)
        listening.set()  # the first status comes from the open event stream

    t = threading.Thread(target=lambda: statuses.append(watch_order(merchant, order.id, on_status, stop=stop)),
                         daemon=True)
    t.start()
    assert listening.wait(10)
    payer.pay(order.payload)
    t.join(10)
    assert not t.is_alive() and stop.is_set()  # a final status ends the watch
    assert statuses == ["created", "paid", "paid"]


def test_static_code_and_tampered_codes(connect, factory, shop):
    owner, mid = shop
    consumer = factory.consumer(balance_fen=100_000)
    settle()
    merchant, payer = connect(owner), connect(consumer)
    static = merchant.static_qr(mid).payload
    with pytest.raises(ApiError) as err:
        payer.pay(static)
    assert err.value.code == "amount_required"
    assert payer.pay(static, amount_fen=1_500).order.kind == "static"

    order = merchant.create_order(mid, 3_850)
    parsed = codec.parse(order.payload)
    parsed.amount_fen, parsed.raw_amounts = 385, {}
    forged = codec.build(parsed)
    with pytest.raises(Unprocessable) as err:
        payer.preview(forged)
    assert err.value.code == "qr_amount_tampered" and err.value.status == 422
    with pytest.raises(Unprocessable) as err:
        payer.pay(forged)
    assert err.value.code == "qr_amount_tampered"
    assert payer.wallet().balance_fen == 100_000 - 1_500

    ring = KeyRing()
    assert ring.check(order.payload, payer).ok
    assert ring.check(forged).problem == "bad_signature"
    unsigned = codec.build(codec.parse(static).__class__(**{**codec.parse(static).__dict__, "signature": None,
                                                            "order": None}))
    assert ring.check(unsigned).problem == "unsigned"


def test_paycode_devices_and_charges(connect, factory, shop):
    owner, mid = shop
    consumer = factory.consumer(balance_fen=100_000)
    settle()
    merchant, payer = connect(owner), connect(consumer)
    reg = payer.register_device("测试手机")
    assert reg.digits == 18 and reg.prefix == "69" and reg.step_seconds == 15
    device = DeviceStore().save(str(payer.user.id), reg.device.id, reg.secret_b32)
    code = device.code()
    charged = merchant.charge(mid, code, 2_000, description="两杯奶茶")
    assert charged.order.kind == "paycode" and charged.payer_balance_after_fen is None
    with pytest.raises(Unprocessable) as err:
        merchant.charge(mid, code, 2_000)
    assert err.value.code == "paycode_used"
    with pytest.raises(ApiError) as err:
        merchant.charge(mid, "69123", 100)
    assert err.value.code == "paycode_invalid" and "code" in err.value.field_errors
    [d] = payer.devices()
    assert d.offline_payments_since_sync == 1
    assert payer.sync_device(d.id).offline_payments_since_sync == 0
    payer.revoke_device(d.id)
    assert payer.devices()[0].revoked
    merchant.static_qr(mid)  # signing the first code creates the first key
    keys = payer.keys()
    assert keys and keys[0].crv == "Ed25519" and len(keys[0].raw()) == 32


def _clock_ahead(monkeypatch, seconds: float) -> None:
    """Move the server's clock ``seconds`` ahead (the live server runs in this process)."""
    from datetime import timedelta

    from backend.auth import service, tokens
    from backend.clock import utcnow
    from backend.payments import keys

    moved = utcnow() + timedelta(seconds=seconds)
    for module in (tokens, keys, service):
        monkeypatch.setattr(module, "utcnow", lambda: moved)


def test_an_expired_access_token_is_refreshed_transparently(app, connect, factory, monkeypatch):
    """The short-lived access token expires: the client refreshes it with the session's refresh token and
    sends the request again, money-moving ones with their own Idempotency-Key, so each is done once."""
    person = factory.consumer(balance_fen=10_000)
    settle()
    c = connect(person)
    first = c.token
    assert c.tokens.refresh_token and c.wallet().balance_fen == 10_000
    _clock_ahead(monkeypatch, app.config["ACCESS_TOKEN_TTL"].total_seconds() + 1)
    assert c.wallet().balance_fen == 10_000  # refreshed under the hood
    assert c.token != first
    second = c.token
    _clock_ahead(monkeypatch, 2 * app.config["ACCESS_TOKEN_TTL"].total_seconds() + 2)
    assert c.topup(500).balance_after_fen == 10_500  # through the outbox: refused once, refreshed, done once
    assert c.token != second and not c.outbox.pending(str(person.id))
    assert [t.code for t in c.transactions(limit=5).items] == ["topup", "topup"]  # the factory's, and this one once
    assert c.wallet().balance_fen == 10_500
    _clock_ahead(monkeypatch, 3 * app.config["ACCESS_TOKEN_TTL"].total_seconds() + 3)
    refresh = c.tokens.refresh_token
    c.logout()  # with an expired access token: refreshed, then the session really ends
    assert not c.signed_in
    assert ApiClient(c.base_url).session.post(c.base_url + "/auth/refresh", json={"refresh_token": refresh},
                                              timeout=10).json()["code"] == "token_revoked"


def test_a_session_ended_elsewhere_is_not_refreshed(app, connect, factory, monkeypatch):
    """Staff revoked the account (or it logged out on another device): refreshing fails, and the caller sees
    the 401 that sends the app back to its log-in screen."""
    from backend.auth import service

    person = factory.user(Role.ZONE_MANAGER)
    c = connect(person)
    assert c.me().id == person.id
    service.revoke_user(person.user)
    with pytest.raises(AuthError) as err:
        c.me()
    assert err.value.code == "token_revoked"
    _clock_ahead(monkeypatch, app.config["ACCESS_TOKEN_TTL"].total_seconds() + 1)
    with pytest.raises(AuthError) as err:
        c.me()
    assert err.value.code == "token_expired"  # and the refresh token was refused: token_revoked


def test_a_claim_turned_away_as_busy_is_sent_again_with_its_key_and_claims_once(app, connect, factory, monkeypatch):
    """Admission control (#17 item 5) through the client: the worker is busy, the claim gets 429 claim_busy;
    the client waits Retry-After plus jitter (a fake clock: no sleeping) and sends the same request with the
    same Idempotency-Key, which claims exactly one packet."""
    from campaigns.models import Claim
    from tests.campaigns.helpers import live, make_world
    from tests.payments.helpers import Api

    world = make_world(factory)
    campaign = live(Api(app), world, packet_count=2, budget_fen=600, split="fixed")
    consumer = factory.consumer()
    settle()
    admission = app.extensions["claim_admission"]
    monkeypatch.setattr(admission, "limit", 1)
    assert admission.try_enter()  # another claim is in flight in this worker
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            admission.leave()  # the other claim is done

    c = connect(consumer, sleep=fake_sleep, rng=lambda: 0.5)
    result = c.claim(campaign["id"])
    assert result.amount_fen == 300
    assert waits == [1.5, 3.0]  # Retry-After 1 s, doubled, plus half again (the dice said 0.5)
    [entry] = c.outbox.all()
    assert not entry.pending and entry.attempts == 3  # two refusals, then the claim
    assert db.session.query(Claim).filter_by(campaign_id=campaign["id"], user_id=consumer.id).count() == 1
    db.session.rollback()
    assert admission.in_flight == 0
