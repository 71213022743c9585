"""The console's catalog list in real Chromium against the REAL API (tests/web/real_api.py): a brand finds its
products, changes a price, stops selling a variant (players then show it sold out), deletes a product, and
is told what to do when a product shoppers bought cannot be deleted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, expect
from sqlmodel import Session

from api.catalog.models import Product, ProductImage, Variant
from api.review.models import PlacementStatus
from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.console import drag_on, sign_in, upload_image
from tests.web.factories import Keyframe
from tests.web.media import TestVideo, packshot_png
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import (
    PlacementSeed,
    SeededBrand,
    SeededProduct,
    rows,
    seed_brand,
    seed_checkout,
    seed_episode,
    seed_placements,
    seed_product,
)

pytestmark = pytest.mark.browser

OAT = factories.make_product("oat", "Oat Drink", "Oatly", price="2.49")
COLA = factories.make_product("cola", "Cola Zero", "Fizz")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("catalog-products-console-api"))
    yield api
    api.stop()


def open_catalog(page: Page) -> Locator:
    page.get_by_role("button", name="Catalog…").click()
    dialog = page.get_by_role("dialog", name="Catalog")
    expect(dialog).to_be_visible()
    return dialog


def product_row(dialog: Locator, product: SeededProduct) -> Locator:
    return dialog.locator(f'li[data-product="{product.id}"]')


def variant(engine_owner: LiveApi, variant_id: uuid.UUID) -> Variant:
    [row] = rows(engine_owner.engine, Variant, Variant.id == variant_id)
    return row


def shown_in_episode(
    live_api: LiveApi, brand: SeededBrand, product: SeededProduct, video: TestVideo, title: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """An episode whose public timeline shows `product` (an approved placement): its id, the placement's."""
    episode = seed_episode(live_api.engine, brand, video, title=title)
    [shown] = seed_placements(
        live_api.engine,
        live_api.settings,
        episode,
        [
            PlacementSeed(
                label="bottle",
                start_ms=0,
                end_ms=1500,
                keyframes=(Keyframe(0, (0.3, 0.3, 0.2, 0.3)),),
                candidates=((product, 0.9),),
                link_confidence=0.9,
                status=PlacementStatus.APPROVED,
                chosen=product,
            )
        ],
    )
    return episode, shown.id


def timeline_variants(url: str) -> dict[str, tuple[str, bool]]:
    answer = httpx.get(url, headers={"Cache-Control": "no-cache"})
    assert answer.status_code == 200, answer.text
    return {
        v["sku"]: (v["price"], v["available"])
        for placement in answer.json()["placements"]
        for v in placement["product"]["variants"]
    }


