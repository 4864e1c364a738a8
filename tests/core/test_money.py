from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.core.money import (
    CURRENCY_EXPONENTS,
    InvalidAmount,
    InvalidCurrency,
    Money,
    divide_round_half_up,
    exponent,
    format_money,
    from_decimal,
    max_amount,
    normalize_currency,
    percent_of,
    to_decimal_string,
    validate_amount,
)


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("UZS", 2),
        ("EUR", 2),
        ("USD", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("CLF", 4),
        ("KRW", 0),
    ],
)
def test_exponents(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(InvalidCurrency):
        normalize_currency("XXX")
    with pytest.raises(InvalidCurrency):
        normalize_currency("XAU")  # no minor unit: not a payment currency
    assert normalize_currency(" uzs ") == "UZS"


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (150000, "UZS", "1500.00"),
        (500, "JPY", "500"),
        (1, "KWD", "0.001"),
        (-250, "EUR", "-2.50"),
        (0, "USD", "0.00"),
    ],
)
def test_to_decimal_string(minor: int, currency: str, text: str) -> None:
    assert to_decimal_string(minor, currency) == text
    assert from_decimal(text, currency) == minor


def test_from_decimal_refuses_inexact_amounts() -> None:
    with pytest.raises(InvalidAmount):
        from_decimal("10.005", "EUR")
    with pytest.raises(InvalidAmount):
        from_decimal("1.5", "JPY")
    with pytest.raises(InvalidAmount):
        from_decimal(10.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        from_decimal("NaN", "EUR")
    with pytest.raises(InvalidAmount):
        from_decimal("12,50", "EUR")
    assert from_decimal("10.50", "EUR") == 1050
    assert from_decimal("10.500", "EUR") == 1050  # trailing zeros fit
    assert from_decimal(Decimal("1000"), "UZS") == 100000


@given(
    st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(CURRENCY_EXPONENTS))
)
def test_decimal_round_trip(minor: int, currency: str) -> None:
    assert from_decimal(to_decimal_string(minor, currency), currency) == minor


def test_validate_amount() -> None:
    assert validate_amount(1, "EUR") == 1
    for bad in (0, -1, True, 1.0, "5", 10**16, 100_000_000):
        with pytest.raises(InvalidAmount):
            validate_amount(bad, "EUR")
    assert validate_amount(0, "EUR", allow_zero=True) == 0


def test_each_currency_has_a_maximum_the_gateways_carry() -> None:
    assert max_amount("EUR") == max_amount("usd") == max_amount("JPY") == 99_999_999
    assert max_amount("UZS") == 999_999_999_999
    assert validate_amount(999_999_999_999, "UZS") == 999_999_999_999
    with pytest.raises(InvalidAmount, match=r"9,999,999,999\.99"):
        validate_amount(10**12, "UZS")


def test_rounding_rule_is_half_up_away_from_zero() -> None:
    assert divide_round_half_up(5, 2) == 3
    assert divide_round_half_up(-5, 2) == -3
    assert divide_round_half_up(4, 3) == 1
    assert percent_of(1050, 500) == 53  # 5 % of 10.50 = 0.525 -> 0.53
    assert percent_of(1000, 1000) == 100


def test_format_money_per_locale() -> None:
    assert format_money(150000, "UZS", "en") == "UZS1,500.00"
    assert format_money(150000, "UZS", "de") == "1.500,00\xa0UZS"
    assert format_money(1250, "EUR", "de") == "12,50\xa0€"
    assert format_money(500, "JPY", "en") == "¥500"
    assert "soʻm" in format_money(150000, "UZS", "uz")


def test_money_value_object() -> None:
    total = Money(100, "eur") + Money(50, "EUR")
    assert total == Money(150, "EUR")
    with pytest.raises(ValueError, match="cannot combine"):
        Money(1, "EUR") + Money(1, "USD")
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
