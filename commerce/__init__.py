"""ReelCart's commerce library: money, catalog sources, checkout providers, webhook verification.

- `money`: `Money` (Decimal + ISO 4217); minor units only at provider boundaries.
- `settings`: `CommerceSettings` (`REELCART_*`); `crypto`: `TokenCipher` for brand tokens at rest.
- `catalog` / `sync`: `CatalogSource` port, catalog dataclasses, `sync_catalog` into a `CatalogStore`.
- `checkout`: `CheckoutProvider` port, `CheckoutRequest` (click-derived idempotency key), `CheckoutResult`.
- `events` / `webhooks`: typed webhook events, verification for Stripe and Shopify, `WebhookDispatcher`.
- `providers.stripe`, `providers.shopify`: the adapters.

Only `commerce/providers/stripe/` imports `stripe` and only `commerce/providers/shopify/` imports
`shopify`. No web framework, no database layer, no vision code (enforced by import-linter).
"""
