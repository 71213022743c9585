"""Stripe's integer amounts: its minor units, which are not always ISO 4217's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce.exceptions import MoneyError
from commerce.money import CURRENCIES, Money, minor_unit_exponent
from commerce.providers.stripe.amounts import from_stripe_amount, stripe_exponent, to_stripe_amount


@pytest.mark.parametrize(
    ("amount", "currency", "stripe"),
    [
        ("4.99", "EUR", 499),
        ("500", "JPY", 500),
        ("5000", "ISK", 500000),  # ISO: no decimals; Stripe: two, amounts divisible by 100
        ("1000", "MGA", 1000),  # ISO: two decimals; Stripe: zero-decimal
        ("5.120", "KWD", 5120),
        ("12.50", "HUF", 1250),
        ("0", "USD", 0),
    ],
)
def test_prices_become_the_integer_stripe_expects_and_back(amount: str, currency: str, stripe: int) -> None:
    money = Money(Decimal(amount), currency)

    assert to_stripe_amount(money) == stripe
    assert from_stripe_amount(stripe, currency.lower()) == money


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1000.50", "MGA", "Stripe charges MGA in steps of 1: 1000.50 MGA cannot be charged"),
        (
            "4.995",
            "KWD",
            "Stripe charges KWD to two decimals (the third must be 0): 4.995 KWD cannot be charged",
        ),
        ("1.234", "IQD", "Stripe charges IQD in steps of 0.01: 1.234 IQD cannot be charged"),
    ],
)
def test_a_price_stripe_cannot_charge_is_refused_not_rounded(
    amount: str, currency: str, message: str
) -> None:
    with pytest.raises(MoneyError) as raised:
        to_stripe_amount(Money(Decimal(amount), currency))

    assert str(raised.value) == message


def test_a_stripe_amount_with_more_decimals_than_the_currency_has_is_refused() -> None:
    # An ISK price set in fractional króna before Stripe refused them (40.10 ISK)
    with pytest.raises(MoneyError, match="more decimal places than ISK allows"):
        from_stripe_amount(4010, "isk")


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(MoneyError, match="unknown ISO 4217 currency code 'xxy'"):
        stripe_exponent("xxy")


@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    units=st.integers(min_value=0, max_value=10**12),
)
def test_every_chargeable_price_survives_the_round_trip(currency: str, units: int) -> None:
    # A price in the finer of the two units is chargeable exactly when it fits Stripe's (and, for
    # three-decimal currencies, ends in 0); whatever is sent reads back as the same price.
    exponent = min(minor_unit_exponent(currency), stripe_exponent(currency))
    money = Money(Decimal(units).scaleb(-exponent), currency)
    try:
        sent = to_stripe_amount(money)
    except MoneyError:
        assert stripe_exponent(currency) == 3
        assert units % 10
        return
    assert from_stripe_amount(sent, currency) == money
