"""Stripe Products and Prices as catalog products: one product per Stripe product, one variant per price."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import stripe
from stripe.params import PriceListParams

from commerce.catalog import CatalogFailure, CatalogItem, CatalogProduct, CatalogVariant
from commerce.exceptions import MoneyError
from commerce.providers.stripe.amounts import from_stripe_amount
from commerce.providers.stripe.client import PROVIDER, build_stripe_client, stripe_errors
from commerce.settings import CommerceSettings


class StripeCatalogSource:
    """Reads a connected account's active prices (with their products expanded) page by page."""

    provider = PROVIDER
    # Stripe lists filter by creation, not by update, so every sync reads the whole catalog.
    supports_incremental = False

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        account_id: str | None,
        timeout_s: float,
        page_size: int = 100,
    ) -> None:
        self._client = client
        self._account_id = account_id
        self._timeout_s = timeout_s
        self._page_size = page_size

    @classmethod
    def from_settings(cls, settings: CommerceSettings, *, account_id: str | None) -> StripeCatalogSource:
        return cls(build_stripe_client(settings), account_id=account_id, timeout_s=settings.stripe_timeout_s)

    def fetch_products(self, since: datetime | None = None) -> Iterator[CatalogItem]:
        del since  # see supports_incremental
        products: dict[str, stripe.Product] = {}
        prices: dict[str, list[stripe.Price]] = {}
        for price in self._active_prices():
            product = price.product
            if isinstance(product, str):
                # Expansion was refused (e.g. a deleted product); nothing to show without a title.
                yield CatalogFailure(PROVIDER, price.id, f"product {product} could not be expanded")
                continue
            products.setdefault(product.id, product)
            prices.setdefault(product.id, []).append(price)
        for product_id, product in products.items():
            yield from _catalog_items(product, prices[product_id])

    def _active_prices(self) -> Iterator[stripe.Price]:
        params: PriceListParams = {"active": True, "expand": ["data.product"], "limit": self._page_size}
        while True:
            with stripe_errors(self._timeout_s):
                page = self._client.v1.prices.list(params, self._options())
            yield from page.data
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id

    def _options(self) -> stripe.RequestOptions:
        return {"stripe_account": self._account_id} if self._account_id else {}


def _catalog_items(product: stripe.Product, prices: list[stripe.Price]) -> Iterator[CatalogItem]:
    variants: list[CatalogVariant] = []
    for price in prices:
        variant_or_reason = _variant(product, price)
        if isinstance(variant_or_reason, str):
            yield CatalogFailure(PROVIDER, price.id, f"price of {product.id}: {variant_or_reason}")
        else:
            variants.append(variant_or_reason)
    if not variants:
        yield CatalogFailure(PROVIDER, product.id, "no one-time price with a fixed amount")
        return
    yield CatalogProduct(
        provider=PROVIDER,
        provider_id=product.id,
        title=product.name,
        variants=tuple(variants),
        active=product.active,
        description=product.description or "",
        image_urls=tuple(product.images),
        updated_at=datetime.fromtimestamp(product.updated, tz=UTC),
    )


def _variant(product: stripe.Product, price: stripe.Price) -> CatalogVariant | str:
    """A variant, or the reason this price cannot be sold from a hotspot."""
    if price.type != "one_time":
        return f"{price.type} prices are subscriptions, not hotspot purchases"
    if price.unit_amount is None:
        return "no fixed unit_amount (customer-chosen or tiered pricing)"
    try:
        amount = from_stripe_amount(price.unit_amount, price.currency)
    except MoneyError as error:
        return str(error)
    return CatalogVariant(
        provider_id=price.id,
        title=price.nickname or product.name,
        price=amount,
        available=price.active and product.active,
        sku=price.lookup_key,
        image_url=product.images[0] if product.images else None,
    )
