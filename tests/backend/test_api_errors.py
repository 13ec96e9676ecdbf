"""Bad input, idempotency, problem+json and the OpenAPI document, over HTTP."""

from __future__ import annotations

import pytest

from tests.backend.helpers import (
    MONEY_PATHS,
    PROBLEM_KEYS,
    assert_problem,
    count_rows,
    ledger_snapshot,
    ledger_unchanged,
    money_body,
    money_headers,
    new_key,
    post_money,
    url,
)

MISSING = object()
BAD_AMOUNTS = [
    pytest.param(-100, id="negative"),
    pytest.param(0, id="zero"),
    pytest.param(1.5, id="fraction"),
    pytest.param(100.0, id="whole-float"),
    pytest.param("100", id="string"),
    pytest.param(True, id="boolean"),
    pytest.param(10**15, id="huge"),
    pytest.param(None, id="null"),
    pytest.param(MISSING, id="missing"),
]


@pytest.fixture
def people(factory):
    """A funded consumer with a linked card, and a consumer to pay."""
    return factory.consumer(balance_fen=100_000), factory.consumer()


def valid_body(path, people, amount_fen=1_000) -> dict:
    return money_body(path, amount_fen, payee=people[1])


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MONEY_PATHS)
@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_amount_is_refused_and_records_nothing(client, people, path, amount):
    body = valid_body(path, people, amount)
    if amount is MISSING:
        del body["amount_fen"]
    with ledger_unchanged():
        assert_problem(post_money(client, people[0], path, body), 422, "validation_failed", field="amount_fen")
    assert count_rows("idempotency_keys") == 0


@pytest.mark.parametrize("path", MONEY_PATHS)
def test_unknown_fields_are_refused(client, people, path):
    body = {**valid_body(path, people), "currency": "CNY", "payer_wallet": "0021000000000001"}
    with ledger_unchanged():
        problem = assert_problem(post_money(client, people[0], path, body), 422, "validation_failed")
    assert sorted(e["field"] for e in problem["errors"]) == ["currency", "payer_wallet"]


@pytest.mark.parametrize("path", MONEY_PATHS)
@pytest.mark.parametrize(("key", "code"), [
    (None, "idempotency_key_missing"),
    ("   ", "idempotency_key_missing"),
    ("k" * 256, "idempotency_key_invalid"),
], ids=["absent", "blank", "too-long"])
def test_money_moves_need_a_usable_idempotency_key(client, people, path, key, code):
    headers = {**people[0].auth, **({"Idempotency-Key": key} if key is not None else {})}
    with ledger_unchanged():
        resp = client.post(url(path), json=valid_body(path, people), headers=headers)
        assert_problem(resp, 422, code, field="Idempotency-Key")


@pytest.mark.parametrize("path", MONEY_PATHS)
@pytest.mark.parametrize(("data", "status"), [
    ('{"amount_fen": 100', 400),
    ("amount_fen=100", 400),
    ("[100]", 422),
    ('"100"', 422),
], ids=["truncated", "form-encoded", "array", "scalar"])
def test_malformed_json_body_is_refused(client, people, path, data, status):
    with ledger_unchanged():
        resp = client.post(url(path), data=data, content_type="application/json", headers=money_headers(people[0]))
        assert_problem(resp, status, "validation_failed")


@pytest.mark.parametrize(("change", "field"), [
    ({"to_phone": None}, "to_phone"),
    ({"to_phone": 13900000001}, "to_phone"),
    ({"memo": "字" * 141}, "memo"),
    ({"memo": 42}, "memo"),
], ids=["null-phone", "numeric-phone", "long-memo", "numeric-memo"])
def test_bad_transfer_fields_are_refused(client, people, change, field):
    with ledger_unchanged():
        resp = post_money(client, people[0], "/transfers", {**valid_body("/transfers", people), **change})
        assert_problem(resp, 422, "validation_failed", field=field)


def test_missing_payee_is_refused(client, people):
    with ledger_unchanged():
        resp = post_money(client, people[0], "/transfers", {"amount_fen": 100})
        assert_problem(resp, 422, "validation_failed", field="to_phone")


