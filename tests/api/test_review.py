"""Review through HTTP: queue order, approve/reject/relink/retime with If-Match, audit, the timeline."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import Principal
from api.brands.models import ApiKeyScope
from api.catalog.models import Product, Variant
from api.review.models import Placement, PlacementStatus
from api.review.service import approve
from api.settings import ApiSettings
from tests.api.concurrency import skip_unless_postgres
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


def test_a_write_without_if_match_is_refused_with_428(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330")
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, candidates=[product])
    url = f"/v1/placements/{placement.id}"

    # When approve, reject and patch come without If-Match
    answers = [
        client.post(f"{url}/approve", headers=brand.headers),
        client.post(f"{url}/reject", headers=brand.headers),
        client.patch(url, json={"end_ms": 5000}, headers=brand.headers),
    ]

    # Then each is a 428 problem that says what to send and carries the current ETag, and nothing changed
    for answer in answers:
        assert answer.status_code == 428, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("precondition-required")
        assert "If-Match" in answer.json()["detail"]
        assert answer.headers["etag"] == '"1"'
    after = client.get(url, headers=brand.headers)
    assert (after.json()["status"], after.json()["end_ms"], after.headers["etag"]) == (
        "proposed",
        4000,
        '"1"',
    )
    assert client.get(f"{url}/history", headers=brand.headers).json() == []


def test_concurrent_edits_of_one_version_let_exactly_one_through(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=20_000)
    placement = make_placement(engine, episode)
    stale = {**brand.headers, "If-Match": '"1"'}
    client.patch(f"/v1/placements/{placement.id}", json={"end_ms": 4500}, headers=stale)  # now "2"
    barrier = threading.Barrier(10)

    def edit(n: int) -> int:
        barrier.wait()  # all ten read version "2" and write at once, each on its own pooled connection
        response = client.patch(
            f"/v1/placements/{placement.id}",
            json={"end_ms": 5000 + n},
            headers={**brand.headers, "If-Match": '"2"'},
        )
        status: int = response.status_code
        return status

    # When ten reviewers send an edit made against version "2" at the same moment
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(edit, range(10)))

    # Then one wins, nine are told to reload, and only the winner's edit is stored and audited
    assert statuses == [200] + [412] * 9
    after = client.get(f"/v1/placements/{placement.id}", headers=brand.headers)
    assert after.headers["etag"] == '"3"'
    history = client.get(f"/v1/placements/{placement.id}/history", headers=brand.headers).json()
    assert len(history) == 2
    assert history[-1]["after"]["end_ms"] == after.json()["end_ms"]
    with Session(engine) as session:
        stored = session.get(Placement, placement.id)
        assert stored is not None
        assert (stored.version, stored.end_ms) == (3, after.json()["end_ms"])


def test_relink_retime_and_reshape_are_validated(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    mine, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    theirs, _ = make_product(engine, other_brand.brand.id, "Rival Tea", sku="RT-1")
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=10_000)
    placement = make_placement(engine, episode)
    url = f"/v1/placements/{placement.id}"
    edit = {**brand.headers, "If-Match": '"1"'}  # refused edits change nothing, so "1" stays current
    assert client.patch(url, json={"chosen_product_id": str(theirs.id)}, headers=edit).status_code == 422
    assert client.patch(url, json={"start_ms": 5000, "end_ms": 4000}, headers=edit).status_code == 422
    assert client.patch(url, json={"end_ms": 60_000}, headers=edit).status_code == 422
    bad_box = {"keyframes": [{"t_ms": 1000, "box": [0.9, 0.1, 0.5, 0.5]}]}
    assert client.patch(url, json=bad_box, headers=edit).status_code == 422
    ok = client.patch(
        url,
        json={
            "chosen_product_id": str(mine.id),
            "start_ms": 500,
            "keyframes": [{"t_ms": 600, "box": [0.1, 0.1, 0.3, 0.3]}],
        },
        headers=edit,
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


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_box_that_is_not_a_finite_number_is_refused_and_the_timeline_stays_json(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, number: str
) -> None:
    # Given an approved placement on an episode's public timeline
    product, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=10_000)
    placement = make_placement(engine, episode)
    url = f"/v1/placements/{placement.id}"
    approved = client.post(
        f"{url}/approve", json={"product_id": str(product.id)}, headers={**brand.headers, "If-Match": '"1"'}
    )
    assert approved.status_code == 200, approved.text

    # When a client sends a box with NaN or Infinity (Python's JSON reader takes them)
    body = f'{{"keyframes": [{{"t_ms": 1500, "box": [{number}, 0.1, 0.2, 0.2]}}]}}'
    answer = client.patch(
        url, content=body, headers={**brand.headers, "If-Match": '"2"', "Content-Type": "application/json"}
    )

    # Then it is a 422 naming the box, and the timeline players read is still JSON with the old box
    assert answer.status_code == 422, answer.text
    assert "box" in answer.text
    timeline = client.get(f"/v1/episodes/{episode.id}/timeline")
    assert timeline.status_code == 200
    assert [p["id"] for p in timeline.json()["placements"]] == [str(placement.id)]
    assert client.get(url, headers=brand.headers).json()["version"] == 2


def test_approve_without_any_candidate_needs_a_product(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    placement = make_placement(engine, make_episode(engine, brand.brand.id, settings))
    edit = {**brand.headers, "If-Match": '"1"'}
    refused = client.post(f"/v1/placements/{placement.id}/approve", headers=edit)
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "product_id")
    chosen = client.post(
        f"/v1/placements/{placement.id}/approve", json={"product_id": str(product.id)}, headers=edit
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
    assert result == {"approved": 1, "placement_ids": [str(confident.id)], "skipped_contradicted": 0}
    assert len(client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]) == 1


def test_bulk_approve_leaves_a_confident_link_the_crops_contradicted_to_a_person(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    """A left-out carton linked to its sibling at 0.98, its print naming another flavour: one click on
    'approve everything above 90 %' must not publish it. Once a person picked its product, it may."""
    product, _ = make_product(engine, brand.brand.id, "God Morgon Red Grapefruit", sku="GM-RG")
    episode = make_episode(engine, brand.brand.id, settings)
    reason = "its print reads 'apple', which its catalog text lacks (another variant?)"
    sibling = make_placement(
        engine,
        episode,
        link_confidence=0.98,
        candidates=[product],
        link_evidence=reason,
        link_contradicted=True,
    )
    picked = make_placement(
        engine,
        episode,
        link_confidence=0.97,
        candidates=[product],
        link_contradicted=True,
        chosen_product_id=product.id,
    )
    plain = make_placement(engine, episode, link_confidence=0.95, candidates=[product])

    result = client.post(
        "/v1/review/bulk-approve", json={"min_confidence": 0.9}, headers=brand.headers
    ).json()

    assert (result["approved"], result["skipped_contradicted"]) == (2, 1)
    assert set(result["placement_ids"]) == {str(picked.id), str(plain.id)}
    waiting = client.get(f"/v1/placements/{sibling.id}", headers=brand.headers).json()
    assert (waiting["status"], waiting["link_contradicted"], waiting["link_evidence"]) == (
        "proposed",
        True,
        reason,
    )


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


def _png(width: int = 64, height: int = 48) -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((height, width, 3), (40, 120, 200), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def _link(
    engine: Engine, placement: Placement, candidates: list[tuple[Product, Variant | None, float]]
) -> None:
    """Store candidates as the linker does: product id, its variant, the title it knew, a confidence."""
    with Session(engine) as session:
        row = session.get(Placement, placement.id)
        assert row is not None
        row.sku_candidates = [
            {
                "product_id": str(product.id),
                "variant_id": str(variant.id) if variant else None,
                "title": product.title,
                "confidence": confidence,
            }
            for product, variant, confidence in candidates
        ]
        row.link_confidence = candidates[0][2] if candidates else None
        session.add(row)
        session.commit()


def test_candidates_show_the_catalog_product_variant_and_packshot(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given two products, one with an uploaded packshot and one with a shop's image URL, then renamed
    cola, cola_can = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330")
    tea, _ = make_product(engine, brand.brand.id, "Green Tea", sku="TEA-20")
    uploaded = client.post(
        f"/v1/products/{cola.id}/images",
        files={"file": ("pack.png", _png(), "image/png")},
        headers=brand.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    client.post(
        f"/v1/products/{tea.id}/images", json={"url": "https://cdn.example/tea.jpg"}, headers=brand.headers
    )
    renamed = client.patch(
        f"/v1/products/{tea.id}", json={"title": "Green Tea 20 bags"}, headers=brand.headers
    )
    assert renamed.status_code == 200, renamed.text
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode)
    _link(engine, placement, [(cola, cola_can, 0.61), (tea, None, 0.2)])

    # When the reviewer loads the placement
    body = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()

    # Then each candidate names the product as the catalog has it now, its variant, and its first image
    assert body["sku_candidates"] == [
        {
            "product_id": str(cola.id),
            "variant_id": str(cola_can.id),
            "title": "Cola 330 ml",
            "confidence": 0.61,
            "variant_title": "Default",
            "sku": "COLA-330",
            "image_url": uploaded.json()["url"],
        },
        {
            "product_id": str(tea.id),
            "variant_id": None,
            "title": "Green Tea 20 bags",
            "confidence": 0.2,
            "variant_title": None,
            "sku": None,
            "image_url": "https://cdn.example/tea.jpg",
        },
    ]
    assert body["episode_title"] == "Episode 1"
    # And the packshot loads in a browser without the brand key, as the overlay's images do
    packshot = client.get(body["sku_candidates"][0]["image_url"].removeprefix("http://testserver"))
    assert (packshot.status_code, packshot.content) == (200, _png())

    # And the queue carries the same shape, and a relinked product shows its packshot too
    (queued,) = client.get("/v1/review/queue", headers=brand.headers).json()["items"]
    assert queued["sku_candidates"] == body["sku_candidates"]
    relinked = client.patch(
        f"/v1/placements/{placement.id}",
        json={"chosen_product_id": str(cola.id)},
        headers={**brand.headers, "If-Match": '"1"'},
    ).json()
    assert (relinked["chosen_product_title"], relinked["chosen_product_image_url"]) == (
        "Cola 330 ml",
        uploaded.json()["url"],
    )


def test_a_link_below_the_brands_floor_is_an_unknown_product_that_needs_an_explicit_pick(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given a chair linked at 12% to oat milk, under the brand's default floor of 30%
    oat_milk, _ = make_product(engine, brand.brand.id, "Oatly Oat Milk", sku="OAT-1")
    chair_product, _ = make_product(engine, brand.brand.id, "Desk Chair", sku="CHAIR-1")
    episode = make_episode(engine, brand.brand.id, settings)
    chair = make_placement(engine, episode)
    _link(engine, chair, [(oat_milk, None, 0.12), (chair_product, None, 0.1)])
    url = f"/v1/placements/{chair.id}"

    # Then the API says it is an unknown product that approving would not publish
    loaded = client.get(url, headers=brand.headers).json()
    assert (loaded["unknown_product"], loaded["link_floor"], loaded["approve_product_id"]) == (
        True,
        0.3,
        None,
    )

    # When someone approves it without naming a product
    refused = client.post(f"{url}/approve", headers={**brand.headers, "If-Match": '"1"'})

    # Then it is refused with a problem saying why and what to send, and nothing changed or went live
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("no-product-chosen")
    assert problem["errors"] == [
        {"field": "product_id", "message": "required: no product is known for this placement"}
    ]
    assert "link (12%) is below your link floor (30%)" in problem["detail"]
    after = client.get(url, headers=brand.headers)
    assert (after.json()["status"], after.headers["etag"]) == ("proposed", '"1"')
    assert client.get(f"{url}/history", headers=brand.headers).json() == []
    assert client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"] == []

    # When the reviewer picks the product (a relink), approving publishes that pick
    picked = client.patch(
        url, json={"chosen_product_id": str(chair_product.id)}, headers={**brand.headers, "If-Match": '"1"'}
    ).json()
    assert (picked["unknown_product"], picked["approve_product_id"]) == (True, str(chair_product.id))
    approved = client.post(f"{url}/approve", headers={**brand.headers, "If-Match": '"2"'})
    assert (approved.status_code, approved.json()["chosen_product_title"]) == (200, "Desk Chair")
    (live,) = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
    assert live["product"]["title"] == "Desk Chair"


def test_approve_with_an_explicit_product_publishes_below_the_floor_and_a_raised_floor_applies_at_once(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    coffee, _ = make_product(engine, brand.brand.id, "Coffee", sku="COF-1")
    episode = make_episode(engine, brand.brand.id, settings)
    low, middling = make_placement(engine, episode), make_placement(engine, episode)
    _link(engine, low, [(tea, None, 0.05)])
    _link(engine, middling, [(coffee, None, 0.5)])

    # A placement above the floor approves as its top candidate without a body
    shown = client.get(f"/v1/placements/{middling.id}", headers=brand.headers).json()
    assert (shown["unknown_product"], shown["approve_product_id"]) == (False, str(coffee.id))

    # An explicit product_id is a pick: it publishes even below the floor
    explicit = client.post(
        f"/v1/placements/{low.id}/approve",
        json={"product_id": str(tea.id)},
        headers={**brand.headers, "If-Match": '"1"'},
    )
    assert (explicit.status_code, explicit.json()["chosen_product_title"]) == (200, "Tea")

    # When the brand raises its floor above the middling link, that link becomes an unknown product
    raised = client.patch(
        "/v1/brands/me", json={"auto_approve_threshold": 0.9, "link_floor": 0.6}, headers=brand.headers
    )
    assert raised.status_code == 200, raised.text
    reread = client.get(f"/v1/placements/{middling.id}", headers=brand.headers).json()
    assert (reread["link_floor"], reread["unknown_product"], reread["approve_product_id"]) == (
        0.6,
        True,
        None,
    )
    refused = client.post(
        f"/v1/placements/{middling.id}/approve", headers={**brand.headers, "If-Match": '"1"'}
    )
    assert refused.status_code == 422
    assert "link (50%) is below your link floor (60%)" in refused.json()["detail"]


def test_bulk_approve_never_reaches_below_the_floor(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    below = make_placement(engine, episode)
    _link(engine, below, [(tea, None, 0.2)])

    refused = client.post("/v1/review/bulk-approve", json={"min_confidence": 0.1}, headers=brand.headers)

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [
        {"field": "min_confidence", "message": "must be at least the link floor, 0.30"}
    ]
    assert "below your link floor (0.30)" in refused.json()["detail"]
    assert client.get(f"/v1/placements/{below.id}", headers=brand.headers).json()["status"] == "proposed"
    at_floor = client.post("/v1/review/bulk-approve", json={"min_confidence": 0.3}, headers=brand.headers)
    assert at_floor.json() == {"approved": 0, "placement_ids": [], "skipped_contradicted": 0}


def test_two_approvals_in_one_episode_at_once_both_reach_its_timeline(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    first, second = (make_placement(engine, episode, start_ms=s, end_ms=s + 1000) for s in (1000, 5000))
    reviewer = Principal(
        key_id=uuid.uuid4(), key_name="reviewer", scope=ApiKeyScope.BRAND, brand_id=brand.brand.id
    )
    # Given a reviewer's approval of the first placement, its timeline rebuilt, not committed yet
    with Session(engine) as one:
        approve(one, one.get_one(Placement, first.id), reviewer, settings, product_id=tea.id)
        one.flush()
        done: dict[str, int] = {}

        # When a colleague approves the second placement meanwhile (a follow job's store, a drawing alike)
        def colleague() -> None:
            answer = client.post(
                f"/v1/placements/{second.id}/approve",
                json={"product_id": str(tea.id)},
                headers={**brand.headers, "If-Match": '"1"'},
            )
            done["status"] = answer.status_code

        thread = threading.Thread(target=colleague)
        thread.start()
        thread.join(1.0)
        # (it waits for the first one's timeline)
        assert "status" not in done
        one.commit()
        thread.join(30)

    # Then players get both hotspots, not the timeline of whichever committed last
    assert done == {"status": 200}
    placements = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
    assert sorted(p["id"] for p in placements) == sorted([str(first.id), str(second.id)])
