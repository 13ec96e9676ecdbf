"""payclient.fraud: what a scanned text is, decided on the device with no network."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payclient.fraud import FraudList, assess, entry_hash, normalize, url_host
from suiyuan_protocol import codec

KEY = Ed25519PrivateKey.generate()
ROGUE = Ed25519PrivateKey.generate()
KEYS = {"k1": KEY.public_key()}


def code(number: str = "M000000042", *, key=KEY, kid="k1", amount_fen=None, expires: int | None = None,
         guid: str = "cn.suiyuan.pay") -> str:
    payload = codec.MerchantPayload(
        initiation="12" if amount_fen else "11", merchant_accounts={"26": {"00": guid, "01": number}},
        mcc="5814", currency="156", amount_fen=amount_fen, country="CN", name="Yongqing Dessert", city="Guangzhou",
        unreserved={"80": {"00": "cn.suiyuan.order", "01": str(expires)}} if expires else {})
    return codec.sign(payload, kid, key) if key else codec.build(payload)


def listed(*pairs: tuple[str, str]) -> FraudList:
    return FraudList("v1", frozenset(entry_hash(k, normalize(k, v)) for k, v in pairs))


@pytest.mark.parametrize(("text", "host"), [
    ("https://www.E-CNY-Pay.example.com/pay?id=1", "e-cny-pay.example.com"),
    ("ecny-refund.cn/claim", "ecny-refund.cn"),
    ("http://数字人民币.example/", "数字人民币.example".encode("idna").decode()),
    ("38.50", None), ("000201010211", None), ("hello world", None), ("", None),
])
def test_links_are_told_from_amounts_and_codes(text, host):
    assert url_host(text) == host


@pytest.mark.parametrize(("kind", "value", "normal"), [
    ("merchant", "42", "M000000042"), ("merchant", "m000000042", "M000000042"),
    ("phone", "+86 138-0000-0001", "13800000001"), ("wallet", "0021 0000 0000 0001", "0021000000000001"),
    ("url", "https://www.Scam.example.net/x", "scam.example.net"), ("qr_payload", "  0002010102  ", "0002010102"),
])
def test_the_server_and_the_app_normalise_alike(kind, value, normal):
    assert normalize(kind, value) == normal


@pytest.mark.parametrize(("kind", "value"), [("merchant", "shop"), ("phone", "12345"), ("wallet", "1"),
                                             ("url", "not a link"), ("qr_payload", " "), ("email", "x@y")])
def test_values_that_cannot_be_listed_are_refused(kind, value):
    with pytest.raises(ValueError):
        normalize(kind, value)


def test_a_genuine_code_is_safe_and_a_reported_merchants_genuine_code_is_not():
    genuine = code()
    verdict = assess(genuine, KEYS, FraudList())
    assert (verdict.kind, verdict.safe) == ("genuine", True)
    assert assess(genuine, KEYS, listed(("merchant", "M000000042"))).kind == "reported_payee"
    assert assess(genuine, KEYS, listed(("qr_payload", genuine))).kind == "reported_payee"
    assert assess(code("M000000043"), KEYS, listed(("merchant", "M000000042"))).kind == "genuine"


def test_a_lookalike_signed_by_an_unknown_key_is_flagged():
    verdict = assess(code(key=ROGUE, kid="k-evil"), KEYS)
    assert (verdict.kind, verdict.safe) == ("unknown_key", False)
    assert assess(code(key=ROGUE, kid="k1"), KEYS).kind == "lookalike"  # our key id, someone else's signature
    assert assess(code(key=None), KEYS).kind == "lookalike"  # unsigned
    assert assess(code(guid="cn.other.pay", key=None), KEYS).kind == "lookalike"


def test_a_tampered_amount_is_a_lookalike_and_a_damaged_code_says_so():
    genuine = codec.parse(code(amount_fen=3_850, expires=4_000_000_000))
    forged = codec.build(dataclasses.replace(genuine, amount_fen=38_500))
    assert assess(forged, KEYS).kind == "lookalike"
    text = code()
    assert assess(text[:-4] + ("0000" if text[-4:] != "0000" else "1111"), KEYS).kind == "damaged"


def test_phishing_links_are_flagged_and_other_links_are_not_payment_codes():
    assert assess("https://ecny-gift.example.com/receive", KEYS).kind == "phishing_url"
    assert assess("http://xn--80ak6aa92e.com/pay", KEYS).kind == "phishing_url"  # punycode look-alike
    scam = listed(("url", "scam.example.net"))
    assert assess("https://pay.scam.example.net/a?b=1", KEYS, scam).kind == "phishing_url"  # a subdomain
    verdict = assess("https://www.gz.gov.cn/", KEYS, scam)
    assert (verdict.kind, verdict.safe) == ("not_a_payment_code", False)


def test_expired_codes_and_pay_codes_are_not_paid():
    assert assess(code(amount_fen=100, expires=1_000), KEYS).kind == "expired"
    assert assess("28 1234 5678 9012 3456", KEYS).kind == "not_a_payment_code"
