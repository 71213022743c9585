"""The review console's catalog import in real Chromium against the REAL API (tests/web/real_api.py): a
brand imports its products from a CSV file, is shown every error of a file that has some (nothing is
imported then), and sees how many products the catalog holds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from api.catalog.models import Product, ProductImage, Variant
from tests.utils.web import PageErrors
from tests.web.console import sign_in
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import rows, seed_brand

pytestmark = pytest.mark.browser

WITH_ERRORS = """sku,title,price,currency,product_key,variant_title,image
OAT-1,Oat Drink,2.49,EUR,oat,1 l,https://images.example.com/oat.jpg
OAT-2,Oat Drink,,EUR,oat,250 ml,
COLA-1,Cola Zero,1.99,EURO,,,
"""
FIXED = WITH_ERRORS.replace("OAT-2,Oat Drink,,EUR", "OAT-2,Oat Drink,0.99,EUR").replace("EURO", "EUR")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    # The smallest import cap the settings take, so a file over it stays small.
    api = start_live_api(tmp_path_factory.mktemp("catalog-console-api"), max_import_bytes=1 << 20)
    yield api
    api.stop()


def test_a_brand_imports_its_catalog_and_a_file_with_errors_imports_nothing_and_names_each(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors, tmp_path: Path
) -> None:
    page = desk_page
    brand = seed_brand(live_api.engine, "catalog-importer")
    sign_in(page, live_api.base_url, brand.key)
    page.get_by_role("button", name="Catalog…").click()
    dialog = page.get_by_role("dialog", name="Catalog")
    expect(dialog.locator("#catalog-count")).to_have_text("The catalog is empty.")

    # When the brand imports a file with two bad lines
    broken = tmp_path / "catalog.csv"
    broken.write_text(WITH_ERRORS, encoding="utf-8")
    dialog.get_by_label("CSV or JSON file").set_input_files(broken)
    dialog.get_by_role("button", name="Import").click()

    # Then nothing is imported, and each error is named by its line and column
    message = dialog.locator("#catalog-message")
    expect(message).to_have_text("Not imported: 2 error(s) in the catalog file; nothing was imported")
    expect(dialog.get_by_role("list", name="Errors by line").locator("li")).to_have_text(
        [re.compile(r"^Line 3, price: "), re.compile(r"^Line 4, currency: ")]
    )
    assert rows(live_api.engine, Product, Product.brand_id == brand.id) == []

    # And the corrected file imports every line: two products, three variants, one image to fetch
    fixed = tmp_path / "catalog-fixed.csv"
    fixed.write_text(FIXED, encoding="utf-8")
    dialog.get_by_label("CSV or JSON file").set_input_files(fixed)
    dialog.get_by_role("button", name="Import").click()
    expect(message).to_have_text(
        "Imported 2 products with 3 variants and 1 image: they are fetched and indexed in the background."
    )
    expect(dialog.get_by_role("list", name="Errors by line")).to_be_hidden()
    expect(dialog.locator("#catalog-count")).to_have_text("2 products in the catalog.")
    products = rows(live_api.engine, Product, Product.brand_id == brand.id)
    assert sorted(p.title for p in products) == ["Cola Zero", "Oat Drink"]
    assert len(rows(live_api.engine, Variant, Variant.brand_id == brand.id)) == 3
    images = rows(live_api.engine, ProductImage, ProductImage.brand_id == brand.id)
    assert [image.source_url for image in images] == ["https://images.example.com/oat.jpg"]

    # And importing the same file again is refused: its SKUs are taken
    dialog.get_by_label("CSV or JSON file").set_input_files(fixed)
    dialog.get_by_role("button", name="Import").click()
    expect(message).to_contain_text("Not imported: ")
    expect(dialog.get_by_role("list", name="Errors by line").locator("li").first).to_contain_text("sku")
    assert len(rows(live_api.engine, Product, Product.brand_id == brand.id)) == 2
    assert page_errors == []


def test_a_catalog_file_over_the_servers_limit_is_refused_with_what_to_do(
    desk_page: Page, live_api: LiveApi, page_errors: PageErrors, tmp_path: Path
) -> None:
    page = desk_page
    brand = seed_brand(live_api.engine, "catalog-too-big")
    big = tmp_path / "catalog-big.csv"
    lines = [f"SKU-{n},Product {n} with a long enough title to fill the file,1.99,EUR" for n in range(20_000)]
    big.write_text("sku,title,price,currency\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert big.stat().st_size > 1 << 20

    sign_in(page, live_api.base_url, brand.key)
    page.get_by_role("button", name="Catalog…").click()
    dialog = page.get_by_role("dialog", name="Catalog")
    dialog.get_by_label("CSV or JSON file").set_input_files(big)
    dialog.get_by_role("button", name="Import").click()

    expect(dialog.locator("#catalog-message")).to_have_text(
        re.compile(
            r"^Not imported: catalog-big\.csv is larger than this server takes in one import \(.*1048576 byte"
            r".*\)\. Split it into several files: each imports on its own\.$"
        )
    )
    assert rows(live_api.engine, Product, Product.brand_id == brand.id) == []
    assert page_errors == []
