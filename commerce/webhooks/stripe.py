"""Stripe webhook entry point for the API; the SDK work lives in `commerce.providers.stripe`."""

from __future__ import annotations

from commerce.events import WebhookEvent
from commerce.providers.stripe.webhook import verify_and_parse_stripe as _verify_and_parse
from commerce.settings import CommerceSettings


def verify_and_parse_stripe(
    raw_body: bytes, signature_header: str | None, settings: CommerceSettings
) -> WebhookEvent:
    """Raise `WebhookSignatureError` (forged, stale beyond the tolerance) or `WebhookPayloadError`."""
    secrets = [settings.stripe_webhook_secret.get_secret_value()]
    if settings.stripe_connect_webhook_secret is not None:
        secrets.append(settings.stripe_connect_webhook_secret.get_secret_value())
    return _verify_and_parse(raw_body, signature_header, secrets, settings.webhook_tolerance_s)