def test_a_brand_changes_a_price_and_stops_selling_a_variant_and_players_show_it(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors, test_video: TestVideo
) -> None:
    page = desk_page
    # Given a brand whose Oat Drink is a hotspot of a public episode, among 27 products
    brand = seed_brand(live_api.engine, "catalog-editor")
    oat = seed_product(live_api.engine, brand, OAT)
    seed_product(live_api.engine, brand, COLA)
    for n in range(25):
        filler = factories.make_product(f"filler{n:02d}", f"Filler {n:02d}", "Acme")
        seed_product(live_api.engine, brand, filler)
    episode, _ = shown_in_episode(live_api, brand, oat, test_video, "Episode 3: Breakfast")
    timeline = f"{live_api.base_url}/v1/episodes/{episode}/timeline"
    assert timeline_variants(timeline) == {"OAT-330": ("2.49", True), "OAT-500": ("1.99", True)}

    sign_in(page, live_api.base_url, brand.key)
    dialog = open_catalog(page)
    expect(dialog.locator("#catalog-count")).to_have_text("27 products in the catalog.")
    products = dialog.get_by_role("list", name="Products").locator(":scope > li")
    expect(products).to_have_count(25)
    dialog.get_by_role("button", name="Load more").click()
    expect(products).to_have_count(27)
    expect(dialog.get_by_role("button", name="Load more")).to_be_hidden()

    # When the brand finds its oat drink by SKU
    dialog.get_by_label("Find products").fill("OAT-500")
    dialog.get_by_role("button", name="Find").click()
    expect(products).to_have_count(1)
    row = product_row(dialog, oat)
    expect(row).to_contain_text("Oat Drink")
    save_330 = row.get_by_role("button", name="Save OAT-330")
    expect(save_330).to_be_disabled()

    # And types a price that is no number: nothing is sent
    message = dialog.locator("#catalog-message")
    row.get_by_label("Price of OAT-330 (EUR)").fill("2,79")
    save_330.click()
    expect(message).to_have_text("Not saved: the price of OAT-330 must be a number such as 4.99.")
    expect(message).to_have_class(re.compile(r"\berror\b"))

    # And one finer than the currency's cent: the API refuses it, and says why
    row.get_by_label("Price of OAT-330 (EUR)").fill("2.795")
    save_330.click()
    expect(message).to_have_text(re.compile(r"^Not saved: 2\.795 has more decimal places than EUR allows"))
    assert variant(live_api, oat.variants[0].id).price == Decimal("2.49")

    # And then the new price, saved with Enter
    row.get_by_label("Price of OAT-330 (EUR)").fill("2.79")
    row.get_by_label("Price of OAT-330 (EUR)").press("Enter")
    expect(message).to_have_text("Saved OAT-330: 2.79 EUR. Players show it from their next timeline read.")
    expect(save_330).to_be_disabled()
    assert variant(live_api, oat.variants[0].id).price == Decimal("2.79")

    # And stops selling the 500 ml
    row.get_by_label("OAT-500 available").uncheck()
    row.get_by_role("button", name="Save OAT-500").click()
    expect(message).to_have_text(
        "Saved OAT-500: sold out: its hotspots say so and take no order. "
        "Players show it from their next timeline read."
    )
    assert variant(live_api, oat.variants[1].id).available is False

    # Then the player's timeline carries both changes
    assert timeline_variants(timeline) == {"OAT-330": ("2.79", True), "OAT-500": ("1.99", False)}

    # And a price typed and not saved survives the list being read again, and saving it later sends only
    # the price: the shop's sync that sold the 330 ml out meanwhile stands
    row.get_by_label("Price of OAT-330 (EUR)").fill("3.10")
    with Session(live_api.engine) as session:
        synced = session.get(Variant, oat.variants[0].id)
        assert synced is not None
        synced.available = False
        session.add(synced)
        session.commit()
    dialog.get_by_role("button", name="Find").click()
    row = product_row(dialog, oat)
    expect(row.get_by_label("Price of OAT-330 (EUR)")).to_have_value("3.10")
    expect(row.get_by_label("OAT-330 available")).not_to_be_checked()
    row.get_by_role("button", name="Save OAT-330").click()
    expect(message).to_have_text("Saved OAT-330: 3.10 EUR. Players show it from their next timeline read.")
    saved = variant(live_api, oat.variants[0].id)
    assert (saved.price, saved.available) == (Decimal("3.10"), False)
    dialog.get_by_label("Find products").fill("no such thing")
    dialog.get_by_role("button", name="Find").click()
    expect(products).to_have_count(0)
    expect(dialog.locator("#catalog-none")).to_have_text("No product matches “no such thing”.")
    assert page_errors == []


def _sold(live_api: LiveApi, brand: SeededBrand, product: SeededProduct, video: TestVideo) -> None:
    """A checkout a shopper started for the product's first variant from a hotspot of an episode."""
    _, shown = shown_in_episode(live_api, brand, product, video, "Episode 4: The Sale")
    seed_checkout(live_api.engine, brand, shown, product.variants[0], "click-catalog-console")


