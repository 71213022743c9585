"""Catalog: products, variants and images; CSV/JSON import; sync from Shopify and Stripe; image fetching."""
