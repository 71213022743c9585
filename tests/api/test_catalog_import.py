"""Catalog import through HTTP, as a brand meets it: files as spreadsheets and scripts write them, line
numbers that point at the line, the product rules a CSV's rows must keep, catalogs past 65,535 SKUs,
image URLs the database can hold, and an import that never stalls the process's other requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func
from sqlmodel import Session, select

from api.catalog import router
from api.catalog import service as catalog_service
from api.catalog.models import Product, ProductImage, Variant
from tests.api.factories import make_product
from tests.utils.api import BrandAccount

CSV = {"Content-Type": "text/csv"}
JUICE: dict[str, Any] = {
    "title": "Pressed Apple Juice 1 L",
    "variants": [{"sku": "APL-1L", "price": "3.49", "currency": "EUR"}],
}


def _count(engine: Engine, model: type[Product] | type[Variant] | type[ProductImage]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _import_csv(client: TestClient, brand: BrandAccount, text: str | bytes) -> Any:
    return client.post("/v1/catalog/import", content=text, headers={**brand.headers, **CSV})


def _errors(response: Any) -> list[tuple[Any, str, str]]:
    assert response.status_code == 422, response.text
    return [(error["line"], error["field"], error["message"]) for error in response.json()["errors"]]


# --- the event loop -------------------------------------------------------------------------------


def _held_until_released(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> tuple[threading.Event, threading.Event, list[bool]]:
    """Patch `router.<name>` to wait (up to 5 s) for the test to release it; the list records whether
    the release came while it waited, which it cannot if the wait holds the event loop."""
    entered, released, in_time = threading.Event(), threading.Event(), []
    original: Callable[..., Any] = getattr(router, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        in_time.append(released.wait(5))
        return original(*args, **kwargs)

    monkeypatch.setattr(router, name, held)
    return entered, released, in_time


def _while_held(
    client: TestClient,
    request: Callable[[], Any],
    entered: threading.Event,
    released: threading.Event,
) -> tuple[Any, Any]:
    """Send `request` from another thread; while it is held, ask /healthz; then release it."""
    answers: list[Any] = []
    sender = threading.Thread(target=lambda: answers.append(request()))
    sender.start()
    try:
        assert entered.wait(10), "the request never reached the held call"
        health = client.get("/healthz")
    finally:
        released.set()
        sender.join(30)
    return answers[0], health


def test_a_running_import_leaves_the_process_answering_other_requests(
    client: TestClient, brand: BrandAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an import whose parsing is held mid-way (as a large file's parsing and inserts take seconds)
    entered, released, in_time = _held_until_released(monkeypatch, "parse_catalog")

    # When the process is asked for its health meanwhile
    imported, health = _while_held(
        client,
        lambda: _import_csv(client, brand, "sku,title,price,currency\nJ-1,Juice,1.00,EUR\n"),
        entered,
        released,
    )

    # Then it answers while the import is still running, and the import still imports
    assert health.status_code == 200
    assert in_time == [True], "/healthz waited for the import: the import held the event loop"
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported_products"] == 1


def _png(width: int = 64, height: int = 48) -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((height, width, 3), (40, 120, 200), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def test_an_image_upload_being_decoded_leaves_the_process_answering_other_requests(
    client: TestClient, brand: BrandAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an image upload whose decoding is held (a 20 MB image takes seconds)
    product = client.post("/v1/products", json=JUICE, headers=brand.headers).json()
    entered, released, in_time = _held_until_released(monkeypatch, "store_image_bytes")

    # When the process is asked for its health meanwhile
    uploaded, health = _while_held(
        client,
        lambda: client.post(
            f"/v1/products/{product['id']}/images",
            files={"file": ("pack.png", _png(), "image/png")},
            headers=brand.headers,
        ),
        entered,
        released,
    )

    # Then it answers while the upload is being decoded, and the image is stored
    assert health.status_code == 200
    assert in_time == [True], "/healthz waited for the upload: decoding it held the event loop"
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (64, 48)


def test_adding_an_image_answers_as_before_off_the_event_loop(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    # The checks keep their order: an unknown product is a 404 whatever the body, then the body's own
    product = client.post("/v1/products", json=JUICE, headers=brand.headers).json()
    url = f"/v1/products/{product['id']}/images"
    missing = "/v1/products/00000000-0000-0000-0000-000000000000/images"
    assert client.post(missing, content=b"x", headers={**brand.headers, **CSV}).status_code == 404
    assert client.post(url, content=b"x", headers={**brand.headers, **CSV}).status_code == 415
    no_file = client.post(url, files={"other": ("a.txt", b"x", "text/plain")}, headers=brand.headers)
    assert (no_file.status_code, no_file.json()["errors"]) == (
        422,
        [{"field": "file", "message": "field required"}],
    )
    by_url = client.post(url, json={"url": "https://cdn.example/pack.jpg"}, headers=brand.headers)
    assert by_url.status_code == 201, by_url.text
    assert _count(engine, ProductImage) == 1


# --- more SKUs than one statement may bind --------------------------------------------------------


@pytest.fixture
def sku_statements(engine: Engine) -> Iterator[list[int]]:
    """The number of bound parameters of each statement that asks which SKUs the catalog has."""
    counts: list[int] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith("SELECT VARIANT.SKU"):
            counts.append(len(parameters))

    event.listen(engine, "before_cursor_execute", record)
    yield counts
    event.remove(engine, "before_cursor_execute", record)


def test_the_skus_of_a_large_catalog_are_checked_in_chunks_each_row_named(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    sku_statements: list[int],
) -> None:
    # Given a catalog holding three of the file's SKUs, and chunks of 2 standing in for 10,000 (PostgreSQL
    # refuses a statement with more than 65,535 parameters, one per SKU)
    monkeypatch.setattr(catalog_service, "SKU_CHECK_CHUNK", 2)
    for sku in ("S-1", "S-4", "S-5"):
        make_product(engine, brand.brand.id, f"Old {sku}", sku=sku)
    rows = "".join(f"S-{n},Soap,1.00,EUR\n" for n in range(1, 6))

    # When the brand imports the file
    response = _import_csv(client, brand, "sku,title,price,currency\n" + rows)

    # Then every taken SKU is found, each named on its own line, and no statement binds more than a chunk
    assert _errors(response) == [
        (2, "sku", "sku 'S-1' already exists in the catalog"),
        (5, "sku", "sku 'S-4' already exists in the catalog"),
        (6, "sku", "sku 'S-5' already exists in the catalog"),
    ]
    assert len(sku_statements) == 3
    assert max(sku_statements) <= 2 + 1  # the chunk's SKUs and the brand
    # And a file of new SKUs imports whole, chunk by chunk
    fresh = "".join(f"N-{n},Sponge,1.00,EUR\n" for n in range(7))
    ok = _import_csv(client, brand, "sku,title,price,currency\n" + fresh)
    assert ok.status_code == 200, ok.text
    assert ok.json()["imported_variants"] == 7


# --- image URLs ------------------------------------------------------------------------------------


def _url(length: int) -> str:
    head = "https://cdn.example/p/"
    return head + "a" * (length - len(head))


def test_an_image_url_longer_than_the_column_is_a_422_everywhere_never_a_500(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    # Given signed CDN URLs one character past the 2,000 the database holds, and one at it
    too_long, longest = _url(2001), _url(2000)
    # (a URL that grows past it once normalised: each "é" becomes "%C3%A9")
    grows = "https://cdn.example/" + "é" * 400

    # When a product is created with one, one is added to a product, and a file imports one
    created = client.post(
        "/v1/products", json={**JUICE, "images": [{"url": too_long}]}, headers=brand.headers
    )
    product = client.post("/v1/products", json=JUICE, headers=brand.headers).json()
    added = client.post(f"/v1/products/{product['id']}/images", json={"url": too_long}, headers=brand.headers)
    grown = client.post(f"/v1/products/{product['id']}/images", json={"url": grows}, headers=brand.headers)
    csv_import = _import_csv(client, brand, f"sku,title,price,currency,image\nI-1,Soap,1.00,EUR,{too_long}\n")
    json_import = client.post(
        "/v1/catalog/import",
        json={
            "products": [
                {
                    **JUICE,
                    "variants": [{**JUICE["variants"][0], "sku": "I-2"}],
                    "images": [{"url": longest}, {"url": too_long}],
                }
            ]
        },
        headers=brand.headers,
    )

    # Then each is a 422 naming the URL and its limit, an import's as a line error, and nothing is stored
    message = "URL should have at most 2000 characters"
    assert created.status_code == 422, created.text
    assert created.json()["errors"][0]["field"] == "images.0.url"
    assert message in created.json()["errors"][0]["message"]
    assert added.status_code == 422, added.text
    assert message in added.json()["errors"][0]["message"]
    assert grown.status_code == 422, grown.text
    assert "at most 2000 characters once normalised" in grown.json()["errors"][0]["message"]
    assert _errors(csv_import) == [(2, "image", message)]
    assert _errors(json_import) == [("products[0].images[1]", "image", message)]
    assert (_count(engine, Product), _count(engine, ProductImage)) == (1, 0)
    # And a URL of exactly 2,000 characters is stored as given
    fits = client.post(f"/v1/products/{product['id']}/images", json={"url": longest}, headers=brand.headers)
    assert fits.status_code == 201, fits.text
    assert fits.json()["url"] == longest


# --- CSV line numbers ------------------------------------------------------------------------------


def test_csv_errors_name_the_physical_line_a_row_starts_on(client: TestClient, brand: BrandAccount) -> None:
    # Given a file whose first row's description spans three lines, then a blank line, then a bad price
    text = (
        "sku,title,price,currency,description\n"  # line 1
        'T-1,Tea,4.50,EUR,"Green tea.\n'  # line 2
        "Fifty bags.\n"  # line 3
        'Organic."\n'  # line 4
        "\n"  # line 5
        "T-2,Tea Two,-1,EUR,\n"  # line 6
        "T-3,Tea Three,1.00,XXX,\n"  # line 7
    )

    # When it is imported, then each error names the line the editor shows the row on
    assert [(line, field) for line, field, _ in _errors(_import_csv(client, brand, text))] == [
        (6, "price"),
        (7, "currency"),
    ]


def test_an_existing_sku_is_named_on_its_own_row_not_its_products_first(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    # Given a catalog that has the third size of a tea
    make_product(engine, brand.brand.id, "Old Tea", sku="TEA-200")
    text = (
        "sku,title,price,currency,product_key,variant_title\n"
        "TEA-50,Green Tea,4.50,EUR,tea,50 bags\n"
        "COF-1,Coffee,6.00,EUR,,\n"
        "TEA-100,Green Tea,7.90,EUR,tea,100 bags\n"
        "TEA-200,Green Tea,9.90,EUR,tea,200 bags\n"
    )

    # When a file gives the tea's three sizes, then the taken one is named on its line, not the tea's first
    assert _errors(_import_csv(client, brand, text)) == [
        (5, "sku", "sku 'TEA-200' already exists in the catalog")
    ]
    assert _count(engine, Product) == 1


# --- files as tools write them --------------------------------------------------------------------


def test_a_json_file_with_a_byte_order_mark_imports(client: TestClient, brand: BrandAccount) -> None:
    body = "\ufeff" + json.dumps({"products": [JUICE]})
    response = client.post(
        "/v1/catalog/import",
        content=body.encode("utf-8"),
        headers={**brand.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["imported_variants"] == 1


def test_a_csv_with_old_mac_line_endings_imports_and_counts_its_lines(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    # Given a bare-CR file (Excel for the old Mac), as the CLI already reads it
    good = "sku,title,price,currency\rM-1,Muesli,3.00,EUR\rM-2,Muesli,3.50,EUR\r"
    bad = good + "M-3,Oats,-1,EUR\r"

    # When it is imported, then it is read line by line: imported, or its errors on their lines
    response = _import_csv(client, brand, good)
    assert response.status_code == 200, response.text
    assert response.json()["imported_variants"] == 2
    assert [(line, field) for line, field, _ in _errors(_import_csv(client, brand, bad))] == [(4, "price")]
    assert _count(engine, Variant) == 2


def test_a_spreadsheets_trailing_comma_column_is_ignored_while_it_is_empty(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    # Given Excel's export of a sheet with one stray formatted column: a header ending in a comma
    empty = "sku,title,price,currency,\r\nX-1,Soap,1.00,EUR,\r\nX-2,Sponge,2.00,EUR\r\n"
    filled = "sku,title,price,currency,\nY-1,Soap,1.00,EUR,\nY-2,Sponge,2.00,EUR,forgotten note\n"

    # When it is imported, then the nameless column is ignored while empty...
    ok = _import_csv(client, brand, empty)
    assert ok.status_code == 200, ok.text
    assert ok.json()["imported_products"] == 2
    # ...and a value in it is refused on its line, saying what to do, rather than silently dropped
    assert _errors(_import_csv(client, brand, filled)) == [
        (
            3,
            "",
            "a value in column 5, which the header line leaves unnamed: name the column in the header "
            "or leave it empty",
        )
    ]
    assert _count(engine, Product) == 2


# --- JSON images ----------------------------------------------------------------------------------


def test_a_bad_json_image_is_named_at_its_own_index(client: TestClient, brand: BrandAccount) -> None:
    images = [{"url": "https://cdn.test/front.jpg"}, {"url": "https://cdn.test/back.jpg"}]
    response = client.post(
        "/v1/catalog/import",
        json={"products": [{**JUICE, "images": [*images, {"url": "ftp://cdn.test/side.jpg"}]}]},
        headers=brand.headers,
    )
    assert [(line, field) for line, field, _ in _errors(response)] == [("products[0]", "images.2.url")]
    between = client.post(
        "/v1/catalog/import",
        json={"products": [{**JUICE, "images": [images[0], {"url": 7}, images[1], {"alt": "x"}]}]},
        headers=brand.headers,
    )
    assert {field for _, field, _ in _errors(between)} == {"images.1.url", "images.3.url", "images.3.alt"}


# --- the CSV path keeps the product rules ----------------------------------------------------------


def test_csv_rows_sharing_a_title_are_held_to_a_products_250_variants(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    # Given 300 rows sharing one title (and a product_key of 251 rows after a blank line)
    rows = "".join(f"V-{n},Socks,1.00,EUR,\n" for n in range(300))
    keyed = "".join(f"K-{n},Tights {n},1.00,EUR,tights\n" for n in range(251))
    text = "sku,title,price,currency,product_key\n" + rows + "\n" + keyed

    # When it is imported, then each product is refused, naming its rows, and nothing is imported
    assert _errors(_import_csv(client, brand, text)) == [
        (2, "variants", "a product has at most 250 variants; 300 rows share this title (lines 2-301)"),
        (
            303,
            "variants",
            "a product has at most 250 variants; 251 rows share this product_key (lines 303-553)",
        ),
    ]
    assert _count(engine, Product) == 0
    # And a product of 250 rows imports
    ok = _import_csv(client, brand, "sku,title,price,currency,product_key\n" + rows.split("\n", 50)[50])
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"imported_products": 1, "imported_variants": 250, "imported_images": 0}
