"""Signed access tokens: expiry and refresh, key rotation, forgeries and replays, revocation seen by another
worker through Redis, the deny-list rebuilt after Redis loses its data, and refusal (503) when Redis is down."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
import redis
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from backend.auth import service, tokens
from backend.auth.models import AuthToken, Role
from backend.clock import utcnow
from backend.extensions import db
from backend.payments import keys
from tests.backend.helpers import assert_problem, bearer, url
from tests.factories import PASSWORD


def login(client, phone: str) -> dict:
    resp = client.post(url("/auth/login"), json={"phone": phone, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def me(client, token: str):
    return client.get(url("/me"), headers=bearer(token))


def later(monkeypatch, seconds: float) -> None:
    """Move the server's clock (tokens, keys) ``seconds`` ahead."""
    moved = utcnow() + timedelta(seconds=seconds)
    for module in (tokens, keys, service):
        monkeypatch.setattr(module, "utcnow", lambda: moved)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# --- what a log-in hands out ---------------------------------------------------------------------------


def test_login_hands_out_a_signed_access_token_and_a_refresh_token(app, client, factory):
    person = factory.user(Role.BANK_REVIEWER, bank_code="BOC")
    body = login(client, person.phone)
    assert body["expires_in"] == int(app.config["ACCESS_TOKEN_TTL"].total_seconds())
    assert body["refresh_token"].startswith("sy_") and body["refresh_token"] != body["token"]
    header = jwt.get_unverified_header(body["token"])
    published = client.get(url("/auth/keys")).get_json()["keys"]
    assert header["alg"] == "EdDSA" and header["kid"] in [k["kid"] for k in published]
    claims = claims_of(body["token"])
    assert (claims["sub"], claims["role"]) == (str(person.id), Role.BANK_REVIEWER)
    assert claims["scope"] == f"api bank:{person.user.bank_id}"
    sid = db.session.execute(select(AuthToken.id).where(AuthToken.user_id == person.id)
                             .order_by(AuthToken.id.desc()).limit(1)).scalar_one()
    assert claims["sid"] == sid
    # The access keys are not the QR keys: neither list names the other's.
    assert not {k["kid"] for k in published} & {k["kid"] for k in client.get(url("/keys")).get_json()["keys"]}


def test_a_request_is_authenticated_without_the_database(app, factory):
    person = factory.consumer()
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - before_cursor_execute's statement
    with app.test_request_context(headers=person.auth):
        service.authenticate()  # the deny-list is complete after this (a fresh Redis is rebuilt once)
        sa.event.listen(db.engine, "before_cursor_execute", listen)
        try:
            principal = service.authenticate()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listen)
    assert statements == []
    assert (principal.id, principal.role, principal.bank_id) == (person.id, Role.CONSUMER, None)
    assert principal.phone == person.phone  # anything else loads the row on first use


# --- expiry and refresh ---------------------------------------------------------------------------------


def test_an_expired_access_token_is_refused_and_the_refresh_token_buys_a_new_one(app, client, factory,
                                                                                  monkeypatch):
    person = factory.user()
    body = login(client, person.phone)
    ttl = app.config["ACCESS_TOKEN_TTL"].total_seconds()
    later(monkeypatch, ttl - 5)
    assert me(client, body["token"]).status_code == 200
    later(monkeypatch, ttl + 1)
    assert_problem(me(client, body["token"]), 401, "token_expired")
    resp = client.post(url("/auth/refresh"), json={"refresh_token": body["refresh_token"]})
    assert resp.status_code == 200
    fresh = resp.get_json()
    assert set(fresh) == {"token", "expires_in"}
    assert me(client, fresh["token"]).get_json()["id"] == person.id
    assert claims_of(fresh["token"])["sid"] == claims_of(body["token"])["sid"]  # the same session


@pytest.mark.parametrize("token", ["", "sy_not-a-refresh-token", "x" * 2000])
def test_refresh_with_an_unknown_token_is_401(client, factory, token):
    factory.user()
    resp = client.post(url("/auth/refresh"), json={"refresh_token": token})
    assert resp.status_code in (401, 422)
    assert resp.get_json()["code"] in ("invalid_token", "validation_failed")


