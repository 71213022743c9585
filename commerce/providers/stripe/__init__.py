"""Stripe adapter: the only package that imports `stripe`."""

from commerce.providers.stripe.catalog import StripeCatalogSource
from commerce.providers.stripe.checkout import StripeCheckoutProvider, session_params
from commerce.providers.stripe.client import build_stripe_client, translate_stripe_error
from commerce.providers.stripe.webhook import verify_and_parse_stripe, verify_stripe_event

__all__ = [
    "StripeCatalogSource",
    "StripeCheckoutProvider",
    "build_stripe_client",
    "session_params",
    "translate_stripe_error",
    "verify_and_parse_stripe",
    "verify_stripe_event",
]
