"""The timeline and the overlay SDK travel gzipped, revalidate with their ETag, and name each Vary once."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.episodes.models import Episode
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount

OVERLAY = Path(__file__).resolve().parents[2] / "web_overlay" / "reelcart-overlay.js"


def _published_timeline(engine: Engine, brand: BrandAccount, settings: ApiSettings) -> str:
    """An episode with 8 approved placements, as in the report of a 5.5 KB timeline; its timeline URL."""
    episode = make_episode(engine, brand.brand.id, settings)
    for index in range(8):
        product, _ = make_product(engine, brand.brand.id, f"Orange juice {index}", sku=f"OJ-{index}")
        make_placement(
            engine,
            episode,
            start_ms=1000 * index,
            end_ms=1000 * index + 900,
            status=PlacementStatus.APPROVED,
            chosen_product_id=product.id,
        )
    with Session(engine) as session:
        stored = session.get(Episode, episode.id)
        assert stored is not None
        rebuild_timeline(session, stored, settings)
        session.commit()
    return f"/v1/episodes/{episode.id}/timeline"


def _raw(client: TestClient, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def _vary(response: httpx.Response) -> list[str]:
    return [token.strip() for value in response.headers.get_list("vary") for token in value.split(",")]


def test_the_timeline_is_gzipped_and_still_revalidates(
    client: TestClient, engine: Engine, brand: BrandAccount, settings: ApiSettings
) -> None:
    url = _published_timeline(engine, brand, settings)
    # Given the identity answer (what a client that asks for no compression gets)
    plain, plain_bytes = _raw(client, url, {"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain_bytes) > 2500
    strong = plain.headers["etag"]
    assert strong.startswith('"')
    # When a player asks for gzip, then the same document comes compressed, under the same tag
    zipped, zipped_bytes = _raw(client, url, {"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped_bytes)) == json.loads(plain_bytes)
    assert len(zipped_bytes) < len(plain_bytes) / 3
    assert zipped.headers["etag"] == strong
    assert zipped.headers["content-length"] == str(len(zipped_bytes))
    # And the tag (or its weak form, which some caches send) revalidates to a 304, gzip or not
    for held in (strong, f"W/{strong}"):
        for encoding in ("gzip", "identity"):
            again = client.get(url, headers={"If-None-Match": held, "Accept-Encoding": encoding})
            assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", strong)
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_each_vary_token_is_sent_once(
    client: TestClient, engine: Engine, brand: BrandAccount, settings: ApiSettings
) -> None:
    url = _published_timeline(engine, brand, settings)
    etag = client.get(url, headers={"Accept-Encoding": "identity"}).headers["etag"]
    for origin in ({}, {"Origin": "https://player.example"}):
        zipped = client.get(url, headers={**origin, "Accept-Encoding": "gzip"})
        assert _vary(zipped) == ["Origin", "Accept-Encoding"]
        assert zipped.headers.get_list("etag") == [etag]
        assert zipped.headers.get_list("cache-control") == [zipped.headers["cache-control"]]
        revalidated = client.get(url, headers={**origin, "If-None-Match": etag})
        assert (revalidated.status_code, _vary(revalidated)) == (304, ["Origin"])
    cors = client.get(url, headers={"Origin": "https://player.example"})
    assert cors.headers.get_list("access-control-allow-origin") == ["*"]


def test_the_overlay_sdk_is_gzipped(client: TestClient) -> None:
    response, raw = _raw(client, "/overlay/reelcart-overlay.js", {"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert (response.headers["content-encoding"], response.headers["content-type"]) == (
        "gzip",
        "text/javascript; charset=utf-8",
    )
    assert gzip.decompress(raw) == OVERLAY.read_bytes()
    assert len(raw) < OVERLAY.stat().st_size / 2
    assert _vary(response) == ["Origin", "Accept-Encoding"]


def test_small_answers_are_not_compressed(client: TestClient) -> None:
    health = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert (health.status_code, health.headers.get("content-encoding")) == (200, None)


def test_a_gzipped_placement_keeps_the_etag_if_match_needs(
    client: TestClient, engine: Engine, brand: BrandAccount, settings: ApiSettings
) -> None:
    # Given a placement whose JSON is big enough to travel gzipped
    products = [make_product(engine, brand.brand.id, f"Candidate {n}", sku=f"C-{n}")[0] for n in range(5)]
    placement = make_placement(engine, make_episode(engine, brand.brand.id, settings), candidates=products)
    url = f"/v1/placements/{placement.id}"
    read = client.get(url, headers={**brand.headers, "Accept-Encoding": "gzip"})
    assert read.headers["content-encoding"] == "gzip"
    # When the console sends back the tag it read, then the edit is not refused as stale
    approved = client.post(
        f"{url}/approve",
        json={"product_id": str(products[0].id)},
        headers={**brand.headers, "If-Match": read.headers["etag"]},
    )
    assert approved.status_code == 200, approved.text
