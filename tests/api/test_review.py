"""Review through HTTP: queue order, approve/reject/relink/retime with If-Match, audit, the timeline."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount, make_video


def test_queue_puts_what_needs_a_human_first(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    sure = make_placement(engine, episode, link_confidence=0.95)
    unsure_short = make_placement(engine, episode, link_confidence=0.2, start_ms=0, end_ms=1000)
    unsure_long = make_placement(engine, episode, link_confidence=0.2, start_ms=0, end_ms=9000)
    unlinked = make_placement(engine, episode, link_confidence=None)
    make_placement(engine, episode, status=PlacementStatus.APPROVED)
    page = client.get("/v1/review/queue?limit=2", headers=brand.headers).json()
    assert [item["id"] for item in page["items"]] == [str(unlinked.id), str(unsure_long.id)]
    assert page["total"] == 4
    rest = client.get(f"/v1/review/queue?limit=2&cursor={page['next_cursor']}", headers=brand.headers).json()
    assert [item["id"] for item in rest["items"]] == [str(unsure_short.id), str(sure.id)]
    assert rest["next_cursor"] is None
    assert client.get("/v1/review/queue?cursor=garbage", headers=brand.headers).status_code == 422


def test_approve_publishes_to_the_timeline_and_is_audited(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, variant = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330", price="1.20")
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, candidates=[product])
    timeline_url = f"/v1/episodes/{episode.id}/timeline"
    before = client.get(timeline_url)
    assert before.json()["placements"] == []

    loaded = client.get(f"/v1/placements/{placement.id}", headers=brand.headers)
    assert loaded.headers["etag"] == '"1"'
    approved = client.post(
        f"/v1/placements/{placement.id}/approve",
        headers={**brand.headers, "If-Match": loaded.headers["etag"]},
    )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["chosen_product_title"]) == ("approved", "Cola 330 ml")
    assert approved.headers["etag"] == '"2"'

    after = client.get(timeline_url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["placements"] == [
        {
            "id": str(placement.id),
            "start_ms": 1000,
            "end_ms": 4000,
            "label": "bottle",
            "keyframes": [
                {"t_ms": 1000, "box": [0.1, 0.2, 0.2, 0.3]},
                {"t_ms": 4000, "box": [0.3, 0.2, 0.2, 0.3]},
            ],
            "product": {
                "id": str(product.id),
                "title": "Cola 330 ml",
                "brand": "Acme",
                "image_url": None,
                "variants": [
                    {
                        "id": str(variant.id),
                        "sku": "COLA-330",
                        "title": "Default",
                        "price": "1.20",
                        "currency": "EUR",
                        "available": True,
                    }
                ],
            },
        }
    ]
    history = client.get(f"/v1/placements/{placement.id}/history", headers=brand.headers).json()
    assert [(h["action"], h["actor"], h["before"]["status"], h["after"]["status"]) for h in history] == [
        ("approve", "key:acme-drinks-key", "proposed", "approved")
    ]


def test_stale_edit_is_refused_with_412(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode)
    first = client.patch(
        f"/v1/placements/{placement.id}", json={"end_ms": 5000}, headers={**brand.headers, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    second = client.post(
        f"/v1/placements/{placement.id}/reject", headers={**brand.headers, "If-Match": '"1"'}
    )
    assert second.status_code == 412
    assert second.headers["content-type"] == "application/problem+json"
    assert "reload" in second.json()["detail"]
    assert second.headers["etag"] == '"2"'


def test_relink_retime_and_reshape_are_validated(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    mine, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    theirs, _ = make_product(engine, other_brand.brand.id, "Rival Tea", sku="RT-1")
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=10_000)
    placement = make_placement(engine, episode)
    url = f"/v1/placements/{placement.id}"
    assert (
        client.patch(url, json={"chosen_product_id": str(theirs.id)}, headers=brand.headers).status_code
        == 422
    )
    assert (
        client.patch(url, json={"start_ms": 5000, "end_ms": 4000}, headers=brand.headers).status_code == 422
    )
    assert client.patch(url, json={"end_ms": 60_000}, headers=brand.headers).status_code == 422
    bad_box = {"keyframes": [{"t_ms": 1000, "box": [0.9, 0.1, 0.5, 0.5]}]}
    assert client.patch(url, json=bad_box, headers=brand.headers).status_code == 422
    ok = client.patch(
        url,
        json={
            "chosen_product_id": str(mine.id),
            "start_ms": 500,
            "keyframes": [{"t_ms": 600, "box": [0.1, 0.1, 0.3, 0.3]}],
        },
        headers=brand.headers,
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["start_ms"], body["chosen_product_title"], body["keyframes"], body["version"]) == (
        500,
        "Tea",
        [{"t_ms": 600, "box": [0.1, 0.1, 0.3, 0.3]}],
        2,
    )
    history = client.get(f"{url}/history", headers=brand.headers).json()
    assert [h["action"] for h in history] == ["retime+reshape+relink"]


def test_approve_without_any_candidate_needs_a_product(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    placement = make_placement(engine, make_episode(engine, brand.brand.id, settings))
    refused = client.post(f"/v1/placements/{placement.id}/approve", headers=brand.headers)
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "product_id")
    chosen = client.post(
        f"/v1/placements/{placement.id}/approve", json={"product_id": str(product.id)}, headers=brand.headers
    )
    assert chosen.json()["chosen_product_id"] == str(product.id)


def test_bulk_approve_takes_only_confident_linked_placements(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    confident = make_placement(engine, episode, link_confidence=0.97, candidates=[product])
    make_placement(engine, episode, link_confidence=0.5, candidates=[product])
    make_placement(engine, episode, link_confidence=0.99)  # confident but nothing to link to
    result = client.post(
        "/v1/review/bulk-approve", json={"min_confidence": 0.9}, headers=brand.headers
    ).json()
    assert result == {"approved": 1, "placement_ids": [str(confident.id)]}
    assert len(client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]) == 1


def test_placements_are_invisible_to_other_brands(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    placement = make_placement(engine, make_episode(engine, brand.brand.id, settings))
    for method, path in [
        ("GET", f"/v1/placements/{placement.id}"),
        ("POST", f"/v1/placements/{placement.id}/reject"),
        ("GET", f"/v1/placements/{placement.id}/history"),
    ]:
        assert client.request(method, path, headers=other_brand.headers).status_code == 404
    assert client.get("/v1/review/queue", headers=other_brand.headers).json()["total"] == 0


def test_signed_media_urls_serve_and_expire(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    video = make_video(tmp_path / "ep.mp4")
    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(b"\xff\xd8\xff fake jpeg for the byte check")
    episode = make_episode(engine, brand.brand.id, settings, media_path=str(video))
    placement = make_placement(engine, episode, thumbnail_path=str(thumb))
    body = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()
    video_path = body["video_url"].removeprefix("http://testserver")
    assert client.get(video_path).content == video.read_bytes()
    ranged = client.get(video_path, headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, len(ranged.content)) == (206, 10)
    assert client.get(body["thumbnail_url"].removeprefix("http://testserver")).content == thumb.read_bytes()
    tampered = video_path.replace("sig=", "sig=0")
    assert client.get(tampered).status_code == 403
    assert client.get(f"/v1/episodes/{episode.id}/media").status_code == 403
