"""Checking own-print marks through HTTP: against the index the last link job saved, what the editor is
about to save (or what is stored), refused clearly when the index cannot check it yet."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import cv2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.catalog.models import Product
from api.jobs.queue import JobKind
from api.linking.service import catalog_items, index_folder
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tagger.arrays import Image
from tagger.crop_store import FileCropStore
from tagger.linking import FileIndexStore, build_catalog_index
from tests.api.factories import make_episode, make_placement
from tests.tagger.linking.factories import (
    combined_edition,
    extractor,
    family_packshot,
    other_edition,
    packshot,
    photo_of,
    scene_around,
)
from tests.utils.api import BrandAccount, RecordingQueue

OWN_PICTURE = [0.22, 0.07, 0.78, 0.45]
SHARED_CARD = [0.22, 0.55, 0.78, 0.93]


def _upload(
    client: TestClient, brand: BrandAccount, product_id: str, name: str, image: Any
) -> dict[str, Any]:
    """Add `image` (BGR array) to the product as an uploaded PNG; the image as the API answers it."""
    ok, png = cv2.imencode(".png", image)
    assert ok
    upload = client.post(
        f"/v1/products/{product_id}/images",
        files={"file": (name, png.tobytes(), "image/png")},
        headers=brand.headers,
    )
    assert upload.status_code == 201, upload.text
    answer: dict[str, Any] = upload.json()
    return answer


def _product(client: TestClient, brand: BrandAccount, title: str, sku: str, image: Any) -> dict[str, Any]:
    created = client.post(
        "/v1/products",
        json={
            "title": title,
            "vendor": "Yoggi",
            "variants": [{"sku": sku, "price": "21.90", "currency": "SEK"}],
        },
        headers=brand.headers,
    )
    assert created.status_code == 201, created.text
    _upload(client, brand, created.json()["id"], f"{sku}.png", image)
    product: dict[str, Any] = client.get(f"/v1/products/{created.json()['id']}", headers=brand.headers).json()
    return product


@pytest.fixture
def family(client: TestClient, brand: BrandAccount) -> dict[str, dict[str, Any]]:
    return {
        "strawberry": _product(client, brand, "Yoggi Strawberry", "YOG-S", family_packshot(101)),
        "vanilla": _product(client, brand, "Yoggi Vanilla", "YOG-V", family_packshot(202)),
        "tea": _product(client, brand, "Green Tea", "TEA-1", packshot(5)),
    }


def _index_the_catalog(engine: Engine, settings: ApiSettings, brand: BrandAccount) -> str:
    """What the index-only link job does, with the test extractor: build and save the brand's index."""
    with Session(engine) as session:
        items = catalog_items(session, brand.brand.id)
    return FileIndexStore(index_folder(settings, brand.brand.id)).save(
        build_catalog_index(items, extractor())
    )


def _check(client: TestClient, brand: BrandAccount, product: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(f"/v1/products/{product['id']}/own-print/check", json=body, headers=brand.headers)


def test_marks_over_the_products_own_picture_pass_and_over_the_family_card_name_the_sibling(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, family: dict[str, Any]
) -> None:
    version = _index_the_catalog(engine, settings, brand)
    strawberry, vanilla = family["strawberry"], family["vanilla"]

    # When the brand checks a box over the strawberries, then adds one over the card both cartons print
    own = _check(client, brand, strawberry, {"own_print": [OWN_PICTURE]})
    both = _check(client, brand, strawberry, {"own_print": [OWN_PICTURE, SHARED_CARD]})

    # Then the first passes, checked against the saved index, the other products compared
    assert own.status_code == 200, own.text
    body = own.json()
    assert (body["ok"], body["can_confirm"], body["shared"], body["problems"]) == (True, True, [], [])
    assert (body["index_version"], body["image_id"], body["compared"]) == (
        version,
        strawberry["images"][0]["id"],
        2,
    )
    assert body["keypoints"][0] >= body["confirming_keypoints"] == 20
    # and the second names Yoggi Vanilla, by id and title, with where its print lands in box 2
    assert both.status_code == 200, both.text
    (shared,) = both.json()["shared"]
    assert (shared["product_id"], shared["title"]) == (vanilla["id"], "Yoggi Vanilla")
    assert shared["keypoints"] >= both.json()["shared_bar"] == 10
    assert shared["per_box"][1] >= 10 > shared["per_box"][0]
    assert 0 < len(shared["points"]) <= shared["keypoints"]  # each place once
    x0, y0, x1, y1 = SHARED_CARD
    assert 0 < sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in shared["points"]) <= shared["per_box"][1]
    (problem,) = both.json()["problems"]
    assert problem.startswith(f"Yoggi Vanilla matches {shared['keypoints']} keypoints inside them")
    assert both.json()["ok"] is False
    # Checking stores nothing
    assert client.get(f"/v1/products/{strawberry['id']}", headers=brand.headers).json()["own_print"] == []


