"""Linking through the API: the catalog is indexed from its images and placements re-linked to SKUs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.models import PlacementStatus, ProductImage
from api.services.linking import read_stored_crops
from api.settings import ApiSettings
from tests.api.conftest import BrandAccount, RecordingQueue
from tests.api.factories import make_episode, make_placement, make_product

REPO_MODELS = Path(__file__).resolve().parents[2] / "var" / "models"
PACKAGES = Path("data/grocery-dev/iconic-images-and-descriptions/Packages")
VAL = Path("data/grocery-dev/val/Packages")
PRODUCTS = {
    "Bravo Orange Juice": "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_Iconic.jpg",
    "Yoggi Vanilla Yoghurt": "Yoghurt/Yoggi-Vanilla-Yoghurt/Yoggi-Vanilla-Yoghurt_Iconic.jpg",
    "Oatly Oat Milk": "Oat-Milk/Oatly-Oat-Milk/Oatly-Oat-Milk_Iconic.jpg",
}


@pytest.fixture
def embedder_dir() -> Path:
    if not (REPO_MODELS / "mobilenetv2_embedder.onnx").is_file():
        pytest.skip("var/models/mobilenetv2_embedder.onnx is missing; `make models` exports it")
    return REPO_MODELS


@pytest.fixture
def linking_client(settings: ApiSettings, engine: Engine, embedder_dir: Path) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(update={"model_dir": embedder_dir}), engine=engine, job_queue=RecordingQueue()
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_relinking_without_catalog_images_is_a_clear_conflict(
    linking_client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    make_product(engine, brand.brand.id, "Imageless Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    response = linking_client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
    assert response.status_code == 409
    assert "no product image" in response.json()["detail"]


@pytest.mark.shared
@pytest.mark.slow
def test_relink_finds_the_product_a_placement_shows_and_keeps_human_decisions(
    linking_client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, shared_dir: Path
) -> None:
    products = {}
    with Session(engine) as session:
        for number, (title, packshot) in enumerate(PRODUCTS.items()):
            product, _ = make_product(engine, brand.brand.id, title, sku=f"GS-{number}")
            session.add(
                ProductImage(
                    product_id=product.id, brand_id=brand.brand.id, path=str(shared_dir / PACKAGES / packshot)
                )
            )
            products[title] = product
        session.commit()
    episode = make_episode(engine, brand.brand.id, settings)
    photo = shared_dir / VAL / "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_002.jpg"
    machine = make_placement(engine, episode, link_confidence=None, thumbnail_path=str(photo))
    rejected_by_a_human = make_placement(
        engine, episode, link_confidence=None, thumbnail_path=str(photo), status=PlacementStatus.REJECTED
    )

    report = linking_client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
    assert report.status_code == 200, report.text
    assert report.json()["placements"] == 2
    assert report.json()["index_version"]

    linked = linking_client.get(f"/v1/placements/{machine.id}", headers=brand.headers).json()
    top = linked["sku_candidates"][0]
    assert (top["title"], top["product_id"]) == ("Bravo Orange Juice", str(products["Bravo Orange Juice"].id))
    assert linked["link_confidence"] == top["confidence"]
    assert [c["confidence"] for c in linked["sku_candidates"]] == sorted(
        (c["confidence"] for c in linked["sku_candidates"]), reverse=True
    )
    kept = linking_client.get(f"/v1/placements/{rejected_by_a_human.id}", headers=brand.headers).json()
    assert kept["status"] == "rejected"
    assert kept["sku_candidates"][0]["title"] == "Bravo Orange Juice"
    # A second pass over an unchanged catalog reuses the same index version.
    again = linking_client.post("/v1/link", headers=brand.headers).json()
    assert again["index_version"] == report.json()["index_version"]


def test_relinking_reads_every_crop_stored_at_tagging_time_and_skips_unreadable_ones(tmp_path: Path) -> None:
    thumbnail = tmp_path / "placement.jpg"
    cv2.imwrite(str(thumbnail), np.full((40, 30, 3), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "placement-crop1.jpg"), np.full((50, 20, 3), 90, np.uint8))
    (tmp_path / "placement-crop2.jpg").write_bytes(b"not a jpeg")

    crops = read_stored_crops(str(thumbnail))

    assert [crop.shape for crop in crops] == [(40, 30, 3), (50, 20, 3)]
    assert read_stored_crops(None) == []
    assert read_stored_crops(str(tmp_path / "gone.jpg")) == []
