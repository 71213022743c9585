"""Amounts as Stripe's API writes them: an integer in Stripe's minor unit of the currency.

Stripe's minor units are not always ISO 4217's (https://docs.stripe.com/currencies):

- its zero-decimal currencies are charged in whole units (500 JPY is `500`); MGA is one of them,
  though ISO gives it two decimals;
- every other currency has two decimals in the API, ISK included: ISO gives the króna none, but
  Stripe kept it two-decimal for compatibility (1 ISK is `100`) and, since April 2023, refuses amounts
  not divisible by 100;
- its three-decimal currencies must end in 0 (its payment partners take two decimals), so
  5.124 KWD cannot be charged.

Converting with ISO's exponents would charge 5,000 ISK as 50 ISK and 1,000 MGA as 100,000 MGA; these
conversions are the only ones the Stripe adapter uses.
"""

from __future__ import annotations

from decimal import Decimal

from commerce.exceptions import MoneyError
from commerce.money import Money, normalize_currency

STRIPE_ZERO_DECIMAL: frozenset[str] = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
STRIPE_THREE_DECIMAL: frozenset[str] = frozenset("BHD JOD KWD OMR TND".split())


def stripe_exponent(currency: str) -> int:
    """Digits after the decimal point in Stripe's integer amounts: 0 for JPY, 2 for EUR and ISK, 3 for KWD."""
    code = normalize_currency(currency)
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(money: Money) -> int:
    """The integer Stripe expects for `money` (EUR 4.99 -> 499, ISK 5000 -> 500000, MGA 1000 -> 1000).

    Raises `MoneyError` for a price Stripe cannot charge (a fraction of a unit Stripe charges whole, a
    third decimal other than 0) rather than charging another amount than the shopper was shown."""
    exponent = stripe_exponent(money.currency)
    scaled = money.amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        unit = Decimal(1).scaleb(-exponent)
        raise MoneyError(f"Stripe charges {money.currency} in steps of {unit}: {money} cannot be charged")
    amount = int(scaled)
    if money.currency in STRIPE_THREE_DECIMAL and amount % 10:
        raise MoneyError(
            f"Stripe charges {money.currency} to two decimals (the third must be 0): "
            f"{money} cannot be charged"
        )
    return amount


def from_stripe_amount(amount: int, currency: str) -> Money:
    """Money from Stripe's integer amount (a price's `unit_amount`, a session's `amount_total`).

    Raises `MoneyError` when the amount has more decimals than the currency has (an ISK price set
    with fractional króna before Stripe refused them)."""
    return Money(Decimal(amount).scaleb(-stripe_exponent(currency)), currency)
