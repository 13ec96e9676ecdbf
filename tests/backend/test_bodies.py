"""Hostile JSON bodies: nested thousands deep (once a RecursionError, a 500) or huge, refused before parsing."""

from __future__ import annotations

import io
import json
import time

import pytest

from backend.bodies import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, nests_deeper_than
from tests.backend.helpers import assert_problem, count_rows, ledger_unchanged, money_headers, url

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
DEEP_IN_A_FIELD = '{"amount_fen": ' + DEEP_ARRAY + ', "to_phone": "13900000001"}'


@pytest.fixture
def payer(factory):
    return factory.consumer(balance_fen=100_000)


def post_raw(client, path: str, data, headers=None, content_type: str = "application/json"):
    return client.post(url(path), data=data, content_type=content_type, headers=headers or {})


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, DEEP_IN_A_FIELD], ids=["array", "object", "in-a-field"])
@pytest.mark.parametrize("path", ["/transfers", "/wallets/me/topup", "/auth/login", "/campaigns", "/orders"])
def test_a_body_nested_5000_deep_is_a_400_and_moves_nothing(client, payer, path, body):
    with ledger_unchanged():
        problem = assert_problem(post_raw(client, path, body, money_headers(payer)), 400, "json_too_deep",
                                 field="body")
    assert problem["max_depth"] == DEFAULT_MAX_DEPTH
    assert count_rows("idempotency_keys") == 0


def test_the_depth_limit_is_exact_and_counts_no_brackets_inside_strings(client, payer):
    def nested(levels: int) -> str:
        return '{"amount_fen": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    # At the limit the body is parsed, and the schema refuses the field; one level more is refused unread.
    assert_problem(post_raw(client, "/transfers", nested(DEFAULT_MAX_DEPTH), money_headers(payer)), 422,
                   "validation_failed", field="amount_fen")
    assert_problem(post_raw(client, "/transfers", nested(DEFAULT_MAX_DEPTH + 1), money_headers(payer)), 400,
                   "json_too_deep")
    brackets_in_a_string = json.dumps({"phone": "[{" * 5000 + '\\"]', "password": "x"})
    assert_problem(post_raw(client, "/auth/login", brackets_in_a_string), 422, field="phone")


def test_a_body_over_the_size_limit_is_a_413(client, payer):
    big = json.dumps({"amount_fen": 100, "to_phone": "13900000001", "pad": "x" * DEFAULT_MAX_BYTES})
    with ledger_unchanged():
        problem = assert_problem(post_raw(client, "/transfers", big, money_headers(payer)), 413, "json_too_large")
    assert problem["max_bytes"] == DEFAULT_MAX_BYTES


def test_a_chunked_body_is_read_no_further_than_the_limit(client, payer):
    """Without a Content-Length (chunked, the server marks the input terminated) the limit still holds."""
    big = json.dumps({"amount_fen": 100, "pad": "x" * (2 * DEFAULT_MAX_BYTES)}).encode()
    resp = client.post(url("/transfers"), input_stream=io.BytesIO(big), content_type="application/json",
                       headers=money_headers(payer), environ_overrides={"wsgi.input_terminated": True})
    assert_problem(resp, 413, "json_too_large")


def test_limits_are_configurable(app, client, payer, monkeypatch):
    monkeypatch.setitem(app.config, "JSON_MAX_DEPTH", 2)
    monkeypatch.setitem(app.config, "JSON_MAX_BYTES", 200)
    assert_problem(post_raw(client, "/transfers", '{"a": [[1]]}', money_headers(payer)), 400, "json_too_deep")
    assert_problem(post_raw(client, "/transfers", json.dumps({"pad": "x" * 200}), money_headers(payer)), 413,
                   "json_too_large")


@pytest.mark.parametrize(("body", "deeper"), [
    (b"[" + b"[]," * (DEFAULT_MAX_BYTES // 3 - 1) + b"[]]", False),  # flat and wide
    (b'"[' * (DEFAULT_MAX_BYTES // 2), True),  # strings and brackets by turns
    (b'["' + b'\\"[' * (DEFAULT_MAX_BYTES // 3 - 1), False),  # a string that never closes, full of quotes
    (b'"' * DEFAULT_MAX_BYTES, False),
], ids=["flat", "alternating", "unterminated", "quotes"])
def test_the_largest_bodies_are_measured_in_linear_time(body, deeper):
    assert len(body) <= DEFAULT_MAX_BYTES
    start = time.perf_counter()
    assert nests_deeper_than(body, DEFAULT_MAX_DEPTH) is deeper
    assert time.perf_counter() - start < 0.25  # quadratic backtracking took minutes here


@pytest.mark.parametrize(("body", "deeper"), [
    (b'{"a": [1, {"b": [2]}]}', False),  # 4 levels
    (b"[[[[[]]]]]", True),  # 5
    (b'["[[[[[[", "]]]]]]"]', False),  # brackets in strings
    (b'["\\"[[[[[[[", 1]', False),  # an escaped quote does not end the string
    (b'["\\\\", [[[[[]]]]]]', True),  # an escaped backslash does
    (b"[[[[", False),  # not JSON; the decoder refuses it
])
def test_nesting_is_measured_outside_strings(body, deeper):
    assert nests_deeper_than(body, 4) is deeper
