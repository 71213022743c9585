"""Bad input answers a 4xx problem with a field-level reason, never a 500, and writes nothing (issue #18):
huge offsets, NUL characters (PostgreSQL refuses them in text, the filesystem in paths), forged review
cursors, oversized CSV fields, deeply nested JSON, checkout totals past the money column."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.brands.models import Brand
from api.catalog.models import Product
from api.checkout.models import CheckoutSession
from api.episodes.models import Episode
from api.settings import ApiSettings
from tests.api.commerce_support import ACCOUNT, World, make_shoppable
from tests.api.factories import make_episode, make_placement
from tests.utils.api import BrandAccount, make_video

NUL = "\x00"


def _field_problem(response: Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert field in [error["field"] for error in body.get("errors", [])], body
    return body


def _count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


@pytest.mark.parametrize("route", ["/v1/products", "/v1/episodes"])
@pytest.mark.parametrize("offset", ["9223372036854775808", "2147483648", "-1"])
def test_an_offset_past_what_the_database_holds_is_a_422_on_the_offset(
    client: TestClient, brand: BrandAccount, route: str, offset: str
) -> None:
    response = client.get(f"{route}?offset={offset}", headers=brand.headers)
    _field_problem(response, 422, "offset")


def test_the_largest_offset_is_answered_with_an_empty_page(client: TestClient, brand: BrandAccount) -> None:
    response = client.get("/v1/products?offset=2147483647", headers=brand.headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


# Each text field a request can store or search for, with a NUL in it (PostgreSQL refuses NUL in text).
def _nul_requests(shown: uuid.UUID) -> list[tuple[str, str, dict[str, Any], str]]:
    variant = {"sku": "NUL-1", "price": "1.00", "currency": "EUR"}
    return [
        ("POST", "/v1/products", {"json": {"title": f"Juice{NUL}"}}, "title"),
        ("POST", "/v1/products", {"json": {"title": "Juice", "vendor": f"A{NUL}"}}, "vendor"),
        ("POST", "/v1/products", {"json": {"title": "Juice", "description": NUL}}, "description"),
        (
            "POST",
            "/v1/products",
            {"json": {"title": "Juice", "variants": [{**variant, "title": f"1 l{NUL}"}]}},
            "variants.0.title",
        ),
        ("GET", "/v1/products", {"params": {"q": f"ju{NUL}ice"}}, "q"),
        ("POST", "/v1/episodes", {"json": {"title": f"Ep{NUL}", "path": "ep.mp4"}}, "title"),
        ("POST", "/v1/episodes/upload", {"params": {"title": f"Ep{NUL}"}, "content": b"x"}, "title"),
        (
            "POST",
            "/v1/events",
            {"json": {"events": [{"type": "hotspot_tap", "episode_id": str(shown), "click_id": f"c{NUL}"}]}},
            "events.0.click_id",
        ),
    ]


@pytest.mark.parametrize("case", range(len(_nul_requests(uuid.uuid4()))))
def test_a_nul_character_in_any_text_field_is_a_422_on_that_field(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, case: int
) -> None:
    # Given an episode events may name
    episode = make_episode(engine, brand.brand.id, settings)
    method, route, request, field = _nul_requests(episode.id)[case]

    # When a text field carries a NUL character
    response = client.request(method, route, headers=brand.headers, **request)

    # Then the field is named, on SQLite (which would store it) as on PostgreSQL (which would fail)
    _field_problem(response, 422, field)
    assert _count(engine, Product) == 0
    assert _count(engine, Episode) == 1


def test_a_nul_byte_in_an_episode_path_is_a_422_on_the_path(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    response = client.post(
        "/v1/episodes", json={"title": "Ep", "path": f"ep.mp4{NUL}.txt"}, headers=brand.headers
    )
    body = _field_problem(response, 422, "path")
    assert NUL not in json.dumps(body)
    assert _count(engine, Episode) == 0


def _cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b'{"o": Infinity}').decode(),
        base64.urlsafe_b64encode(b'{"o": NaN}').decode(),
        _cursor({"o": 10**22}),
        _cursor({"o": 1.5}),
        _cursor({"o": "12"}),
        _cursor({"o": True}),
        _cursor({"o": -1}),
        _cursor([1]),
        # An offset: the queue's cursors are keysets now (tests/api/test_review_queue_cursor.py)
        _cursor({"o": 50}),
        _cursor({"c": 0.5, "d": 10**22, "i": uuid.UUID(int=1).hex}),
        "not base64!",
        "",
    ],
)
def test_a_forged_review_cursor_is_a_422_on_the_cursor(
    client: TestClient, brand: BrandAccount, cursor: str
) -> None:
    response = client.get("/v1/review/queue", params={"cursor": cursor}, headers=brand.headers)
    if cursor == "":
        assert response.status_code == 200, response.text  # no cursor: the first page
        return
    _field_problem(response, 422, "cursor")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_issued_cursor_still_pages(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    make_placement(engine, episode)
    make_placement(engine, episode)
    first = client.get("/v1/review/queue", params={"limit": 1}, headers=brand.headers).json()
    response = client.get("/v1/review/queue", params={"cursor": first["next_cursor"]}, headers=brand.headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 1


def test_a_csv_field_of_200000_characters_is_a_line_error_and_nothing_is_imported(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    csv = "sku,title,price,currency\nOK-1,Fine,1.00,EUR\nBIG-1," + "x" * 200_000 + ",1.00,EUR\n"
    response = client.post(
        "/v1/catalog/import", content=csv, headers={**brand.headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(error["line"], error["field"]) for error in errors] == [(3, "title")]
    assert "300 characters" in errors[0]["message"]
    assert _count(engine, Product) == 0


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_json_nested_100000_deep_is_a_422_and_nothing_is_imported(
    client: TestClient, brand: BrandAccount, engine: Engine
) -> None:
    document = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/v1/catalog/import",
        content=document,
        headers={**brand.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body"
    assert "nested" in response.json()["errors"][0]["message"]
    assert _count(engine, Product) == 0


def test_a_checkout_total_past_the_money_column_is_refused_before_the_provider_is_called(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given the dearest variant a catalog can hold, sold through Stripe
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        stored.stripe_account_id = ACCOUNT
        session.add(stored)
        session.commit()
    shoppable = make_shoppable(engine, settings, brand, price="999999999.99")

    # When a shopper asks for ten of it (9,999,999,999.90: past NUMERIC(12, 3))
    response = world.client.post("/v1/checkout", json=shoppable.checkout_body(quantity=10))

    # Then a 422 on the quantity; Stripe was never asked and no checkout was recorded
    body = _field_problem(response, 422, "quantity")
    assert "999999999.999" in body["detail"]
    assert world.stripe_server.requests == []
    assert _count(engine, CheckoutSession) == 0

    # And one of it still sells
    assert world.client.post("/v1/checkout", json=shoppable.checkout_body(quantity=1)).status_code == 201


def test_a_server_path_in_the_media_dir_cannot_be_registered(
    client: TestClient, brand: BrandAccount, other_brand: BrandAccount, settings: ApiSettings, engine: Engine
) -> None:
    # Given another brand's upload, stored in the media dir
    uploaded = client.post(
        "/v1/episodes/upload",
        params={"title": "Theirs"},
        content=make_video(settings.media_dir.parent / "theirs.mp4").read_bytes(),
        headers={**other_brand.headers, "Content-Type": "video/mp4"},
    )
    assert uploaded.status_code == 201, uploaded.text
    stored = next((settings.media_dir / "episodes").glob("*"))

    # When this brand names it by path (and a thumbnail-like file beside it)
    response = client.post("/v1/episodes", json={"title": "Mine", "path": str(stored)}, headers=brand.headers)

    # Then it is refused like any path outside the import roots, and the answer names no server path
    body = _field_problem(response, 422, "path")
    assert str(settings.media_dir) not in json.dumps(body)
    assert stored.name not in json.dumps(body)
    assert _count(engine, Episode) == 1


def test_an_import_root_holding_the_media_dir_does_not_open_it(
    client: TestClient, brand: BrandAccount, settings: ApiSettings, engine: Engine, tmp_path: Path
) -> None:
    # Given an operator who made the whole data folder an import root, media dir included
    settings.media_import_roots = [tmp_path]
    inside_media = make_video(settings.media_dir / "episodes" / "someone-elses.mp4")
    library = make_video(tmp_path / "library" / "ok.mp4")

    # Then the media dir stays closed, and the rest of the root is open
    refused = client.post(
        "/v1/episodes", json={"title": "X", "path": str(inside_media)}, headers=brand.headers
    )
    _field_problem(refused, 422, "path")
    allowed = client.post("/v1/episodes", json={"title": "Y", "path": str(library)}, headers=brand.headers)
    assert allowed.status_code == 201, allowed.text
    assert _count(engine, Episode) == 1


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("route", ["/v1/placements/{id}/thumbnail", "/v1/episodes/{id}/media"])
def test_a_media_signature_with_non_ascii_characters_is_a_403(client: TestClient, route: str) -> None:
    path = route.format(id=uuid.uuid4())
    response = client.get(path, params={"exp": str(2**40), "sig": "sïgnature"})
    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith("/bad-media-url-signature")


def test_a_nul_character_in_an_operators_brand_or_key_name_is_a_422(
    client: TestClient, operator_key: str, brand: BrandAccount
) -> None:
    ops = {"Authorization": f"Bearer {operator_key}"}
    named = client.post("/v1/admin/brands", json={"name": f"Acme{NUL}", "slug": "acme-two"}, headers=ops)
    _field_problem(named, 422, "name")
    key = client.post(f"/v1/admin/brands/{brand.brand.id}/keys", json={"name": f"k{NUL}"}, headers=ops)
    _field_problem(key, 422, "name")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_boolean_is_not_a_confidence(client: TestClient, brand: BrandAccount) -> None:
    response = client.post("/v1/review/bulk-approve", json={"min_confidence": True}, headers=brand.headers)
    _field_problem(response, 422, "min_confidence")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, b"\xff\xfe{"])
def test_an_unreadable_json_body_is_a_400_on_the_body(
    client: TestClient, brand: BrandAccount, engine: Engine, body: str | bytes
) -> None:
    response = client.post(
        "/v1/products", content=body, headers={**brand.headers, "Content-Type": "application/json"}
    )
    _field_problem(response, 400, "body")
    assert _count(engine, Product) == 0
