"""Catalog sync into the database: a `CatalogStore` over SQLModel and the use case the route and CLI run.

Products and variants are keyed by provider ids (Shopify GIDs, Stripe product and price ids), so a
sync run twice changes nothing the second time. A product that disappears upstream is deleted, unless
a shopper already checked out one of its variants: then its variants are marked unavailable, because
checkout sessions keep pointing at them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from api.brands.exceptions import ProviderNotConnected
from api.brands.models import Brand, CheckoutProviderName
from api.brands.service import CONNECT_ROUTES, shopify_connected, stripe_connected
from api.catalog.exceptions import AlreadySold, LastVariantShown
from api.catalog.models import Product, ProductImage, Variant
from api.catalog.schemas import MAX_IMAGE_URL_CHARS
from api.catalog.service import bind_own_print, checkouts_of, delete_product, delete_variant
from api.columns import MONEY_DECIMALS, MONEY_DIGITS
from api.errors import NotFound
from api.linking.service import linkable, linker_reads
from api.review.models import CATALOG_SYNC_ACTOR
from api.settings import ApiSettings
from api.timeline.service import episodes_showing, rebuild_timelines
from commerce.catalog import CatalogItem, CatalogProduct, CatalogSource, CatalogVariant, SyncReport
from commerce.crypto import TokenCipher
from commerce.exceptions import CatalogError
from commerce.providers.shopify import ShopifyCatalogSource
from commerce.providers.stripe import StripeCatalogSource
from commerce.settings import CommerceSettings
from commerce.sync import UpsertOutcome, sync_catalog

_MAX_PRICE = Decimal(10) ** (MONEY_DIGITS - MONEY_DECIMALS)
_SKU_LENGTH = 100
_TITLE_LENGTH = 300
_VENDOR_LENGTH = 200


def _provider_product_column(provider: str) -> str:
    return {"shopify": "shopify_product_gid", "stripe": "stripe_product_id"}[provider]


def _provider_variant_column(provider: str) -> str:
    return {"shopify": "shopify_variant_gid", "stripe": "stripe_price_id"}[provider]


def fallback_sku(provider: str, variant_id: str) -> str:
    """A SKU derived from the provider id, for variants without one or whose SKU is already taken."""
    return f"{provider}-{variant_id.rsplit('/', 1)[-1]}"[:_SKU_LENGTH]


@dataclass
class SqlCatalogStore:
    """`commerce.sync.CatalogStore` for one brand. It only flushes; the caller commits once at the end."""

    session: Session
    brand_id: uuid.UUID
    changed_products: set[uuid.UUID] = field(default_factory=set)
    touched_episodes: set[uuid.UUID] = field(default_factory=set)
    # Products already in the catalog whose words, variant names or images the linker reads changed:
    # the placements the linker decided that name them are linked again (`relink_after_sync`). A price
    # or stock change is not among them: Shopify sends a product update for each.
    relink_products: set[uuid.UUID] = field(default_factory=set)
    # Products that became linkable (created with images, or given their first usable one): they may be
    # what any placement the linker decided shows.
    newly_linkable: set[uuid.UUID] = field(default_factory=set)

    def upsert_product(self, product: CatalogProduct) -> UpsertOutcome:
        # Everything that can refuse a product is checked before its first write, so a refused product
        # leaves no rows behind without needing a savepoint (which pysqlite does not do reliably).
        _check_fits(product)
        outcome, row = self._upsert(product)
        if outcome is not UpsertOutcome.UNCHANGED:
            self.changed_products.add(row.id)
        return outcome

    def remove_products_except(self, provider: str, keep: Set[str]) -> tuple[str, ...]:
        column = getattr(Product, _provider_product_column(provider))
        rows = self.session.exec(
            select(Product).where(Product.brand_id == self.brand_id, col(column).is_not(None))
        ).all()
        leaving = [row.id for row in rows if getattr(row, _provider_product_column(provider)) not in keep]
        # All locked up front, in id order: a reviewer or a link job putting one of them on a placement
        # waits for the sync instead of holding it while the sync waits for that placement.
        locked = self.session.exec(
            select(Product).where(col(Product.id).in_(leaving)).order_by(col(Product.id)).with_for_update()
        ).all()
        removed = []
        for row in locked:
            provider_id = getattr(row, _provider_product_column(provider))
            if self.remove_product(row):
                removed.append(provider_id)
        return tuple(sorted(removed))

    def find_product(self, provider: str, provider_id: str) -> Product | None:
        column = getattr(Product, _provider_product_column(provider))
        return self.session.exec(
            select(Product).where(Product.brand_id == self.brand_id, column == provider_id)
        ).first()

    def remove_product(self, product: Product) -> bool:
        """Delete the product, or retire it when it was sold; False when it was already retired."""
        variants = self.session.exec(select(Variant).where(Variant.product_id == product.id)).all()
        if not checkouts_of(self.session, [v.id for v in variants]):
            try:
                shown_in = delete_product(self.session, product, CATALOG_SYNC_ACTOR)
            except AlreadySold:
                # A checkout started since the count (the deletion counts again under its locks, before
                # it changes anything): retired below instead.
                pass
            else:
                self.changed_products.discard(product.id)
                self.touched_episodes.update(shown_in)
                # The placements the linker decided that name it are linked again without it.
                self.relink_products.add(product.id)
                return True
        if not any(variant.available for variant in variants):
            return False
        for variant in variants:
            variant.available = False
            self.session.add(variant)
        product.touch()
        self.session.add(product)
        self.session.flush()
        self.changed_products.add(product.id)
        return True

    # The upsert itself ---------------------------------------------------------------------------

    def _upsert(self, product: CatalogProduct) -> tuple[UpsertOutcome, Product]:
        row = self.find_product(product.provider, product.provider_id)
        created = row is None
        read_before = linker_reads(self.session, row) if row is not None else None
        was_linkable = row is not None and linkable(self.session, row.id)
        if row is None:
            row = Product(brand_id=self.brand_id, title="")
            setattr(row, _provider_product_column(product.provider), product.provider_id)
        changed = _assign(
            row,
            title=product.title[:_TITLE_LENGTH],
            vendor=(product.vendor or "")[:_VENDOR_LENGTH],
            description=product.description,
        )
        self.session.add(row)
        self.session.flush()
        changed |= self._sync_variants(row, product)
        images_changed = self._sync_images(row, _storable(product.image_urls))
        changed |= images_changed
        if not was_linkable and product.image_urls:
            self.newly_linkable.add(row.id)
        elif read_before is not None and (images_changed or linker_reads(self.session, row) != read_before):
            self.relink_products.add(row.id)
        if created:
            return UpsertOutcome.CREATED, row
        if changed:
            row.touch()
            self.session.add(row)
            self.session.flush()
            return UpsertOutcome.UPDATED, row
        return UpsertOutcome.UNCHANGED, row

    def _sync_variants(self, row: Product, product: CatalogProduct) -> bool:
        column = _provider_variant_column(product.provider)
        existing = {
            getattr(variant, column): variant
            for variant in self.session.exec(select(Variant).where(Variant.product_id == row.id)).all()
        }
        changed = False
        seen: set[str] = set()
        for variant in product.variants:
            seen.add(variant.provider_id)
            current = existing.get(variant.provider_id)
            if current is None:
                current = Variant(
                    product_id=row.id,
                    brand_id=self.brand_id,
                    sku=self._free_sku(product.provider, variant, None),
                    price=variant.price.amount,
                    currency=variant.price.currency,
                )
                setattr(current, column, variant.provider_id)
                changed = True
            elif variant.sku and current.sku != variant.sku[:_SKU_LENGTH]:
                changed |= _assign(current, sku=self._free_sku(product.provider, variant, current.id))
            changed |= _assign(
                current,
                title=variant.title[:_TITLE_LENGTH] or "Default",
                price=variant.price.amount,
                currency=variant.price.currency,
                available=variant.available,
            )
            self.session.add(current)
            # Flushed one by one so the next variant's SKU check sees this one.
            self.session.flush()
        for provider_id, gone in existing.items():
            if provider_id in seen:
                continue
            try:
                delete_variant(self.session, gone)
                changed = True
            except NotFound:
                changed = True  # deleted meanwhile (by the brand): gone all the same
            except (AlreadySold, LastVariantShown):
                # Its checkouts and orders refer to it, or it is all published hotspots of its product
                # sell: retired (shown sold out), not deleted.
                changed |= _assign(gone, available=False)
                self.session.add(gone)
        self.session.flush()
        return changed

    def _free_sku(self, provider: str, variant: CatalogVariant, own_id: uuid.UUID | None) -> str:
        """The provider's SKU when no other variant of the brand has it, else one from the provider id.

        SKUs are unique per brand (a CSV import may already use the provider's SKU, and Shopify does not
        enforce unique SKUs), while provider ids are what the sync keys on, so a renamed SKU is harmless.
        """
        wanted = (variant.sku or "")[:_SKU_LENGTH]
        fallback = fallback_sku(provider, variant.provider_id)
        for candidate in (wanted, fallback):
            if candidate and self._sku_free(candidate, own_id):
                return candidate
        return f"{fallback[: _SKU_LENGTH - 9]}-{uuid.uuid4().hex[:8]}"

    def _sku_free(self, sku: str, own_id: uuid.UUID | None) -> bool:
        holder = self.session.exec(
            select(Variant.id).where(Variant.brand_id == self.brand_id, Variant.sku == sku)
        ).first()
        return holder is None or holder == own_id

    def _sync_images(self, row: Product, urls: tuple[str, ...]) -> bool:
        # Synced products reference the provider's CDN (a URL, also once fetched for linking, which gives
        # it a path too); uploaded images (a path and no URL) are left alone.
        current = self.session.exec(
            select(ProductImage)
            .where(ProductImage.product_id == row.id, col(ProductImage.source_url).is_not(None))
            .order_by(col(ProductImage.position), col(ProductImage.created_at))
        ).all()
        if tuple(image.source_url for image in current) == urls:
            return False
        # An image the shop still lists keeps its row (and so its id, the copy a fetch made, and any
        # own-print marks drawn on it), moved to its new position; only images the shop dropped go, and
        # new ones are added. Replacing every row would refetch them all and silently move a product's
        # marks onto whatever picture came first.
        kept: dict[str, ProductImage] = {}
        for image in current:
            if image.source_url in urls and image.source_url not in kept:
                kept[image.source_url] = image
            else:
                self.session.delete(image)
        for position, url in enumerate(urls):
            held = kept.pop(url, None)
            image = held or ProductImage(product_id=row.id, brand_id=self.brand_id, source_url=url)
            image.position = position
            self.session.add(image)
        self.session.flush()
        bind_own_print(self.session, row)
        return True


def _storable(urls: tuple[str, ...]) -> tuple[str, ...]:
    """The image URLs a row can hold (`ProductImage.source_url`, 2,000 characters): a longer signed CDN
    URL is left out (the product keeps its other images) rather than failing the whole sync."""
    return tuple(url for url in urls if len(url) <= MAX_IMAGE_URL_CHARS)


def _check_fits(product: CatalogProduct) -> None:
    for variant in product.variants:
        if variant.price.amount >= _MAX_PRICE:
            raise CatalogError(
                product.provider,
                product.provider_id,
                f"variant {variant.provider_id}: price {variant.price} is too large",
            )


def _assign(row: object, **values: object) -> bool:
    """Set attributes that differ; return whether any did (so unchanged products stay unchanged)."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def rebuild_affected_timelines(session: Session, store: SqlCatalogStore, settings: ApiSettings) -> None:
    """Prices and availability shown on timelines must match the catalog once the sync commits. Each
    episode is rebuilt once, all in id order, as a deletion rebuilds its own: two transactions never hold
    each other's timelines."""
    episodes = set(store.touched_episodes)
    for product_id in store.changed_products:
        episodes.update(episodes_showing(session, product_id))
    rebuild_timelines(session, sorted(episodes), settings)


