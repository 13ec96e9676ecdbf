"""Client pieces that need no server: SSE parsing, stores, Code 128, keypad, classification, i18n."""

from __future__ import annotations

import os
import stat
import time

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from payclient.api import _sse
from payclient.barcode import code128c_modules, code128c_symbols
from payclient.errors import ConflictError, NetworkError, ServerError, ValidationError, from_problem
from payclient.i18n import Catalog
from payclient.keypad import AmountEntry
from payclient.outbox import Outbox
from payclient.scan import classify, inspect_merchant_code
from payclient.storage import FileTokenStore, JsonFile
from suiyuan_protocol import codec
from suiyuan_protocol.money import MAX_AMOUNT_FEN


def test_sse_parser_skips_comments_and_joins_split_chunks():
    chunks = [b'event: status\ndata: {"status": "cre', b'ated"}\n\n: keep-alive\n\n',
              b'event: status\r\ndata: {"status": "paid"}\r\n\r\nevent: end\ndata: {"status": "paid"}\n\n']
    assert list(_sse(chunks)) == [("status", {"status": "created"}), ("status", {"status": "paid"}),
                                  ("end", {"status": "paid"})]


def test_problem_mapping_by_status_and_code():
    assert isinstance(from_problem(409, {"code": "order_already_paid"}), ConflictError)
    v = from_problem(422, {"code": "validation_failed", "errors": [{"field": "phone", "reason": "bad"}]})
    assert isinstance(v, ValidationError) and v.field_errors == {"phone": "bad"}
    s = from_problem(502, None, "Bad Gateway")
    assert isinstance(s, ServerError) and s.code == "http_502" and s.detail == "Bad Gateway"


def test_file_stores_are_private_and_atomic(tmp_path):
    tokens = FileTokenStore(tmp_path / "app" / "session.json")
    assert tokens.token is None
    tokens.save("tok", {"id": 7, "phone": "13800000001"})
    assert stat.S_IMODE(os.stat(tokens.path).st_mode) == 0o600
    assert FileTokenStore(tokens.path).user["id"] == 7
    tokens.clear()
    assert not tokens.path.exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert JsonFile(bad).load() == {}


