"""ReelCart's commerce library: money, catalog sources, checkout providers, webhook verification.

Only `commerce/providers/stripe/` imports `stripe` and only `commerce/providers/shopify/` imports
`shopify`. No web framework, no database layer, no vision code (enforced by import-linter).
"""