def catalog_source(
    brand: Brand, provider: CheckoutProviderName, commerce: CommerceSettings, cipher: TokenCipher
) -> CatalogSource:
    """The brand's source for `provider`; 409 when the brand has not connected it."""
    if provider is CheckoutProviderName.STRIPE:
        if not stripe_connected(brand):
            raise _not_connected(provider)
        return StripeCatalogSource.from_settings(commerce, account_id=brand.stripe_account_id)
    if not shopify_connected(brand):
        raise _not_connected(provider)
    assert brand.shopify_shop_domain is not None
    assert brand.shopify_access_token_encrypted is not None
    return ShopifyCatalogSource.from_settings(
        commerce,
        shop_domain=brand.shopify_shop_domain,
        access_token=cipher.decrypt(brand.shopify_access_token_encrypted),
    )


def _not_connected(provider: CheckoutProviderName) -> ProviderNotConnected:
    return ProviderNotConnected(
        f"this brand has not connected {provider.value}; {CONNECT_ROUTES[provider]} first"
    )


@dataclass(frozen=True)
class SyncRun:
    report: SyncReport
    # What the sync changed that decides links (`SqlCatalogStore`): for `relink_after_sync`.
    relink_products: frozenset[uuid.UUID] = frozenset()
    newly_linkable: frozenset[uuid.UUID] = frozenset()


def run_sync(
    session: Session,
    brand: Brand,
    source: CatalogSource,
    settings: ApiSettings,
    *,
    full: bool,
    on_item: Callable[[CatalogItem], None] | None = None,
) -> SyncRun:
    """One sync in one transaction (the caller commits). Provider errors propagate and nothing is kept.

    Incremental syncs start from `brand.catalog_synced_at`, which only incremental-capable sources
    (Shopify) move forward: a Stripe sync always reads everything and must not hide Shopify changes.
    """
    started = datetime.now(UTC)
    since = None if full else brand.catalog_synced_at
    store = SqlCatalogStore(session, brand.id)
    report = sync_catalog(source, store, since=since, on_item=on_item)
    rebuild_affected_timelines(session, store, settings)
    if source.supports_incremental:
        brand.catalog_synced_at = started
        session.add(brand)
        session.flush()
    return SyncRun(report, frozenset(store.relink_products), frozenset(store.newly_linkable))
