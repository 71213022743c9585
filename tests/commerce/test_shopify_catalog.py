"""Shopify Admin GraphQL through the real ShopifyAPI SDK against a loopback shop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import shopify

from commerce.catalog import CatalogFailure, CatalogProduct, CatalogVariant, SyncReport
from commerce.exceptions import ProviderError, ProviderTimeout
from commerce.money import Money
from commerce.providers.shopify import ShopifyAdmin, ShopifyCatalogSource
from commerce.sync import sync_catalog
from tests.commerce.factories import InMemoryCatalogStore
from tests.commerce.fakes.loopback import LoopbackServer, Reply
from tests.commerce.fakes.shopify_fake import (
    ADMIN_TOKEN,
    SHOP,
    FakeShopify,
    graphql_error,
    product_node,
    variant_node,
)
from tests.utils.commerce import make_settings

Fake = tuple[FakeShopify, LoopbackServer]


def source_for(
    server: LoopbackServer, *, token: str = ADMIN_TOKEN, page_size: int = 2, **settings: object
) -> ShopifyCatalogSource:
    return ShopifyCatalogSource.from_settings(
        make_settings(shopify_base_url=server.base_url, shopify_page_size=page_size, **settings),
        shop_domain=SHOP,
        access_token=token,
    )


def hoodie(number: int = 1) -> CatalogProduct:
    return CatalogProduct(
        provider="shopify",
        provider_id=f"gid://shopify/Product/{number}",
        title="Lead hoodie",
        variants=(
            CatalogVariant(
                provider_id=f"gid://shopify/ProductVariant/{number}1",
                title="M",
                price=Money(Decimal("59.90"), "EUR"),
                available=True,
                sku="HD-M",
                image_url=f"https://cdn.shopify.test/v{number}1.jpg",
                options=(("Size", "M"),),
            ),
        ),
        active=True,
        description="Lead hoodie from the show",
        handle="lead-hoodie",
        vendor="Drama Merch",
        image_urls=(f"https://cdn.shopify.test/p{number}.jpg",),
        updated_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )


def shop_with_products(fake: FakeShopify) -> None:
    fake.products = [
        product_node(1, "Lead hoodie", [variant_node(11, sku="HD-M")]),
        product_node(
            2,
            "Cafe mug",
            [variant_node(21, price="12.00", available=False, title="One size")],
            updated_at="2026-11-22T08:00:00Z",
        ),
        product_node(3, "Broken", [variant_node(31, price="twelve")], updated_at="2026-11-23T08:00:00Z"),
        product_node(
            4,
            "Draft scarf",
            [variant_node(41, price="20.00")],
            status="DRAFT",
            updated_at="2026-11-24T08:00:00Z",
        ),
    ]


def test_full_fetch_follows_cursors_and_converts_products(fake_shopify: Fake) -> None:
    # Given four products, two per page
    fake, server = fake_shopify
    shop_with_products(fake)

    # When
    items = list(source_for(server).fetch_products())

    # Then
    assert items[0] == hoodie()
    assert items[1] == CatalogProduct(
        provider="shopify",
        provider_id="gid://shopify/Product/2",
        title="Cafe mug",
        variants=(
            CatalogVariant(
                provider_id="gid://shopify/ProductVariant/21",
                title="One size",
                price=Money(Decimal("12.00"), "EUR"),
                available=False,
                image_url="https://cdn.shopify.test/v21.jpg",
                options=(("Size", "One size"),),
            ),
        ),
        description="Cafe mug from the show",
        handle="cafe-mug",
        vendor="Drama Merch",
        image_urls=("https://cdn.shopify.test/p2.jpg",),
        updated_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
    )
    assert items[2] == CatalogFailure(
        "shopify",
        "gid://shopify/Product/3",
        "variant gid://shopify/ProductVariant/31: 'twelve' is not a number",
    )
    assert isinstance(items[3], CatalogProduct)
    assert (items[3].active, items[3].variants[0].available) == (False, False)
    # And the SDK called the pinned version with the shop's token, page after page
    assert [r.json()["variables"] for r in server.requests] == [
        {"first": 2, "after": None},
        {"first": 2, "after": "2"},
    ]
    assert {(r.path, r.headers["x-shopify-access-token"]) for r in server.requests} == {
        ("/admin/api/2026-10/graphql.json", ADMIN_TOKEN)
    }


def test_incremental_fetch_asks_only_for_products_updated_since(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    shop_with_products(fake)

    items = list(source_for(server).fetch_products(since=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))

    assert [item.provider_id for item in items] == ["gid://shopify/Product/4"]
    assert server.requests[0].json()["variables"]["query"] == "updated_at:>='2026-11-23T09:00:00Z'"


def test_products_with_more_variants_than_one_page_read_the_rest(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    fake.variant_page_size = 2
    fake.products = [product_node(9, "Sneaker", [variant_node(90 + i, title=str(36 + i)) for i in range(5)])]

    (item,) = source_for(server).fetch_products()

    assert isinstance(item, CatalogProduct)
    assert [v.title for v in item.variants] == ["36", "37", "38", "39", "40"]
    assert [r.json()["variables"].get("after") for r in server.requests] == [None, "2", "4"]


def test_incremental_sync_reports_without_removing(fake_shopify: Fake) -> None:
    # Given the store already has every product, and one changed since
    fake, server = fake_shopify
    shop_with_products(fake)
    store = InMemoryCatalogStore()
    sync_catalog(source_for(server), store)

    # When syncing only recent changes
    report = sync_catalog(source_for(server), store, since=datetime(2026, 11, 24, tzinfo=UTC))

    # Then only the draft scarf was seen and nothing was removed
    assert report == SyncReport(provider="shopify", full=False, unchanged=("gid://shopify/Product/4",))


def test_fetch_one_product_for_a_webhook(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    shop_with_products(fake)
    source = source_for(server)

    assert source.fetch_product("gid://shopify/Product/1") == hoodie()
    assert source.fetch_product("gid://shopify/Product/404") is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (graphql_error("Throttled", "THROTTLED"), (True, None, "THROTTLED")),
        (
            graphql_error("Field 'nope' doesn't exist on type 'Product'", "undefinedField"),
            (False, None, "undefinedField"),
        ),
        (Reply.json(503, {"errors": "unavailable"}), (True, 503, None)),
        (Reply.json(402, {"errors": "Unavailable Shop"}), (False, 402, None)),
        (Reply(200, b"<html>maintenance</html>"), (True, None, None)),
    ],
)
def test_admin_failures_become_provider_errors(
    fake_shopify: Fake, reply: Reply, expected: tuple[bool, int | None, str | None]
) -> None:
    fake, server = fake_shopify
    fake.faults.append(reply)

    with pytest.raises(ProviderError) as error:
        list(source_for(server).fetch_products())

    assert (error.value.retryable, error.value.status, error.value.code) == expected


def test_a_revoked_token_is_not_retryable(fake_shopify: Fake) -> None:
    _, server = fake_shopify

    with pytest.raises(ProviderError) as error:
        list(source_for(server, token="shpat_revoked").fetch_products())

    assert (error.value.retryable, error.value.status, str(error.value)) == (
        False,
        401,
        "shopify: access token refused",
    )


def test_a_slow_admin_api_is_a_provider_timeout(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    fake.faults.append(Reply(200, b"{}", delay_s=1.0))

    with pytest.raises(ProviderTimeout) as error:
        list(source_for(server, shopify_timeout_s=0.3).fetch_products())

    assert (error.value.provider, error.value.retryable) == ("shopify", True)


def test_throttled_and_unavailable_reads_are_retried_with_backoff(fake_shopify: Fake) -> None:
    # Given Shopify throttles once and then answers 503 once
    fake, server = fake_shopify
    shop_with_products(fake)
    fake.faults.extend([graphql_error("Throttled", "THROTTLED"), Reply.json(503, {"errors": "unavailable"})])
    waits: list[float] = []
    settings = make_settings(shopify_base_url=server.base_url, shopify_max_retries=2, shopify_page_size=10)
    admin = ShopifyAdmin(settings, shop_domain=SHOP, access_token=ADMIN_TOKEN, sleep=waits.append)

    # When
    items = list(ShopifyCatalogSource(admin, page_size=10).fetch_products())

    # Then the third attempt succeeded after backing off 1 s then 2 s
    assert (len(items), waits, len(server.requests)) == (4, [1.0, 2.0], 3)


def test_retries_give_up_after_the_configured_count(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    fake.faults.extend([graphql_error("Throttled", "THROTTLED")] * 3)
    waits: list[float] = []
    settings = make_settings(shopify_base_url=server.base_url, shopify_max_retries=1)
    admin = ShopifyAdmin(settings, shop_domain=SHOP, access_token=ADMIN_TOKEN, sleep=waits.append)

    with pytest.raises(ProviderError) as error:
        list(ShopifyCatalogSource(admin).fetch_products())

    assert (error.value.code, waits, len(server.requests)) == ("THROTTLED", [1.0], 2)


def test_without_a_base_url_override_the_sdk_targets_the_shop_and_leaves_no_session_behind() -> None:
    # Given production settings (no base URL override)
    admin = ShopifyAdmin(make_settings(), shop_domain=SHOP, access_token=ADMIN_TOKEN)

    # When / Then the SDK computes the shop's versioned endpoint
    assert admin.endpoint == "https://drama-merch.myshopify.com/admin/api/2026-10/graphql.json"
    # And no brand's token stays active on the thread for the next brand's call
    assert "X-Shopify-Access-Token" not in shopify.ShopifyResource.get_headers()


def test_a_failed_call_also_clears_the_session(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    fake.faults.append(Reply.json(503, {"errors": "unavailable"}))

    with pytest.raises(ProviderError):
        list(source_for(server).fetch_products())

    assert "X-Shopify-Access-Token" not in shopify.ShopifyResource.get_headers()


def test_concurrent_syncs_for_two_brands_never_mix_their_tokens(fake_shopify: Fake) -> None:
    # Given two brands' tokens, told apart on the server by the page size each brand uses
    fake, server = fake_shopify
    shop_with_products(fake)
    fake.admin_tokens = {"shpat_brand_a", "shpat_brand_b"}
    brands = {"shpat_brand_a": 1, "shpat_brand_b": 3}

    def sync(token: str) -> int:
        return len(list(source_for(server, token=token, page_size=brands[token]).fetch_products()))

    # When eight syncs run at once on different threads
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(sync, list(brands) * 4))

    # Then every sync saw the whole catalog and every request carried its own brand's token
    assert counts == [4] * 8
    assert {
        (r.headers["x-shopify-access-token"], r.json()["variables"]["first"]) for r in server.requests
    } == {
        ("shpat_brand_a", 1),
        ("shpat_brand_b", 3),
    }