def test_an_access_token_is_not_a_refresh_token_nor_the_other_way_round(client, factory):
    person = factory.user()
    body = login(client, person.phone)
    assert_problem(client.post(url("/auth/refresh"), json={"refresh_token": body["token"]}), 401, "invalid_token")
    assert_problem(me(client, body["refresh_token"]), 401, "invalid_token")


# --- rotation ---------------------------------------------------------------------------------------------


def test_after_rotation_the_old_key_verifies_until_it_is_retired_for_a_token_lifetime(app, client, factory,
                                                                                       monkeypatch):
    person = factory.user()
    old = login(client, person.phone)
    old_kid = jwt.get_unverified_header(old["token"])["kid"]
    new_kid = keys.rotate(keys.ACCESS).kid
    assert new_kid != old_kid
    new = login(client, person.phone)
    assert jwt.get_unverified_header(new["token"])["kid"] == new_kid
    listed = {k["kid"]: k["status"] for k in client.get(url("/auth/keys")).get_json()["keys"]}
    assert listed == {old_kid: "retired", new_kid: "active"}
    assert me(client, old["token"]).status_code == 200  # signed by the retired key: still good
    # Once a retired key has outlived every token it could have signed, it is no longer published or accepted.
    later(monkeypatch, app.config["ACCESS_TOKEN_TTL"].total_seconds() + keys.LEEWAY_S + 1)
    keys.forget_cached(keys.ACCESS)
    assert [k["kid"] for k in client.get(url("/auth/keys")).get_json()["keys"]] == [new_kid]
    assert_problem(me(client, old["token"]), 401, "invalid_token")


def test_the_periodic_job_rotates_only_when_the_key_is_due(app, factory, monkeypatch):
    factory.user()
    kid, _ = keys.signing_key(keys.ACCESS)
    assert keys.rotate_access_key_when_due() is None
    later(monkeypatch, app.config["ACCESS_KEY_ROTATION"].total_seconds() + 1)
    new = keys.rotate_access_key_when_due()
    assert new is not None and new != kid
    assert keys.signing_key(keys.ACCESS)[0] == new


# --- forgeries and replays ------------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_and_tampered_tokens_are_refused(client, factory):
    person = factory.user()
    good = login(client, person.phone)["token"]
    header = jwt.get_unverified_header(good)
    claims = claims_of(good)
    pilot = {**claims, "role": Role.PILOT_ADMIN}
    head, _, sig = good.split(".")
    forgeries = {
        # another key, naming our key id
        "wrong key": jwt.encode(pilot, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=header),
        # a claim changed under the genuine signature
        "tampered": f"{head}.{_b64(pilot)}.{sig}",
        # no signature at all
        "alg none": f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': header['kid']})}.{_b64(pilot)}.",
        # a key id nobody published
        "unknown kid": jwt.encode(pilot, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                                  headers={**header, "kid": "k20991231-abcdef"}),
        # signed by a genuine QR key: right signature, wrong use
        "qr key": jwt.encode(pilot, keys.signing_key(keys.QR)[1], algorithm="EdDSA",
                             headers={**header, "kid": keys.signing_key(keys.QR)[0]}),
    }
    refused = {name: me(client, token).get_json()["code"] for name, token in forgeries.items()}
    assert refused == dict.fromkeys(forgeries, "invalid_token")
    assert me(client, good).status_code == 200


def test_a_token_replayed_after_logout_is_refused(client, factory):
    person = factory.user()
    body = login(client, person.phone)
    other = login(client, person.phone)
    assert client.post(url("/auth/logout"), headers=bearer(body["token"])).status_code == 204
    assert_problem(me(client, body["token"]), 401, "token_revoked")
    assert_problem(client.post(url("/auth/refresh"), json={"refresh_token": body["refresh_token"]}), 401,
                   "token_revoked")
    assert me(client, other["token"]).status_code == 200  # another session of the same user goes on


def test_a_role_change_refuses_tokens_carrying_the_old_role(client, factory):
    person = factory.user(Role.ZONE_MANAGER)
    body = login(client, person.phone)
    service.change_role(person.user, Role.PILOT_ADMIN)
    assert_problem(me(client, body["token"]), 401, "token_revoked")
    assert claims_of(login(client, person.phone)["token"])["role"] == Role.PILOT_ADMIN


