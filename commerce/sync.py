"""Catalog sync: pull from a `CatalogSource`, upsert into a `CatalogStore`, report what changed."""

from __future__ import annotations

import enum
from collections.abc import Callable, Set
from datetime import datetime
from typing import Protocol

from commerce.catalog import CatalogFailure, CatalogItem, CatalogProduct, CatalogSource, SyncReport
from commerce.exceptions import CatalogError


class UpsertOutcome(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class CatalogStore(Protocol):
    """Where synced products live (the API's database). Upserts are keyed by (provider, provider_id)."""

    def upsert_product(self, product: CatalogProduct) -> UpsertOutcome:
        """Insert or update one product and its variants; raise `CatalogError` to fail just this one."""
        ...

    def remove_products_except(self, provider: str, keep: Set[str]) -> tuple[str, ...]:
        """Remove (or mark unavailable) this provider's products not in `keep`; return their ids."""
        ...


def sync_catalog(
    source: CatalogSource,
    store: CatalogStore,
    *,
    since: datetime | None = None,
    on_item: Callable[[CatalogItem], None] | None = None,
) -> SyncReport:
    """Run one sync. Removal happens only on a full sync, since an incremental one sees only changes.

    Provider errors (`ProviderError`) abort the sync and propagate: a half-read catalog must not
    trigger removals. Per-product problems become `failed` entries instead.
    """
    incremental = since is not None and source.supports_incremental
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    failed: list[CatalogFailure] = []
    seen: set[str] = set()
    for item in source.fetch_products(since if incremental else None):
        seen.add(item.provider_id)
        if isinstance(item, CatalogFailure):
            failed.append(item)
        else:
            try:
                outcome = store.upsert_product(item)
            except CatalogError as error:
                failed.append(CatalogFailure(item.provider, item.provider_id, error.reason))
            else:
                {
                    UpsertOutcome.CREATED: created,
                    UpsertOutcome.UPDATED: updated,
                    UpsertOutcome.UNCHANGED: unchanged,
                }[outcome].append(item.provider_id)
        if on_item is not None:
            on_item(item)
    removed = () if incremental else store.remove_products_except(source.provider, seen)
    return SyncReport(
        provider=source.provider,
        full=not incremental,
        created=tuple(created),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        failed=tuple(failed),
    )
