"""Identity over HTTP: register, log in, tokens (revocation, expiry), /me, and the log-in lockout."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from werkzeug.security import check_password_hash

from backend.auth.models import AuthToken, Role, User
from backend.clock import utcnow
from backend.extensions import db
from tests.backend.helpers import assert_problem, bearer, url
from tests.factories import PASSWORD, next_phone


def register(client, **overrides):
    body = {"phone": next_phone(), "password": PASSWORD, **overrides}
    return client.post(url("/auth/register"), json=body)


def login(client, phone: str, password: str = PASSWORD):
    return client.post(url("/auth/login"), json={"phone": phone, "password": password})


def user_by_phone(phone: str) -> User | None:
    return db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()


def formatted(phone: str) -> str:
    """The same mobile number as a person might type it: +86 and separators."""
    return f"+86 {phone[:3]}-{phone[3:7]} {phone[7:]}"


# --- registration -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", Role.SELF_SERVICE)
def test_register_returns_a_working_token(client, role):
    phone = next_phone()
    resp = register(client, phone=phone, role=role, display_name="李小明")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["user"]["role"] == role and body["user"]["phone"] == phone
    assert "password" not in body["user"]
    me = client.get(url("/me"), headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.get_json() == {**body["user"], "display_name": "李小明", "bank_id": None}
    assert me.get_json()["login_alerts"]["failed"] == 0


def test_register_defaults_to_consumer_and_normalises_the_phone(client):
    phone = next_phone()
    resp = register(client, phone=formatted(phone))
    assert resp.status_code == 201
    assert resp.get_json()["user"] == {**resp.get_json()["user"], "phone": phone, "role": Role.CONSUMER}


@pytest.mark.parametrize("role", (Role.CASHIER, *Role.STAFF, "root"))
def test_register_refuses_roles_that_are_not_self_service(client, role):
    phone = next_phone()
    assert_problem(register(client, phone=phone, role=role), 422, "validation_failed", field="role")
    assert user_by_phone(phone) is None


@pytest.mark.parametrize(("field", "value"), [
    ("phone", "12345"),
    ("phone", "12800138000"),  # second digit must be 3–9
    ("phone", "1380013800a"),
    ("phone", "138001380001"),
    ("phone", ""),
    ("password", "abc1234"),  # 7 characters
    ("password", "onlyletters"),
    ("password", "1234567890"),
    ("password", "a1" * 65),  # 130 characters
])
def test_register_refuses_bad_phone_or_weak_password(client, field, value):
    assert_problem(register(client, **{field: value}), 422, field=field)
    assert db.session.execute(select(User.id)).first() is None


@pytest.mark.parametrize("retype", [str, formatted], ids=["same", "formatted"])
def test_register_duplicate_phone_is_409_phone_taken(client, factory, retype):
    person = factory.user()
    assert_problem(register(client, phone=retype(person.phone)), 409, "phone_taken", field="phone")


def test_password_is_stored_as_a_scrypt_hash_and_refresh_tokens_as_sha256(client):
    phone = next_phone()
    token = register(client, phone=phone).get_json()["refresh_token"]
    user = user_by_phone(phone)
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    assert check_password_hash(user.password_hash, PASSWORD)
    stored = db.session.execute(select(AuthToken.token_hash).where(AuthToken.user_id == user.id)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]


# --- log-in, log-out, tokens ------------------------------------------------------------------


@pytest.mark.parametrize("typed", [str, formatted], ids=["plain", "formatted"])
def test_login_returns_a_fresh_working_token(client, factory, typed):
    person = factory.user(Role.MERCHANT_OWNER)
    resp = login(client, typed(person.phone))
    assert resp.status_code == 200
    token = resp.get_json()["token"]
    assert token != person.token
    me = client.get(url("/me"), headers=bearer(token)).get_json()
    assert (me["id"], me["role"]) == (person.id, Role.MERCHANT_OWNER)


@pytest.mark.parametrize("case", ["wrong_password", "unknown_phone", "disabled_account"])
def test_login_refusals_all_say_bad_credentials(client, factory, case):
    person = factory.user()
    phone, password = person.phone, PASSWORD
    if case == "wrong_password":
        password = "Wrong-passw0rd"
    elif case == "unknown_phone":
        phone = next_phone()
    else:
        person.user.is_active = False
        db.session.commit()
    body = assert_problem(login(client, phone, password), 401, "bad_credentials")
    assert "token" not in body


def test_logout_revokes_only_that_token(client, factory):
    person = factory.user()
    other_token = login(client, person.phone).get_json()["token"]
    resp = client.post(url("/auth/logout"), headers=person.auth)
    assert resp.status_code == 204
    assert_problem(client.get(url("/me"), headers=person.auth), 401, "token_revoked")
    assert_problem(client.post(url("/auth/logout"), headers=person.auth), 401, "token_revoked")
    assert client.get(url("/me"), headers=bearer(other_token)).status_code == 200


def test_expired_session_buys_no_access_token(client, factory):
    person = factory.user()
    refresh = login(client, person.phone).get_json()["refresh_token"]
    db.session.execute(update(AuthToken).where(AuthToken.user_id == person.id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert_problem(client.post(url("/auth/refresh"), json={"refresh_token": refresh}), 401, "token_expired")


def test_token_of_a_disabled_account_is_refused(client, factory):
    from backend.auth import service

    person = factory.user()
    refresh = login(client, person.phone).get_json()["refresh_token"]
    service.disable_user(person.user)
    assert_problem(client.get(url("/me"), headers=person.auth), 401, "token_revoked")
    assert_problem(client.post(url("/auth/refresh"), json={"refresh_token": refresh}), 401, "token_revoked")
    assert_problem(login(client, person.phone), 401, "bad_credentials")


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_token"),
    ({"Authorization": "Bearer "}, "missing_token"),
    ({"Authorization": "Basic MTM5MDAwMDAwMDE6cHc="}, "missing_token"),
    ({"Authorization": "Bearer sy_not-a-real-token"}, "invalid_token"),
    ({"Authorization": "Bearer \u00e9\u00e9"}, "invalid_token"),
], ids=["none", "empty-bearer", "basic", "garbage", "non-ascii"])
def test_me_without_a_valid_token_is_401(client, factory, headers, code):
    factory.user()
    assert_problem(client.get(url("/me"), headers=headers), 401, code)


def test_401_tells_the_client_how_to_authenticate(client):
    resp = client.get(url("/me"))
    assert resp.status_code == 401
    assert resp.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


def test_me_returns_the_caller(client, factory):
    reviewer = factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    me = client.get(url("/me"), headers=reviewer.auth).get_json()
    assert me == {"id": reviewer.id, "phone": reviewer.phone, "role": Role.BANK_REVIEWER,
                  "display_name": "", "bank_id": factory.bank("BOC").id,
                  "login_alerts": {"failed": 0, "blocked": 0, "first_at": None, "last_at": None, "window_hours": 24}}


# The log-in throttle (growing delays, known devices, alerts) is tested in test_login_throttle.py.
