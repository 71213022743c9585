"""Every catalog change a published placement shows reaches that episode's public timeline at once, and
no other timeline is rebuilt: not one whose placement only proposes the product, not another product's."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.episodes.models import Episode
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount

# Stored in timelines that must not be rebuilt: any rebuild would replace it with a real document.
SENTINEL = '{"sentinel": true}'


def _episode_with(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, product_id: uuid.UUID, status: PlacementStatus
) -> Episode:
    episode = make_episode(engine, brand.brand.id, settings)
    make_placement(engine, episode, status=status, chosen_product_id=product_id)
    with Session(engine) as session:
        stored = session.get(Episode, episode.id)
        assert stored is not None
        rebuild_timeline(session, stored, settings)
        session.commit()
    return episode


def _set_sentinel(engine: Engine, *episodes: Episode) -> None:
    with Session(engine) as session:
        for episode in episodes:
            stored = session.get(Episode, episode.id)
            assert stored is not None
            stored.timeline_json, stored.timeline_etag = SENTINEL, '"sentinel"'
            session.add(stored)
        session.commit()


def _stored_timeline(engine: Engine, episode: Episode) -> str:
    with Session(engine) as session:
        stored = session.get(Episode, episode.id)
        assert stored is not None
        assert stored.timeline_json is not None
        return stored.timeline_json


def _shown(client: TestClient, episode: Episode) -> dict[str, Any] | None:
    """The product the episode's public timeline shows (the one placement), or None."""
    placements = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
    assert len(placements) <= 1
    product: dict[str, Any] | None = placements[0]["product"] if placements else None
    return product


def test_each_catalog_change_rebuilds_the_timelines_that_show_the_product_and_no_other(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given a product shown by an approved placement in one episode, only proposed in a second, and
    # another product shown in a third
    created = client.post(
        "/v1/products",
        json={"title": "Juice", "variants": [{"sku": "J-1", "price": "2.00", "currency": "EUR"}]},
        headers=brand.headers,
    )
    assert created.status_code == 201, created.text
    product_id = uuid.UUID(created.json()["id"])
    other, _ = make_product(engine, brand.brand.id, "Soda", sku="S-1")
    published = _episode_with(engine, settings, brand, product_id, PlacementStatus.APPROVED)
    proposed = _episode_with(engine, settings, brand, product_id, PlacementStatus.PROPOSED)
    elsewhere = _episode_with(engine, settings, brand, other.id, PlacementStatus.APPROVED)
    _set_sentinel(engine, proposed, elsewhere)
    first = _shown(client, published)
    assert first is not None
    assert (first["title"], first["image_url"]) == ("Juice", None)

    def then_only_the_published_timeline_changed() -> None:
        assert _stored_timeline(engine, proposed) == SENTINEL
        assert _stored_timeline(engine, elsewhere) == SENTINEL

    def skus() -> list[tuple[str, str, bool]]:
        shown = _shown(client, published)
        assert shown is not None
        return [(v["sku"], v["price"], v["available"]) for v in shown["variants"]]

    # When a variant is added, then the timeline offers it at once
    added = client.post(
        f"/v1/products/{product_id}/variants",
        json={"sku": "J-2", "title": "Large", "price": "3.50", "currency": "EUR"},
        headers=brand.headers,
    )
    assert added.status_code == 201, added.text
    assert skus() == [("J-1", "2.00", True), ("J-2", "3.50", True)]
    then_only_the_published_timeline_changed()

    # When a variant's price and availability change
    patched = client.patch(
        f"/v1/variants/{added.json()['id']}",
        json={"price": "3.75", "available": False},
        headers=brand.headers,
    )
    assert patched.status_code == 200, patched.text
    assert skus() == [("J-1", "2.00", True), ("J-2", "3.75", False)]
    then_only_the_published_timeline_changed()

    # When a variant is deleted
    assert client.delete(f"/v1/variants/{added.json()['id']}", headers=brand.headers).status_code == 204
    assert skus() == [("J-1", "2.00", True)]
    then_only_the_published_timeline_changed()

    # When the product is renamed
    renamed = client.patch(f"/v1/products/{product_id}", json={"title": "Fresh juice"}, headers=brand.headers)
    assert renamed.status_code == 200
    assert (_shown(client, published) or {})["title"] == "Fresh juice"
    then_only_the_published_timeline_changed()

    # When images are added, the first is the timeline's packshot; when it is deleted, the next one is
    urls = ["https://cdn.example/juice-front.jpg", "https://cdn.example/juice-back.jpg"]
    image_ids = []
    for url in urls:
        image = client.post(f"/v1/products/{product_id}/images", json={"url": url}, headers=brand.headers)
        assert image.status_code == 201, image.text
        image_ids.append(image.json()["id"])
        assert (_shown(client, published) or {})["image_url"] == urls[0]
        then_only_the_published_timeline_changed()
    assert client.delete(f"/v1/images/{image_ids[0]}", headers=brand.headers).status_code == 204
    assert (_shown(client, published) or {})["image_url"] == urls[1]
    then_only_the_published_timeline_changed()

    # When the product is deleted, its hotspot leaves the timeline; the proposal goes back to review
    assert client.delete(f"/v1/products/{product_id}", headers=brand.headers).status_code == 204
    assert _shown(client, published) is None
    then_only_the_published_timeline_changed()
    with Session(engine) as session:
        statuses = {p.episode_id: p.status for p in session.exec(select(Placement)).all()}
    assert statuses[proposed.id] == statuses[published.id] == PlacementStatus.PROPOSED


def test_the_timeline_etag_changes_with_the_catalog(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Juice", sku="J-1")
    episode = _episode_with(engine, settings, brand, product.id, PlacementStatus.APPROVED)
    url = f"/v1/episodes/{episode.id}/timeline"
    before = client.get(url)
    added = client.post(
        f"/v1/products/{product.id}/variants",
        json={"sku": "J-2", "price": "1.00", "currency": "EUR"},
        headers=brand.headers,
    )
    assert added.status_code == 201
    after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert [v["sku"] for v in json.loads(after.content)["placements"][0]["product"]["variants"]] == [
        "J-1",
        "J-2",
    ]