def test_outbox_persists_before_sending(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    e = box.add("post", "/payments", {"payload": "x"}, owner="7")
    box.attempt_failed(e.key, "ConnectionError")
    box.close()
    [again] = Outbox(tmp_path / "o.sqlite3").pending("7")
    assert (again.key, again.method, again.body, again.attempts) == (e.key, "POST", {"payload": "x"}, 1)
    assert Outbox(tmp_path / "o.sqlite3").pending("8") == []


@pytest.mark.parametrize("code", ["690000000112345678", "691234567800000000", "00"])
def test_code128c_decodes_with_zxing(code):
    modules = code128c_modules(code)
    img = Image.new("L", (len(modules) * 2, 60), 255)
    for i, m in enumerate(modules):
        if m == "1":
            img.paste(0, (i * 2, 0, i * 2 + 2, 60))
    [found] = zxingcpp.read_barcodes(img)
    assert found.text == code and found.format == zxingcpp.BarcodeFormat.Code128


def test_code128c_refuses_odd_or_non_digits():
    assert code128c_symbols("1234")[0] == 105 and code128c_symbols("1234")[-1] == 106
    for bad in ("123", "12a4", "", "１２"):
        with pytest.raises(ValueError):
            code128c_symbols(bad)


def test_keypad_keeps_a_valid_amount():
    e = AmountEntry()
    for k in "0038.567":
        e.press(k)
    assert (e.text, e.fen, e.formatted) == ("38.56", 3856, "¥38.56")
    e.press(".")
    e.press("del")
    assert e.text == "38.5" and e.display == "¥38.5"
    e.press("clear")
    assert (e.text, e.fen, e.display) == ("", 0, "¥0")
    e.press(".")
    e.press("5")
    assert e.fen == 50
    big = AmountEntry("123456789")
    assert big.text == "12345" and big.fen <= MAX_AMOUNT_FEN


def test_keypad_stops_at_the_one_maximum_amount():
    top = AmountEntry("50000")
    assert top.fen == MAX_AMOUNT_FEN
    for key in ("0", "00", ".", "1", "5"):
        top.press(key)
    # "." is harmless ("50000."), but no digit may take the amount past ¥50,000.00.
    assert (top.text, top.fen) == ("50000.", MAX_AMOUNT_FEN)
    near = AmountEntry("49999.9")
    assert near.press("9") == "49999.99"
    assert AmountEntry("12", max_fen=1_000).text == "1"


def test_classify():
    assert classify("00020101021226…") == "merchant_qr"
    assert classify("6900 0000 1234 5678 90") == "paycode"
    assert classify("690000000112345678") == "paycode"
    assert classify("hello") == classify("12345678901234567") == "unknown"


def test_local_inspection_of_merchant_codes():
    key = Ed25519PrivateKey.generate()
    keys = {"k1": key.public_key()}
    base = codec.MerchantPayload(
        initiation="12", merchant_accounts={"26": {"00": "cn.suiyuan.pay", "01": "M000000001"}}, mcc="5814",
        amount_fen=3850, name="Tea", city="Guangzhou", additional={"05": "SY1"},
        unreserved={"80": {"00": "cn.suiyuan.order", "01": str(int(time.time()) + 300)}})
    good = codec.sign(base, "k1", key)
    assert inspect_merchant_code(good, keys).ok
    assert inspect_merchant_code(good, {}).problem == "unknown_key"
    assert inspect_merchant_code(codec.build(base), keys).problem == "unsigned"
    p = codec.parse(good)
    p.amount_fen, p.raw_amounts = 385, {}
    assert inspect_merchant_code(codec.build(p), keys).problem == "bad_signature"
    assert inspect_merchant_code(good[:-4] + "0000", keys).problem == "crc_mismatch"
    assert inspect_merchant_code("hello", keys).problem == "malformed"
    assert inspect_merchant_code(good, keys, now=time.time() + 301).problem == "expired"


def test_catalog_errors_in_both_languages():
    c = Catalog()
    assert c.error(from_problem(422, {"code": "insufficient_funds"})) == "余额不足"
    assert "500" in c.error(from_problem(422, {"code": "limit_exceeded", "limit": "single", "limit_fen": 50000}))
    assert "不会重复扣款" in c.error(NetworkError("x", pending_key="k"))
    c.set_lang("en")
    assert c.error(from_problem(422, {"code": "insufficient_funds"})) == "Not enough balance"
    assert c.error(from_problem(400, {"code": "something_new", "detail": "Odd."})) == "That did not work: Odd."
    assert c.pick("茶", "Tea") == "Tea" and c.toggle() == "zh" and c.pick("茶", "Tea") == "茶"


def test_an_amount_over_the_maximum_is_explained_with_the_maximum():
    from payclient.i18n import Catalog
    from suiyuan_protocol.money import MoneyError, parse_yuan

    tr = Catalog()
    with pytest.raises(MoneyError) as err:
        parse_yuan("60000")
    assert tr.error(err.value) == "金额不能超过 ¥50,000.00"
    tr.set_lang("en")
    assert tr.error(err.value) == "The amount may be at most ¥50,000.00"


# ---------------------------------------------------------------- busy (429 claim_busy): back off, same key


class _Busy:
    """A session that answers 429 claim_busy ``refusals`` times (with ``retry_after``), then 201."""

    def __init__(self, refusals: int, retry_after: str | None = "2", code: str = "claim_busy"):
        self.refusals, self.retry_after, self.code = refusals, retry_after, code
        self.keys: list[str] = []

    def request(self, method, url, **kwargs):
        import json

        import requests

        self.keys.append(kwargs["headers"]["Idempotency-Key"])
        resp = requests.Response()
        resp.url = url
        if len(self.keys) <= self.refusals:
            resp.status_code = 429
            resp.headers["Content-Type"] = "application/problem+json"
            if self.retry_after is not None:
                resp.headers["Retry-After"] = self.retry_after
            resp._content = json.dumps({"status": 429, "code": self.code, "title": "busy"}).encode()
        else:
            resp.status_code = 201
            resp.headers["Content-Type"] = "application/json"
            resp._content = b'{"claim_id": 1}'
        return resp


def _client(session, dice=0.0, **kwargs):
    from payclient.api import ApiClient

    waits: list[float] = []
    client = ApiClient("http://server.invalid/api/v1", session=session, sleep=waits.append,
                       rng=lambda: dice, backoff_s=0.3, **kwargs)
    return client, waits


@pytest.mark.parametrize("dice", [0.0, 0.5, 0.999])
def test_busy_backoff_honours_retry_after_doubles_and_jitters_within_bounds(dice):
    client, _ = _client(_Busy(0), dice=dice, busy_max_s=10)
    for busy, floor in [(1, 2), (2, 4), (3, 8), (4, 10), (5, 10)]:
        wait = client.busy_delay(busy, "2")
        assert floor <= wait < 2 * floor and wait == pytest.approx(floor * (1 + dice))
    # The cap never undercuts the server: Retry-After 60 with a 10 s cap still waits at least 60 s.
    assert 60 <= client.busy_delay(3, "60") < 120
    # No (or an unreadable) Retry-After: the client's own backoff, doubling.
    assert client.busy_delay(1, None) == pytest.approx(0.3 * (1 + dice))
    assert client.busy_delay(2, "Wed, 21 Oct 2026 07:28:00 GMT") == pytest.approx(0.6 * (1 + dice))


def test_a_busy_claim_is_sent_again_with_the_same_key_until_it_is_answered():
    session = _Busy(2, retry_after="2")
    client, waits = _client(session, dice=0.25)
    client.tokens.save("tok", {"id": 7})
    assert client._money("/campaigns/3/claims", {}) == {"claim_id": 1}
    assert len(session.keys) == 3 and len(set(session.keys)) == 1
    assert waits == [2.5, 5.0]
    [entry] = client.outbox.all()
    assert not entry.pending and entry.status == 201


def test_busy_retries_are_bounded_and_the_request_stays_pending_with_its_key():
    from payclient.errors import RateLimited

    session = _Busy(100, retry_after="1")
    client, waits = _client(session, busy_retries=3)
    client.tokens.save("tok", {"id": 7})
    with pytest.raises(RateLimited) as refused:
        client._money("/campaigns/3/claims", {})
    assert refused.value.code == "claim_busy"
    assert len(session.keys) == 4 and len(set(session.keys)) == 1 and len(waits) == 3
    [entry] = client.outbox.pending("7")
    assert entry.key == session.keys[0]  # resume_pending sends it again with the same key


def test_another_429_is_a_refusal_not_retried():
    from payclient.errors import RateLimited

    session = _Busy(100, code="password_locked")
    client, waits = _client(session)
    client.tokens.save("tok", {"id": 7})
    with pytest.raises(RateLimited):
        client._money("/payments", {})
    assert len(session.keys) == 1 and waits == []
    assert client.outbox.pending("7") == []