def test_with_an_empty_body_the_stored_marks_are_checked_on_their_image(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, family: dict[str, Any]
) -> None:
    _index_the_catalog(engine, settings, brand)
    vanilla = family["vanilla"]
    saved = client.patch(
        f"/v1/products/{vanilla['id']}", json={"own_print": [SHARED_CARD]}, headers=brand.headers
    )
    assert saved.status_code == 200

    checked = _check(client, brand, vanilla, {})

    assert checked.status_code == 200, checked.text
    assert [other["title"] for other in checked.json()["shared"]] == ["Yoggi Strawberry"]


def test_marks_on_a_shop_photo_are_refused_they_could_never_approve(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, family: dict[str, Any]
) -> None:
    strawberry = family["strawberry"]
    scene = _upload(client, brand, strawberry["id"], "shelf.png", scene_around(family_packshot(101)))
    _index_the_catalog(engine, settings, brand)

    checked = _check(
        client, brand, strawberry, {"own_print": [OWN_PICTURE], "own_print_image_id": scene["id"]}
    )

    assert checked.status_code == 422
    assert checked.json()["errors"][0]["field"] == "own_print_image_id"
    assert "not a packshot of the product alone" in checked.json()["detail"]


def test_what_cannot_be_checked_is_refused_and_says_why(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    other_brand: BrandAccount,
    family: dict[str, Any],
    job_queue: RecordingQueue,
) -> None:
    strawberry, vanilla = family["strawberry"], family["vanilla"]

    # No index saved yet: a 409 that says so, and the index-only link job that builds one is queued
    early = _check(client, brand, strawberry, {"own_print": [OWN_PICTURE]})
    assert early.status_code == 409
    assert early.json()["type"].endswith("/index-not-ready")
    assert "no index yet" in early.json()["detail"]
    assert [job.kind for job in job_queue.enqueued] == [JobKind.LINK]

    _index_the_catalog(engine, settings, brand)
    # Nothing to check
    empty = _check(client, brand, strawberry, {})
    assert (empty.status_code, empty.json()["errors"][0]["field"]) == (422, "own_print")
    # Another product's image
    theirs = _check(
        client,
        brand,
        strawberry,
        {"own_print": [OWN_PICTURE], "own_print_image_id": vanilla["images"][0]["id"]},
    )
    assert (theirs.status_code, theirs.json()["errors"][0]["field"]) == (422, "own_print_image_id")
    # A box that cannot be, an unknown field
    assert _check(client, brand, strawberry, {"own_print": [[0.5, 0.5, 0.4, 0.9]]}).status_code == 422
    assert _check(client, brand, strawberry, {"own_print": [OWN_PICTURE], "x": 1}).status_code == 422
    # Another brand's product is not found
    assert _check(client, other_brand, strawberry, {"own_print": [OWN_PICTURE]}).status_code == 404
    # An image added after the index was built: not indexed yet, a 409 naming it, and a refresh queued
    later = _upload(client, brand, strawberry["id"], "back.png", family_packshot(303))
    unindexed = _check(
        client, brand, strawberry, {"own_print": [OWN_PICTURE], "own_print_image_id": later["id"]}
    )
    assert unindexed.status_code == 409
    assert "not in the catalog index yet" in unindexed.json()["detail"]
    assert job_queue.enqueued[-1].kind == JobKind.LINK