# --- idempotency ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MONEY_PATHS)
def test_same_key_and_body_replays_the_first_response(client, people, path):
    payer, key, body = people[0], new_key(), valid_body(path, people)
    count_before = ledger_snapshot()[0]
    first = post_money(client, payer, path, body, key)
    assert first.status_code == 201
    after_first = ledger_snapshot()
    assert after_first[0] == count_before + 1
    # The key order of the JSON does not matter: the same request is the same request.
    again = post_money(client, payer, path, dict(reversed(list(body.items()))), key)
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert ledger_snapshot() == after_first


@pytest.mark.parametrize("path", MONEY_PATHS)
def test_same_key_with_another_request_is_409(client, people, path):
    payer, key = people[0], new_key()
    assert post_money(client, payer, path, valid_body(path, people, 1_000), key).status_code == 201
    other_path = next(p for p in MONEY_PATHS if p != path)
    with ledger_unchanged():
        for p, amount in [(path, 1_001), (other_path, 1_000)]:
            resp = post_money(client, payer, p, valid_body(p, people, amount), key)
            assert_problem(resp, 409, "idempotency_key_reused", field="Idempotency-Key")


def test_a_refusal_is_replayed_even_after_the_cause_is_gone(client, factory, people):
    payer, payee = people
    key, body = new_key(), valid_body("/transfers", people, 100_001)
    with ledger_unchanged():
        first = assert_problem(post_money(client, payer, "/transfers", body, key), 422, "insufficient_funds")
        assert assert_problem(post_money(client, payer, "/transfers", body, key), 422) == first
    factory.fund(payer, 1)
    with ledger_unchanged():
        assert assert_problem(post_money(client, payer, "/transfers", body, key), 422) == first
    # A new key is a new request, and now it goes through.
    assert post_money(client, payer, "/transfers", body).status_code == 201


# --- problem+json for routing errors, and the API description ---------------------------------


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/wallets/me", {"GET", "POST"}),
    ("PUT", "/wallets/me/topup", {"POST"}),
    ("GET", "/transfers", {"POST"}),
    ("GET", "/auth/login", {"POST"}),
    ("POST", "/me", {"GET"}),
    ("DELETE", "/zones/1", {"GET", "PUT", "PATCH"}),
])
def test_wrong_method_is_405_with_allow(client, people, method, path, allowed):
    with ledger_unchanged():
        resp = client.open(url(path), method=method, json={"amount_fen": 1}, headers=money_headers(people[0]))
        assert_problem(resp, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in resp.headers["Allow"].split(",")}
    assert method not in resp.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/wallets/me", "/api/v1/zones/abc", "/nope"])
def test_unknown_path_is_404_problem_json(client, path):
    assert_problem(client.get(path), 404, "not_found")


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch"}:
                yield path, method, op


def test_openapi_document_declares_roles_and_security_for_every_operation(client):
    resp = client.get(url("/openapi.json"))
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    spec = resp.get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    ops = list(operations(spec))
    assert {("/api/v1" + p, m) for p in MONEY_PATHS for m in ["post"]} <= {(p, m) for p, m, _ in ops}
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("x-roles"), where
        if op["x-roles"] == ["public"]:
            assert op.get("security") == [], where
        else:
            assert op.get("security") == [{"bearerAuth": []}], where
    public = {(p, m) for p, m, op in ops if op["x-roles"] == ["public"]}
    assert {("/api/v1/auth/register", "post"), ("/api/v1/auth/login", "post")} <= public
    assert not any(p.startswith(("/api/v1/wallets", "/api/v1/transfers")) for p, _ in public)


def test_openapi_document_requires_the_idempotency_key_on_money_moves(client):
    spec = client.get(url("/openapi.json")).get_json()
    for path in MONEY_PATHS:
        params = spec["paths"]["/api/v1" + path]["post"].get("parameters", [])
        assert {"in": "header", "name": "Idempotency-Key", "required": True} in [
            {k: p.get(k) for k in ("in", "name", "required")} for p in params
        ], path


