"""Checkout requests: bounds, currencies, attribution and the click-derived idempotency key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commerce.checkout import Attribution, CheckoutLine, CheckoutUi
from commerce.exceptions import CheckoutRequestError
from commerce.money import Money
from tests.utils.commerce import make_request


@pytest.mark.parametrize("quantity", [0, -1, 11, 10**9])
def test_quantities_outside_one_to_ten_are_refused(quantity: int) -> None:
    with pytest.raises(CheckoutRequestError, match=f"quantity must be 1..10, got {quantity}"):
        make_request(quantity=quantity)


def test_lines_must_share_a_currency() -> None:
    request = make_request()
    yen = CheckoutLine("price_mug", "Mug", Money(Decimal(1200), "JPY"), 1)

    with pytest.raises(CheckoutRequestError, match=r"one currency, got \['EUR', 'JPY'\]"):
        type(request)(
            lines=(*request.lines, yen), attribution=request.attribution, return_url=request.return_url
        )


def test_total_is_exact_decimal_money() -> None:
    assert make_request(quantity=3, amount="19.99").total == Money(Decimal("59.97"), "EUR")


def test_the_idempotency_key_depends_on_click_account_provider_and_ui_only() -> None:
    key = make_request().idempotency_key("stripe", "acct_1")

    assert make_request().idempotency_key("stripe", "acct_1") == key
    assert (
        len(
            {
                key,
                make_request(click_id="click-other").idempotency_key("stripe", "acct_1"),
                make_request().idempotency_key("stripe", "acct_2"),
                make_request().idempotency_key("shopify", "acct_1"),
                make_request(ui=CheckoutUi.HOSTED).idempotency_key("stripe", "acct_1"),
            }
        )
        == 5
    )
    assert key.startswith("reelcart-checkout-")
    assert len(key) <= 255


def test_attribution_round_trips_through_provider_pairs_and_rejects_partial_sets() -> None:
    attribution = Attribution(click_id="c", placement_id="p", episode_id="e")
    pairs = attribution.as_pairs()

    assert Attribution.from_pairs(pairs) == attribution
    assert Attribution.from_pairs({k: v for k, v in pairs.items() if k != "reelcart_episode_id"}) is None
    assert Attribution.from_pairs({**pairs, "reelcart_click_id": ""}) is None


@pytest.mark.parametrize("click_id", ["", "x" * 201])
def test_attribution_ids_are_bounded(click_id: str) -> None:
    with pytest.raises(CheckoutRequestError, match=r"click_id must be 1\.\.200 characters"):
        Attribution(click_id=click_id, placement_id="p", episode_id="e")
