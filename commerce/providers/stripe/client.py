"""The configured `StripeClient` and the translation of Stripe SDK errors into `ProviderError`s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from commerce.exceptions import ProviderError, ProviderTimeout
from commerce.settings import CommerceSettings

PROVIDER = "stripe"


def build_stripe_client(settings: CommerceSettings) -> stripe.StripeClient:
    """A client for the platform account; brand calls add `stripe_account` per request (Connect)."""
    base = settings.stripe_api_base
    return stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": base, "connect": base, "files": base},
        max_network_retries=settings.stripe_max_network_retries,
        # The default client waits 80 s; a shopper mid-episode will not.
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_s),
    )


def charges_live(settings: CommerceSettings) -> bool:
    """Whether the platform charges real money: its secret key is a live one (`sk_live_`, or a
    restricted `rk_live_`). Stripe sends a live Connect endpoint its connected accounts' test-mode
    events too, so an event's `livemode` is checked against this."""
    return settings.stripe_secret_key.get_secret_value().startswith(("sk_live_", "rk_live_"))


def _caused_by_timeout(error: BaseException) -> bool:
    """The SDK wraps `requests` timeouts in `APIConnectionError`; look down the cause chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or type(current).__name__.endswith("Timeout"):
            return True
        current = current.__cause__ or current.__context__
    return False


def _first_line(error: stripe.StripeError) -> str:
    message = error.user_message or str(error) or type(error).__name__
    return message.splitlines()[0][:300]


def translate_stripe_error(error: stripe.StripeError, timeout_s: float) -> ProviderError:
    status = error.http_status
    code = error.code
    if isinstance(error, stripe.APIConnectionError):
        if _caused_by_timeout(error):
            return ProviderTimeout(PROVIDER, timeout_s)
        return ProviderError(PROVIDER, "cannot reach the Stripe API", retryable=True)
    if isinstance(error, stripe.IdempotencyError):
        return ProviderError(
            PROVIDER,
            "idempotency key reused with different parameters",
            retryable=False,
            status=status,
            code="idempotency_conflict",
        )
    if isinstance(error, stripe.RateLimitError):
        return ProviderError(
            PROVIDER, "rate limited", retryable=True, status=status, code=code or "rate_limit"
        )
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderError(
            PROVIDER, f"credentials refused: {_first_line(error)}", retryable=False, status=status, code=code
        )
    retryable = status is None or status >= 500 or status == 409
    return ProviderError(PROVIDER, _first_line(error), retryable=retryable, status=status, code=code)


@contextmanager
def stripe_errors(timeout_s: float) -> Iterator[None]:
    """Run SDK calls; anything Stripe raises leaves as a `ProviderError` (or `ProviderTimeout`)."""
    try:
        yield
    except stripe.StripeError as error:
        raise translate_stripe_error(error, timeout_s) from error