class _Footage:
    """A new episode of the brand and its placements, each approved (or not) as one of the family's
    products with some of them among its candidates, its crops stored under `folder`."""

    def __init__(
        self, engine: Engine, settings: ApiSettings, brand: BrandAccount, family: dict[str, Any], folder: Path
    ) -> None:
        self.engine = engine
        self.episode = make_episode(engine, brand.brand.id, settings)
        self.store = FileCropStore(folder)
        with Session(engine, expire_on_commit=False) as session:
            found = {name: session.get(Product, uuid.UUID(family[name]["id"])) for name in family}
        self.products = {name: product for name, product in found.items() if product is not None}
        assert len(self.products) == len(family)

    def place(
        self, key: str, crops: list[Image], shown: str, candidates: list[str], status: str = "approved"
    ) -> str:
        made = make_placement(
            self.engine,
            self.episode,
            status=PlacementStatus(status),
            candidates=[self.products[name] for name in candidates],
            chosen_product_id=self.products[shown].id,
            thumbnail_path=str(self.store.save(key, crops)),
        )
        return str(made.id)


def test_marks_are_checked_against_placements_approved_as_a_sibling_whose_pack_prints_them(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    family: dict[str, Any],
    tmp_path: Path,
) -> None:
    """Yoggi Vanilla's packshot passes Strawberry's marks, but its "strawberry & vanilla" edition in the
    brand's episodes prints the strawberries: its placements approved as Vanilla are where that shows."""
    _index_the_catalog(engine, settings, brand)
    strawberry, vanilla, tea = family["strawberry"], family["vanilla"], family["tea"]
    footage = _Footage(engine, settings, brand, family, tmp_path / "crops")
    episode = footage.episode

    combined = [photo_of(combined_edition(202, 101), seed) for seed in (1, 2)]
    flagged = footage.place("combined", combined, "vanilla", ["vanilla", "strawberry"])
    footage.place("plain", [photo_of(family_packshot(202), 1)], "vanilla", ["vanilla", "strawberry"])
    # Not compared: Strawberry was not among the candidates, the placement is Strawberry's own, or its
    # link is only proposed
    footage.place("tea", combined, "tea", ["tea"])
    footage.place("own", combined, "strawberry", ["strawberry", "vanilla"])
    footage.place("proposed", combined, "vanilla", ["vanilla", "strawberry"], "proposed")

    checked = _check(client, brand, strawberry, {"own_print": [OWN_PICTURE]})

    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["shared"], body["footage_compared"], body["ok"]) == ([], 2, False)
    (found,) = body["footage"]
    assert (found["placement_id"], found["episode_id"]) == (flagged, str(episode.id))
    assert (found["product_id"], found["title"]) == (vanilla["id"], "Yoggi Vanilla")
    assert found["keypoints"] >= body["shared_bar"]
    assert found["per_box"] == [found["keypoints"]]
    assert 0 < len(found["points"]) <= found["keypoints"]
    (problem,) = body["problems"]
    assert problem.startswith(
        f"placement {flagged} of the episode “Episode 1”, approved as Yoggi Vanilla, matches "
        f"{found['keypoints']} keypoints inside them"
    )
    # Tea's marks are not compared with Yoggi's footage: it was never among those placements' candidates
    tea_marks = _check(client, brand, tea, {"own_print": [[0.2, 0.05, 0.8, 0.95]]}).json()
    assert (tea_marks["footage"], tea_marks["footage_compared"]) == ([], 0)


def test_marks_are_checked_against_placements_approved_as_the_product_itself(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    family: dict[str, Any],
    tmp_path: Path,
) -> None:
    """Strawberry's packshot is one edition; the brand's episodes also show another, with a different
    picture where the marks are. Its placements approved as Strawberry show the marks miss that pack."""
    _index_the_catalog(engine, settings, brand)
    strawberry = family["strawberry"]
    footage = _Footage(engine, settings, brand, family, tmp_path / "crops")
    another_edition = other_edition(101, 303)

    own = ["strawberry"]
    as_packshot = footage.place("as packshot", [photo_of(family_packshot(101), 1)], "strawberry", own)
    missed = footage.place("other edition", [photo_of(another_edition, s) for s in (1, 2)], "strawberry", own)
    # A proposal is not the brand's word
    footage.place("proposed", [photo_of(another_edition, 3)], "strawberry", own, "proposed")

    checked = _check(client, brand, strawberry, {"own_print": [OWN_PICTURE]})

    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert [item["placement_id"] for item in body["own_footage"]] == [missed, as_packshot]
    first, second = body["own_footage"]
    assert first["misses_marks"] is True
    assert first["keypoints"] < body["shared_bar"] <= 2 * body["shared_bar"] <= first["matched"]
    assert first["per_box"] == [first["keypoints"]]
    assert first["points"]  # where that pack matched the packshot, to draw on
    assert second["misses_marks"] is False
    assert second["keypoints"] >= body["shared_bar"]
    (problem,) = body["problems"]
    assert problem.startswith(
        f"placement {missed} of the episode “Episode 1”, approved as this product, matches its print "
        f"({first['matched']} keypoints) but only {first['keypoints']} inside them (needs 10)"
    )
    assert body["ok"] is False
    # Marks over the card both editions print pass that pack (the sibling's packshot is the problem there)
    card = _check(client, brand, strawberry, {"own_print": [SHARED_CARD]}).json()
    assert not any(item["misses_marks"] for item in card["own_footage"])


