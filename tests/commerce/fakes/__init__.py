"""Loopback fakes that answer like Stripe and Shopify, for the real SDKs to talk to."""
