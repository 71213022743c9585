"""Body caps are chosen by route and content type: a JSON body is capped at the JSON limit wherever it
is sent but the catalog import, only an upload route's media body gets the larger cap, and the catalog
import's CSV or JSON file gets the import cap."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Scope

from api.app import create_app
from api.limits import EPISODE_BYTES_ONLY, MULTIPART_OVERHEAD_BYTES, BodySizeLimit, upload_routes
from api.settings import ApiSettings
from tests.api.factories import make_product
from tests.utils.api import BrandAccount, RecordingQueue

PROBLEM = "application/problem+json"
JSON_CAP = 64 << 10
IMAGE_CAP = 1 << 20
IMPORT_CAP = 1 << 20
IMPORT_WHAT = "a catalog import (REELCART_MAX_IMPORT_BYTES)"
IMPORT_TOO_LARGE = (
    f"request body exceeds the {IMPORT_CAP} byte limit for a catalog import (REELCART_MAX_IMPORT_BYTES)"
)


@pytest.fixture
def small_caps(settings: ApiSettings, engine: Engine) -> Iterator[TestClient]:
    """The app with a 64 KiB JSON cap and 1 MiB image and import caps (episodes keep their 2 GiB)."""
    capped = settings.model_copy(
        update={"max_json_bytes": JSON_CAP, "max_image_bytes": IMAGE_CAP, "max_import_bytes": IMPORT_CAP}
    )
    with TestClient(
        create_app(capped, engine=engine, job_queue=RecordingQueue()), raise_server_exceptions=False
    ) as client:
        yield client


def _json_of(size: int) -> bytes:
    return b'{"url": "https://cdn.example/' + b"x" * size + b'.jpg"}'


def test_a_json_body_to_the_image_route_gets_the_json_cap(
    small_caps: TestClient, engine: Engine, brand: BrandAccount
) -> None:
    # Given a product, and a JSON body past the JSON cap but well under the image cap
    product, _ = make_product(engine, brand.brand.id, "Cola", sku="C-1")
    url = f"/v1/products/{product.id}/images"
    body = _json_of(JSON_CAP * 4)

    # When it is posted to the image route, declared and streamed without a length
    declared = small_caps.post(
        url, content=body, headers={**brand.headers, "Content-Type": "application/json"}
    )

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    streamed = small_caps.post(
        url, content=chunks(), headers={**brand.headers, "Content-Type": "application/json; charset=utf-8"}
    )

    # Then both are 413 problems naming the JSON cap, and a JSON body within it is accepted
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == f"request body exceeds the {JSON_CAP} byte limit for a JSON body"
    fine = small_caps.post(url, json={"url": "https://cdn.example/cola.jpg"}, headers=brand.headers)
    assert fine.status_code == 201, fine.text


def test_an_image_upload_gets_the_image_cap_not_the_episode_cap(
    small_caps: TestClient, engine: Engine, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Cola", sku="C-1")
    url = f"/v1/products/{product.id}/images"
    too_big = b"\x89PNG" + b"\0" * (IMAGE_CAP + MULTIPART_OVERHEAD_BYTES)

    response = small_caps.post(url, files={"file": ("pack.png", too_big, "image/png")}, headers=brand.headers)

    assert response.status_code == 413, response.text
    cap = IMAGE_CAP + MULTIPART_OVERHEAD_BYTES
    assert response.json()["detail"] == f"request body exceeds the {cap} byte limit for an image upload"


def test_a_json_or_form_body_to_the_episode_upload_is_told_to_send_the_video_whatever_its_size(
    small_caps: TestClient, brand: BrandAccount
) -> None:
    # `curl --data-binary @episode.mp4` sends a form's type: a large one was a 413 naming the JSON cap
    for content_type in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data"):
        for size in (10, JSON_CAP + 1):
            response = small_caps.post(
                "/v1/episodes/upload?title=Ep",
                content=b"0" * size,
                headers={**brand.headers, "Content-Type": content_type},
            )
            assert response.status_code == 415, (content_type, size, response.text)
            assert response.json()["detail"] == EPISODE_BYTES_ONLY
    # Text is not refused by its type (the route probes it), and past the JSON cap it is a 413 still
    response = small_caps.post(
        "/v1/episodes/upload?title=Ep",
        content=b"0" * (JSON_CAP + 1),
        headers={**brand.headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 413, response.text


def test_an_episode_upload_with_no_content_type_gets_the_upload_cap(
    small_caps: TestClient, brand: BrandAccount
) -> None:
    # Python's requests sends a file's bytes with no Content-Type: past the JSON cap it was a 413
    response = small_caps.post(
        "/v1/episodes/upload?title=Ep", content=b"\0" * (JSON_CAP + 1), headers=brand.headers
    )

    # Now it is read and probed like any upload: these bytes are no video (a 422 naming the file)
    assert response.status_code == 422, response.text


def _catalog_csv(products: int, *, description: int = 600, first: int = 0) -> str:
    """A catalog as a shop exports it: a line per product, each with a description."""
    rows = "".join(
        f"SKU-{n},Product {n},4.99,EUR,{'Tasty and good for you. ' * (description // 24)}\n"
        for n in range(first, first + products)
    )
    return "sku,title,price,currency,description\n" + rows


def _streamed(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 8192):
        yield body[start : start + 8192]


def test_a_catalog_import_gets_the_import_cap_as_csv_or_json(
    small_caps: TestClient, brand: BrandAccount
) -> None:
    # Given files past the JSON cap but within the import cap, as CSV and as JSON
    csv_file = _catalog_csv(300)
    products = [
        {
            "title": f"Item {n}",
            "description": "Good. " * 100,
            "variants": [{"sku": f"J-{n}", "price": "1", "currency": "EUR"}],
        }
        for n in range(300)
    ]
    json_file = json.dumps({"products": products})
    assert JSON_CAP < len(csv_file) < IMPORT_CAP
    assert JSON_CAP < len(json_file) < IMPORT_CAP
    csv_headers = {**brand.headers, "Content-Type": "text/csv; charset=utf-8"}
    json_headers = {**brand.headers, "Content-Type": "application/json"}

    # When the brand imports them, then both are imported
    as_csv = small_caps.post("/v1/catalog/import", content=csv_file, headers=csv_headers)
    assert as_csv.status_code == 200, as_csv.text[:500]
    assert as_csv.json()["imported_products"] == 300
    as_json = small_caps.post("/v1/catalog/import", content=json_file, headers=json_headers)
    assert as_json.status_code == 200, as_json.text[:500]
    assert as_json.json()["imported_products"] == 300

    # And a file past the import cap, declared or streamed, CSV or JSON, is a 413 naming the setting
    too_big = _catalog_csv(2000, first=10_000).encode()
    assert len(too_big) > IMPORT_CAP
    for response in (
        small_caps.post("/v1/catalog/import", content=too_big, headers=csv_headers),
        small_caps.post("/v1/catalog/import", content=_streamed(too_big), headers=csv_headers),
        small_caps.post("/v1/catalog/import", content=b" " * (IMPORT_CAP + 1), headers=json_headers),
    ):
        assert response.status_code == 413, response.text[:500]
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == IMPORT_TOO_LARGE


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_3000_product_catalog_with_descriptions_imports_under_the_default_caps(
    client: TestClient, brand: BrandAccount, settings: ApiSettings
) -> None:
    # Given a shop's export of 3,000 products with descriptions: past the 1 MiB JSON cap
    csv_file = _catalog_csv(3000)
    assert settings.max_json_bytes < len(csv_file) < settings.max_import_bytes

    # When the brand imports it, then it is imported, not refused as too large
    response = client.post(
        "/v1/catalog/import", content=csv_file, headers={**brand.headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["imported_products"] == 3000


def _scope(method: str, path: str, content_type: str | None) -> Scope:
    headers = [(b"content-type", content_type.encode())] if content_type is not None else []
    return {"type": "http", "method": method, "path": path, "headers": headers}


@pytest.mark.parametrize(
    ("method", "path", "content_type", "expected"),
    [
        ("POST", "/v1/episodes/upload", "video/mp4", ("upload", "an episode")),
        ("POST", "/v1/episodes/upload", "application/octet-stream", ("upload", "an episode")),
        ("POST", "/v1/episodes/upload", "application/json", ("json", "a JSON body")),
        ("POST", "/v1/episodes/upload", None, ("upload", "an episode")),
        ("PUT", "/v1/episodes/upload", "video/mp4", ("json", "this request body")),
        ("POST", "/v1/products/abc/images", "multipart/form-data; boundary=x", ("image", "an image upload")),
        ("POST", "/v1/products/abc/images", "application/vnd.api+json", ("json", "a JSON body")),
        ("POST", "/v1/products/abc/images", "image/png", ("json", "this request body")),
        # Paths that merely end like an upload route are not one
        ("POST", "/v1/catalog/images", "multipart/form-data; boundary=x", ("json", "this request body")),
        ("POST", "/v1/products/abc/variants/images", "multipart/form-data", ("json", "this request body")),
        ("POST", "/v1/products", "video/mp4", ("json", "this request body")),
        # The catalog import takes its file, CSV or JSON, up to the import cap
        ("POST", "/v1/catalog/import", "text/csv", ("import", IMPORT_WHAT)),
        ("POST", "/v1/catalog/import", "application/csv", ("import", IMPORT_WHAT)),
        ("POST", "/v1/catalog/import", "application/json", ("import", IMPORT_WHAT)),
        ("POST", "/v1/catalog/import", "text/plain", ("json", "this request body")),
        ("POST", "/v1/catalog/import", None, ("json", "this request body")),
        ("PUT", "/v1/catalog/import", "text/csv", ("json", "this request body")),
        ("POST", "/v1/catalog/import/more", "text/csv", ("json", "this request body")),
        ("POST", "/v1/products", "text/csv", ("json", "this request body")),
    ],
)
def test_the_cap_is_chosen_by_method_whole_path_and_content_type(
    settings: ApiSettings,
    method: str,
    path: str,
    content_type: str | None,
    expected: tuple[str, str],
) -> None:
    caps = settings.model_copy(
        update={"max_json_bytes": JSON_CAP, "max_image_bytes": IMAGE_CAP, "max_import_bytes": IMPORT_CAP}
    )
    limit = BodySizeLimit(_never_called, json_bytes=JSON_CAP, uploads=upload_routes(caps))
    sizes = {
        "upload": caps.max_upload_bytes,
        "image": IMAGE_CAP + MULTIPART_OVERHEAD_BYTES,
        "import": IMPORT_CAP,
        "json": JSON_CAP,
    }
    assert limit.limit_for(_scope(method, path, content_type)) == (sizes[expected[0]], expected[1])


async def _never_called(scope: Scope, receive: object, send: object) -> None:
    raise AssertionError("limit_for does not call the app")
