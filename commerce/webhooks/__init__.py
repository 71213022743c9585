"""Typed webhook events and their dispatch; each provider's signature check and parsing lives beside
that provider (`commerce.providers.stripe.webhook`, `commerce.providers.shopify.webhook`) and is
re-exported here for callers that take either."""

from commerce.events import (
    ShopifyAppUninstalled,
    ShopifyOrderCancelled,
    ShopifyOrderCreated,
    ShopifyOrderEvent,
    ShopifyOrderPaid,
    ShopifyProductChanged,
    ShopifyProductTopic,
    StripeAccountDeauthorized,
    StripeCheckoutEvent,
    StripeCheckoutOutcome,
    UnhandledEvent,
    WebhookEvent,
)
from commerce.providers.shopify.webhook import (
    SHOPIFY_PAID_STATUSES,
    shopify_hmac,
    verify_and_parse_shopify,
    verify_shopify_hmac,
)
from commerce.providers.stripe.webhook import verify_and_parse_stripe
from commerce.webhooks.dispatch import DispatchResult, WebhookDispatcher

__all__ = [
    "SHOPIFY_PAID_STATUSES",
    "DispatchResult",
    "ShopifyAppUninstalled",
    "ShopifyOrderCancelled",
    "ShopifyOrderCreated",
    "ShopifyOrderEvent",
    "ShopifyOrderPaid",
    "ShopifyProductChanged",
    "ShopifyProductTopic",
    "StripeAccountDeauthorized",
    "StripeCheckoutEvent",
    "StripeCheckoutOutcome",
    "UnhandledEvent",
    "WebhookDispatcher",
    "WebhookEvent",
    "shopify_hmac",
    "verify_and_parse_shopify",
    "verify_and_parse_stripe",
    "verify_shopify_hmac",
]