def test_a_password_change_ends_every_session(client, factory):
    person = factory.user()
    body = login(client, person.phone)
    service.set_password(person.user, "N3w-password")
    assert_problem(me(client, body["token"]), 401, "token_revoked")
    assert_problem(client.post(url("/auth/refresh"), json={"refresh_token": body["refresh_token"]}), 401,
                   "token_revoked")


# --- Redis: two workers, data loss, outage ----------------------------------------------------------------


@pytest.fixture
def second_worker(pg_app, real_redis):
    """Another app instance (another worker) on the same database and the same real Redis as ``pg_app``."""
    from tests.conftest import _make_app

    kw = real_redis.connection_pool.connection_kwargs
    other = _make_app(pg_app.config["SQLALCHEMY_DATABASE_URI"],
                      REDIS_URL=f"redis://{kw['host']}:{kw['port']}/{kw['db']}")
    yield other
    with other.app_context():
        db.engine.dispose()


def test_logout_and_staff_revocation_are_seen_by_another_worker_on_its_next_request(pg_app, client, factory,
                                                                                    second_worker):
    other = second_worker.test_client()
    person, staff = factory.user(), factory.user(Role.ZONE_MANAGER)
    body, staff_body = login(client, person.phone), login(client, staff.phone)
    assert other.get(url("/me"), headers=bearer(body["token"])).status_code == 200
    assert other.get(url("/me"), headers=bearer(staff_body["token"])).status_code == 200

    assert client.post(url("/auth/logout"), headers=bearer(body["token"])).status_code == 204
    assert_problem(other.get(url("/me"), headers=bearer(body["token"])), 401, "token_revoked")

    service.disable_user(staff.user)
    assert_problem(other.get(url("/me"), headers=bearer(staff_body["token"])), 401, "token_revoked")


def test_revocations_survive_redis_losing_its_data(pg_app, client, factory, real_redis):
    logged_out, disabled, fine = factory.user(), factory.user(Role.BANK_REVIEWER), factory.user()
    a, b, c = (login(client, p.phone)["token"] for p in (logged_out, disabled, fine))
    assert client.post(url("/auth/logout"), headers=bearer(a)).status_code == 204
    service.disable_user(disabled.user)
    real_redis.flushall()  # a restart without persistence
    assert_problem(me(client, a), 401, "token_revoked")  # the first request rebuilt the list from the database
    assert_problem(me(client, b), 401, "token_revoked")
    assert me(client, c).status_code == 200
    assert real_redis.get(tokens.READY) == b"1"


def test_with_redis_down_tokens_are_refused_with_503_and_logout_changes_nothing(app, client, factory):
    person = factory.user()
    body = login(client, person.phone)
    assert me(client, body["token"]).status_code == 200
    saved = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens there
    try:
        resp = me(client, body["token"])
        assert_problem(resp, 503, "auth_unavailable")
        assert resp.headers["Retry-After"] == "1"
        with app.test_request_context(headers=bearer(body["token"])):
            principal = service.Principal(tokens.verify(body["token"]))
            with pytest.raises(tokens.AuthUnavailable):
                service.end_session(principal.sid)
    finally:
        app.extensions["redis"] = saved
    assert db.session.execute(select(AuthToken.revoked_at).where(AuthToken.id == principal.sid)).scalar_one() is None
    assert me(client, body["token"]).status_code == 200


def test_staff_revocation_with_redis_down_changes_nothing(app, client, factory):
    person = factory.user(Role.ZONE_MANAGER)
    body = login(client, person.phone)
    saved = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(port=1, socket_connect_timeout=0.2)
    try:
        with pytest.raises(tokens.AuthUnavailable):
            service.disable_user(person.user)
    finally:
        app.extensions["redis"] = saved
    db.session.expire_all()
    assert person.user.is_active and person.user.tokens_revoked_at is None
    assert me(client, body["token"]).status_code == 200


def test_flask_users_disable_refuses_the_accounts_tokens_at_once(app, client, factory):
    person = factory.user(Role.BANK_REVIEWER)
    body = login(client, person.phone)
    result = app.test_cli_runner().invoke(args=["users", "disable", person.phone])
    assert result.exit_code == 0, result.output
    assert_problem(me(client, body["token"]), 401, "token_revoked")
    assert_problem(client.post(url("/auth/login"), json={"phone": person.phone, "password": PASSWORD}), 401,
                   "bad_credentials")
    assert app.test_cli_runner().invoke(args=["users", "disable", "13900009999"]).exit_code != 0
