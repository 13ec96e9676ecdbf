"""Suiyuan's profile of the QR format: the named accessors read back what the builder wrote."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from suiyuan_protocol import codec, profile


def _ours(**kw) -> codec.MerchantPayload:
    return codec.suiyuan_payload(merchant_id=42, bank_code="ICBC", name="Tea House", city="Guangzhou",
                                 name_zh="茶楼", city_zh="广州", mcc="5812", **kw)


def test_a_dynamic_code_reads_back_through_its_accessors():
    expires = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    payload = codec.parse(codec.build(_ours(amount_fen=3850, reference="SY01", expires_at=expires,
                                            terminal="U7")))
    assert payload.is_dynamic and payload.amount_fen == 3850
    assert (payload.reference, payload.terminal, payload.expires_at) == ("SY01", "U7", expires)
    assert payload.merchant_number == "M000000042" and payload.merchant_id == 42
    assert payload.suiyuan_account[profile.ACCOUNT_BANK_CODE] == "ICBC"


def test_a_static_code_has_no_amount_reference_or_expiry():
    payload = codec.parse(codec.build(_ours()))
    assert not payload.is_dynamic
    assert (payload.amount_fen, payload.reference, payload.expires_at) == (None, None, None)
    assert payload.merchant_id == 42


def test_someone_elses_templates_are_not_read_as_ours():
    payload = _ours(expires_at=datetime(2026, 12, 3, tzinfo=UTC))
    other = dataclasses.replace(
        payload,
        merchant_accounts={profile.ACCOUNT_TAG: {profile.GUID: "com.example.pay", "01": "M000000042"}},
        unreserved={profile.ORDER_TAG: {profile.GUID: "com.example.order", "01": "1780000000"}})
    assert (other.suiyuan_account, other.merchant_number, other.merchant_id, other.expires_at) == (None,) * 4


def test_merchant_numbers():
    assert profile.format_merchant_number(7) == "M000000007"
    assert profile.merchant_id_of_number("M000000007") == 7
    assert [profile.merchant_id_of_number(n) for n in (None, "", "M", "X000000007", "M12a")] == [None] * 5


def test_the_server_reads_the_one_tier_table_and_caps():
    from backend import config

    assert config.WALLET_TIERS is profile.WALLET_TIERS
    assert (config.STATIC_QR_DAILY_CAP_FEN, config.OFFLINE_SINGLE_CAP_FEN, config.OFFLINE_MAX_PAYMENTS) == (
        profile.STATIC_QR_DAILY_CAP_FEN, profile.OFFLINE_SINGLE_CAP_FEN, profile.OFFLINE_MAX_PAYMENTS)
