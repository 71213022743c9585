"""Checkout: a tap on a hotspot becomes a Stripe or Shopify checkout session."""
