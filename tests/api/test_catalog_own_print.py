"""A product's own print through HTTP: boxes a brand marks around the print only that product has, set
by import, create and update, refused when they cannot be, and handed to the linker."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.catalog.models import Product, ProductImage
from api.linking.service import catalog_items
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


def test_marks_on_a_first_image_not_held_yet_do_not_fall_on_the_next_image(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    """The first image is given by URL and not fetched yet; the second is held. The linker must know the
    marks have no image, not measure them on the second."""
    created = client.post("/v1/products", json=YOGHURT, headers=brand.headers).json()
    with Session(engine) as session:
        product_id = uuid.UUID(created["id"])
        session.add(
            ProductImage(
                product_id=product_id, brand_id=brand.brand.id, position=0, source_url="https://x.test/a.jpg"
            )
        )
        session.add(
            ProductImage(product_id=product_id, brand_id=brand.brand.id, position=1, path="/media/b.png")
        )
        session.commit()
        (item,) = catalog_items(session, brand.brand.id)

    assert item.images == (Path("/media/b.png"),)
    assert item.own_print == ((0.42, 0.31, 0.57, 0.54), (0.55, 0.3, 0.7, 0.62))
    assert item.own_print_image is None
