"""Stripe Checkout Sessions through the real SDK against a loopback Stripe."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from commerce.checkout import CheckoutResult, CheckoutUi
from commerce.exceptions import ProviderError, ProviderTimeout
from commerce.money import Money
from commerce.providers.stripe import StripeCheckoutProvider
from tests.commerce.fakes.loopback import LoopbackServer, Reply
from tests.commerce.fakes.stripe_fake import NOW, FakeStripe, error_reply
from tests.utils.commerce import make_request, make_settings

ACCOUNT = "acct_1BrandDrama"
Fake = tuple[FakeStripe, LoopbackServer]


def provider_for(server: LoopbackServer, **settings: object) -> StripeCheckoutProvider:
    return StripeCheckoutProvider.from_settings(
        make_settings(stripe_api_base=server.base_url, **settings), account_id=ACCOUNT
    )


def test_embedded_session_carries_our_price_attribution_and_click_key(fake_stripe: Fake) -> None:
    # Given a tap on placement plc-42 for two hoodies priced 59.90 EUR in our catalog
    fake, server = fake_stripe
    request = make_request(quantity=2)

    # When the provider creates the checkout
    result = provider_for(server).create_checkout(request)

    # Then Stripe saw one form-encoded request on the brand's account with our price and ids
    (sent,) = server.requests
    assert sent.headers["stripe-account"] == ACCOUNT
    assert sent.headers["idempotency-key"] == request.idempotency_key("stripe", ACCOUNT)
    assert dict(parse_qsl(sent.body.decode())) == {
        "mode": "payment",
        "ui_mode": "embedded_page",
        "line_items[0][quantity]": "2",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "5990",
        "line_items[0][price_data][product]": "prod_hoodie",
        "line_items[0][metadata][reelcart_variant_ref]": "price_hoodie_m",
        "client_reference_id": "click-7f3a",
        "metadata[reelcart_click_id]": "click-7f3a",
        "metadata[reelcart_placement_id]": "plc-42",
        "metadata[reelcart_episode_id]": "ep-3",
        "payment_intent_data[metadata][reelcart_click_id]": "click-7f3a",
        "payment_intent_data[metadata][reelcart_placement_id]": "plc-42",
        "payment_intent_data[metadata][reelcart_episode_id]": "ep-3",
        "return_url": "https://watch.reelcart.test/ep-3?checkout={CHECKOUT_SESSION_ID}",
    }
    # And the result is the embedded client secret with Stripe's total
    assert result == CheckoutResult(
        provider="stripe",
        provider_session_id="cs_test_0001",
        ui=CheckoutUi.EMBEDDED,
        idempotency_key=request.idempotency_key("stripe", ACCOUNT),
        client_secret="cs_test_0001_secret_1",
        redirect_url=None,
        provider_total=Money(Decimal("119.80"), "EUR"),
        expires_at=datetime.fromtimestamp(NOW + 24 * 3600, tz=UTC),
    )
    assert len(fake.sessions) == 1


@pytest.mark.parametrize(
    ("amount", "currency", "unit_amount", "total"),
    [
        ("5000", "ISK", "500000", Money(Decimal(10000), "ISK")),  # Stripe keeps ISK two-decimal
        ("1000", "MGA", "1000", Money(Decimal(2000), "MGA")),  # zero-decimal at Stripe, two at ISO
        ("500", "JPY", "500", Money(Decimal(1000), "JPY")),
        ("4.990", "KWD", "4990", Money(Decimal("9.98"), "KWD")),
    ],
)
def test_the_price_is_sent_in_stripe_minor_units_and_the_total_read_back_in_them(
    fake_stripe: Fake, amount: str, currency: str, unit_amount: str, total: Money
) -> None:
    # Given two of a product priced in a currency whose Stripe minor unit is not ISO's (or is)
    _, server = fake_stripe
    request = make_request(quantity=2, amount=amount, currency=currency)

    result = provider_for(server).create_checkout(request)

    # Then Stripe was asked for the shown price (5,000 ISK used to go out as 5000: 50 kr) ...
    (sent,) = server.requests
    assert dict(parse_qsl(sent.body.decode()))["line_items[0][price_data][unit_amount]"] == unit_amount
    # ... and its total reads back as the shopper's total
    assert result.provider_total == total


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1000.50", "MGA"), ("4.995", "KWD")],  # a fraction Stripe does not charge; a third decimal not 0
)
def test_a_price_stripe_cannot_charge_is_refused_before_stripe_is_called(
    fake_stripe: Fake, amount: str, currency: str
) -> None:
    _, server = fake_stripe

    with pytest.raises(ProviderError, match=f"stripe: Stripe charges {currency}") as raised:
        provider_for(server).create_checkout(make_request(amount=amount, currency=currency))

    # (a refusal for good: the shopper's sheet says the shop is not taking the order, not "try again")
    assert (raised.value.retryable, raised.value.code) == (False, "amount_not_chargeable")
    assert server.requests == []


def test_hosted_fallback_returns_a_redirect_url_and_uses_success_and_cancel_urls(fake_stripe: Fake) -> None:
    # Given the overlay could not mount embedded checkout and asks for the hosted page
    _, server = fake_stripe
    request = make_request(ui=CheckoutUi.HOSTED)

    # When
    result = provider_for(server).create_checkout(request)

    # Then
    form = dict(parse_qsl(server.requests[0].body.decode()))
    assert (form["ui_mode"], form["success_url"], form["cancel_url"]) == (
        "hosted_page",
        request.return_url,
        request.cancel_url,
    )
    assert "return_url" not in form
    assert (result.ui, result.client_secret, result.redirect_url) == (
        CheckoutUi.HOSTED,
        None,
        "https://checkout.stripe.com/c/pay/cs_test_0001",
    )


def test_a_double_tap_yields_one_session(fake_stripe: Fake) -> None:
    # Given the same click sent twice
    fake, server = fake_stripe
    provider = provider_for(server)

    # When
    first = provider.create_checkout(make_request())
    second = provider.create_checkout(make_request())

    # Then Stripe replayed the first session for the same idempotency key
    assert first == second
    assert len(fake.sessions) == 1
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1


def test_different_clicks_get_different_sessions(fake_stripe: Fake) -> None:
    fake, server = fake_stripe
    provider = provider_for(server)

    first = provider.create_checkout(make_request(click_id="click-a"))
    second = provider.create_checkout(make_request(click_id="click-b"))

    assert first.provider_session_id != second.provider_session_id
    assert len(fake.sessions) == 2


def test_timeout_is_a_provider_timeout_and_the_retry_reuses_the_key_so_nothing_is_created_twice(
    fake_stripe: Fake,
) -> None:
    # Given Stripe creates the session but answers after our 1 s timeout
    fake, server = fake_stripe
    fake.faults.append(Reply(200, b"", delay_s=2.5))
    provider = provider_for(server, stripe_timeout_s=1.0)

    # When the first attempt times out
    with pytest.raises(ProviderTimeout) as timeout:
        provider.create_checkout(make_request())

    # Then the error says so and is retryable
    assert (timeout.value.provider, timeout.value.retryable, timeout.value.timeout_s) == ("stripe", True, 1.0)

    # When the API retries the same tap
    retried = provider.create_checkout(make_request())

    # Then it gets the session created by the timed-out attempt: one session, same key twice
    assert retried.provider_session_id == "cs_test_0001"
    assert len(fake.sessions) == 1
    assert [r.headers["idempotency-key"] for r in server.requests] == [retried.idempotency_key] * 2


def test_the_sdk_retries_a_500_itself_with_the_same_idempotency_key(fake_stripe: Fake) -> None:
    # Given one transient 500 and network retries enabled
    fake, server = fake_stripe
    fake.faults.append(error_reply(500, "api_error", "Something went wrong on Stripe's end."))

    # When
    result = provider_for(server, stripe_max_network_retries=1).create_checkout(make_request())

    # Then the second attempt succeeded with the same key
    assert result.provider_session_id == "cs_test_0001"
    assert [r.headers["idempotency-key"] for r in server.requests] == [result.idempotency_key] * 2


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            error_reply(500, "api_error", "Something went wrong on Stripe's end."),
            ("stripe", True, 500, None),
        ),
        (
            error_reply(429, "invalid_request_error", "Too many requests", "rate_limit"),
            ("stripe", True, 429, "rate_limit"),
        ),
        (
            error_reply(400, "invalid_request_error", "No such product: 'prod_hoodie'", "resource_missing"),
            ("stripe", False, 400, "resource_missing"),
        ),
        (error_reply(403, "invalid_request_error", "Account not connected"), ("stripe", False, 403, None)),
    ],
)
def test_provider_errors_say_whether_a_retry_can_help(
    fake_stripe: Fake, reply: Reply, expected: tuple[str, bool, int, str | None]
) -> None:
    # Given Stripe refuses
    fake, server = fake_stripe
    fake.faults.append(reply)

    # When / Then
    with pytest.raises(ProviderError) as error:
        provider_for(server).create_checkout(make_request())
    assert (error.value.provider, error.value.retryable, error.value.status, error.value.code) == expected
    assert not isinstance(error.value, ProviderTimeout)


def test_reusing_a_click_with_other_parameters_is_an_idempotency_conflict(fake_stripe: Fake) -> None:
    # Given a session exists for this click with quantity 1
    _, server = fake_stripe
    provider = provider_for(server)
    provider.create_checkout(make_request(quantity=1))

    # When the same click id arrives with quantity 3
    with pytest.raises(ProviderError) as error:
        provider.create_checkout(make_request(quantity=3))

    # Then it is refused, not charged twice
    assert (error.value.retryable, error.value.code, error.value.status) == (
        False,
        "idempotency_conflict",
        400,
    )


def test_wrong_secret_key_is_a_non_retryable_credentials_error(fake_stripe: Fake) -> None:
    _, server = fake_stripe

    with pytest.raises(ProviderError) as error:
        provider_for(server, stripe_secret_key="sk_test_wrong").create_checkout(make_request())

    assert (error.value.retryable, error.value.status) == (False, 401)
    assert "credentials refused" in str(error.value)


def test_unreachable_stripe_is_retryable() -> None:
    # Given a base address where nothing listens (a server started and stopped)
    server = LoopbackServer(FakeStripe().route)
    with server.running():
        base = server.base_url

    with pytest.raises(ProviderError) as error:
        StripeCheckoutProvider.from_settings(
            make_settings(stripe_api_base=base), account_id=None
        ).create_checkout(make_request())

    assert (error.value.retryable, str(error.value)) == (True, "stripe: cannot reach the Stripe API")
