"""The API holds to its own contract (issue #18): the OpenAPI document says who may call each route and
which problems it answers, every reference in it resolves, a null the schema allows is accepted, a 405
names every method the path serves, and only the player's routes answer any origin."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.settings import ApiSettings
from tests.utils.api import BrandAccount, RecordingQueue

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PLAYER = "https://player.example"


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_every_reference_in_the_document_resolves(spec: dict[str, Any]) -> None:
    refs = set(_refs(spec))
    assert refs  # the document does use references
    for ref in refs:
        _resolve(spec, ref)
    assert "$defs" not in json.dumps(spec["paths"])  # schemas nest their own $defs nowhere


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_bearer_keys_are_declared_per_route(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "brandKey": ("http", "bearer"),
        "operatorKey": ("http", "bearer"),
    }
    security = {(method, path): op.get("security") for method, path, op in _operations(spec)}
    assert security["GET", "/v1/products"] == [{"brandKey": []}]
    assert security["POST", "/v1/admin/brands"] == [{"operatorKey": []}]
    assert security["GET", "/v1/episodes/{episode_id}/timeline"] is None
    assert security["POST", "/v1/checkout"] is None
    assert security["POST", "/v1/events"] is None
    for (method, path), value in security.items():
        if value:
            responses = dict(_operations_by_key(spec)[method, path]["responses"])
            assert {"401", "403"} <= set(responses), (method, path)


def _operations_by_key(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for method, path, op in _operations(spec)}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_problems_are_documented_as_problem_json(spec: dict[str, Any]) -> None:
    operations = _operations_by_key(spec)
    for (method, path), operation in operations.items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (
                    method,
                    path,
                    status,
                )
    assert "HTTPValidationError" not in spec["components"]["schemas"]

    def statuses(method: str, path: str) -> set[int]:
        return {int(s) for s in operations[method, path]["responses"] if s[0] in "45"}

    assert {412, 428} <= statuses("PATCH", "/v1/placements/{placement_id}")
    assert {404, 422} <= statuses("GET", "/v1/products/{product_id}")
    assert {409, 413, 415, 422} <= statuses("POST", "/v1/catalog/import")
    assert {502, 503} <= statuses("POST", "/v1/checkout")
    assert 400 in statuses("POST", "/webhooks/stripe")
    assert 412 not in statuses("GET", "/v1/products")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/products", "GET, POST"),
        ("PUT", f"/v1/products/{uuid.uuid4()}", "DELETE, GET, PATCH"),
        ("GET", "/v1/checkout", "POST"),
    ],
)
def test_a_405_names_every_method_the_path_serves(
    client: TestClient, brand: BrandAccount, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=brand.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"] == "application/problem+json"
    assert allowed in response.json()["detail"]


def test_a_null_the_schema_allows_clears_the_field(
    client: TestClient, brand: BrandAccount, spec: dict[str, Any]
) -> None:
    # Given a product with a vendor and a description
    created = client.post(
        "/v1/products",
        json={"title": "Juice", "vendor": "Acme", "description": "Fresh"},
        headers=brand.headers,
    ).json()

    # When vendor is sent as null
    response = client.patch(f"/v1/products/{created['id']}", json={"vendor": None}, headers=brand.headers)

    # Then it is cleared and the rest is kept
    assert response.status_code == 200, response.text
    assert (response.json()["vendor"], response.json()["description"]) == ("", "Fresh")

    # And what cannot be cleared is not nullable in the schema, and a null sent anyway is a 422 on it
    update = spec["components"]["schemas"]["ProductUpdate"]["properties"]
    assert "null" not in json.dumps(update["title"])
    assert "null" in json.dumps(update["vendor"])
    refused = client.patch(f"/v1/products/{created['id']}", json={"title": None}, headers=brand.headers)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["title"]


def _preflight(client: TestClient, path: str, method: str = "GET", headers: str = "") -> Any:
    request = {"Origin": PLAYER, "Access-Control-Request-Method": method}
    if headers:
        request["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_only_the_players_routes_answer_any_origin(client: TestClient, brand: BrandAccount) -> None:
    episode = uuid.uuid4()
    for path, method in [
        (f"/v1/episodes/{episode}/timeline", "GET"),
        ("/v1/events", "POST"),
        ("/v1/checkout", "POST"),
        (f"/v1/images/{uuid.uuid4()}", "GET"),
        ("/overlay/reelcart-overlay.js", "GET"),
    ]:
        response = _preflight(client, path, method, "content-type")
        assert response.headers.get("access-control-allow-origin") == "*", path

    # A brand route is same-origin by default: no CORS headers, on preflight or on the answer
    for path in ("/v1/products", "/v1/brands/me", "/v1/admin/keys"):
        preflight = _preflight(client, path, "GET", "authorization")
        assert "access-control-allow-origin" not in preflight.headers, path
        answer = client.get(path, headers={**brand.headers, "Origin": PLAYER})
        assert "access-control-allow-origin" not in answer.headers, path

    # And no foreign page may send a key to a player route either
    keyed = _preflight(client, f"/v1/images/{uuid.uuid4()}", "DELETE", "authorization")
    assert keyed.status_code == 400


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_configured_origins_may_call_the_brand_routes(
    settings: ApiSettings, engine: Engine, brand: BrandAccount
) -> None:
    settings.cors_origins = ["https://tools.brand.example"]
    app = create_app(settings, engine=engine, job_queue=RecordingQueue())
    with TestClient(app, raise_server_exceptions=False) as client:
        allowed = client.options(
            "/v1/products",
            headers={
                "Origin": "https://tools.brand.example",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://tools.brand.example"
        other = _preflight(client, "/v1/products", "GET", "authorization")
        assert other.headers.get("access-control-allow-origin") != PLAYER
        assert other.status_code == 400
        # and a brand's tool can read the version to send back and where the job its write queued is
        read = client.get("/v1/products", headers={**brand.headers, "Origin": "https://tools.brand.example"})
        exposed = {name.strip() for name in read.headers["access-control-expose-headers"].split(",")}
        assert {"ETag", "Location", "Link"} <= exposed
