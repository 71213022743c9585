"""Probes, OpenAPI, problem documents and API-key auth, through HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.models import ApiKey
from tests.utils.api import BrandAccount

PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://reelcart.dev/problems/"


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
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "API key is not valid")
    assert wrong.json()["type"].endswith("/invalid-api-key")
    assert wrong.headers["www-authenticate"].startswith("Bearer")
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
        f"/v1/episodes/{uuid.uuid4()}/timeline",
        headers={"Origin": "https://player.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    read = client.get(f"/v1/episodes/{uuid.uuid4()}/timeline", headers={"Origin": "https://player.example"})
    assert "ETag" in read.headers["access-control-expose-headers"]


def test_operator_lists_keys_without_secrets_and_a_revoked_key_is_401_at_once(
    client: TestClient, operator_key: str, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    ops = {"Authorization": f"Bearer {operator_key}"}
    # Given a second key for the brand
    second = client.post(f"/v1/admin/brands/{brand.brand.id}/keys", json={"name": "laptop"}, headers=ops)
    laptop = {"Authorization": f"Bearer {second.json()['key']}"}

    # When the operator lists every key: newest first, each with its brand, never a secret
    listed = client.get("/v1/admin/keys", headers=ops)
    assert listed.status_code == 200
    keys = [(key["name"], key["brand_slug"], key["scope"]) for key in listed.json()]
    assert keys[0] == ("laptop", "acme-drinks", "brand")
    assert sorted(keys[1:], key=str) == [
        ("acme-drinks-key", "acme-drinks", "brand"),
        ("ops", None, "operator"),
        ("rival-foods-key", "rival-foods", "brand"),
    ]
    assert set(listed.json()[0]) == {
        "id", "name", "scope", "brand_id", "brand_slug", "prefix", "created_at", "revoked_at", "expires_at"
    }  # fmt: skip
    assert brand.key not in listed.text
    assert second.json()["key"] not in listed.text
    assert listed.json()[0]["prefix"] == second.json()["key"][:10]
    mine = client.get("/v1/admin/keys", params={"brand_id": str(brand.brand.id)}, headers=ops).json()
    assert [key["name"] for key in mine] == ["laptop", "acme-drinks-key"]

    # When the brand's first key is revoked, its very next request is refused; the other key still works
    first_id = mine[1]["id"]
    assert client.get("/v1/products", headers=brand.headers).status_code == 200
    revoked = client.post(f"/v1/admin/keys/{first_id}/revoke", headers=ops)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = client.get("/v1/products", headers=brand.headers)
    assert (refused.status_code, refused.json()["type"]) == (401, f"{PROBLEM_BASE}revoked-api-key")
    when = datetime.fromisoformat(revoked.json()["revoked_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert refused.json()["detail"] == f"API key {brand.key[:10]}… was revoked at {when}"
    assert client.get("/v1/products", headers=laptop).status_code == 200
    again = client.post(f"/v1/admin/keys/{first_id}/revoke", headers=ops)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    states = {key["id"]: key["revoked_at"] for key in client.get("/v1/admin/keys", headers=ops).json()}
    assert states[first_id] == revoked.json()["revoked_at"]


def test_key_routes_are_the_operators_and_refuse_bad_ids_clearly(
    client: TestClient, operator_key: str, brand: BrandAccount
) -> None:
    ops = {"Authorization": f"Bearer {operator_key}"}
    assert client.get("/v1/admin/keys", headers=brand.headers).status_code == 403
    assert client.get("/v1/admin/keys").status_code == 401
    own_id = next(key["id"] for key in client.get("/v1/admin/keys", headers=ops).json() if key["brand_slug"])
    assert client.post(f"/v1/admin/keys/{own_id}/revoke", headers=brand.headers).status_code == 403
    missing = client.post(f"/v1/admin/keys/{uuid.uuid4()}/revoke", headers=ops)
    assert (missing.status_code, missing.json()["detail"]) == (404, "API key not found")
    malformed = client.post("/v1/admin/keys/not-a-key/revoke", headers=ops)
    assert (malformed.status_code, malformed.headers["content-type"]) == (422, PROBLEM)
    unknown_brand = client.get("/v1/admin/keys", params={"brand_id": str(uuid.uuid4())}, headers=ops)
    assert (unknown_brand.status_code, unknown_brand.json()["detail"]) == (404, "brand not found")
    assert client.get("/v1/admin/keys", params={"brand_id": "acme"}, headers=ops).status_code == 422


def test_a_key_created_with_an_expiry_works_until_then_and_is_401_expired_after(
    client: TestClient, engine: Engine, operator_key: str, brand: BrandAccount
) -> None:
    ops = {"Authorization": f"Bearer {operator_key}"}
    # Given a key the operator created to expire in 7 days
    created = client.post(
        f"/v1/admin/brands/{brand.brand.id}/keys", json={"name": "agency", "expires_in_days": 7}, headers=ops
    )
    assert created.status_code == 201, created.text
    expires_at = datetime.fromisoformat(created.json()["expires_at"])
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    agency = {"Authorization": f"Bearer {created.json()['key']}"}
    listed = {key["name"]: key for key in client.get("/v1/admin/keys", headers=ops).json()}
    assert (listed["agency"]["expires_at"], listed["acme-drinks-key"]["expires_at"]) == (
        created.json()["expires_at"],
        None,
    )

    # Then it works now
    assert client.get("/v1/products", headers=agency).status_code == 200

    # When its expiry passes (moved into the past, as time would)
    with Session(engine) as session:
        key = session.get(ApiKey, uuid.UUID(created.json()["id"]))
        assert key is not None
        key.expires_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        session.add(key)
        session.commit()

    # Then its next request is a 401 saying it expired and when; a key without expiry still works
    refused = client.get("/v1/products", headers=agency)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json()["type"] == f"{PROBLEM_BASE}expired-api-key"
    assert refused.json()["detail"] == (
        f"API key {created.json()['key'][:10]}… expired at 2026-01-02 03:04:05 UTC; "
        "ask the operator for a new one"
    )
    assert client.get("/v1/products", headers=brand.headers).status_code == 200


def test_a_key_expiry_must_be_a_positive_number_of_days(
    client: TestClient, operator_key: str, brand: BrandAccount
) -> None:
    ops = {"Authorization": f"Bearer {operator_key}"}
    for days in (0, -1, 3651, "soon"):
        response = client.post(
            f"/v1/admin/brands/{brand.brand.id}/keys", json={"expires_in_days": days}, headers=ops
        )
        assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM), days
        assert response.json()["errors"][0]["field"].endswith("expires_in_days")
