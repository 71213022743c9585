"""A product's version through HTTP: its ETag moves on with every change to it, its variants and its
images, and a PATCH that names an older one in If-Match is refused, so two people marking one
packshot cannot overwrite each other unseen."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.catalog.models import Product
from tests.api.concurrency import skip_unless_postgres
from tests.utils.api import BrandAccount

YOGHURT: dict[str, Any] = {
    "title": "Yoggi Strawberry Yoghurt",
    "vendor": "Yoggi",
    "variants": [{"sku": "YOG-S", "price": "21.90", "currency": "SEK"}],
    "images": [
        {"url": "https://cdn.example.com/yoggi-front.jpg"},
        {"url": "https://cdn.example.com/side.jpg"},
    ],
}
MARKS = [[0.1, 0.2, 0.5, 0.6]]


def _created(client: TestClient, brand: BrandAccount) -> dict[str, Any]:
    response = client.post("/v1/products", json=YOGHURT, headers=brand.headers)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def _etag(client: TestClient, brand: BrandAccount, product_id: str) -> str:
    response = client.get(f"/v1/products/{product_id}", headers=brand.headers)
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{response.json()["version"]}"'
    etag: str = response.headers["ETag"]
    return etag


def test_a_patch_against_an_older_version_is_refused_and_changes_nothing(
    client: TestClient, brand: BrandAccount
) -> None:
    product = _created(client, brand)
    url = f"/v1/products/{product['id']}"
    loaded = _etag(client, brand, product["id"])
    assert loaded == '"1"'

    # Given two people who opened the marks editor on version "1", when the first saves
    first = client.patch(url, json={"own_print": MARKS}, headers={**brand.headers, "If-Match": loaded})
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.headers["ETag"]) == (2, '"2"')

    # Then the second's save, made against "1", is refused with the version to reload
    second = client.patch(
        url, json={"own_print": [[0.6, 0.6, 0.9, 0.9]]}, headers={**brand.headers, "If-Match": loaded}
    )
    assert second.status_code == 412
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["type"].endswith("/edit-conflict")
    assert "changed since you loaded it (now version 2)" in second.json()["detail"]
    assert second.headers["ETag"] == '"2"'
    stored = client.get(url, headers=brand.headers).json()
    assert (stored["own_print"], stored["version"]) == (MARKS, 2)

    # And once reloaded, the second's edit goes through
    again = client.patch(
        url, json={"own_print": [[0.6, 0.6, 0.9, 0.9]]}, headers={**brand.headers, "If-Match": '"2"'}
    )
    assert (again.status_code, again.headers["ETag"]) == (200, '"3"')


@pytest.mark.parametrize("if_match", ["*", 'W/"1"', '"7", "1"', ' "1" '])
def test_if_match_takes_a_star_weak_tags_and_lists(
    client: TestClient, brand: BrandAccount, if_match: str
) -> None:
    product = _created(client, brand)
    response = client.patch(
        f"/v1/products/{product['id']}",
        json={"title": "Yoggi"},
        headers={**brand.headers, "If-Match": if_match},
    )
    assert (response.status_code, response.json()["title"]) == (200, "Yoggi")


def test_without_if_match_the_last_write_wins_and_the_version_still_moves(
    client: TestClient, brand: BrandAccount
) -> None:
    product = _created(client, brand)
    url = f"/v1/products/{product['id']}"
    for title in ("one", "two"):
        response = client.patch(url, json={"title": title}, headers=brand.headers)
        assert response.status_code == 200
    assert (client.get(url, headers=brand.headers).json()["title"], _etag(client, brand, product["id"])) == (
        "two",
        '"3"',
    )
    assert (
        client.patch(url, json={"title": "x"}, headers={**brand.headers, "If-Match": '"2"'}).status_code
        == 412
    )


def test_a_body_the_schema_refuses_is_a_422_whatever_version_it_names(
    client: TestClient, brand: BrandAccount
) -> None:
    product = _created(client, brand)
    response = client.patch(
        f"/v1/products/{product['id']}",
        json={"own_print_image_id": None},
        headers={**brand.headers, "If-Match": '"7"'},
    )
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "own_print_image_id")
    assert _etag(client, brand, product["id"]) == '"1"'


def test_a_refused_patch_does_not_move_the_version(client: TestClient, brand: BrandAccount) -> None:
    product = _created(client, brand)
    url = f"/v1/products/{product['id']}"
    bad = client.patch(
        url,
        json={"own_print": MARKS, "own_print_image_id": product["id"]},  # not one of its images
        headers={**brand.headers, "If-Match": '"1"'},
    )
    assert bad.status_code == 422
    assert _etag(client, brand, product["id"]) == '"1"'


def test_variants_and_images_move_the_product_version(client: TestClient, brand: BrandAccount) -> None:
    product = _created(client, brand)
    product_id = product["id"]
    seen = [_etag(client, brand, product_id)]

    def changed() -> None:
        now = _etag(client, brand, product_id)
        assert now != seen[-1]
        seen.append(now)

    variant = client.post(
        f"/v1/products/{product_id}/variants",
        json={"sku": "YOG-S-4", "title": "4-pack", "price": "79.00", "currency": "SEK"},
        headers=brand.headers,
    )
    assert variant.status_code == 201
    changed()
    patched = client.patch(
        f"/v1/variants/{variant.json()['id']}", json={"available": False}, headers=brand.headers
    )
    assert patched.status_code == 200
    changed()
    assert client.delete(f"/v1/variants/{variant.json()['id']}", headers=brand.headers).status_code == 204
    changed()
    image = client.post(
        f"/v1/products/{product_id}/images",
        json={"url": "https://cdn.example.com/back.jpg"},
        headers=brand.headers,
    )
    assert image.status_code == 201
    changed()
    assert client.delete(f"/v1/images/{image.json()['id']}", headers=brand.headers).status_code == 204
    changed()
    assert seen == ['"1"', '"2"', '"3"', '"4"', '"5"', '"6"']


def test_marks_saved_against_a_version_whose_image_was_since_removed_are_refused(
    client: TestClient, brand: BrandAccount
) -> None:
    product = _created(client, brand)
    first, second = product["images"]
    loaded = _etag(client, brand, product["id"])
    # A colleague removes the second image while the editor shows it
    assert client.delete(f"/v1/images/{second['id']}", headers=brand.headers).status_code == 204
    response = client.patch(
        f"/v1/products/{product['id']}",
        json={"own_print": MARKS, "own_print_image_id": first["id"]},
        headers={**brand.headers, "If-Match": loaded},
    )
    assert response.status_code == 412
    assert client.get(f"/v1/products/{product['id']}", headers=brand.headers).json()["own_print"] == []


def test_the_schema_documents_412_on_product_patch_and_428_only_where_if_match_is_required(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    product_patch = paths["/v1/products/{product_id}"]["patch"]
    assert "412" in product_patch["responses"]
    assert "428" not in product_patch["responses"]
    assert any(p["name"] == "If-Match" for p in product_patch["parameters"])
    assert "428" in paths["/v1/placements/{placement_id}"]["patch"]["responses"]


def test_concurrent_patches_of_one_version_let_exactly_one_through(
    client: TestClient, engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    product = _created(client, brand)
    url = f"/v1/products/{product['id']}"
    barrier = threading.Barrier(8)

    def save(n: int) -> int:
        barrier.wait()  # all eight read version "1" and write at once, each on its own pooled connection
        response = client.patch(
            url,
            json={"own_print": [[0.1, 0.1, 0.2 + n / 100, 0.5]]},
            headers={**brand.headers, "If-Match": '"1"'},
        )
        status: int = response.status_code
        return status

    # When eight people save marks made against version "1" at the same moment
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(save, range(8)))

    # Then one is stored, seven are told to reload
    assert statuses == [200] + [412] * 7
    stored = client.get(url, headers=brand.headers)
    assert stored.headers["ETag"] == '"2"'
    with Session(engine) as session:
        row = session.get(Product, product["id"])
        assert row is not None
        assert (row.version, row.own_print) == (2, stored.json()["own_print"])
