"""Shopify products as catalog products: cursor pagination, incremental sync by `updated_at`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from commerce.catalog import CatalogFailure, CatalogItem, CatalogProduct, CatalogVariant
from commerce.exceptions import CatalogError, MoneyError, ProviderError
from commerce.money import Money, parse_amount
from commerce.providers.shopify.admin import PROVIDER, ShopifyAdmin
from commerce.providers.shopify.documents import load_document
from commerce.settings import CommerceSettings

VARIANT_PAGE_SIZE = 100  # matches variants(first: 100) in product_fields.graphql


def updated_since_query(since: datetime) -> str:
    """Shopify search syntax; `>=` because a product updated in the same second must not be missed
    (re-reading one is harmless, upserts are idempotent)."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"updated_at:>='{stamp}'"


def products_page_variables(page_size: int, after: str | None, since: datetime | None) -> dict[str, Any]:
    variables: dict[str, Any] = {"first": page_size, "after": after}
    if since is not None:
        variables["query"] = updated_since_query(since)
    return variables


class ShopifyCatalogSource:
    provider = PROVIDER
    supports_incremental = True

    def __init__(self, admin: ShopifyAdmin, *, page_size: int = 50) -> None:
        self._admin = admin
        self._page_size = page_size

    @classmethod
    def from_settings(
        cls, settings: CommerceSettings, *, shop_domain: str, access_token: str
    ) -> ShopifyCatalogSource:
        admin = ShopifyAdmin(settings, shop_domain=shop_domain, access_token=access_token)
        return cls(admin, page_size=settings.shopify_page_size)

    def fetch_products(self, since: datetime | None = None) -> Iterator[CatalogItem]:
        document = load_document("products.graphql")
        after: str | None = None
        while True:
            data = self._admin.execute(document, products_page_variables(self._page_size, after, since))
            currency = _currency(data)
            page = _field(data, "products")
            for node in page.get("nodes") or []:
                yield self._item(node, currency)
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")
            if not after:
                raise ProviderError(
                    PROVIDER, "products page says hasNextPage but has no endCursor", retryable=False
                )

    def fetch_product(self, product_id: str) -> CatalogItem | None:
        """One product by GID (after a products/create|update webhook); None when it no longer exists."""
        data = self._admin.execute(load_document("product.graphql"), {"id": product_id})
        node = data.get("product")
        if node is None:
            return None
        return self._item(node, _currency(data))

    def _item(self, node: dict[str, Any], currency: str) -> CatalogItem:
        product_id = str(node.get("id", "?"))
        variants_page = node.get("variants") or {}
        variant_nodes = list(variants_page.get("nodes") or [])
        info = variants_page.get("pageInfo") or {}
        if info.get("hasNextPage"):
            variant_nodes.extend(self._more_variants(product_id, info.get("endCursor")))
        try:
            return product_from_node(node, variant_nodes, currency)
        except CatalogError as error:
            return CatalogFailure(PROVIDER, product_id, error.reason)
        except MoneyError as error:
            return CatalogFailure(PROVIDER, product_id, str(error))
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            return CatalogFailure(PROVIDER, product_id, f"unexpected product shape ({error!r})")

    def _more_variants(self, product_id: str, after: str | None) -> Iterator[dict[str, Any]]:
        document = load_document("product_variants.graphql")
        while after:
            data = self._admin.execute(
                document, {"id": product_id, "first": VARIANT_PAGE_SIZE, "after": after}
            )
            page = (_field(data, "product")).get("variants") or {}
            yield from page.get("nodes") or []
            info = page.get("pageInfo") or {}
            after = info.get("endCursor") if info.get("hasNextPage") else None


def _field(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise ProviderError(PROVIDER, f"GraphQL data has no {name}", retryable=False)
    return value


def _currency(data: dict[str, Any]) -> str:
    code = (_field(data, "shop")).get("currencyCode")
    if not isinstance(code, str):
        raise ProviderError(PROVIDER, "shop has no currencyCode", retryable=False)
    return code


def _image_urls(media: dict[str, Any] | None) -> tuple[str, ...]:
    # Non-image media (video, 3D) match no inline fragment and arrive as empty objects.
    nodes = (media or {}).get("nodes") or []
    return tuple(node["image"]["url"] for node in nodes if node.get("image") and node["image"].get("url"))


def _variant_price(variant: dict[str, Any], currency: str) -> Money:
    try:
        return Money(parse_amount(str(variant["price"])), currency)
    except MoneyError as error:
        raise CatalogError(
            PROVIDER, str(variant.get("id")), f"variant {variant.get('id')}: {error}"
        ) from error


def product_from_node(
    node: dict[str, Any], variant_nodes: list[dict[str, Any]], currency: str
) -> CatalogProduct:
    active = node["status"] == "ACTIVE"
    variants = tuple(
        CatalogVariant(
            provider_id=variant["id"],
            title=variant["title"],
            price=_variant_price(variant, currency),
            # A draft or archived product is not for sale even if its variants have stock.
            available=bool(variant["availableForSale"]) and active,
            sku=variant.get("sku") or None,
            image_url=next(iter(_image_urls(variant.get("media"))), None),
            options=tuple(
                (option["name"], option["value"]) for option in variant.get("selectedOptions") or []
            ),
        )
        for variant in variant_nodes
    )
    if not variants:
        raise CatalogError(PROVIDER, node["id"], "product has no variants")
    return CatalogProduct(
        provider=PROVIDER,
        provider_id=node["id"],
        title=node["title"],
        variants=variants,
        active=active,
        description=node.get("description") or "",
        handle=node.get("handle"),
        vendor=node.get("vendor") or None,
        image_urls=_image_urls(node.get("media")),
        updated_at=datetime.fromisoformat(node["updatedAt"]) if node.get("updatedAt") else None,
    )