def _suggest(client: TestClient, brand: BrandAccount, product: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(f"/v1/products/{product['id']}/own-print/suggest", json=body, headers=brand.headers)


def test_marks_are_suggested_where_the_products_approved_placements_match_and_no_sibling_does(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    family: dict[str, Any],
    tmp_path: Path,
) -> None:
    _index_the_catalog(engine, settings, brand)
    strawberry, vanilla = family["strawberry"], family["vanilla"]
    # Without footage there is nothing to learn from: no boxes, and why
    nothing = _suggest(client, brand, strawberry, {})
    assert nothing.status_code == 200, nothing.text
    assert (nothing.json()["boxes"], nothing.json()["check"]) == ([], None)
    assert nothing.json()["reason"].startswith("no placement approved as this product")

    # Given three placements approved as Strawberry, and one approved as Vanilla with Strawberry among
    # its candidates
    footage = _Footage(engine, settings, brand, family, tmp_path / "crops")
    for seed in (1, 2, 3):
        footage.place(
            f"own-{seed}", [photo_of(family_packshot(101), seed)], "strawberry", ["strawberry", "vanilla"]
        )
    footage.place("vanilla", [photo_of(family_packshot(202), 4)], "vanilla", ["vanilla", "strawberry"])

    suggested = _suggest(client, brand, strawberry, {})

    # Then the boxes sit on Strawberry's own picture, off the card Vanilla prints too, and pass the check
    assert suggested.status_code == 200, suggested.text
    body = suggested.json()
    assert body["reason"] == ""
    assert body["image_id"] == strawberry["images"][0]["id"]
    assert body["placements_compared"] == 3
    assert body["boxes"]
    for x0, _, x1, y1 in body["boxes"]:
        assert x0 >= 0.15
        assert x1 <= 0.85
        assert y1 <= 0.55
    assert min(body["own_inside"]) >= 10
    assert body["foreign_inside"] <= 5
    assert body["check"]["ok"] is True, body["check"]["problems"]
    # Suggesting saves nothing
    assert client.get(f"/v1/products/{strawberry['id']}", headers=brand.headers).json()["own_print"] == []
    # Another product's image, a shop photo, an unknown field: refused
    theirs = _suggest(client, brand, strawberry, {"own_print_image_id": vanilla["images"][0]["id"]})
    assert (theirs.status_code, theirs.json()["errors"][0]["field"]) == (422, "own_print_image_id")
    assert _suggest(client, brand, strawberry, {"x": 1}).status_code == 422


def test_suggesting_marks_before_the_index_or_on_a_shop_photo_is_refused_and_says_why(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    other_brand: BrandAccount,
    family: dict[str, Any],
    job_queue: RecordingQueue,
) -> None:
    strawberry = family["strawberry"]
    early = _suggest(client, brand, strawberry, {})
    assert early.status_code == 409
    assert early.json()["type"].endswith("/index-not-ready")
    assert [job.kind for job in job_queue.enqueued] == [JobKind.LINK]

    scene = _upload(client, brand, strawberry["id"], "shelf.png", scene_around(family_packshot(101)))
    _index_the_catalog(engine, settings, brand)
    on_scene = _suggest(client, brand, strawberry, {"own_print_image_id": scene["id"]})
    assert (on_scene.status_code, on_scene.json()["errors"][0]["field"]) == (422, "own_print_image_id")
    assert "not a packshot of the product alone" in on_scene.json()["detail"]
    assert _suggest(client, other_brand, strawberry, {}).status_code == 404