def test_a_brand_deletes_a_product_and_one_shoppers_bought_is_kept_with_what_to_do(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors, test_video: TestVideo
) -> None:
    page = desk_page
    # Given a product shoppers bought, and one nobody did that is a hotspot of an episode
    brand = seed_brand(live_api.engine, "catalog-pruner")
    oat = seed_product(live_api.engine, brand, OAT)
    cola = seed_product(live_api.engine, brand, COLA)
    _sold(live_api, brand, cola, test_video)
    _, oat_hotspot = shown_in_episode(live_api, brand, oat, test_video, "Episode 5: Breakfast")

    sign_in(page, live_api.base_url, brand.key)
    dialog = open_catalog(page)
    expect(dialog.locator("#catalog-count")).to_have_text("2 products in the catalog.")

    # When the brand deletes the one it sold: a first click asks, a second deletes
    product_row(dialog, cola).get_by_role("button", name="Delete “Cola Zero”…").click()
    expect(product_row(dialog, cola)).to_contain_text("Delete “Cola Zero”? Its hotspots come down")
    product_row(dialog, cola).get_by_role("button", name="Delete for good").click()

    # Then it is kept, and the console says how to stop selling it
    message = dialog.locator("#catalog-message")
    expect(message).to_have_text(
        "Not deleted: shoppers started checkouts for “Cola Zero”, so it stays with your sales records. "
        "Untick “available” on its variants to stop selling it."
    )
    expect(message).to_have_class(re.compile(r"\berror\b"))
    assert rows(live_api.engine, Product, Product.id == cola.id) != []
    # and the focus, on the confirmation that is gone, is back on the product's Delete… button
    expect(product_row(dialog, cola).get_by_role("button", name="Delete “Cola Zero”…")).to_be_focused()

    # And "Keep it" leaves the other as it was
    product_row(dialog, oat).get_by_role("button", name="Delete “Oat Drink”…").click()
    product_row(dialog, oat).get_by_role("button", name="Keep it").click()
    expect(product_row(dialog, oat).get_by_role("button", name="Delete “Oat Drink”…")).to_be_visible()

    # And the one nobody bought is deleted, its row and its variants gone
    product_row(dialog, oat).get_by_role("button", name="Delete “Oat Drink”…").click()
    product_row(dialog, oat).get_by_role("button", name="Delete for good").click()
    expect(message).to_have_text(
        "Deleted “Oat Drink”: its hotspots are down, and any placement that named it is linked again."
    )
    expect(product_row(dialog, oat)).to_have_count(0)
    # Its hotspot came down, and its placement is back in the queue for a person to decide
    expect(page.locator("#queue li")).to_have_count(1)
    assert page.locator("#queue li").get_attribute("data-placement") == str(oat_hotspot)
    expect(dialog.locator("#catalog-count")).to_have_text("1 product in the catalog.")
    assert rows(live_api.engine, Product, Product.id == oat.id) == []
    assert rows(live_api.engine, Variant, Variant.product_id == oat.id) == []

    # And another brand signing in on this page sees its own catalog, nothing typed by the first
    product_row(dialog, cola).get_by_label("Price of COLA-330 (EUR)").fill("9.99")
    dialog.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Sign out").click()
    other = seed_brand(live_api.engine, "catalog-pruner-next")
    theirs = seed_product(live_api.engine, other, factories.make_product("tea", "Green Tea", "Leaf"))
    sign_in(page, live_api.base_url, other.key)
    dialog = open_catalog(page)
    expect(dialog.get_by_role("list", name="Products").locator(":scope > li")).to_have_count(1)
    expect(product_row(dialog, theirs)).to_contain_text("Green Tea")
    expect(dialog.locator("#catalog-message")).to_have_text("")
    expect(dialog.get_by_label("Find products")).to_have_value("")
    assert page_errors == []


