"""Stripe Products and Prices into the catalog, through the real SDK against a loopback Stripe."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from commerce.catalog import CatalogFailure, CatalogProduct, CatalogVariant, SyncReport
from commerce.exceptions import ProviderError
from commerce.money import Money
from commerce.providers.stripe import StripeCatalogSource, build_stripe_client
from commerce.sync import sync_catalog
from tests.commerce.factories import InMemoryCatalogStore
from tests.commerce.fakes.loopback import LoopbackServer
from tests.commerce.fakes.stripe_fake import NOW, FakeStripe, error_reply, price, product
from tests.utils.commerce import make_settings

ACCOUNT = "acct_1BrandDrama"
Fake = tuple[FakeStripe, LoopbackServer]
HOODIE = product("prod_hoodie", "Lead's hoodie", images=["https://files.stripe.test/hoodie.jpg"])
MUG = product("prod_mug", "Café mug")
CLUB = product("prod_club", "Fan club")


def source_for(server: LoopbackServer, page_size: int = 2) -> StripeCatalogSource:
    settings = make_settings(stripe_api_base=server.base_url)
    return StripeCatalogSource(
        build_stripe_client(settings),
        account_id=ACCOUNT,
        timeout_s=settings.stripe_timeout_s,
        page_size=page_size,
    )


def hoodie_product() -> CatalogProduct:
    return CatalogProduct(
        provider="stripe",
        provider_id="prod_hoodie",
        title="Lead's hoodie",
        variants=(
            CatalogVariant(
                provider_id="price_hoodie_m",
                title="Size M",
                price=Money(Decimal("59.90"), "EUR"),
                available=True,
                sku="hoodie-m",
                image_url="https://files.stripe.test/hoodie.jpg",
            ),
            CatalogVariant(
                provider_id="price_hoodie_l",
                title="Lead's hoodie",
                price=Money(Decimal("64.90"), "EUR"),
                available=True,
                image_url="https://files.stripe.test/hoodie.jpg",
            ),
        ),
        active=True,
        description="Lead's hoodie as seen in episode 3",
        image_urls=("https://files.stripe.test/hoodie.jpg",),
        updated_at=datetime.fromtimestamp(NOW + 60, tz=UTC),
    )


def test_prices_across_pages_group_into_products_and_unsellable_prices_are_reported(
    fake_stripe: Fake,
) -> None:
    # Given five active prices over three pages: two sizes, a yen mug, a subscription, a pay-what-you-want
    fake, server = fake_stripe
    fake.prices = [
        price("price_hoodie_m", HOODIE, unit_amount=5990, nickname="Size M", lookup_key="hoodie-m"),
        price("price_mug", MUG, unit_amount=1200, currency="jpy"),
        price("price_hoodie_l", HOODIE, unit_amount=6490),
        price("price_club", CLUB, unit_amount=500, kind="recurring"),
        price("price_mug_tip", MUG, unit_amount=None),
        price("price_old", HOODIE, unit_amount=100, active=False),
    ]

    # When
    items = list(source_for(server).fetch_products())

    # Then
    assert items == [
        hoodie_product(),
        CatalogFailure(
            "stripe",
            "price_mug_tip",
            "price of prod_mug: no fixed unit_amount (customer-chosen or tiered pricing)",
        ),
        CatalogProduct(
            provider="stripe",
            provider_id="prod_mug",
            title="Café mug",
            variants=(
                CatalogVariant(
                    provider_id="price_mug",
                    title="Café mug",
                    price=Money(Decimal(1200), "JPY"),
                    available=True,
                ),
            ),
            description="Café mug as seen in episode 3",
            updated_at=datetime.fromtimestamp(NOW + 60, tz=UTC),
        ),
        CatalogFailure(
            "stripe",
            "price_club",
            "price of prod_club: recurring prices are subscriptions, not hotspot purchases",
        ),
        CatalogFailure("stripe", "prod_club", "no one-time price with a fixed amount"),
    ]
    # And every page was read on the brand's connected account, following the cursor
    assert [
        (r.path.split("starting_after=")[-1] if "starting_after" in r.path else None) for r in server.requests
    ] == [
        None,
        "price_mug",
        "price_club",
    ]
    assert {r.headers["stripe-account"] for r in server.requests} == {ACCOUNT}


def test_prices_are_read_in_stripe_minor_units_and_fractional_krona_reported(fake_stripe: Fake) -> None:
    # Given ISK prices (two decimals at Stripe though none at ISO): 5,000 kr and an old 40.10 kr
    fake, server = fake_stripe
    poster = product("prod_poster", "Poster")
    fake.prices = [
        price("price_poster", poster, unit_amount=500000, currency="isk"),
        price("price_old_poster", poster, unit_amount=4010, currency="isk"),
    ]

    items = list(source_for(server).fetch_products())

    # Then the price is 5,000 ISK (it used to read 500,000 ISK) and the fractional one is reported
    assert items == [
        CatalogFailure(
            "stripe",
            "price_old_poster",
            "price of prod_poster: 40.10 has more decimal places than ISK allows (0)",
        ),
        CatalogProduct(
            provider="stripe",
            provider_id="prod_poster",
            title="Poster",
            variants=(
                CatalogVariant(
                    provider_id="price_poster",
                    title="Poster",
                    price=Money(Decimal(5000), "ISK"),
                    available=True,
                ),
            ),
            description="Poster as seen in episode 3",
            updated_at=datetime.fromtimestamp(NOW + 60, tz=UTC),
        ),
    ]


def test_archived_product_variants_are_unavailable(fake_stripe: Fake) -> None:
    fake, server = fake_stripe
    fake.prices = [price("price_x", product("prod_x", "Old merch", active=False), unit_amount=1000)]

    (item,) = source_for(server).fetch_products()

    assert isinstance(item, CatalogProduct)
    assert (item.active, [v.available for v in item.variants]) == (False, [False])


def test_sync_report_counts_created_updated_unchanged_removed_and_failed(fake_stripe: Fake) -> None:
    # Given a store that already has the hoodie (older title) and a product Stripe no longer sells
    fake, server = fake_stripe
    store = InMemoryCatalogStore()
    stale = replace(hoodie_product(), title="Hoodie (old title)")
    gone = replace(hoodie_product(), provider_id="prod_gone")
    store.products = {("stripe", "prod_hoodie"): stale, ("stripe", "prod_gone"): gone}
    fake.prices = [
        price("price_hoodie_m", HOODIE, unit_amount=5990, nickname="Size M", lookup_key="hoodie-m"),
        price("price_hoodie_l", HOODIE, unit_amount=6490),
        price("price_mug", MUG, unit_amount=1200, currency="jpy"),
        price("price_club", CLUB, unit_amount=500, kind="recurring"),
    ]
    seen: list[str] = []

    # When syncing twice
    first = sync_catalog(source_for(server), store, on_item=lambda item: seen.append(item.provider_id))
    second = sync_catalog(source_for(server), store)

    # Then the first run reports each change, the second finds nothing new
    assert first == SyncReport(
        provider="stripe",
        full=True,
        created=("prod_mug",),
        updated=("prod_hoodie",),
        removed=("prod_gone",),
        failed=(
            CatalogFailure(
                "stripe",
                "price_club",
                "price of prod_club: recurring prices are subscriptions, not hotspot purchases",
            ),
            CatalogFailure("stripe", "prod_club", "no one-time price with a fixed amount"),
        ),
    )
    assert second == replace(first, created=(), updated=(), unchanged=("prod_hoodie", "prod_mug"), removed=())
    assert seen == ["prod_hoodie", "prod_mug", "price_club", "prod_club"]


def test_a_provider_error_mid_sync_aborts_without_removing_anything(fake_stripe: Fake) -> None:
    # Given three products over two pages, and the second page fails
    fake, server = fake_stripe
    fake.prices = [price(f"price_{i}", product(f"prod_{i}", f"Item {i}"), unit_amount=100) for i in range(3)]
    fake.faults_at[2] = error_reply(503, "api_error", "Stripe is temporarily unavailable.")
    store = InMemoryCatalogStore()
    kept = replace(hoodie_product(), provider_id="prod_kept")
    store.products = {("stripe", "prod_kept"): kept}

    # When / Then the sync fails with a retryable provider error
    with pytest.raises(ProviderError) as error:
        sync_catalog(source_for(server), store)
    assert (error.value.retryable, error.value.status) == (True, 503)
    # And nothing was removed on the strength of a half-read catalog
    assert store.products == {("stripe", "prod_kept"): kept}
