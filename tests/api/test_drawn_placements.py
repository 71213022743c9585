"""A product the tagger did not find, added by a person (`POST /v1/episodes/{id}/placements`): approved
and on the timeline at once, refused with a reason for a span, box or product a player could not show or
sell, kept by a re-tag and left alone by re-links."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.episodes.models import Episode, EpisodeStatus
from api.linking.service import decided_by_linker
from api.review.models import Placement, PlacementStatus
from api.review.service import shot_counts
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.api.test_review_sellable_and_retimed import variantless_product
from tests.utils.api import BrandAccount

BOX = [0.25, 0.4, 0.3, 0.2]


def _body(product_id: uuid.UUID, **change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": str(product_id),
        "start_ms": 2000,
        "end_ms": 5000,
        "keyframes": [{"t_ms": 4000, "box": [0.3, 0.4, 0.3, 0.2]}, {"t_ms": 2500, "box": BOX}],
    }
    return body | change


def _placement_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Placement)).one()


def test_a_drawn_placement_is_approved_and_on_the_timeline_at_once(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given a tagged episode the tagger found nothing in at 2-5 s, and the brand's cola
    cola, variant = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    episode = make_episode(engine, brand.brand.id, settings)

    # When a person boxes the cola there and names it
    answer = client.post(f"/v1/episodes/{episode.id}/placements", json=_body(cola.id), headers=brand.headers)

    # Then it is approved as the cola, told apart from the tagger's, with its boxes in time order
    assert answer.status_code == 201, answer.text
    drawn = answer.json()
    assert answer.headers["location"] == f"/v1/placements/{drawn['id']}"
    assert answer.headers["etag"] == '"1"'
    assert {
        key: drawn[key]
        for key in (
            "status",
            "drawn_by_hand",
            "label",
            "confidence",
            "start_ms",
            "end_ms",
            "start_frame",
            "end_frame",
            "keyframes",
            "chosen_product_id",
            "chosen_product_title",
            "sku_candidates",
            "link_confidence",
            "unknown_product",
            "approve_product_id",
            "approved_by_linker",
            "version",
        )
    } == {
        "status": "approved",
        "drawn_by_hand": True,
        "label": "drawn by hand",
        "confidence": 1.0,
        "start_ms": 2000,
        "end_ms": 5000,
        "start_frame": 60,
        "end_frame": 150,
        "keyframes": [{"t_ms": 2500, "box": BOX}, {"t_ms": 4000, "box": [0.3, 0.4, 0.3, 0.2]}],
        "chosen_product_id": str(cola.id),
        "chosen_product_title": "Cola Zero",
        "sku_candidates": [],
        "link_confidence": None,
        "unknown_product": False,
        "approve_product_id": str(cola.id),
        "approved_by_linker": False,
        "version": 1,
    }
    # And players get its hotspot now, selling the cola
    timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()
    (hotspot,) = timeline["placements"]
    assert (hotspot["id"], hotspot["start_ms"], hotspot["end_ms"], hotspot["product"]["id"]) == (
        drawn["id"],
        2000,
        5000,
        str(cola.id),
    )
    assert [v["id"] for v in hotspot["product"]["variants"]] == [str(variant.id)]
    # And its history says who drew it
    history = client.get(f"/v1/placements/{drawn['id']}/history", headers=brand.headers).json()
    assert [(entry["actor"], entry["action"], entry["before"]) for entry in history] == [
        (f"key:{brand.brand.slug}-key", "draw", {})
    ]
    assert history[0]["after"]["chosen_product_id"] == str(cola.id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_ms": 2000}, "end_ms"),  # an empty span
        ({"start_ms": 6000, "keyframes": [{"t_ms": 6000, "box": BOX}]}, "end_ms"),  # reversed
        ({"end_ms": 20_001}, "end_ms"),  # past the episode's 20 s
        ({"keyframes": [{"t_ms": 1999, "box": BOX}]}, "keyframes"),  # a box before the span
        ({"keyframes": [{"t_ms": 3000, "box": [0.8, 0.1, 0.3, 0.2]}]}, "keyframes"),  # off the frame's side
        ({"keyframes": [{"t_ms": 3000, "box": [0.1, 0.1, 0.0, 0.2]}]}, "keyframes"),  # no width
        ({"keyframes": [{"t_ms": 3000, "box": [0.1, 0.1, 0.2]}]}, "keyframes"),  # three numbers
        ({"keyframes": []}, "keyframes"),
        ({"start_ms": -1}, "start_ms"),
        ({"end_ms": 0}, "end_ms"),
        ({"product_id": "cola"}, "product_id"),
        ({"status": "proposed"}, "status"),  # no other fields: a typo is not ignored
    ],
)
def test_a_span_or_box_a_player_could_not_show_is_a_422_naming_it_and_stores_nothing(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    change: dict[str, Any],
    field: str,
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    episode = make_episode(engine, brand.brand.id, settings)

    answer = client.post(
        f"/v1/episodes/{episode.id}/placements", json=_body(cola.id) | change, headers=brand.headers
    )

    assert answer.status_code == 422, answer.text
    assert field in {error["field"].split(".")[0] for error in answer.json()["errors"]}, answer.json()
    assert _placement_count(engine) == 0
    assert client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"] == []


def test_a_nan_box_or_a_body_that_is_not_json_is_a_422(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    episode = make_episode(engine, brand.brand.id, settings)
    url = f"/v1/episodes/{episode.id}/placements"
    # (json.loads, which reads bodies, takes NaN: the box check must refuse it)
    frame = '{"t_ms": 0, "box": [NaN, 0.1, 0.2, 0.2]}'
    nan = f'{{"product_id": "{cola.id}", "start_ms": 0, "end_ms": 1000, "keyframes": [{frame}]}}'
    headers = {**brand.headers, "Content-Type": "application/json"}

    for body in (nan, '{"product_id": ', "[]"):
        answer = client.post(url, content=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
    assert _placement_count(engine) == 0


def test_a_product_not_in_the_catalog_or_with_nothing_to_sell_is_refused(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    theirs, _ = make_product(engine, other_brand.brand.id, "Rival Cola", sku="RC-1")
    gift_box = variantless_product(engine, brand)
    episode = make_episode(engine, brand.brand.id, settings)
    url = f"/v1/episodes/{episode.id}/placements"

    refusals = {
        name: client.post(url, json=_body(product_id), headers=brand.headers)
        for name, product_id in (
            ("theirs", theirs.id),
            ("unknown", uuid.uuid4()),
            ("no variant", gift_box.id),
        )
    }

    assert {name: (a.status_code, a.json()["errors"]) for name, a in refusals.items()} == {
        "theirs": (422, [{"field": "product_id", "message": "not in this brand's catalog"}]),
        "unknown": (422, [{"field": "product_id", "message": "not in this brand's catalog"}]),
        "no variant": (422, [{"field": "product_id", "message": "has no variant to sell"}]),
    }
    assert "add one (POST /v1/products/" in refusals["no variant"].json()["detail"]
    assert _placement_count(engine) == 0


def test_another_brands_episode_is_a_404_and_no_key_a_401(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    theirs, _ = make_product(engine, other_brand.brand.id, "Rival Cola", sku="RC-1")
    their_episode = make_episode(engine, other_brand.brand.id, settings)
    url = f"/v1/episodes/{their_episode.id}/placements"

    assert client.post(url, json=_body(theirs.id), headers=brand.headers).status_code == 404
    assert client.post(url, json=_body(theirs.id)).status_code == 401
    assert (
        client.post(url, json=_body(theirs.id), headers={"Authorization": "Bearer rc_wrong"}).status_code
        == 401
    )
    assert _placement_count(engine) == 0


@pytest.mark.parametrize(
    ("status", "problem"),
    [(EpisodeStatus.PROCESSING, "episode-processing"), (EpisodeStatus.UNPLAYABLE, "episode-unplayable")],
)
def test_an_episode_whose_video_does_not_play_takes_no_drawing(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    status: EpisodeStatus,
    problem: str,
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine) as session:
        stored = session.get(Episode, episode.id)
        assert stored is not None
        stored.status = status
        session.add(stored)
        session.commit()

    answer = client.post(f"/v1/episodes/{episode.id}/placements", json=_body(cola.id), headers=brand.headers)
    listed = client.get(f"/v1/episodes/{episode.id}", headers=brand.headers).json()

    assert answer.status_code == 409, answer.text
    assert answer.json()["type"].endswith(f"/{problem}")
    assert _placement_count(engine) == 0
    # (nor does the console get a video to draw on)
    assert listed["video_url"] is None


def test_an_episode_names_the_signed_url_its_video_plays_from(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)

    video_url = client.get(f"/v1/episodes/{episode.id}", headers=brand.headers).json()["video_url"]
    listed = client.get("/v1/episodes", headers=brand.headers).json()["items"]

    assert video_url.startswith(f"{settings.public_base_url}/v1/episodes/{episode.id}/media?exp=")
    assert [item["video_url"] is not None for item in listed] == [True]
    # The signature is accepted (this episode's file does not exist: 404, not a 403 for the URL)
    path = video_url.removeprefix(settings.public_base_url)
    assert client.get(path).status_code == 404
    assert client.get(path.replace("sig=", "sig=0")).status_code == 403


def test_a_drawn_placement_is_a_persons_decision_that_no_re_link_reads(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    episode = make_episode(engine, brand.brand.id, settings)
    machine = make_placement(engine, episode, start_ms=8000, end_ms=9000, candidates=[cola])
    drawn = client.post(f"/v1/episodes/{episode.id}/placements", json=_body(cola.id), headers=brand.headers)
    # Even taken back to review (its product cleared), it stays the person's to decide
    cleared = client.patch(
        f"/v1/placements/{drawn.json()['id']}",
        json={"chosen_product_id": None},
        headers={**brand.headers, "If-Match": drawn.headers["etag"]},
    )

    with Session(engine) as session:
        relinkable = session.exec(select(Placement.id).where(decided_by_linker())).all()
        stored = session.get(Placement, uuid.UUID(drawn.json()["id"]))

    assert cleared.status_code == 200, cleared.text
    assert stored is not None
    assert (stored.status, stored.drawn_by_hand) == (PlacementStatus.PROPOSED, True)
    assert relinkable == [machine.id]


def test_a_placement_counts_in_the_shot_it_overlaps_most_and_a_rejected_one_nowhere(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    placements = [
        make_placement(engine, episode, start_ms=900, end_ms=1600, status=PlacementStatus.APPROVED),
        make_placement(engine, episode, start_ms=100, end_ms=1200),  # mostly the first
        make_placement(engine, episode, start_ms=500, end_ms=900, status=PlacementStatus.REJECTED),
        make_placement(engine, episode, start_ms=5000, end_ms=6000),  # past the last shot
    ]

    counted = shot_counts([[0, 999], [1000, 1999]], placements)

    assert [(shot.approved, shot.proposed) for shot in counted] == [(0, 1), (1, 0)]


def test_a_drawing_retried_with_its_idempotency_key_is_stored_once(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    other_episode = make_episode(engine, brand.brand.id, settings)
    url = f"/v1/episodes/{episode.id}/placements"
    keyed = {**brand.headers, "Idempotency-Key": "draw-7f3a"}

    # Given a drawing whose answer was lost, edited since by a colleague
    first = client.post(url, json=_body(cola.id), headers=keyed)
    retimed = client.patch(
        f"/v1/placements/{first.json()['id']}",
        json={"end_ms": 4500},
        headers={**brand.headers, "If-Match": first.headers["etag"]},
    )

    # When the client sends it again with the same key
    again = client.post(url, json=_body(cola.id), headers=keyed)
    # (and by mistake the key with another drawing, then a new key, then the key on another episode)
    reused = client.post(url, json=_body(tea.id), headers=keyed)
    fresh = client.post(url, json=_body(cola.id), headers={**brand.headers, "Idempotency-Key": "draw-8b1c"})
    elsewhere = client.post(f"/v1/episodes/{other_episode.id}/placements", json=_body(cola.id), headers=keyed)

    # Then it answers the first drawing as it stands now, and stores nothing more
    assert (first.status_code, retimed.status_code) == (201, 200)
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["end_ms"], again.headers["etag"]) == (
        first.json()["id"],
        4500,
        '"2"',
    )
    assert reused.status_code == 409, reused.text
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert first.json()["id"] in reused.json()["detail"]
    assert (fresh.status_code, elsewhere.status_code) == (201, 201)
    assert _placement_count(engine) == 3


@pytest.mark.parametrize("key", ["", "with space", "tab\there", "x" * 256])
def test_a_malformed_idempotency_key_is_a_422(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, key: str
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    episode = make_episode(engine, brand.brand.id, settings)

    answer = client.post(
        f"/v1/episodes/{episode.id}/placements",
        json=_body(cola.id),
        headers={**brand.headers, "Idempotency-Key": key},
    )

    assert answer.status_code == 422, answer.text
    assert _placement_count(engine) == 0


def test_times_past_what_a_placement_stores_are_a_422_even_on_an_episode_of_unknown_length(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    # (some recordings carry no duration: nothing caps the span by the episode's length then)
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=0)
    huge = 2**31

    answer = client.post(
        f"/v1/episodes/{episode.id}/placements",
        json=_body(cola.id, end_ms=huge, keyframes=[{"t_ms": huge, "box": BOX}]),
        headers=brand.headers,
    )

    assert answer.status_code == 422, answer.text
    assert {error["field"].split(".")[0] for error in answer.json()["errors"]} == {"end_ms", "keyframes"}
    assert _placement_count(engine) == 0
