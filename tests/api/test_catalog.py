"""Catalog through HTTP: CRUD scoped to the brand, money validation, images, all-or-nothing import."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.catalog.models import Product, Variant
from tests.utils.api import BrandAccount

JUICE: dict[str, Any] = {
    "title": "Pressed Apple Juice 1 L",
    "vendor": "Orchard Co",
    "description": "Cloudy apple juice, not from concentrate.",
    "variants": [{"sku": "APL-1L", "price": "3.49", "currency": "eur"}],
}


def _count(engine: Engine, model: type[Product] | type[Variant]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _png(width: int = 64, height: int = 48) -> bytes:
    image = np.full((height, width, 3), (40, 120, 200), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def test_create_then_get_returns_the_whole_product(client: TestClient, brand: BrandAccount) -> None:
    created = client.post("/v1/products", json=JUICE, headers=brand.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    variant = body["variants"][0]
    assert body == {
        "id": body["id"],
        "title": "Pressed Apple Juice 1 L",
        "vendor": "Orchard Co",
        "description": "Cloudy apple juice, not from concentrate.",
        "own_print": [],
        "own_print_image_id": None,
        "variants": [
            {
                "id": variant["id"],
                "product_id": body["id"],
                "sku": "APL-1L",
                "title": "Default",
                "price": "3.49",
                "currency": "EUR",
                "available": True,
            }
        ],
        "images": [],
        "version": 1,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert created.headers["ETag"] == '"1"'
    fetched = client.get(f"/v1/products/{body['id']}", headers=brand.headers)
    assert (fetched.json(), fetched.headers["ETag"]) == (body, '"1"')


def test_other_brand_sees_404_never_the_data(
    client: TestClient, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    product = client.post("/v1/products", json=JUICE, headers=brand.headers).json()
    for method, path in [
        ("GET", f"/v1/products/{product['id']}"),
        ("DELETE", f"/v1/products/{product['id']}"),
        ("PATCH", f"/v1/variants/{product['variants'][0]['id']}"),
    ]:
        response = client.request(
            method, path, headers=other_brand.headers, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path)
        assert "Orchard" not in response.text
    assert client.get("/v1/products", headers=other_brand.headers).json()["total"] == 0


def test_update_variant_price_and_delete_product(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    product = client.post("/v1/products", json=JUICE, headers=brand.headers).json()
    variant_id = product["variants"][0]["id"]
    patched = client.patch(f"/v1/variants/{variant_id}", json={"price": "2.99"}, headers=brand.headers)
    assert patched.json()["price"] == "2.99"
    assert client.delete(f"/v1/products/{product['id']}", headers=brand.headers).status_code == 204
    assert client.get(f"/v1/products/{product['id']}", headers=brand.headers).status_code == 404
    assert (_count(engine, Product), _count(engine, Variant)) == (0, 0)


def test_search_matches_title_and_sku(client: TestClient, brand: BrandAccount) -> None:
    client.post("/v1/products", json=JUICE, headers=brand.headers)
    other = {**JUICE, "title": "Oat Milk", "variants": [{"sku": "OAT-1", "price": "2", "currency": "EUR"}]}
    client.post("/v1/products", json=other, headers=brand.headers)
    assert [
        p["title"] for p in client.get("/v1/products?q=apple", headers=brand.headers).json()["items"]
    ] == ["Pressed Apple Juice 1 L"]
    assert [
        p["title"] for p in client.get("/v1/products?q=oat-1", headers=brand.headers).json()["items"]
    ] == ["Oat Milk"]


def test_bad_money_is_422_with_field_reasons(client: TestClient, brand: BrandAccount, engine: Engine) -> None:
    cases = {
        "negative": {"sku": "X1", "price": "-1.00", "currency": "EUR"},
        "unknown currency": {"sku": "X1", "price": "1.00", "currency": "EUX"},
        "too precise for JPY": {"sku": "X1", "price": "100.5", "currency": "JPY"},
    }
    for name, variant in cases.items():
        response = client.post("/v1/products", json={**JUICE, "variants": [variant]}, headers=brand.headers)
        assert response.status_code == 422, name
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"].startswith("variants.0"), name
    assert _count(engine, Product) == 0


def test_malformed_json_is_422_problem(client: TestClient, brand: BrandAccount) -> None:
    response = client.post(
        "/v1/products",
        content=b'{"title": "oops",',
        headers={**brand.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Unprocessable content"


def test_duplicate_sku_is_409_and_writes_nothing(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    client.post("/v1/products", json=JUICE, headers=brand.headers)
    again = client.post("/v1/products", json={**JUICE, "title": "Copy"}, headers=brand.headers)
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "sku", "message": "'APL-1L' already exists"}]
    assert _count(engine, Product) == 1


def test_image_upload_is_served_and_non_images_refused(client: TestClient, brand: BrandAccount) -> None:
    product = client.post("/v1/products", json=JUICE, headers=brand.headers).json()
    url = f"/v1/products/{product['id']}/images"
    uploaded = client.post(url, files={"file": ("pack.png", _png(), "image/png")}, headers=brand.headers)
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (64, 48)
    served = client.get(uploaded.json()["url"].removeprefix("http://testserver"))
    assert served.status_code == 200
    assert served.content == _png()
    by_url = client.post(url, json={"url": "https://cdn.example/pack.jpg"}, headers=brand.headers)
    assert by_url.json()["url"] == "https://cdn.example/pack.jpg"
    fake = client.post(url, files={"file": ("x.png", b"not an image", "image/png")}, headers=brand.headers)
    assert fake.status_code == 422
    tiny = client.post(url, files={"file": ("t.png", _png(4, 4), "image/png")}, headers=brand.headers)
    assert tiny.status_code == 422
    assert "4x4" in tiny.json()["detail"]
    images = client.get(f"/v1/products/{product['id']}", headers=brand.headers).json()["images"]
    assert [image["position"] for image in images] == [0, 1]


CSV_OK = """sku,title,price,currency,product_key,variant_title,vendor
TEA-50,Green Tea,4.50,EUR,tea,50 bags,Leaf & Co
TEA-100,Green Tea,7.90,EUR,tea,100 bags,Leaf & Co
COF-1,Ground Coffee,6.00,usd,,,Bean Bros
"""


def test_csv_import_groups_variants(client: TestClient, brand: BrandAccount) -> None:
    response = client.post(
        "/v1/catalog/import", content=CSV_OK, headers={**brand.headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"imported_products": 2, "imported_variants": 3, "imported_images": 0}
    products = client.get("/v1/products", headers=brand.headers).json()["items"]
    assert [(p["title"], [v["sku"] for v in p["variants"]]) for p in products] == [
        ("Green Tea", ["TEA-100", "TEA-50"])
        if products[0]["variants"][0]["sku"] == "TEA-100"
        else ("Green Tea", ["TEA-50", "TEA-100"]),
        ("Ground Coffee", ["COF-1"]),
    ]


def test_csv_with_errors_reports_lines_and_imports_nothing(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    bad = CSV_OK + "TEA-50,Dup,1.00,EUR,,,\nBAD-2,Neg,-3,EUR,,,\nBAD-3,Cur,1.00,XXX,,,\n"
    response = client.post(
        "/v1/catalog/import", content=bad, headers={**brand.headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(5, "sku"), (6, "price"), (7, "currency")]
    assert _count(engine, Product) == 0


def test_json_import_and_missing_column(client: TestClient, brand: BrandAccount) -> None:
    body = {
        "products": [
            JUICE,
            {**JUICE, "title": "Bad", "variants": [{"sku": "APL-1L", "price": "1", "currency": "EUR"}]},
        ]
    }
    dup = client.post("/v1/catalog/import", json=body, headers=brand.headers)
    assert dup.status_code == 422
    assert dup.json()["errors"][0]["line"] == "products[1]"
    ok = client.post("/v1/catalog/import", json={"products": [JUICE]}, headers=brand.headers)
    assert ok.json()["imported_variants"] == 1
    missing = client.post(
        "/v1/catalog/import",
        content="sku,title\nA,B\n",
        headers={**brand.headers, "Content-Type": "text/csv"},
    )
    assert [(e["field"], e["message"]) for e in missing.json()["errors"]] == [
        ("price", "required column is missing"),
        ("currency", "required column is missing"),
    ]


def test_an_image_url_that_cannot_be_is_a_line_error_and_nothing_is_imported(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    header = "sku,title,price,currency,image\nOK-1,Fine,1.00,EUR,https://cdn.test/ok.jpg\n"
    rows = "".join(f"IMG-{n},Many,1.00,EUR,https://cdn.test/{n}.jpg\n" for n in range(51))
    for bad, expected in [
        (
            header + "BAD-1,Broken,1.00,EUR,http://\n",
            [(3, "image", "Input should be a valid URL, empty host")],
        ),
        (header + rows, [(3, "images", "a product has at most 50 images")]),
    ]:
        response = client.post(
            "/v1/catalog/import", content=bad, headers={**brand.headers, "Content-Type": "text/csv"}
        )
        assert response.status_code == 422, response.text
        assert [(e["line"], e["field"], e["message"]) for e in response.json()["errors"]] == expected
        assert _count(engine, Product) == 0


def test_json_import_keeps_the_image_list_and_refuses_an_entry_it_cannot_read(
    client: TestClient, brand: BrandAccount
) -> None:
    images = [{"url": "https://cdn.test/front.jpg"}, {"url": "https://cdn.test/back.jpg"}]
    ok = client.post(
        "/v1/catalog/import", json={"products": [{**JUICE, "images": images}]}, headers=brand.headers
    )
    assert ok.status_code == 200, ok.text
    (product,) = client.get("/v1/products", headers=brand.headers).json()["items"]
    assert [(image["url"], image["position"]) for image in product["images"]] == [
        ("https://cdn.test/front.jpg", 0),
        ("https://cdn.test/back.jpg", 1),
    ]
    odd = [{"url": "https://cdn.test/x.jpg", "alt": "front"}]
    refused = client.post(
        "/v1/catalog/import",
        json={"products": [{**JUICE, "title": "Other", "variants": [], "images": odd}]},
        headers=brand.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["line"] == "products[0]"


def test_import_rejects_unsupported_content_type(client: TestClient, brand: BrandAccount) -> None:
    response = client.post(
        "/v1/catalog/import",
        content=io.BytesIO(b"x").read(),
        headers={**brand.headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
