"""Money: integer minor units with an ISO 4217 currency.

No floats anywhere. Amounts become decimal strings only at a gateway edge (Click and OCTO take
so'm as decimals) and for display. Every fraction is resolved by one named rounding function,
`divide_round_half_up`, so the owner of each remainder is explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency

from kassa.core.errors import InvalidRequest

# ISO 4217 list one (active codes) with their minor-unit exponents. Codes not listed here
# have exponent 2; funds and precious-metal codes (no minor unit) are not accepted.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_2.split(), 2),
    **dict.fromkeys(_EXPONENT_0.split(), 0),
    **dict.fromkeys(_EXPONENT_3.split(), 3),
    **dict.fromkeys(_EXPONENT_4.split(), 4),
}

# The largest amount the ledger stores in one entry: far below 2**63 so that sums of many
# amounts in a balance cannot overflow a BIGINT.
MAX_AMOUNT = 10**15

# The largest amount of one payment, charge or refund, per currency (decision 036): what the
# gateways carry. Stripe takes at most eight digits of minor units ("a value of 99999999 for a
# USD charge of $999,999.99", API reference, `amount`). For UZS eight digits are 999,999.99
# so'm, so UZS (Payme, Click, OCTO, which publish no maximum) takes twelve: 9,999,999,999.99
# so'm, exact as Click's and OCTO's decimal sums and as a JSON number (below 2**53).
DEFAULT_MAX_AMOUNT = 99_999_999
MAX_AMOUNTS: dict[str, int] = {"UZS": 999_999_999_999}


class InvalidCurrency(InvalidRequest):
    code = "invalid_currency"
    default_message = "Unknown currency; use an ISO 4217 code such as UZS or EUR."


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"
    default_message = "The amount is not valid."


def normalize_currency(code: object, param: str = "currency") -> str:
    if not isinstance(code, str) or code.strip().upper() not in CURRENCY_EXPONENTS:
        raise InvalidCurrency(
            f"Unknown currency {code!r}; use an ISO 4217 code such as UZS or EUR.", param=param
        )
    return code.strip().upper()


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


def max_amount(currency: str) -> int:
    return MAX_AMOUNTS.get(normalize_currency(currency), DEFAULT_MAX_AMOUNT)


def validate_amount(
    amount: object, currency: str, *, param: str = "amount", allow_zero: bool = False
) -> int:
    """Check that `amount` is a positive integer count of minor units, at most the currency's
    maximum (`max_amount`)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("Amounts are integers in minor units (cents, tiyin).", param=param)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount("The amount must be greater than zero.", param=param)
    highest = max_amount(currency)
    if amount > highest:
        raise InvalidAmount(
            f"The amount must not exceed {highest} ({format_money(highest, currency)}).",
            param=param,
        )
    return amount


def to_decimal(minor: int, currency: str) -> Decimal:
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError("minor units must be an int")
    return Decimal(minor).scaleb(-exponent(currency))


def to_decimal_string(minor: int, currency: str) -> str:
    """150000 UZS -> "1500.00"; 500 JPY -> "500". Exact, always with the currency's digits."""
    places = exponent(currency)
    value = to_decimal(minor, currency)
    return f"{value:.{places}f}"


def from_decimal(value: str | Decimal | int, currency: str, *, param: str = "amount") -> int:
    """Parse a decimal amount in major units into minor units, refusing anything inexact.

    "1500.00" UZS -> 150000; "10.005" EUR is refused (it does not fit in cents); floats are
    refused outright because they cannot carry an exact decimal.
    """
    if isinstance(value, float | bool):
        raise InvalidAmount("Decimal amounts must be given as strings, not floats.", param=param)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise InvalidAmount(f"{value!r} is not a decimal amount.", param=param) from None
    if not number.is_finite():
        raise InvalidAmount(f"{value!r} is not a finite amount.", param=param)
    scaled = number.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(
            f"{value} {currency} has more decimal places than {currency} allows.", param=param
        )
    return int(scaled)


def divide_round_half_up(numerator: int, denominator: int) -> int:
    """The one rounding rule: integer division, halves rounded away from zero.

    Used for every fraction of money (bonus percentages, tax, proration); the party that
    computes the fraction owns the remainder.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient


def percent_of(amount: int, basis_points: int) -> int:
    """`basis_points` hundredths of a percent of `amount` (500 = 5 %), rounded half up."""
    return divide_round_half_up(amount * basis_points, 10_000)


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    """Display form in the reader's locale: 150000 UZS in ru -> '1 500,00 UZS'.

    CLDR decides the usual digits; `decimal_quantization=False` keeps any extra ISO digits
    rather than rounding them away, so the display never misstates the amount.
    """
    value = to_decimal(minor, currency)
    try:
        return format_currency(value, currency, locale=locale or "en", decimal_quantization=False)
    except (ValueError, LookupError):
        return f"{to_decimal_string(minor, currency)} {currency}"


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units")
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def decimal_string(self) -> str:
        return to_decimal_string(self.amount, self.currency)

    def format(self, locale: str = "en") -> str:
        return format_money(self.amount, self.currency, locale)
