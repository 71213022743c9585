"""Stripe adapter: the only package that imports `stripe`."""

from commerce.providers.stripe.catalog import StripeCatalogSource
from commerce.providers.stripe.charges import ChargeRefunds, StripeCharges
from commerce.providers.stripe.checkout import StripeCheckoutProvider, session_params
from commerce.providers.stripe.client import build_stripe_client, charges_live, translate_stripe_error
from commerce.providers.stripe.connect import exchange_stripe_code, stripe_authorize_url
from commerce.providers.stripe.webhook import verify_and_parse_stripe, verify_stripe_event

__all__ = [
    "ChargeRefunds",
    "StripeCatalogSource",
    "StripeCharges",
    "StripeCheckoutProvider",
    "build_stripe_client",
    "charges_live",
    "exchange_stripe_code",
    "session_params",
    "stripe_authorize_url",
    "translate_stripe_error",
    "verify_and_parse_stripe",
    "verify_stripe_event",
]