def test_every_source_of_refusal_renders_the_same_problem_shape(client, people):
    """Auth, schema validation, routing and recorded business refusals all render RFC 9457 alike."""
    payer = people[0]
    responses = [
        client.get(url("/me")),  # domain error from auth
        post_money(client, payer, "/wallets/me/topup", {"amount_fen": "1"}),  # webargs validation
        client.get(url("/nope")),  # werkzeug routing
        post_money(client, payer, "/wallets/me/redeem", {"amount_fen": 100_001}),  # recorded business refusal
    ]
    for resp in responses:
        body = resp.get_json()
        assert resp.mimetype == "application/problem+json" and PROBLEM_KEYS <= body.keys()
        assert isinstance(body["status"], int) and body["status"] == resp.status_code
        assert all(isinstance(body[k], str) for k in PROBLEM_KEYS - {"status"})
        assert all(set(e) == {"field", "reason"} for e in body.get("errors", []))


def test_a_database_outage_is_a_retryable_503_problem(app, client, factory, monkeypatch):
    """PostgreSQL restarting or a dropped connection: the client is told to retry, not that the server broke."""
    from sqlalchemy.exc import OperationalError

    from backend.auth import service as auth

    consumer = factory.consumer()

    def down():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(auth, "authenticate", down)
    resp = client.get("/api/v1/wallets/me", headers=consumer.auth)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "database_unavailable"


# ---------------------------------------------------------------- the language of problems


def _has_latin_sentence(text: str) -> bool:
    """Whether ``text`` holds a run of two English words (a sentence fragment, not a code or a number)."""
    import re

    return re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", text) is not None


@pytest.mark.parametrize("accept", ["zh-CN", "zh-CN,zh;q=0.9,en;q=0.8", "zh"])
def test_problems_speak_chinese_to_a_client_that_asks(client, factory, accept):
    consumer = factory.consumer()
    wrong = client.post(url("/auth/login"), json={"phone": consumer.phone, "password": "wrong-password-1"},
                        headers={"Accept-Language": accept})
    body = wrong.get_json()
    assert (wrong.status_code, body["code"]) == (401, "bad_credentials")  # codes stay for programs
    assert (body["title"], body["detail"]) == ("需要登录", "手机号或密码不正确。")
    assert wrong.headers["Content-Language"] == "zh-CN" and "Accept-Language" in wrong.headers["Vary"]
    invalid = client.post(url("/auth/login"), json={"phone": 5}, headers={"Accept-Language": accept}).get_json()
    assert invalid["code"] == "validation_failed" and invalid["errors"]
    for text in [invalid["title"], invalid["detail"], *(e["reason"] for e in invalid["errors"])]:
        assert not _has_latin_sentence(text), text
    assert {e["field"]: e["reason"] for e in invalid["errors"]}["password"] == "必填。"
    missing = client.get(url("/no/such/path"), headers={"Accept-Language": accept}).get_json()
    assert missing["status"] == 404 and not _has_latin_sentence(missing["title"] + missing["detail"])


@pytest.mark.parametrize("accept", [None, "en", "en-GB,en;q=0.9", "fr"])
def test_problems_speak_english_otherwise(client, factory, accept):
    consumer = factory.consumer()
    wrong = client.post(url("/auth/login"), json={"phone": consumer.phone, "password": "wrong-password-1"},
                        headers={"Accept-Language": accept} if accept else {})
    body = wrong.get_json()
    assert body["code"] == "bad_credentials" and wrong.headers["Content-Language"] == "en"
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in body["title"] + body["detail"])


def test_every_code_the_api_raises_has_its_chinese_sentence():
    """A new refusal code gets its Chinese sentence with it (else a zh screen shows the status's words)."""
    import re
    from pathlib import Path

    from backend.problem_text import DETAILS_ZH

    root = Path(__file__).resolve().parents[2]
    codes = set()
    # The core and every plug-in (a folder of the server with its own views), so a new plug-in is checked too.
    folders = [root / "backend", *(d for d in root.iterdir() if (d / "views.py").exists())]
    assert {f.name for f in folders} >= {"backend", "zones", "campaigns", "prepaid", "payouts", "transit", "protection"}
    for folder in folders:
        for path in folder.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            codes |= set(re.findall(r"\bcode ?= ?\"([a-z_]+)\"", text))
            codes |= set(re.findall(r"\(\"([a-z_]+_frozen)\", ", text))  # the gate's (code, sentence) pairs
    assert sorted(codes - set(DETAILS_ZH)) == []
