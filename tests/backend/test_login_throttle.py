"""Log-in throttling a stranger cannot turn against the owner (real Redis, both engines).

Failures are counted per phone and client (address and device id); an unknown client is slowed with
growing delays, then refused; a device that logged in before is limited by its own failures only; the
owner is told about attempts from unknown clients; registration is limited per address.
"""

from __future__ import annotations

import uuid

import pytest

from backend.auth import service as auth_service
from backend.auth import throttle
from tests.backend.helpers import assert_problem, bearer, url
from tests.factories import PASSWORD, next_phone

pytestmark = pytest.mark.redis

OWNER_ADDR, STRANGER_ADDR = "198.51.100.20", "203.0.113.66"


class Clock:
    """The throttle's clock, moved by hand (Redis TTLs, the windows, keep real time)."""

    def __init__(self, monkeypatch):
        self.now = 1_800_000_000.0
        monkeypatch.setattr(throttle, "now_s", lambda: self.now)

    def wait(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def attempt(client, phone: str, password: str = PASSWORD, *, addr: str = STRANGER_ADDR, device: str | None = None,
            device_token: str | None = None):
    headers = {}
    if device:
        headers[throttle.DEVICE_ID_HEADER] = device
    if device_token:
        headers[throttle.DEVICE_TOKEN_HEADER] = device_token
    return client.post(url("/auth/login"), json={"phone": phone, "password": password}, headers=headers,
                       environ_base={"REMOTE_ADDR": addr})


def owner_signs_in_on_their_phone(client, person) -> str:
    """The owner logs in once on their own phone; return the device token it keeps."""
    resp = attempt(client, person.phone, addr=OWNER_ADDR, device="owner-phone")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["device_token"]


def guess_patiently(client, clock, phone: str, tries: int, **kw) -> dict:
    """Send ``tries`` wrong passwords, waiting out every delay the server asks for; return what happened."""
    seen = {"checked": 0, "slowed": [], "refused": 0}
    for i in range(tries):
        resp = attempt(client, phone, f"Wrong-{i}-passw0rd", **kw)
        code = resp.get_json()["code"]
        if resp.status_code == 401:
            assert code == "bad_credentials"
            seen["checked"] += 1
            continue
        body = assert_problem(resp, 429)
        assert int(resp.headers["Retry-After"]) == body["retry_after_seconds"] >= 1
        if code == "login_slowed":
            seen["slowed"].append(body["retry_after_seconds"])
            clock.wait(body["retry_after_seconds"])
        else:
            assert code == "login_refused", body
            seen["refused"] += 1
            clock.wait(body["retry_after_seconds"] // 10)  # waiting a while does not help within the window
    return seen


def test_a_strangers_100_wrong_passwords_do_not_keep_the_owner_out(app, client, factory, real_redis, clock):
    person = factory.user()
    device_token = owner_signs_in_on_their_phone(client, person)
    limit = app.config["LOGIN_MAX_FAILURES"]

    seen = guess_patiently(client, clock, person.phone, 100, device="stranger-laptop")

    # Slowed: after 3 free failures each one doubles the wait; then refused for the rest of the window.
    assert seen["checked"] == limit
    assert seen["slowed"] == [2 ** k for k in range(1, limit - 3)]
    assert seen["refused"] == 100 - limit - len(seen["slowed"])
    refused = assert_problem(attempt(client, person.phone, device="stranger-laptop"), 429, "login_refused")
    assert refused["retry_after_seconds"] <= app.config["LOGIN_LOCKOUT_SECONDS"]
    # Even the right password is refused to the stranger's client now.
    assert_problem(attempt(client, person.phone, PASSWORD, device="stranger-laptop"), 429, "login_refused")

    # The owner's known device logs in at once: from home, and even from the stranger's own network.
    for addr in (OWNER_ADDR, STRANGER_ADDR):
        ok = attempt(client, person.phone, addr=addr, device="owner-phone", device_token=device_token)
        assert ok.status_code == 200, ok.get_json()

    # And the app can tell the owner someone tried.
    alerts = ok.get_json()["user"]["login_alerts"]
    assert alerts["failed"] == limit and alerts["blocked"] == 100 - limit + 2  # and the two refusals above
    assert alerts["last_at"] and alerts["window_hours"] == 24
    me = client.get(url("/me"), headers=bearer(ok.get_json()["token"])).get_json()
    assert me["login_alerts"]["failed"] == limit


def test_a_device_token_counts_only_for_its_own_account_and_device(client, factory, real_redis, clock):
    owner, other = factory.user(), factory.user()
    token = owner_signs_in_on_their_phone(client, owner)
    guess_patiently(client, clock, owner.phone, 30, device="stranger-laptop")
    refused = {"device": "stranger-laptop"}
    # Replaying the owner's token from another device id, or forging one, makes no known device.
    assert_problem(attempt(client, owner.phone, device_token=token, **refused), 429, "login_refused")
    forged = throttle.URLSafeTimedSerializer("not-the-key", salt="suiyuan-known-device").dumps(
        {"u": owner.id, "d": "stranger-laptop"})
    assert_problem(attempt(client, owner.phone, device_token=forged, **refused), 429, "login_refused")
    # The owner's token proves nothing about another account.
    with client.application.test_request_context(headers={throttle.DEVICE_TOKEN_HEADER: token,
                                                          throttle.DEVICE_ID_HEADER: "owner-phone"}):
        assert throttle.known_device(None) is None
        assert throttle.known_device(owner.id) == "owner-phone"
        assert throttle.known_device(other.id) is None


def test_a_known_device_is_slowed_by_its_own_failures_only(app, client, factory, real_redis, clock):
    person = factory.user()
    token = owner_signs_in_on_their_phone(client, person)
    known = {"addr": OWNER_ADDR, "device": "owner-phone", "device_token": token}
    seen = guess_patiently(client, clock, person.phone, 20, **known)
    assert seen["checked"] == app.config["LOGIN_MAX_FAILURES"] and seen["slowed"][:2] == [2, 4]
    assert_problem(attempt(client, person.phone, **known), 429, "login_refused")
    # The owner's own typos are not an attack: nothing to warn about.
    assert auth_service.throttle.alerts(person.id)["failed"] == 0


def test_rotating_device_ids_still_meets_the_address_gate(app, client, factory, real_redis, clock):
    person = factory.user()
    token = owner_signs_in_on_their_phone(client, person)
    checked = 0
    for i in range(120):
        resp = attempt(client, person.phone, f"Wrong-{i}-x1", device=uuid.uuid4().hex)
        if resp.status_code == 401:
            checked += 1
        elif resp.get_json()["code"] == "login_slowed":
            clock.wait(resp.get_json()["retry_after_seconds"])
    assert checked == 3 * app.config["LOGIN_MAX_FAILURES"]
    assert_problem(attempt(client, person.phone, device=uuid.uuid4().hex), 429, "login_refused")
    assert attempt(client, person.phone, addr=OWNER_ADDR, device="owner-phone", device_token=token).status_code == 200


def test_guessing_across_phones_from_one_address_is_refused(app, client, factory, real_redis, clock):
    """One password sprayed over many numbers: each phone sees one failure, the address sees them all."""
    limit = app.config.get("LOGIN_ADDRESS_MAX_FAILURES", 100)
    bystander = factory.user()
    checked = refused = 0
    for i in range(1000):
        resp = attempt(client, next_phone(), "Spring2026", device=f"bot-{i}")
        if resp.status_code == 401:
            checked += 1
        elif resp.get_json()["code"] == "login_slowed":
            clock.wait(resp.get_json()["retry_after_seconds"])
        else:
            refused += 1
            break
    assert checked == limit and refused == 1
    assert_problem(attempt(client, bystander.phone, device="bot-x"), 429, "login_refused")
    # Nobody else is affected.
    assert attempt(client, bystander.phone, addr=OWNER_ADDR).status_code == 200


def test_many_addresses_against_one_phone_slow_unknown_clients_but_never_the_known_device(
        client, factory, real_redis, clock):
    person = factory.user()
    token = owner_signs_in_on_their_phone(client, person)
    delays = []
    for i in range(30):
        resp = attempt(client, person.phone, "Wrong-1-x1", addr=f"192.0.2.{i + 1}")
        if resp.status_code == 429:  # every unknown client of this phone waits once the phone is under attack
            delays.append(assert_problem(resp, 429, "login_slowed")["retry_after_seconds"])
            clock.wait(delays[-1])
            resp = attempt(client, person.phone, "Wrong-1-x1", addr=f"192.0.2.{i + 1}")
        assert resp.status_code == 401
    assert delays == [min(60, 2 ** k) for k in range(1, 10)]  # 20 free, then doubling up to the phone's cap
    # A new phone of the owner's, from yet another address, has to wait a little (never refused) …
    slowed = assert_problem(attempt(client, person.phone, addr="192.0.2.200", device="owner-new-phone"), 429,
                            "login_slowed")
    assert slowed["retry_after_seconds"] <= 60
    clock.wait(slowed["retry_after_seconds"])
    assert attempt(client, person.phone, addr="192.0.2.200", device="owner-new-phone").status_code == 200
    # … while the known device never waits.
    assert attempt(client, person.phone, addr=OWNER_ADDR, device="owner-phone", device_token=token).status_code == 200


def test_a_success_forgets_the_clients_failures(client, factory, real_redis, clock):
    person = factory.user()
    for _ in range(3):
        assert guess_patiently(client, clock, person.phone, 2, device="d1")["checked"] == 2
        assert attempt(client, person.phone, device="d1").status_code == 200


def test_concurrent_wrong_guesses_cannot_exceed_the_limit(app, client, factory, real_redis, monkeypatch):
    """Other workers' guesses arriving while one guess is being checked still count against the gates.

    The interleaving is made deterministic by issuing the next guess from
    inside the password check of the previous one.
    """
    person = factory.user()
    real_check = auth_service.check_password_hash
    checked: list[str] = []

    def check_while_another_guess_arrives(pwhash, password):
        checked.append(password)
        if len(checked) < 50:
            attempt(client, person.phone, f"Guess-{len(checked)}-x9", device="d1")
        return real_check(pwhash, password)

    monkeypatch.setattr(auth_service, "check_password_hash", check_while_another_guess_arrives)
    attempt(client, person.phone, "Guess-0-x9", device="d1")
    # Three free failures, then the fourth sets a delay every later guess must wait out.
    assert len(checked) == 4


def test_the_window_starts_at_the_first_failure_and_is_never_extended(app, client, factory, real_redis, clock):
    person = factory.user()
    guess_patiently(client, clock, person.phone, 5, device="d1")
    keys = real_redis.keys("login:pc:*")
    assert len(keys) == 1
    real_redis.expire(keys[0], 100)  # pretend most of the window has passed
    guess_patiently(client, clock, person.phone, 3, device="d1")
    assert 0 < real_redis.ttl(keys[0]) <= 100


def test_the_console_keeps_its_proof_in_a_cookie(app, factory, real_redis, clock):
    person = factory.user()
    browser = app.test_client()  # keeps cookies, as a browser does
    first = browser.post(url("/auth/login"), json={"phone": person.phone, "password": PASSWORD})
    assert first.status_code == 200
    cookie = browser.get_cookie(throttle.DEVICE_COOKIE, path="/api/v1/auth")
    assert cookie is not None and cookie.http_only and cookie.value == first.get_json()["device_token"]
    stranger = app.test_client(use_cookies=False)
    for i in range(15):
        stranger.post(url("/auth/login"), json={"phone": person.phone, "password": f"Wrong-{i}-x"})
        clock.wait(300)
    assert stranger.post(url("/auth/login"), json={"phone": person.phone, "password": PASSWORD}).status_code == 429
    assert browser.post(url("/auth/login"), json={"phone": person.phone, "password": PASSWORD}).status_code == 200


def test_registration_is_limited_per_address(app, client, real_redis):
    limit = app.config.get("REGISTER_MAX_PER_ADDRESS", 20)

    def register(addr: str):
        return client.post(url("/auth/register"), json={"phone": next_phone(), "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": addr})

    for _ in range(limit):
        assert register(STRANGER_ADDR).status_code == 201
    body = assert_problem(register(STRANGER_ADDR), 429, "registration_limited")
    assert 1 <= body["retry_after_seconds"] <= 3600
    assert register(OWNER_ADDR).status_code == 201
