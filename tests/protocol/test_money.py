"""Tests for suiyuan_protocol.money: reading typed yuan and formatting integer fen."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suiyuan_protocol.money import (
    MAX_AMOUNT_FEN,
    QR_AMOUNT_CEILING_FEN,
    MoneyError,
    fen_to_yuan_str,
    format_fen,
    parse_yuan,
    yuan_str_to_fen,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("38.5", 3850),
        ("38.50", 3850),
        ("¥38.50", 3850),
        ("￥38.50", 3850),
        ("38", 3800),
        ("38.", 3800),
        (".5", 50),
        ("0", 0),
        ("0.01", 1),
        ("1,234.56", 123456),
        ("12,345.67", 1234567),
        ("  12.3  ", 1230),
        ("３８．５０", 3850),  # full-width digits and dot
        ("38元", 3800),
        ("¥ 38.50", 3850),
        ("CNY 5", 500),
        ("007.10", 710),
    ],
)
def test_parse_yuan_accepts_what_people_type(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-1", "negative"),
        ("-¥1.20", "negative"),
        ("¥-1.20", "negative"),
        ("1.234", "two decimal places"),
        ("0.001", "two decimal places"),
        ("abc", "not an amount"),
        ("NaN", "finite"),
        ("inf", "finite"),
        ("Infinity", "finite"),
        ("1e3", "exponent"),
        ("1E-2", "exponent"),
        ("1,23", "not an amount"),
        ("1,,234", "not an amount"),
        ("12,34.5", "not an amount"),
        ("1.2.3", "not an amount"),
        ("¥", "no number"),
        (".", "not an amount"),
        ("+5", "not an amount"),
        ("1 000", "not an amount"),
        ("0x10", "not an amount"),
        ("99999999999999999999999", "over the maximum"),
    ],
)
def test_parse_yuan_rejects_with_a_clear_message(text, fragment):
    with pytest.raises(MoneyError, match=fragment):
        parse_yuan(text)


def test_money_error_is_a_value_error():
    assert issubclass(MoneyError, ValueError)


def test_parse_yuan_rejects_non_str():
    with pytest.raises(TypeError):
        parse_yuan(38.5)


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (3850, "¥38.50"),
        (-120, "-¥1.20"),
        (123456789, "¥1,234,567.89"),
        (0, "¥0.00"),
        (5, "¥0.05"),
        (100000, "¥1,000.00"),
    ],
)
def test_format_fen(fen, text):
    assert format_fen(fen) == text


def test_format_fen_without_symbol():
    assert format_fen(123456789, symbol=False) == "1,234,567.89"
    assert format_fen(-120, symbol=False) == "-1.20"


@pytest.mark.parametrize(("fen", "text"), [(3850, "38.50"), (5, "0.05"), (123456789, "1234567.89"), (-120, "-1.20")])
def test_fen_to_yuan_str_has_no_grouping_or_symbol(fen, text):
    assert fen_to_yuan_str(fen) == text


@pytest.mark.parametrize("bad", [True, False, 38.5, 3850.0, "3850", None])
@pytest.mark.parametrize("func", [format_fen, fen_to_yuan_str])
def test_formatters_reject_non_int(func, bad):
    with pytest.raises(TypeError):
        func(bad)


@pytest.mark.parametrize(("text", "fen"), [("23.72", 2372), ("23.7", 2370), ("23", 2300), ("0.01", 1)])
def test_yuan_str_to_fen(text, fen):
    assert yuan_str_to_fen(text) == fen


@pytest.mark.parametrize("text", ["", "23.", ".5", "23.725", "1,000", "¥1", "-1", "1e3", " 1", "２３"])
def test_yuan_str_to_fen_is_strict(text):
    with pytest.raises(MoneyError):
        yuan_str_to_fen(text)


fen_values = st.integers(min_value=0, max_value=MAX_AMOUNT_FEN)


@settings(max_examples=300)
@given(fen_values)
def test_parse_format_round_trip(fen):
    assert parse_yuan(format_fen(fen)) == fen
    assert parse_yuan(format_fen(fen, symbol=False)) == fen
    assert parse_yuan(fen_to_yuan_str(fen)) == fen
    assert yuan_str_to_fen(fen_to_yuan_str(fen)) == fen


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=MAX_AMOUNT_FEN))
def test_negative_format_is_minus_then_positive(fen):
    assert format_fen(-fen) == "-" + format_fen(fen)
    with pytest.raises(MoneyError):
        parse_yuan(format_fen(-fen))


def test_max_amount_boundary():
    assert parse_yuan(format_fen(MAX_AMOUNT_FEN)) == MAX_AMOUNT_FEN == 5_000_000
    for over in (MAX_AMOUNT_FEN + 1, 10**12, 2**63):
        with pytest.raises(MoneyError, match=r"maximum of ¥50,000\.00"):
            parse_yuan(fen_to_yuan_str(over))


def test_max_amount_is_the_class_2_wallets_single_payment_cap_and_fits_a_qr_code():
    from backend.config import WALLET_TIERS

    assert MAX_AMOUNT_FEN == WALLET_TIERS[2].single_cap_fen
    assert len(fen_to_yuan_str(QR_AMOUNT_CEILING_FEN)) == 13 < len(fen_to_yuan_str(QR_AMOUNT_CEILING_FEN + 1))


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_a_wider_maximum_can_be_asked_for(fen):
    assert parse_yuan(format_fen(fen), max_fen=2**63 - 1) == fen
