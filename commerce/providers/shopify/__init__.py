"""Shopify adapter: the only package that imports `shopify` (Admin GraphQL) and calls the Storefront API."""

from commerce.providers.shopify.admin import SHOP_DOMAIN, ShopifyAdmin
from commerce.providers.shopify.catalog import (
    ShopifyCatalogSource,
    products_page_variables,
    updated_since_query,
)
from commerce.providers.shopify.documents import ADMIN_DOCUMENTS, STOREFRONT_DOCUMENTS, load_document
from commerce.providers.shopify.oauth import (
    ShopifyGrant,
    callback_hmac,
    create_storefront_token,
    exchange_shopify_code,
    install_url,
    storefront_token_variables,
    verify_callback,
)
from commerce.providers.shopify.orders import OrderRefunds, ShopifyOrders
from commerce.providers.shopify.storefront import (
    ShopifyCheckoutProvider,
    cart_create_variables,
    cart_permalink,
)

__all__ = [
    "ADMIN_DOCUMENTS",
    "SHOP_DOMAIN",
    "STOREFRONT_DOCUMENTS",
    "OrderRefunds",
    "ShopifyAdmin",
    "ShopifyCatalogSource",
    "ShopifyCheckoutProvider",
    "ShopifyGrant",
    "ShopifyOrders",
    "callback_hmac",
    "cart_create_variables",
    "cart_permalink",
    "create_storefront_token",
    "exchange_shopify_code",
    "install_url",
    "load_document",
    "products_page_variables",
    "storefront_token_variables",
    "updated_since_query",
    "verify_callback",
]
