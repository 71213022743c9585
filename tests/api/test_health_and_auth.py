"""Probes, OpenAPI, problem documents and API-key auth, through HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.utils.api import BrandAccount

PROBLEM = "application/problem+json"


def test_healthz_and_readyz_answer_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_openapi_lists_the_resources(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/products",
        "/v1/episodes",
        "/v1/episodes/upload",
        "/v1/episodes/{episode_id}/timeline",
        "/v1/tag-jobs/{job_id}",
        "/v1/catalog/import",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_unknown_route_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "https://reelcart.dev/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no route for GET /v1/nothing-here",
        "instance": "/v1/nothing-here",
    }


def test_missing_key_is_401_with_challenge(client: TestClient) -> None:
    response = client.get("/v1/products")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in response.json()["detail"]


def test_wrong_key_and_wrong_scheme_are_401(client: TestClient, brand: BrandAccount) -> None:
    wrong = client.get("/v1/products", headers={"Authorization": "Bearer rc_not-a-real-key"})
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "API key is invalid or revoked")
    basic = client.get("/v1/products", headers={"Authorization": f"Basic {brand.key}"})
    assert basic.status_code == 401


def test_brand_key_cannot_use_operator_routes(client: TestClient, brand: BrandAccount) -> None:
    response = client.get("/v1/admin/brands", headers=brand.headers)
    assert response.status_code == 403


def test_operator_creates_a_brand_and_its_key_works(client: TestClient, operator_key: str) -> None:
    ops = {"Authorization": f"Bearer {operator_key}"}
    created = client.post("/v1/admin/brands", json={"name": "Tea House", "slug": "tea-house"}, headers=ops)
    assert created.status_code == 201
    key = client.post(f"/v1/admin/brands/{created.json()['id']}/keys", json={"name": "ci"}, headers=ops)
    assert key.status_code == 201
    listed = client.get("/v1/products", headers={"Authorization": f"Bearer {key.json()['key']}"})
    assert listed.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    duplicate = client.post("/v1/admin/brands", json={"name": "Tea", "slug": "tea-house"}, headers=ops)
    assert duplicate.status_code == 409


def test_operator_key_cannot_act_as_a_brand(client: TestClient, operator_key: str) -> None:
    response = client.get("/v1/products", headers={"Authorization": f"Bearer {operator_key}"})
    assert response.status_code == 403


def test_oversized_json_body_is_413_problem(client: TestClient, brand: BrandAccount) -> None:
    body = b'{"title": "' + b"x" * (2 << 20) + b'"}'
    response = client.post(
        "/v1/products", content=body, headers={**brand.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 413


def test_cors_allows_players_to_read_the_etag(client: TestClient) -> None:
    response = client.options(
        "/v1/products",
        headers={"Origin": "https://player.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://player.example")
