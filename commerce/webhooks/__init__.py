"""Webhook verification, typed events and dispatch for Stripe and Shopify."""

from commerce.events import (
    ShopifyAppUninstalled,
    ShopifyOrderCancelled,
    ShopifyOrderCreated,
    ShopifyOrderEvent,
    ShopifyOrderPaid,
    ShopifyProductChanged,
    ShopifyProductTopic,
    StripeCheckoutEvent,
    StripeCheckoutOutcome,
    UnhandledEvent,
    WebhookEvent,
)
from commerce.webhooks.dispatch import DispatchResult, WebhookDispatcher
from commerce.webhooks.shopify import shopify_hmac, verify_and_parse_shopify, verify_shopify_hmac
from commerce.webhooks.stripe import verify_and_parse_stripe

__all__ = [
    "DispatchResult",
    "ShopifyAppUninstalled",
    "ShopifyOrderCancelled",
    "ShopifyOrderCreated",
    "ShopifyOrderEvent",
    "ShopifyOrderPaid",
    "ShopifyProductChanged",
    "ShopifyProductTopic",
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
