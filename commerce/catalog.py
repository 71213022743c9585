"""Catalog value types and the port every catalog source (Shopify, Stripe, CSV) implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from commerce.money import Money


@dataclass(frozen=True, slots=True)
class CatalogVariant:
    """One purchasable SKU; `provider_id` is what checkout sends (Shopify variant GID or Stripe price id)."""

    provider_id: str
    title: str
    price: Money
    available: bool
    sku: str | None = None
    image_url: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """A product as the provider describes it, already converted to our money and availability rules."""

    provider: str
    provider_id: str
    title: str
    variants: tuple[CatalogVariant, ...]
    active: bool = True
    description: str = ""
    handle: str | None = None
    vendor: str | None = None
    image_urls: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CatalogFailure:
    """A provider record we could not import, with the reason shown in the sync report."""

    provider: str
    provider_id: str
    reason: str


CatalogItem = CatalogProduct | CatalogFailure


class CatalogSource(Protocol):
    """Reads a brand's products from one provider."""

    @property
    def provider(self) -> str: ...

    @property
    def supports_incremental(self) -> bool:
        """Whether `since` narrows the fetch; sources that cannot filter by update time fetch everything."""
        ...

    def fetch_products(self, since: datetime | None = None) -> Iterator[CatalogItem]:
        """Yield every product (updated after `since` when given), page by page, lazily."""
        ...


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did, by provider id. `failed` carries reasons; nothing failed silently."""

    provider: str
    full: bool
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[CatalogFailure, ...] = field(default=())

    @property
    def seen(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged) + len(self.failed)
