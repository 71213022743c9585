"""What a person publishes can be bought, and says where it is: an approval needs a product with a
variant (the overlay shows no hotspot without one), and a retimed placement's frame span follows its
times."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.catalog.models import Product
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount


def variantless_product(engine: Engine, brand: BrandAccount, title: str = "Tea gift box") -> Product:
    with Session(engine, expire_on_commit=False) as session:
        product = Product(brand_id=brand.brand.id, title=title, vendor="Acme")
        session.add(product)
        session.commit()
        return product


def test_approving_a_product_with_no_variant_is_refused_and_publishes_nothing(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    box = variantless_product(engine, brand)
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, candidates=[box])

    answer = client.post(
        f"/v1/placements/{placement.id}/approve",
        json={"product_id": str(box.id)},
        headers={**brand.headers, "If-Match": '"1"'},
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "product_id", "message": "has no variant to sell"}]
    assert "add one (POST /v1/products/" in answer.json()["detail"]
    assert client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"] == []
    assert client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()["status"] == "proposed"


def test_an_approved_placement_is_not_relinked_to_a_product_with_nothing_to_buy(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    box = variantless_product(engine, brand)
    episode = make_episode(engine, brand.brand.id, settings)
    approved = make_placement(engine, episode, status=PlacementStatus.APPROVED, chosen_product_id=tea.id)
    proposed = make_placement(engine, episode, start_ms=5000, end_ms=7000)
    edit = {**brand.headers, "If-Match": '"1"'}

    refused = client.patch(
        f"/v1/placements/{approved.id}", json={"chosen_product_id": str(box.id)}, headers=edit
    )
    # (a proposal may name it: nothing is published until it is approved)
    relinked = client.patch(
        f"/v1/placements/{proposed.id}", json={"chosen_product_id": str(box.id)}, headers=edit
    )

    assert refused.status_code == 422, refused.text
    assert relinked.status_code == 200, relinked.text
    assert client.get(f"/v1/placements/{approved.id}", headers=brand.headers).json()[
        "chosen_product_id"
    ] == str(tea.id)


def test_bulk_approval_leaves_a_link_to_a_product_with_no_variant_for_review(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    box = variantless_product(engine, brand)
    episode = make_episode(engine, brand.brand.id, settings)
    sellable = make_placement(engine, episode, link_confidence=0.95, candidates=[tea])
    make_placement(engine, episode, start_ms=5000, end_ms=7000, link_confidence=0.95, candidates=[box])

    result = client.post("/v1/review/bulk-approve", json={"min_confidence": 0.9}, headers=brand.headers)

    assert result.status_code == 200, result.text
    assert result.json()["placement_ids"] == [str(sellable.id)]


def test_the_last_variant_of_a_product_on_approved_hotspots_is_not_deleted(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given an episode made public by one hotspot selling a product with one variant
    tea, variant = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, candidates=[tea])
    approved = client.post(
        f"/v1/placements/{placement.id}/approve",
        json={"product_id": str(tea.id)},
        headers={**brand.headers, "If-Match": '"1"'},
    )
    assert approved.status_code == 200, approved.text

    # When the brand deletes that variant
    refused = client.delete(f"/v1/variants/{variant.id}", headers=brand.headers)

    # Then it is a 409 saying what to do instead, and the hotspot still sells it (it used to ship
    # `variants: []`, which the overlay drops, while the episode counted as public)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/last-variant-shown")
    assert "Mark it unavailable instead" in refused.json()["detail"]
    [shown] = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
    assert [v["sku"] for v in shown["product"]["variants"]] == ["TEA-1"]
    # (once no approved hotspot sells it, it can go)
    rejected = client.post(
        f"/v1/placements/{placement.id}/reject", headers={**brand.headers, "If-Match": '"2"'}
    )
    assert rejected.status_code == 200, rejected.text
    assert client.delete(f"/v1/variants/{variant.id}", headers=brand.headers).status_code == 204


def test_retiming_moves_the_frame_span_with_the_times(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=10_000)  # 30 fps
    placement = make_placement(engine, episode, start_ms=1000, end_ms=4000)

    answer = client.patch(
        f"/v1/placements/{placement.id}",
        json={"start_ms": 2500, "end_ms": 6001},
        headers={**brand.headers, "If-Match": '"1"'},
    )

    assert answer.status_code == 200, answer.text
    assert (answer.json()["start_frame"], answer.json()["end_frame"]) == (75, 180)
    with Session(engine) as session:
        stored = session.get(Placement, placement.id)
        assert stored is not None
        assert (stored.start_frame, stored.end_frame) == (75, 180)
