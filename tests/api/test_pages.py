"""The pages the API serves: SDK modules, the review console, the demo player page, the landing page and
the API docs (whose assets are served locally, not from a CDN)."""

from __future__ import annotations

import html
import re
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.episodes.models import Episode
from api.jobs.queue import JobQueue
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount, make_brand, make_video


def test_overlay_sdk_is_served_as_javascript(client: TestClient) -> None:
    response = client.get("/overlay/reelcart-overlay.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "attach" in response.text
    assert client.get("/overlay/timeline-math.js").status_code == 200
    assert client.get("/overlay/package.json").status_code == 404
    assert client.get("/overlay/..%2Fpyproject.toml").status_code == 404


def test_review_console_is_served(client: TestClient) -> None:
    redirect = client.get("/review", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/review/")
    page = client.get("/review/")
    assert page.status_code == 200
    assert "review.js" in page.text
    assert '<body data-demo-player="on" ' in page.text
    assert client.get("/review/review.js").status_code == 200
    assert client.get("/review/review.css").status_code == 200


def _approve(client: TestClient, brand: BrandAccount, placement_id: uuid.UUID) -> None:
    etag = client.get(f"/v1/placements/{placement_id}", headers=brand.headers).headers["etag"]
    approved = client.post(
        f"/v1/placements/{placement_id}/approve", headers={**brand.headers, "If-Match": etag}
    )
    assert approved.status_code == 200, approved.text


def _signed_until(page: str, episode_id: uuid.UUID) -> int:
    found = re.search(rf'data-video-url="/v1/episodes/{episode_id}/media\?exp=(\d+)&amp;sig=[0-9a-f]+"', page)
    assert found is not None, page
    return int(found.group(1))


def test_demo_page_plays_only_what_the_public_timeline_shows(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a brand's freshly tagged upload: one proposed placement, nothing approved yet
    video = make_video(tmp_path / "upload.mp4")
    episode = make_episode(engine, brand.brand.id, settings, media_path=str(video), duration_ms=20_000)
    product, _variant = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330")
    placement = make_placement(engine, episode, candidates=[product])

    # Then anyone holding its id gets the same 404 as for a missing episode, and no signed video URL
    hidden = client.get(f"/demo/episodes/{episode.id}")
    assert (hidden.status_code, hidden.json()["detail"]) == (404, "episode not found")
    missing = client.get(f"/demo/episodes/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["detail"]) == (404, "episode not found")

    # When the brand approves the placement, the episode's public timeline shows it, and so does the demo
    _approve(client, brand, placement.id)
    assert len(client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]) == 1
    before = time.time()
    page = client.get(f"/demo/episodes/{episode.id}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'data-episode-id="{episode.id}"' in page.text

    # And its video URL lives for one viewing (the episode plus pauses), not a day
    lifetime = _signed_until(page.text, episode.id) - before
    assert 20 + 14 * 60 <= lifetime <= 20 + 16 * 60
    signed = re.search(r'data-video-url="([^"]+)"', page.text)
    assert signed is not None
    played = client.get(html.unescape(signed.group(1)))
    assert (played.status_code, played.content) == (200, video.read_bytes())


def test_demo_page_is_off_in_production(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, job_queue: JobQueue
) -> None:
    production = settings.model_copy(update={"environment": "production"})
    episode = make_episode(engine, brand.brand.id, settings)
    product, _variant = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330")
    make_placement(
        engine, episode, candidates=[product], status=PlacementStatus.APPROVED, chosen_product_id=product.id
    )
    with Session(engine) as session:
        stored = session.get(Episode, episode.id)
        assert stored is not None
        rebuild_timeline(session, stored, settings)
        session.commit()
    with TestClient(create_app(production, engine=engine, job_queue=job_queue)) as client:
        assert len(client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]) == 1
        off = client.get(f"/demo/episodes/{episode.id}")
        assert off.status_code == 404
        assert off.headers["content-type"] == "application/problem+json"
        assert "off in production" in off.json()["detail"]
        # And the review console is told so: it must not link brands to a player that answers 404
        console = client.get("/review/")
        assert '<body data-demo-player="off" ' in console.text


def _links(page: str) -> dict[str, str]:
    """Each link's text (tags stripped) by its href."""
    return {
        href: re.sub(r"<[^>]+>", "", text).strip()
        for href, text in re.findall(r'<a href="([^"]+)">(.*?)</a>', page, flags=re.S)
    }


def test_landing_page_links_what_an_operator_needs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _links(page.text)
    assert links == {
        "/docs": "API docs",
        "/redoc": "API reference",
        "/openapi.json": "OpenAPI document",
        "/healthz": "Health",
        "/readyz": "readiness",
        "/review/": "Review console",
    }
    for href in links:
        assert client.get(href).status_code == 200, href


def test_landing_page_links_the_demo_player_once_the_demo_episode_is_public(
    client: TestClient, engine: Engine, settings: ApiSettings, job_queue: JobQueue
) -> None:
    # Given the demo brand with a tagged episode, nothing approved: no demo link yet
    demo = make_brand(engine, "demo-grocer")
    episode = make_episode(engine, demo.brand.id, settings)
    product, _variant = make_product(engine, demo.brand.id, "God Morgon Orange Juice", sku="GS-1")
    placement = make_placement(engine, episode, candidates=[product])
    assert not any(href.startswith("/demo/") for href in _links(client.get("/").text))

    # When its placement is approved, the landing page links its player, and the link plays
    _approve(client, demo, placement.id)
    links = _links(client.get("/").text)
    assert links[f"/demo/episodes/{episode.id}"] == "Demo player"
    assert client.get(f"/demo/episodes/{episode.id}").status_code == 200

    # But in production there is no demo to link
    production = settings.model_copy(update={"environment": "production"})
    with TestClient(create_app(production, engine=engine, job_queue=job_queue)) as prod:
        assert not any(href.startswith("/demo/") for href in _links(prod.get("/").text))


def test_docs_and_redoc_load_their_assets_from_this_server(client: TestClient) -> None:
    for route, kinds in (("/docs", {"js", "css", "png"}), ("/redoc", {"js", "png"})):
        page = client.get(route)
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page.text)
        assert {asset.rsplit(".", 1)[1] for asset in assets} == kinds, route
        assert "cdn" not in page.text.lower()
        assert "fonts.googleapis" not in page.text
        for asset in assets:
            assert asset.startswith("/docs-assets/"), asset
            served = client.get(asset)
            assert served.status_code == 200, asset
            expected = {"js": "javascript", "css": "text/css", "png": "image/png"}[asset.rsplit(".", 1)[1]]
            assert expected in served.headers["content-type"], asset
            assert len(served.content) > 1000, asset
    # ReDoc's sidebar logo would come from its CDN: the page allows images from this server only
    assert client.get("/redoc").headers["content-security-policy"] == "img-src 'self' data:"
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/docs-assets/../pyproject.toml").status_code == 404
