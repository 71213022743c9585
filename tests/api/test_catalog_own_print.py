"""A product's own print through HTTP: boxes a brand marks around the print only that product has, set
by import, create and update, refused when they cannot be, and handed to the linker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.catalog.models import Product
from api.cli.catalog import import_catalog_file
from api.linking.service import catalog_items
from tagger.linking.catalog import CatalogItem
from tests.utils.api import BrandAccount

YOGHURT: dict[str, Any] = {
    "title": "Yoggi Strawberry Yoghurt",
    "vendor": "Yoggi",
    "own_print": [[0.42, 0.31, 0.57, 0.54], [0.55, 0.3, 0.7, 0.62]],
    "variants": [{"sku": "YOG-S", "price": "21.90", "currency": "SEK"}],
}

CSV = """sku,title,price,currency,vendor,own_print
YOG-S,Yoggi Strawberry Yoghurt,21.90,SEK,Yoggi,0.42 0.31 0.57 0.54; 0.55 0.3 0.7 0.62
YOG-V,Yoggi Vanilla Yoghurt,21.90,SEK,Yoggi,
"""


def _products(client: TestClient, brand: BrandAccount) -> dict[str, dict[str, Any]]:
    items = client.get("/v1/products", headers=brand.headers).json()["items"]
    return {item["title"]: item for item in items}


def test_csv_import_reads_the_own_print_column_and_the_linker_gets_the_boxes(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    response = client.post(
        "/v1/catalog/import", content=CSV, headers={**brand.headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text

    products = _products(client, brand)
    assert products["Yoggi Strawberry Yoghurt"]["own_print"] == [
        [0.42, 0.31, 0.57, 0.54],
        [0.55, 0.3, 0.7, 0.62],
    ]
    assert products["Yoggi Vanilla Yoghurt"]["own_print"] == []
    with Session(engine) as session:
        items = {item.title: item for item in catalog_items(session, brand.brand.id)}
    assert items["Yoggi Strawberry Yoghurt"].own_print == ((0.42, 0.31, 0.57, 0.54), (0.55, 0.3, 0.7, 0.62))
    assert items["Yoggi Vanilla Yoghurt"].own_print == ()


def test_a_box_that_cannot_be_fails_the_import_on_its_line_and_imports_nothing(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    bad = CSV + "YOG-B,Yoggi Blueberry Yoghurt,21.90,SEK,Yoggi,0.6 0.3 0.5 0.62\n"

    response = client.post(
        "/v1/catalog/import", content=bad, headers={**brand.headers, "Content-Type": "text/csv"}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "line": 4,
            "field": "own_print",
            "message": "box 1: needs x0 < x1 and y0 < y1 (left, top, right, bottom)",
        }
    ]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Product)).one() == 0


def test_own_print_is_created_changed_and_cleared_through_the_product(
    client: TestClient, brand: BrandAccount
) -> None:
    created = client.post("/v1/products", json=YOGHURT, headers=brand.headers)
    assert created.status_code == 201, created.text
    product = f"/v1/products/{created.json()['id']}"
    assert created.json()["own_print"] == YOGHURT["own_print"]

    changed = client.patch(product, json={"own_print": [[0.1, 0.5, 0.9, 0.95]]}, headers=brand.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["own_print"] == [[0.1, 0.5, 0.9, 0.95]]
    kept = client.patch(product, json={"title": "Yoggi Jordgubb"}, headers=brand.headers)
    assert kept.json()["own_print"] == [[0.1, 0.5, 0.9, 0.95]]
    cleared = client.patch(product, json={"own_print": None}, headers=brand.headers)
    assert cleared.json()["own_print"] == []


def test_boxes_outside_the_image_or_of_the_wrong_shape_are_422_naming_the_field(
    client: TestClient, brand: BrandAccount
) -> None:
    for boxes, message in [
        ([[0.1, 0.2, 1.4, 0.9]], "box 1: numbers must be fractions of the image, 0 to 1"),
        ([[0.1, 0.2, 0.3]], "Field required"),
        ([[0.1, 0.2, 0.3, 0.4]] * 17, "List should have at most 16 items after validation, not 17"),
        ([[True, 0.2, 0.3, 0.4]], "Input should be a valid number"),
        ([["0.1", 0.2, 0.3, 0.4]], "Input should be a valid number"),
    ]:
        response = client.post("/v1/products", json={**YOGHURT, "own_print": boxes}, headers=brand.headers)
        assert response.status_code == 422, response.text
        assert any(
            error["field"].startswith("own_print") and message in error["message"]
            for error in response.json()["errors"]
        ), response.json()


def test_rows_of_one_product_share_its_marks_or_leave_the_column_empty(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    agreeing = (
        "sku,title,price,currency,product_key,own_print\n"
        "TEA-50,Green Tea,4.50,EUR,tea,\n"
        "TEA-100,Green Tea,7.90,EUR,tea,0.1 0.5 0.9 0.95\n"
        "TEA-200,Green Tea,12.90,EUR,tea,0.1 0.5 0.9 0.95\n"
    )
    differing = agreeing + "TEA-500,Green Tea,24.90,EUR,tea,0.1 0.4 0.9 0.95\n"
    headers = {**brand.headers, "Content-Type": "text/csv"}

    refused = client.post("/v1/catalog/import", content=differing, headers=headers)

    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"line": 5, "field": "own_print", "message": "differs from line 3's: a product has one set of marks"}
    ]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Product)).one() == 0
    assert client.post("/v1/catalog/import", content=agreeing, headers=headers).status_code == 200
    assert _products(client, brand)["Green Tea"]["own_print"] == [[0.1, 0.5, 0.9, 0.95]]


def test_an_empty_list_clears_the_marks_as_null_does(client: TestClient, brand: BrandAccount) -> None:
    product = f"/v1/products/{client.post('/v1/products', json=YOGHURT, headers=brand.headers).json()['id']}"

    cleared = client.patch(product, json={"own_print": []}, headers=brand.headers)

    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["own_print"] == []


def _png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((48, 64, 3), (40, 120, 200), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def _upload(client: TestClient, brand: BrandAccount, product_id: str) -> dict[str, Any]:
    response = client.post(
        f"/v1/products/{product_id}/images",
        files={"file": ("pack.png", _png(), "image/png")},
        headers=brand.headers,
    )
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def _linker_entry(engine: Engine, brand: BrandAccount) -> CatalogItem:
    with Session(engine) as session:
        (item,) = catalog_items(session, brand.brand.id)
    return item


def test_marks_on_a_first_image_not_held_yet_do_not_fall_on_the_next_image(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    """The first image is given by URL and not fetched yet; the second is uploaded, so held. The linker
    must know the marks have no image, not measure them on the second."""
    body = {**YOGHURT, "images": [{"url": "https://x.test/a.jpg"}]}
    created = client.post("/v1/products", json=body, headers=brand.headers).json()
    _upload(client, brand, created["id"])

    item = _linker_entry(engine, brand)

    assert created["own_print_image_id"] == created["images"][0]["id"]
    assert len(item.images) == 1
    assert item.own_print == ((0.42, 0.31, 0.57, 0.54), (0.55, 0.3, 0.7, 0.62))
    assert item.own_print_image is None


def test_marks_set_before_any_image_are_on_the_first_image_the_product_gets(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    created = client.post("/v1/products", json=YOGHURT, headers=brand.headers).json()
    assert created["own_print_image_id"] is None

    first = _upload(client, brand, created["id"])
    _upload(client, brand, created["id"])

    shown = client.get(f"/v1/products/{created['id']}", headers=brand.headers).json()
    assert shown["own_print_image_id"] == first["id"]
    assert _linker_entry(engine, brand).own_print_image == 0


def test_a_brand_can_place_its_marks_on_another_image_of_the_product(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    created = client.post("/v1/products", json=YOGHURT, headers=brand.headers).json()
    _upload(client, brand, created["id"])
    packshot = _upload(client, brand, created["id"])
    product = f"/v1/products/{created['id']}"

    moved = client.patch(product, json={"own_print_image_id": packshot["id"]}, headers=brand.headers)

    assert moved.status_code == 200, moved.text
    assert (moved.json()["own_print"], moved.json()["own_print_image_id"]) == (
        YOGHURT["own_print"],
        packshot["id"],
    )
    assert _linker_entry(engine, brand).own_print_image == 1
    # Boxes written back without an image named stay on the image they are on
    redrawn = client.patch(product, json={"own_print": [[0.1, 0.5, 0.9, 0.95]]}, headers=brand.headers)
    assert redrawn.json()["own_print_image_id"] == packshot["id"]
    # ... and once that image is removed, new boxes go on the first image
    assert client.delete(f"/v1/images/{packshot['id']}", headers=brand.headers).status_code == 204
    again = client.patch(product, json={"own_print": [[0.1, 0.5, 0.9, 0.95]]}, headers=brand.headers)
    assert again.json()["own_print_image_id"] == again.json()["images"][0]["id"] != packshot["id"]


def test_an_image_that_is_not_the_products_cannot_hold_its_marks(
    client: TestClient, brand: BrandAccount
) -> None:
    mine = client.post("/v1/products", json=YOGHURT, headers=brand.headers).json()
    mine_image = _upload(client, brand, mine["id"])
    other = client.post(
        "/v1/products", json={**YOGHURT, "title": "Yoggi Vanilla", "variants": []}, headers=brand.headers
    ).json()
    theirs = _upload(client, brand, other["id"])
    unmarked = client.post(
        "/v1/products",
        json={**YOGHURT, "title": "Plain", "own_print": [], "variants": []},
        headers=brand.headers,
    ).json()
    own_image = _upload(client, brand, unmarked["id"])

    for product_id, image_id, message in [
        (mine["id"], theirs["id"], "not an image of this product (see its `images`)"),
        (mine["id"], str(uuid.uuid4()), "not an image of this product (see its `images`)"),
        (
            unmarked["id"],
            own_image["id"],
            "this product has no own_print marks to place (send own_print with it)",
        ),
    ]:
        response = client.patch(
            f"/v1/products/{product_id}", json={"own_print_image_id": image_id}, headers=brand.headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"field": "own_print_image_id", "message": message}]
    null = client.patch(
        f"/v1/products/{mine['id']}", json={"own_print_image_id": None}, headers=brand.headers
    )
    assert null.status_code == 422, null.text
    assert null.json()["errors"] == [{"field": "own_print_image_id", "message": "cannot be null"}]
    unchanged = client.get(f"/v1/products/{mine['id']}", headers=brand.headers).json()
    assert unchanged["own_print_image_id"] == mine_image["id"]


def test_removing_the_marked_image_leaves_the_marks_unplaced_not_on_the_next_picture(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    created = client.post("/v1/products", json=YOGHURT, headers=brand.headers).json()
    marked = _upload(client, brand, created["id"])
    _upload(client, brand, created["id"])

    assert client.delete(f"/v1/images/{marked['id']}", headers=brand.headers).status_code == 204
    _upload(client, brand, created["id"])

    shown = client.get(f"/v1/products/{created['id']}", headers=brand.headers).json()
    assert shown["own_print"] == YOGHURT["own_print"]  # the brand's boxes are kept, to place again
    assert shown["own_print_image_id"] == marked["id"]
    assert marked["id"] not in [image["id"] for image in shown["images"]]
    assert [image["position"] for image in shown["images"]] == [1, 2]  # the new one after, not tied
    item = _linker_entry(engine, brand)
    assert (len(item.images), item.own_print_image) == (2, None)


def test_clearing_the_marks_forgets_their_image(client: TestClient, brand: BrandAccount) -> None:
    created = client.post("/v1/products", json=YOGHURT, headers=brand.headers).json()
    _upload(client, brand, created["id"])

    cleared = client.patch(f"/v1/products/{created['id']}", json={"own_print": None}, headers=brand.headers)

    assert (cleared.json()["own_print"], cleared.json()["own_print_image_id"]) == ([], None)


def test_a_csv_import_puts_the_marks_on_the_products_first_image(
    client: TestClient, brand: BrandAccount
) -> None:
    csv = (
        "sku,title,price,currency,image,own_print\n"
        "YOG-S,Yoggi Strawberry,21.90,SEK,https://x.test/front.jpg,0.4 0.3 0.6 0.5\n"
        "YOG-S2,Yoggi Strawberry,39.90,SEK,https://x.test/side.jpg,\n"
    )
    response = client.post(
        "/v1/catalog/import", content=csv, headers={**brand.headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text

    (product,) = _products(client, brand).values()
    first = min(product["images"], key=lambda image: image["position"])
    assert product["own_print_image_id"] == first["id"]
    assert first["url"] == "https://x.test/front.jpg"


def test_a_csv_file_with_a_local_packshot_first_and_a_url_second_has_its_marks_on_the_packshot(
    client: TestClient, brand: BrandAccount, engine: Engine, tmp_path: Path
) -> None:
    """Images are stored in the file's order, local files and URLs alike: the marks the CSV gives are on
    the image the file lists first."""
    (tmp_path / "front.png").write_bytes(_png())
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,currency,image,own_print\n"
        "YOG-S,Yoggi Strawberry,21.90,SEK,front.png,0.4 0.3 0.6 0.5\n"
        "YOG-S2,Yoggi Strawberry,39.90,SEK,https://x.test/side.jpg,\n",
        encoding="utf-8",
    )
    with Session(engine) as session:
        assert import_catalog_file(session, brand.brand.id, catalog, tmp_path / "media")[2] == 2
        session.commit()

    (product,) = _products(client, brand).values()
    first, second = sorted(product["images"], key=lambda image: image["position"])
    assert (first["indexed"], second["url"]) == (True, "https://x.test/side.jpg")
    assert product["own_print_image_id"] == first["id"]
    assert _linker_entry(engine, brand).own_print_image == 0


def test_a_json_file_keeps_its_image_list_order_with_local_files_and_urls(
    client: TestClient, brand: BrandAccount, engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "front.png").write_bytes(_png())
    document = {
        "products": [
            {
                **YOGHURT,
                "images": [
                    {"url": "https://x.test/side.jpg"},
                    {"path": "front.png"},
                    {"url": "https://x.test/top.jpg"},
                ],
            }
        ]
    }
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(document), encoding="utf-8")
    with Session(engine) as session:
        assert import_catalog_file(session, brand.brand.id, catalog, tmp_path / "media")[2] == 3
        session.commit()

    (product,) = _products(client, brand).values()
    ordered = sorted(product["images"], key=lambda image: image["position"])
    assert [image["indexed"] for image in ordered] == [False, True, False]
    assert [image["url"] for image in (ordered[0], ordered[2])] == [
        "https://x.test/side.jpg",
        "https://x.test/top.jpg",
    ]
    assert product["own_print_image_id"] == ordered[0]["id"]  # the file's first image, a URL not fetched yet