def test_a_keyboard_keeps_its_place_while_the_list_is_drawn_again(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a brand with three products
    brand = seed_brand(live_api.engine, "catalog-keyboard")
    oat = seed_product(live_api.engine, brand, OAT)
    cola = seed_product(live_api.engine, brand, COLA)
    tea = seed_product(live_api.engine, brand, factories.make_product("tea", "Green Tea", "Leaf"))
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_catalog(page)
    expect(dialog.locator("#catalog-count")).to_have_text("3 products in the catalog.")

    # When it asks to delete Green Tea from the keyboard and keeps it
    product_row(dialog, tea).get_by_role("button", name="Delete “Green Tea”…").focus()
    page.keyboard.press("Enter")
    expect(product_row(dialog, tea).get_by_role("button", name="Delete for good")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    # Then the focus is back on the button it started from, not lost with the confirmation
    expect(product_row(dialog, tea).get_by_role("button", name="Delete “Green Tea”…")).to_be_focused()

    # When it deletes Oat Drink and, while the API is still answering, types a price in Cola Zero's row
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(f"**/v1/products/{oat.id}", hold)
    product_row(dialog, oat).get_by_role("button", name="Delete “Oat Drink”…").click()
    product_row(dialog, oat).get_by_role("button", name="Delete for good").click()
    for _ in range(50):  # the route's handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    price = product_row(dialog, cola).get_by_label("Price of COLA-330 (EUR)")
    price.fill("")
    price.press_sequentially("3.5")
    price.press("ArrowLeft")  # the caret before the 5
    held[0].continue_()
    expect(dialog.locator("#catalog-message")).to_have_text(
        "Deleted “Oat Drink”: its hotspots are down, and any placement that named it is linked again."
    )
    expect(product_row(dialog, oat)).to_have_count(0)
    # Then the rows drawn again keep the field it was typing in, and the caret where it was
    expect(price).to_be_focused()
    page.keyboard.type("9")
    expect(price).to_have_value("3.95")
    page.unroute(f"**/v1/products/{oat.id}")

    # And deleting with the focus on the row's own button leaves it in the search box, not nowhere
    product_row(dialog, tea).get_by_role("button", name="Delete “Green Tea”…").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(product_row(dialog, tea)).to_have_count(0)
    expect(dialog.get_by_label("Find products")).to_be_focused()
    assert page_errors == []


def test_a_brand_marks_a_products_own_print_from_the_catalog_and_the_list_says_it_is_marked(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a product with its packshot, no own print marked yet, and one with no image at all
    brand = seed_brand(live_api.engine, "catalog-marker")
    oat = seed_product(live_api.engine, brand, OAT)
    cola = seed_product(live_api.engine, brand, COLA)
    upload_image(page, live_api.base_url, brand.headers, oat.id, packshot_png((40, 120, 200)))
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_catalog(page)
    expect(product_row(dialog, oat)).to_contain_text("own print not marked")

    # When the brand opens the oat drink's own print from its row, draws a box and saves it
    product_row(dialog, oat).get_by_role("button", name="Mark the own print of “Oat Drink”…").click()
    editor = page.get_by_role("dialog", name="Own print of Oat Drink")
    expect(editor).to_be_visible()
    page.wait_for_function("() => document.getElementById('marks-image').naturalWidth > 0")
    drag_on(page, "#marks-image", (0.2, 0.3), (0.6, 0.7))
    editor.get_by_role("button", name="Save marks").click()
    expect(page.locator("#marks-message")).to_contain_text("Saved 1 box on image 1.")
    editor.get_by_role("button", name="Close").click()

    # Then the product keeps the box, and its row in the catalog says it is marked
    [stored] = rows(live_api.engine, Product, Product.id == oat.id)
    assert len(stored.own_print) == 1
    expect(product_row(dialog, oat)).to_contain_text("own print marked (1 box)")

    # And the product with no image says what it needs
    product_row(dialog, cola).get_by_role("button", name="Mark the own print of “Cola Zero”…").click()
    expect(page.locator("#marks-message")).to_have_text(
        "This product has no image yet: add its packshot to the catalog, then mark it."
    )
    assert page_errors == []


def test_the_catalog_list_says_which_products_the_linker_has_no_image_of_and_why(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given four products: one with no image, one whose image URL answered 404, one whose image is still
    # to be fetched, and one with its packshot uploaded
    brand = seed_brand(live_api.engine, "catalog-images")
    made = {
        name: seed_product(live_api.engine, brand, factories.make_product(name, title, "Acme"))
        for name, title in (("bare", "Bare Bar"), ("broken", "Broken Link"), ("pending", "Pending Pie"))
    }
    held = seed_product(live_api.engine, brand, OAT)
    with Session(live_api.engine) as session:
        for name, error in (("broken", "HTTP 404 from images.example.com"), ("pending", None)):
            session.add(
                ProductImage(
                    product_id=made[name].id,
                    brand_id=brand.id,
                    source_url=f"https://images.example.com/{name}.jpg",
                    fetch_error=error,
                    fetch_attempts=1 if error else 0,
                )
            )
        session.commit()
    upload_image(page, live_api.base_url, brand.headers, held.id, packshot_png((40, 120, 200)))

    # When the brand opens its catalog
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_catalog(page)

    # Then each product without an image the linker holds says so, and why; the one with its packshot does not
    notes = {
        "bare": "no image: the linker cannot find it in episodes; add its packshot",
        "broken": "its image could not be fetched: HTTP 404 from images.example.com (add the image again)",
        "pending": "its image is being fetched",
    }
    for name, note in notes.items():
        expect(product_row(dialog, made[name]).locator(".p-images")).to_have_text(note)
    expect(product_row(dialog, made["broken"]).locator(".p-images")).to_have_class(re.compile(r"\berror\b"))
    expect(product_row(dialog, made["pending"]).locator(".p-images")).not_to_have_class(
        re.compile(r"\berror\b")
    )
    expect(product_row(dialog, held).locator(".p-images")).to_have_count(0)
    assert page_errors == []
