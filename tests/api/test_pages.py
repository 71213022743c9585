"""The static front ends the API serves: SDK modules, the review console, the demo player page."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.settings import ApiSettings
from tests.api.factories import make_episode
from tests.utils.api import BrandAccount


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
    assert client.get("/review/review.js").status_code == 200


def test_demo_page_embeds_the_episode_and_a_signed_video_url(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    page = client.get(f"/demo/episodes/{episode.id}")
    assert page.status_code == 200
    assert f'data-episode-id="{episode.id}"' in page.text
    assert f"/v1/episodes/{episode.id}/media?exp=" in page.text
    assert client.get(f"/demo/episodes/{uuid.uuid4()}").status_code == 404
