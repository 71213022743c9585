"""Small builders shared by commerce tests."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

from commerce.catalog import CatalogProduct
from commerce.exceptions import CatalogError
from commerce.sync import UpsertOutcome


@dataclass
class InMemoryCatalogStore:
    """A `CatalogStore` the way the API's database behaves: keyed by (provider, provider id)."""

    products: dict[tuple[str, str], CatalogProduct] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)  # provider id → reason to raise CatalogError

    def upsert_product(self, product: CatalogProduct) -> UpsertOutcome:
        if product.provider_id in self.refuse:
            raise CatalogError(product.provider, product.provider_id, self.refuse[product.provider_id])
        key = (product.provider, product.provider_id)
        previous = self.products.get(key)
        self.products[key] = product
        if previous is None:
            return UpsertOutcome.CREATED
        return UpsertOutcome.UNCHANGED if previous == product else UpsertOutcome.UPDATED

    def remove_products_except(self, provider: str, keep: Set[str]) -> tuple[str, ...]:
        gone = tuple(pid for (prov, pid) in self.products if prov == provider and pid not in keep)
        for pid in gone:
            del self.products[(provider, pid)]
        return gone
