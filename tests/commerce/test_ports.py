"""The adapters satisfy the ports the API is written against (checked by mypy, named at runtime)."""

from __future__ import annotations

from commerce.catalog import CatalogSource
from commerce.checkout import CheckoutProvider
from commerce.providers.shopify import ShopifyCatalogSource, ShopifyCheckoutProvider
from commerce.providers.stripe import StripeCatalogSource, StripeCheckoutProvider
from tests.utils.commerce import make_settings

SHOP = "drama-merch.myshopify.com"


def test_every_adapter_fits_its_port_and_names_its_provider() -> None:
    settings = make_settings()

    sources: list[CatalogSource] = [
        StripeCatalogSource.from_settings(settings, account_id="acct_1"),
        ShopifyCatalogSource.from_settings(settings, shop_domain=SHOP, access_token="shpat_x"),
    ]
    providers: list[CheckoutProvider] = [
        StripeCheckoutProvider.from_settings(settings, account_id="acct_1"),
        ShopifyCheckoutProvider(settings, shop_domain=SHOP, storefront_token=None),
    ]

    assert [(s.provider, s.supports_incremental) for s in sources] == [("stripe", False), ("shopify", True)]
    assert [p.provider for p in providers] == ["stripe", "shopify"]
