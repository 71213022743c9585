"""Webhooks: verified provider deliveries, deduplicated, routed to their handlers."""
