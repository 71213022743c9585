"""Catalog sync from Shopify and Stripe into the database, through HTTP and the `reelcart` CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

import api.catalog.sync as sync_module
from api.brands.models import Brand
from api.catalog.job_executors import SyncJobExecutor
from api.catalog.models import ImageFetchJob, Product, ProductImage, Variant
from api.cli import app as cli_app
from api.db import create_db_engine
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobRef
from api.linking.models import LinkJob
from api.linking.service import catalog_items
from api.settings import ApiSettings, get_settings
from commerce.crypto import TokenCipher, generate_token_key
from tests.api.commerce_support import (
    ACCOUNT,
    ADMIN_TOKEN,
    SHOP,
    World,
    connect_shopify,
    connect_stripe,
    make_shoppable,
)
from tests.api.factories import make_checkout, make_episode, make_placement, make_product
from tests.commerce.fakes.loopback import LoopbackServer, RecordedRequest, Reply
from tests.commerce.fakes.shopify_fake import FakeShopify, product_node, variant_node
from tests.commerce.fakes.stripe_fake import API_KEY, price, product
from tests.utils.api import BrandAccount, RecordingQueue
from tests.utils.commerce import SHOPIFY_API_SECRET, STRIPE_WEBHOOK_SECRET

CLI_TOKEN_KEY = generate_token_key()
Catalog = dict[str, list[tuple[str, str, Decimal, str, bool]]]


@pytest.fixture
def shop(world: World, brand: BrandAccount) -> World:
    """A connected shop with two products (the hoodie in two sizes, one sold out)."""
    connect_shopify(world.client, brand)
    world.shopify.products = [
        product_node(
            1,
            "Lead hoodie",
            [variant_node(11, sku="HOODIE-M"), variant_node(12, sku="HOODIE-L", title="L", available=False)],
        ),
        product_node(
            2, "Scarf", [variant_node(21, price="19.00", sku="SCARF")], updated_at="2026-11-21T09:00:00Z"
        ),
    ]
    return world


def run_sync_job(world: World, brand: BrandAccount, provider: str, **params: Any) -> dict[str, Any]:
    """Queue a sync through the API (202 + Location), run it as a worker would, return the job."""
    response = world.client.post(f"/v1/catalog/sync/{provider}", params=params, headers=brand.headers)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/sync-jobs/{response.json()['id']}"
    state = world.client.app.state  # type: ignore[attr-defined]
    queue: RecordingQueue = state.job_queue
    assert queue.enqueued[-1] == JobRef(JobKind.SYNC, uuid.UUID(response.json()["id"]))
    SyncJobExecutor(state.engine, state.settings, queue, lambda: world.commerce)(queue.enqueued[-1].id)
    job: dict[str, Any] = world.client.get(response.headers["location"], headers=brand.headers).json()
    return job


def _variant(engine: Engine, sku: str) -> uuid.UUID:
    with Session(engine) as session:
        return session.exec(select(Variant.id).where(Variant.sku == sku)).one()


def sync(world: World, brand: BrandAccount, provider: str, **params: Any) -> dict[str, Any]:
    job = run_sync_job(world, brand, provider, **params)
    assert (job["state"], job["error"], set(job["seconds"])) == ("done", None, {"sync"}), job
    report: dict[str, Any] = job["report"]
    return report


def catalog(engine: Engine, brand: BrandAccount) -> Catalog:
    """title → [(provider variant id, sku, price, currency, available)], what shoppers would see."""
    with Session(engine) as session:
        products = session.exec(select(Product).where(Product.brand_id == brand.brand.id)).all()
        result: Catalog = {}
        for row in products:
            variants = session.exec(
                select(Variant).where(Variant.product_id == row.id).order_by(col(Variant.sku))
            ).all()
            result[row.title] = [
                (
                    v.shopify_variant_gid or v.stripe_price_id or "",
                    v.sku,
                    v.price,
                    v.currency,
                    v.available,
                )
                for v in variants
            ]
        return result


def test_a_shopify_sync_creates_products_variants_and_images(
    shop: World, brand: BrandAccount, engine: Engine
) -> None:
    # When the brand syncs its shop for the first time
    report = sync(shop, brand, "shopify")

    # Then the report lists what was created, by provider id
    assert report == {
        "provider": "shopify",
        "full": True,
        "created": ["gid://shopify/Product/1", "gid://shopify/Product/2"],
        "updated": [],
        "unchanged": [],
        "removed": [],
        "failed": [],
        "seen": 2,
    }
    # And the catalog holds our prices and availability, keyed by the provider's ids
    assert catalog(engine, brand) == {
        "Lead hoodie": [
            ("gid://shopify/ProductVariant/12", "HOODIE-L", Decimal("59.900"), "EUR", False),
            ("gid://shopify/ProductVariant/11", "HOODIE-M", Decimal("59.900"), "EUR", True),
        ],
        "Scarf": [("gid://shopify/ProductVariant/21", "SCARF", Decimal("19.000"), "EUR", True)],
    }
    with Session(engine) as session:
        hoodie = session.exec(select(Product).where(Product.title == "Lead hoodie")).one()
        images = session.exec(select(ProductImage).where(ProductImage.product_id == hoodie.id)).all()
        assert (hoodie.shopify_product_gid, hoodie.vendor, [image.source_url for image in images]) == (
            "gid://shopify/Product/1",
            "Drama Merch",
            ["https://cdn.shopify.test/p1.jpg"],
        )
        synced = session.get(Brand, brand.brand.id)
        assert synced is not None
        assert synced.catalog_synced_at is not None


def test_an_image_url_longer_than_a_row_holds_is_left_out_not_a_failed_sync(
    shop: World, brand: BrandAccount, engine: Engine
) -> None:
    # Given a shop product whose second image is a signed CDN URL past the 2,000 characters stored
    long_url = "https://cdn.shopify.test/signed.jpg?token=" + "x" * 2000
    node = shop.shopify.products[1]
    node["media"] = {
        "nodes": [{"image": {"url": "https://cdn.shopify.test/p2.jpg"}}, {"image": {"url": long_url}}]
    }

    report = sync(shop, brand, "shopify")

    # Then the product syncs with the image it can hold (the sync used to fail on the column's length)
    assert (report["created"], report["failed"]) == (
        ["gid://shopify/Product/1", "gid://shopify/Product/2"],
        [],
    )
    with Session(engine) as session:
        scarf = session.exec(select(Product).where(Product.title == "Scarf")).one()
        images = session.exec(select(ProductImage).where(ProductImage.product_id == scarf.id)).all()
        assert [image.source_url for image in images] == ["https://cdn.shopify.test/p2.jpg"]


def test_syncing_twice_changes_nothing(
    shop: World, brand: BrandAccount, engine: Engine, job_queue: RecordingQueue
) -> None:
    sync(shop, brand, "shopify")
    # The new products' image URLs are fetched (then indexed for linking) in the background.
    (_, refresh) = job_queue.enqueued
    with Session(engine) as session:
        job = session.get(ImageFetchJob, refresh.id)
        assert job is not None
        assert refresh.kind == JobKind.IMAGES
        job.state = JobState.DONE
        session.add(job)
        session.commit()
    before = catalog(engine, brand)
    again = sync(shop, brand, "shopify", full=True)
    assert (again["created"], again["updated"], again["unchanged"]) == (
        [],
        [],
        ["gid://shopify/Product/1", "gid://shopify/Product/2"],
    )
    assert catalog(engine, brand) == before
    assert [job.kind for job in job_queue.enqueued] == [JobKind.SYNC, JobKind.IMAGES, JobKind.SYNC]


def test_an_incremental_sync_asks_only_for_products_updated_since_the_last_one(
    shop: World, brand: BrandAccount, engine: Engine
) -> None:
    # Given the last sync was on 2026-11-21 at 08:00, after the hoodie changed but before the scarf did
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        stored.catalog_synced_at = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
        session.add(stored)
        session.commit()

    # When the brand syncs without --full
    report = sync(shop, brand, "shopify")

    # Then Shopify was asked for newer products only, and only the scarf was read
    assert (
        shop.shopify_server.requests[0].json()["variables"]["query"] == "updated_at:>='2026-11-21T08:00:00Z'"
    )
    assert (report["full"], report["created"], report["seen"]) == (False, ["gid://shopify/Product/2"], 1)
    assert list(catalog(engine, brand)) == ["Scarf"]


def test_a_price_change_updates_the_variant_and_the_timeline_that_shows_it(
    shop: World, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    # Given a synced hoodie shown by an approved placement
    sync(shop, brand, "shopify")
    item = make_shoppable(engine, settings, brand, sku="CSV-HOODIE")
    with Session(engine) as session:
        hoodie = session.exec(
            select(Product).where(Product.shopify_product_gid == "gid://shopify/Product/1")
        ).one()
        placement = session.get(type(item.placement), item.placement.id)
        assert placement is not None
        placement.chosen_product_id = hoodie.id
        hoodie_id, version = hoodie.id, hoodie.version
        session.add(placement)
        session.commit()

    # When the price drops in Shopify and the brand syncs everything again
    shop.shopify.products[0]["variants"][0]["price"] = "39.90"
    report = sync(shop, brand, "shopify", full=True)

    # Then the hoodie is reported updated, at its next version (an editor holding the last is told to
    # reload), and the public timeline shows the new price
    assert report["updated"] == ["gid://shopify/Product/1"]
    with Session(engine) as session:
        synced = session.get(Product, hoodie_id)
        assert synced is not None
        assert synced.version == version + 1
    timeline = shop.client.get(f"/v1/episodes/{item.episode.id}/timeline").json()
    (shown,) = timeline["placements"]
    assert [(v["sku"], v["price"], v["available"]) for v in shown["product"]["variants"]] == [
        ("HOODIE-M", "39.90", True),
        ("HOODIE-L", "59.90", False),
    ]


def test_a_full_sync_removes_what_the_shop_no_longer_sells_but_keeps_sold_variants(
    shop: World, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    # Given both products synced, and a shopper already checked out the scarf
    sync(shop, brand, "shopify")
    item = make_shoppable(engine, settings, brand, sku="CSV-ONLY")
    make_checkout(engine, item.placement, _variant(engine, "SCARF"), click_id="click-scarf", amount="19.00")

    # When both disappear from the shop
    shop.shopify.products = []
    report = sync(shop, brand, "shopify", full=True)

    # Then both are reported removed: the hoodie is gone, the sold scarf stays but cannot be bought
    assert report["removed"] == ["gid://shopify/Product/1", "gid://shopify/Product/2"]
    assert catalog(engine, brand) == {
        "Lead hoodie": [("", "CSV-ONLY", Decimal("59.900"), "EUR", True)],
        "Scarf": [("gid://shopify/ProductVariant/21", "SCARF", Decimal("19.000"), "EUR", False)],
    }
    # And the next full sync does not report the retired scarf again
    assert sync(shop, brand, "shopify", full=True)["removed"] == []


def test_a_product_sold_between_the_syncs_count_and_its_deletion_is_retired_not_a_failed_sync(
    shop: World, brand: BrandAccount, engine: Engine, settings: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the scarf synced and checked out, by a checkout the sync's first count does not see yet (it
    # committed after that count; the deletion counts again under its locks)
    sync(shop, brand, "shopify")
    item = make_shoppable(engine, settings, brand, sku="CSV-ONLY")
    make_checkout(engine, item.placement, _variant(engine, "SCARF"), click_id="click-scarf", amount="19.00")
    monkeypatch.setattr(sync_module, "checkouts_of", lambda *_: 0)

    # When the scarf disappears from the shop
    shop.shopify.products = [p for p in shop.shopify.products if "Scarf" not in str(p)]
    report = sync(shop, brand, "shopify", full=True)

    # Then the sync does not fail on the refused deletion: the scarf is retired, as a sold product is
    assert report["removed"] == ["gid://shopify/Product/2"]
    assert catalog(engine, brand)["Scarf"] == [
        ("gid://shopify/ProductVariant/21", "SCARF", Decimal("19.000"), "EUR", False)
    ]


def test_a_variant_dropped_by_the_shop_is_deleted_unless_it_was_sold_then_it_is_retired(
    shop: World, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    # Given the hoodie synced in two sizes, and a checkout started for the M
    sync(shop, brand, "shopify")
    item = make_shoppable(engine, settings, brand, sku="CSV-ONLY")
    make_checkout(
        engine, item.placement, _variant(engine, "HOODIE-M"), click_id="click-medium", amount="59.90"
    )

    # When the shop drops both sizes for a new one
    shop.shopify.products[0] = product_node(1, "Lead hoodie", [variant_node(13, sku="HOODIE-XL", title="XL")])
    sync(shop, brand, "shopify", full=True)

    # Then the L is deleted, the sold M stays but cannot be bought, and the XL is new
    with Session(engine) as session:
        synced = session.exec(
            select(Variant).where(col(Variant.shopify_variant_gid).like("%/ProductVariant/1%"))
        ).all()
        assert sorted((variant.sku, variant.available) for variant in synced) == [
            ("HOODIE-M", False),
            ("HOODIE-XL", True),
        ]


def test_a_shopify_sku_already_used_by_an_imported_variant_gets_one_from_the_provider_id(
    shop: World, brand: BrandAccount, engine: Engine
) -> None:
    make_product(engine, brand.brand.id, "Imported scarf", sku="SCARF")
    sync(shop, brand, "shopify")
    assert catalog(engine, brand)["Scarf"] == [
        ("gid://shopify/ProductVariant/21", "shopify-21", Decimal("19.000"), "EUR", True)
    ]


def test_a_stripe_sync_reads_prices_and_reports_what_cannot_sell(
    world: World, brand: BrandAccount, engine: Engine
) -> None:
    # Given a Stripe account with a one-time price and a subscription
    connect_stripe(world.client, brand)
    mug = product("prod_mug", "Mug", images=["https://files.stripe.test/mug.png"])
    club = product("prod_club", "Fan club")
    world.stripe.prices = [
        price("price_mug", mug, unit_amount=1250, lookup_key="MUG-1"),
        price("price_club", club, unit_amount=500, kind="recurring"),
    ]

    # When
    report = sync(world, brand, "stripe")

    # Then the mug is in the catalog and the subscription is a failure with its reason
    assert report == {
        "provider": "stripe",
        "full": True,
        "created": ["prod_mug"],
        "updated": [],
        "unchanged": [],
        "removed": [],
        "failed": [
            {
                "provider_id": "price_club",
                "reason": "price of prod_club: recurring prices are subscriptions, not hotspot purchases",
            },
            {"provider_id": "prod_club", "reason": "no one-time price with a fixed amount"},
        ],
        "seen": 3,
    }
    assert catalog(engine, brand) == {"Mug": [("price_mug", "MUG-1", Decimal("12.500"), "EUR", True)]}
    # And a Stripe sync does not move the incremental cursor Shopify syncs use
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert stored.catalog_synced_at is None
    assert world.stripe_server.requests[0].headers["stripe-account"] == ACCOUNT


def test_a_provider_failure_mid_sync_fails_the_job_after_its_retries_and_keeps_nothing(
    shop: World, brand: BrandAccount, engine: Engine
) -> None:
    # Given one product per page, and Shopify failing the second page
    shop.configure(shopify_page_size=1)
    answer = shop.shopify.route
    served: list[RecordedRequest] = []

    def second_page_fails(request: RecordedRequest) -> Reply:
        served.append(request)
        return Reply.json(500, {"errors": "Internal Server Error"}) if len(served) == 2 else answer(request)

    # The fake's `faults` list serves the next request, not the n-th; route through a wrapper instead.
    shop.shopify_server._route = second_page_fails

    # When the job runs its last attempt
    shop.client.app.state.settings = shop.settings.model_copy(update={"job_max_attempts": 1})  # type: ignore[attr-defined]
    job = run_sync_job(shop, brand, "shopify")

    # Then it failed with the provider's reason, and the first page's product was rolled back with the rest
    assert len(served) == 2
    assert (job["state"], job["attempts"], job["report"]) == ("failed", 1, None)
    assert job["error"].startswith("gave up after 1 attempts; the last failed with ProviderError: shopify")
    assert catalog(engine, brand) == {}


def test_sync_needs_a_connected_provider_and_a_known_one(world: World, brand: BrandAccount) -> None:
    not_connected = world.client.post("/v1/catalog/sync/shopify", headers=brand.headers)
    unknown = world.client.post("/v1/catalog/sync/etsy", headers=brand.headers)
    assert (not_connected.status_code, not_connected.json()["type"]) == (
        409,
        "https://reelcart.dev/problems/provider-not-connected",
    )
    assert unknown.status_code == 422
    assert world.client.post("/v1/catalog/sync/shopify").status_code == 401


# The CLI -----------------------------------------------------------------------------------------


@dataclass
class CliShop:
    brand_slug: str
    shopify: FakeShopify
    database_url: str


@pytest.fixture
def cli_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliShop]:
    """A real SQLite file for the CLI, a loopback shop, and commerce settings in the environment."""
    fake = FakeShopify(
        products=[
            product_node(1, "Lead hoodie", [variant_node(11)]),
            product_node(2, "Scarf", [variant_node(21)]),
        ]
    )
    server = LoopbackServer(fake.route)
    database_url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    environment = {
        "DATABASE_URL": database_url,
        "MEDIA_DIR": str(tmp_path / "media"),
        "ENVIRONMENT": "test",
        "SECRET_KEY": "cli-test-secret-not-placeholder",
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "SHOPIFY_API_SECRET": SHOPIFY_API_SECRET,
        "SHOPIFY_BASE_URL": server.base_url,
        "TOKEN_ENCRYPTION_KEY": CLI_TOKEN_KEY,
    }
    for name, value in environment.items():
        monkeypatch.setenv(f"REELCART_{name}", value)
    get_settings.cache_clear()
    runner = CliRunner()
    for args in (["db", "upgrade"], ["brand", "create", "Drama Merch", "--slug", "drama-merch"]):
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, result.output
    with server.running():
        yield CliShop(brand_slug="drama-merch", shopify=fake, database_url=database_url)
    get_settings.cache_clear()


def connect_cli_brand(shop: CliShop) -> None:
    engine = create_db_engine(shop.database_url)
    with Session(engine) as session:
        brand = session.exec(select(Brand).where(Brand.slug == shop.brand_slug)).one()
        brand.shopify_shop_domain = SHOP
        brand.shopify_access_token_encrypted = TokenCipher(CLI_TOKEN_KEY).encrypt(ADMIN_TOKEN)
        session.add(brand)
        session.commit()
    engine.dispose()


def test_the_cli_syncs_a_shop_with_a_progress_bar_and_a_summary(cli_shop: CliShop) -> None:
    # Given the CLI's brand is connected to the shop
    connect_cli_brand(cli_shop)

    # When
    result = CliRunner().invoke(
        cli_app, ["catalog", "sync", "shopify", "--brand", cli_shop.brand_slug, "--full"]
    )

    # Then
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        "shopify sync for drama-merch (full): 2 created, 0 updated, 0 unchanged, 0 removed, 0 failed"
    )


def test_a_cli_sync_bringing_new_products_queues_the_relink_the_running_service_starts(
    cli_shop: CliShop,
) -> None:
    # Given the CLI's brand has an episode tagged before its catalog held anything
    connect_cli_brand(cli_shop)
    engine = create_db_engine(cli_shop.database_url)
    with Session(engine) as session:
        brand_id = session.exec(select(Brand.id).where(Brand.slug == cli_shop.brand_slug)).one()
    make_placement(engine, make_episode(engine, brand_id, get_settings()))

    # When it syncs the shop's two products (with their images)
    result = CliRunner().invoke(cli_app, ["catalog", "sync", "shopify", "--brand", cli_shop.brand_slug])

    # Then the re-link of the placement the linker decided is queued with the sync, for the running
    # service's job supervisor to hand out (nothing has yet), and the CLI says so
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        (job,) = session.exec(select(LinkJob)).all()
    assert (job.state, job.product_id, job.linker_decided_only, job.published_at) == (
        JobState.QUEUED,
        None,
        True,
        None,
    )
    assert result.output.strip().splitlines()[-1] == (
        f"queued link job {job.id} to link the 1 placement the linker decided again: the running service "
        f"starts it (GET /v1/link-jobs/{job.id}); `reelcart link --brand drama-merch` links them here and "
        "now (the queued job then changes nothing more)"
    )
    engine.dispose()


def test_the_cli_fails_with_one_line_when_the_brand_is_not_connected(cli_shop: CliShop) -> None:
    result = CliRunner().invoke(cli_app, ["catalog", "sync", "stripe", "--brand", cli_shop.brand_slug])
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        "error: this brand has not connected stripe; GET /v1/brands/me/providers/stripe/connect first"
    )
    unknown = CliRunner().invoke(cli_app, ["catalog", "sync", "etsy", "--brand", cli_shop.brand_slug])
    assert unknown.exit_code == 2


def test_a_sync_that_reorders_a_products_images_keeps_its_marks_on_the_picture_they_were_drawn_on(
    shop: World, brand: BrandAccount, engine: Engine
) -> None:
    # Given a synced hoodie with two images, fetched for linking (each then has a copy, `path`), whose
    # brand marked its own print on the second
    def media(*names: str) -> dict[str, Any]:
        return {"nodes": [{"image": {"url": f"https://cdn.shopify.test/{name}.jpg"}} for name in names]}

    shop.shopify.products[0]["media"] = media("front", "back")
    sync(shop, brand, "shopify")
    with Session(engine, expire_on_commit=False) as session:
        hoodie = session.exec(select(Product).where(Product.title == "Lead hoodie")).one()
        for image in session.exec(select(ProductImage).where(ProductImage.product_id == hoodie.id)).all():
            image.path = f"/media/{image.source_url.rsplit('/', 1)[1] if image.source_url else 'x'}"
            session.add(image)
        session.commit()
        back = session.exec(
            select(ProductImage).where(ProductImage.source_url == "https://cdn.shopify.test/back.jpg")
        ).one()
    marked = shop.client.patch(
        f"/v1/products/{hoodie.id}",
        json={"own_print": [[0.2, 0.2, 0.6, 0.5]], "own_print_image_id": str(back.id)},
        headers=brand.headers,
    )
    assert marked.status_code == 200, marked.text

    # When the shop syncs unchanged, then puts the back first and adds a third image, then drops the back
    unchanged = sync(shop, brand, "shopify", full=True)
    assert "gid://shopify/Product/1" in unchanged["unchanged"]
    shop.shopify.products[0]["media"] = media("back", "front", "side")
    sync(shop, brand, "shopify", full=True)
    reordered = shop.client.get(f"/v1/products/{hoodie.id}", headers=brand.headers).json()
    with Session(engine) as session:
        marked_at = {item.sku: item.own_print_image for item in catalog_items(session, brand.brand.id)}
    shop.shopify.products[0]["media"] = media("front", "side")
    sync(shop, brand, "shopify", full=True)
    dropped = shop.client.get(f"/v1/products/{hoodie.id}", headers=brand.headers).json()

    # Then the marks stay on the back (same image, now first), and once it is gone they are on no image
    assert [image["url"].rsplit("/", 1)[1] for image in reordered["images"]] == [
        "back.jpg",
        "front.jpg",
        "side.jpg",
    ]
    assert reordered["images"][0]["id"] == str(back.id) == reordered["own_print_image_id"]
    assert [image["indexed"] for image in reordered["images"]] == [True, True, False]  # copies kept
    assert marked_at[str(hoodie.id)] == 0  # the linker measures the marks on the back, now first
    assert [image["url"].rsplit("/", 1)[1] for image in dropped["images"]] == ["front.jpg", "side.jpg"]
    assert dropped["own_print_image_id"] == str(back.id)
    assert dropped["own_print"] == [[0.2, 0.2, 0.6, 0.5]]


def _queued_link_jobs(engine: Engine, brand: BrandAccount) -> list[LinkJob]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(LinkJob).where(LinkJob.brand_id == brand.brand.id, LinkJob.index_only == False)  # noqa: E712
            ).all()
        )


def test_a_sync_that_renames_a_product_relinks_its_placements_awaiting_review_and_a_price_change_does_not(
    shop: World, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    # Given a synced hoodie that a placement awaiting review has among its candidates
    sync(shop, brand, "shopify")
    with Session(engine) as session:
        hoodie = session.exec(
            select(Product).where(Product.shopify_product_gid == "gid://shopify/Product/1")
        ).one()
    make_placement(engine, make_episode(engine, brand.brand.id, settings), candidates=[hoodie])
    queue: RecordingQueue = shop.client.app.state.job_queue  # type: ignore[attr-defined]

    # When only its price changes in Shopify: nothing the linker reads, no re-link
    shop.shopify.products[0]["variants"][0]["price"] = "39.90"
    assert sync(shop, brand, "shopify", full=True)["updated"] == ["gid://shopify/Product/1"]
    assert _queued_link_jobs(engine, brand) == []

    # When its title changes: its placements awaiting review are linked again, by a job the sync queued
    shop.shopify.products[0]["title"] = "Lead hoodie, night edition"
    sync(shop, brand, "shopify", full=True)
    (job,) = _queued_link_jobs(engine, brand)
    assert (job.product_id, job.linker_decided_only, job.state) == (hoodie.id, True, JobState.QUEUED)
    assert JobRef(JobKind.LINK, job.id) in queue.enqueued

    # And a product no placement names changes nothing more (the scarf renamed)
    shop.shopify.products[1]["title"] = "Long scarf"
    sync(shop, brand, "shopify", full=True)
    assert [queued.id for queued in _queued_link_jobs(engine, brand)] == [job.id]

    # But a new product with an image may be what any placement awaiting review shows: one job over them
    shop.shopify.products.append(product_node(3, "Beanie", [variant_node(31, sku="BEANIE")]))
    sync(shop, brand, "shopify", full=True)
    (brand_wide,) = [queued for queued in _queued_link_jobs(engine, brand) if queued.id != job.id]
    assert (brand_wide.product_id, brand_wide.linker_decided_only) == (None, True)
    assert JobRef(JobKind.LINK, brand_wide.id) in queue.enqueued
