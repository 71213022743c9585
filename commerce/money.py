"""Money as `Decimal` + ISO 4217 currency. Integer minor units appear only at a provider boundary, in
that provider's adapter: Stripe's are not always ISO's (`commerce.providers.stripe.amounts`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from commerce.exceptions import MoneyError

# ISO 4217 active codes with their minor-unit exponent. Kept in code (not a dependency) because the
# list changes rarely and a wrong exponent silently multiplies prices by 100.
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD "
        "CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD "
        "HKD HNL HTG HUF IDR ILS INR IRR KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MKD MMK MNT "
        "MGA MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB "
        "SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH "
        "USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL".split(),
        2,
    ),
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

CURRENCIES: frozenset[str] = frozenset(_MINOR_UNITS)


def normalize_currency(code: str) -> str:
    """Upper-case and validate an ISO 4217 code, e.g. ``"eur"`` → ``"EUR"``."""
    normalized = code.strip().upper()
    if normalized not in _MINOR_UNITS:
        raise MoneyError(f"unknown ISO 4217 currency code {code!r}")
    return normalized


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point for a currency: 2 for EUR, 0 for JPY, 3 for KWD."""
    return _MINOR_UNITS[normalize_currency(currency)]


@dataclass(frozen=True, slots=True)
class Money:
    """A non-negative amount in one currency, exact to the currency's minor unit."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        currency = normalize_currency(self.currency)
        amount = parse_amount(self.amount)
        if amount < 0:
            raise MoneyError(f"amount must not be negative, got {amount}")
        exponent = _MINOR_UNITS[currency]
        quantum = Decimal(1).scaleb(-exponent)
        if amount != amount.quantize(quantum):
            raise MoneyError(f"{amount} has more decimal places than {currency} allows ({exponent})")
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "amount", amount.quantize(quantum))

    def times(self, quantity: int) -> Money:
        if quantity < 0:
            raise MoneyError(f"quantity must not be negative, got {quantity}")
        return Money(self.amount * quantity, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def parse_amount(value: Decimal | str | int | float) -> Decimal:
    """Parse a price without binary-float surprises; floats go through their shortest repr."""
    if isinstance(value, Decimal):
        amount = value
    else:
        try:
            amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation as error:
            raise MoneyError(f"{value!r} is not a number") from error
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    return amount
