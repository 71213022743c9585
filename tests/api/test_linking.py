"""Linking through the API: link jobs queued over HTTP, run in the background against the catalog
index, placements re-linked to SKUs with human decisions kept."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

import api.linking.executor as executor_module
from api.app import create_app
from api.catalog.job_executors import ImageFetchJobExecutor
from api.catalog.models import Product, ProductImage, Variant
from api.catalog.service import delete_product
from api.episodes.models import Episode
from api.jobs.models import JobState
from api.jobs.progress import claim_job
from api.jobs.queue import InlineJobQueue, JobKind, JobRef
from api.linking.executor import LinkJobExecutor
from api.linking.link_jobs import pending_link_job
from api.linking.models import LinkJob
from api.linking.service import (
    NO_IMAGES,
    LinkingService,
    catalog_items,
    current_scorer,
    read_stored_crops,
    stored_decision,
)
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tagger.exceptions import ModelError
from tagger.linking import CatalogIndexError
from tagger.linking.decision import DecisionInputs, LinkThresholds
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_episode, make_placement, make_product
from tests.api.fake_linking import (
    FAKE_INDEX,
    FAKE_SCORER,
    MATCHED,
    FakeSource,
    FixedLinker,
    crop_file,
    decide_only_job,
    linked_placement,
)
from tests.api.image_server import Route, serving
from tests.utils.api import BrandAccount, RecordingQueue

REPO_MODELS = Path(__file__).resolve().parents[2] / "var" / "models"
PACKAGES = Path("data/grocery-dev/iconic-images-and-descriptions/Packages")
VAL = Path("data/grocery-dev/val/Packages")
PRODUCTS = {
    "Bravo Orange Juice": "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_Iconic.jpg",
    "Yoggi Vanilla Yoghurt": "Yoghurt/Yoggi-Vanilla-Yoghurt/Yoggi-Vanilla-Yoghurt_Iconic.jpg",
    "Oatly Oat Milk": "Oat-Milk/Oatly-Oat-Milk/Oatly-Oat-Milk_Iconic.jpg",
}


def _add_image(engine: Engine, brand_id: uuid.UUID, product_id: uuid.UUID, path: Path) -> None:
    with Session(engine) as session:
        session.add(ProductImage(product_id=product_id, brand_id=brand_id, path=str(path)))
        session.commit()


def _catalog_and_episode(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> tuple[Product, Episode]:
    """A brand with one product that has a stored image, and an episode to place it in."""
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    _add_image(engine, brand.brand.id, product.id, tmp_path / "packshot.jpg")
    return product, make_episode(engine, brand.brand.id, settings)


def _approved_by_the_linker(
    engine: Engine, episode: Episode, product: Product, crops: Path, *, start_ms: int = 1000, **extra: Any
) -> Placement:
    """A 3 s placement the linker approved as `product` at tagging, with a stored crop to link again."""
    return make_placement(
        engine,
        episode,
        start_ms=start_ms,
        end_ms=start_ms + 3000,
        candidates=[product],
        status=PlacementStatus.APPROVED,
        chosen_product_id=product.id,
        approved_by_linker=True,
        thumbnail_path=crop_file(crops),
        **extra,
    )


def _run_link_client(settings: ApiSettings, engine: Engine, source: FakeSource) -> TestClient:
    queue = InlineJobQueue()
    queue.bind(
        {
            JobKind.LINK: LinkJobExecutor(engine, settings, source),
            JobKind.IMAGES: ImageFetchJobExecutor(engine, settings, queue),
        }
    )
    return TestClient(create_app(settings, engine=engine, job_queue=queue), raise_server_exceptions=False)


def test_link_routes_queue_a_job_answer_202_and_do_not_queue_the_same_work_twice(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    other_brand: BrandAccount,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    _product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)

    created = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
    assert created.status_code == 202, created.text
    job = created.json()
    assert created.headers["Location"] == f"/v1/link-jobs/{job['id']}"
    assert (job["episode_id"], job["state"], job["progress"], job["placements_relinked"]) == (
        str(episode.id),
        "queued",
        0.0,
        0,
    )
    assert job_queue.enqueued == [JobRef(JobKind.LINK, uuid.UUID(job["id"]))]
    # Still queued, so it will read today's catalog: the same job comes back, nothing new is queued.
    again = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
    assert (again.status_code, again.json()["id"], len(job_queue.enqueued)) == (202, job["id"], 1)
    whole_brand = client.post("/v1/link", headers=brand.headers).json()
    assert (whole_brand["episode_id"], len(job_queue.enqueued)) == (None, 2)

    listed = client.get("/v1/link-jobs", headers=brand.headers).json()
    assert listed["total"] == 2
    assert {item["id"] for item in listed["items"]} == {job["id"], whole_brand["id"]}
    only_episode = client.get(f"/v1/link-jobs?episode_id={episode.id}", headers=brand.headers).json()
    assert [item["id"] for item in only_episode["items"]] == [job["id"]]
    assert client.get(f"/v1/link-jobs/{job['id']}", headers=brand.headers).json() == job
    assert client.get(f"/v1/link-jobs/{job['id']}", headers=other_brand.headers).status_code == 404
    assert client.post(f"/v1/episodes/{episode.id}/link", headers=other_brand.headers).status_code == 404
    assert client.get("/v1/link-jobs?state=finished", headers=brand.headers).status_code == 422


def test_relinking_without_catalog_images_is_a_clear_conflict_and_queues_nothing(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, job_queue: RecordingQueue
) -> None:
    make_product(engine, brand.brand.id, "Imageless Tea", sku="TEA-1")
    episode = make_episode(engine, brand.brand.id, settings)
    for route in (f"/v1/episodes/{episode.id}/link", "/v1/link"):
        response = client.post(route, headers=brand.headers)
        assert response.status_code == 409
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "no product image" in response.json()["detail"]
    assert job_queue.enqueued == []


def test_link_job_relinks_in_scope_keeps_human_decisions_and_publishes_approved_links(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    other_episode = make_episode(engine, brand.brand.id, settings)
    crops = tmp_path / "crops"
    machine = make_placement(engine, episode, link_confidence=None, thumbnail_path=crop_file(crops))
    rejected = make_placement(
        engine, episode, thumbnail_path=crop_file(crops), status=PlacementStatus.REJECTED
    )
    no_crops = make_placement(engine, episode, thumbnail_path=str(tmp_path / "gone.jpg"))
    elsewhere = make_placement(engine, other_episode, link_confidence=None, thumbnail_path=crop_file(crops))
    linker = FixedLinker(str(product.id), 0.93)

    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        job = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers).json()
        assert (job["state"], job["progress"], job["error"], job["attempts"]) == ("done", 1.0, None, 1)
        assert (job["placements_relinked"], job["approved"], job["index_version"]) == (2, 1, "index-v7")
        assert job["started_at"] is not None
        assert job["finished_at"] is not None

        linked = client.get(f"/v1/placements/{machine.id}", headers=brand.headers).json()
        assert (linked["status"], linked["chosen_product_id"], linked["link_confidence"]) == (
            "approved",
            str(product.id),
            0.93,
        )
        assert linked["sku_candidates"][0]["product_id"] == str(product.id)
        assert linked["link_evidence"] == "crop 1: its print matched (40 keypoints)"
        assert linked["link_approval_level"] == 0.8  # what the brand's threshold asked of it
        kept = client.get(f"/v1/placements/{rejected.id}", headers=brand.headers).json()
        assert (kept["status"], kept["sku_candidates"][0]["confidence"]) == ("rejected", 0.93)
        untouched = client.get(f"/v1/placements/{no_crops.id}", headers=brand.headers).json()
        assert untouched["link_confidence"] == no_crops.link_confidence
        assert (
            client.get(f"/v1/placements/{elsewhere.id}", headers=brand.headers).json()["status"] == "proposed"
        )
        timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()
        assert str(machine.id) in str(timeline)

        brand_wide = client.post("/v1/link", headers=brand.headers).json()
        assert (brand_wide["state"], brand_wide["placements_relinked"], brand_wide["approved"]) == (
            "done",
            3,
            2,
        )
    assert linker.crops_seen == [1, 1, 1, 1, 1]


def test_a_reviewer_decision_taken_while_the_job_links_is_not_overwritten(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    placement = make_placement(engine, episode, thumbnail_path=crop_file(tmp_path / "crops"))

    def reviewer_rejects() -> None:
        with Session(engine) as session:
            row = session.get(Placement, placement.id)
            assert row is not None
            row.status, row.version = PlacementStatus.REJECTED, row.version + 1
            session.add(row)
            session.commit()

    source = FakeSource(FixedLinker(str(product.id), 0.97, during=reviewer_rejects))
    with _run_link_client(settings, engine, source) as client:
        job = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers).json()
        assert (job["state"], job["approved"]) == ("done", 0)
        after = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()
    assert (after["status"], after["sku_candidates"][0]["confidence"]) == ("rejected", 0.97)
    assert after["version"] == placement.version + 2  # the reviewer's edit, then the job's


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (FakeSource(), NO_IMAGES),
        (
            FakeSource(error=CatalogIndexError("duplicate SKUs in the catalog: PA-1")),
            "duplicate SKUs in the catalog: PA-1",
        ),
        (
            FakeSource(error=ModelError("embedder weights missing")),
            "linking is unavailable: embedder weights missing",
        ),
        (FakeSource(error=RuntimeError("disk on fire")), "internal error: RuntimeError: disk on fire"),
    ],
)
def test_a_link_job_that_cannot_run_fails_with_its_reason_and_changes_nothing(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path, source: FakeSource, error: str
) -> None:
    _product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    placement = make_placement(engine, episode, thumbnail_path=crop_file(tmp_path / "crops"))
    with _run_link_client(settings, engine, source) as client:
        job = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers).json()
        assert (job["state"], job["error"], job["placements_relinked"]) == ("failed", error, 0)
        assert job["finished_at"]
        same = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()
    assert (same["status"], same["link_confidence"], same["version"]) == ("proposed", 0.5, placement.version)


def test_the_executor_only_runs_queued_jobs(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    linker = FixedLinker("sku", 0.9)
    with Session(engine, expire_on_commit=False) as session:
        finished = LinkJob(brand_id=brand.brand.id, state=JobState.DONE, progress=1.0)
        session.add(finished)
        session.commit()
    executor = LinkJobExecutor(engine, settings, FakeSource(linker))
    executor(finished.id)
    executor(uuid.uuid4())
    with Session(engine) as session:
        again = session.get(LinkJob, finished.id)
        assert again is not None
        assert (again.state, again.attempts) == (JobState.DONE, 0)
    assert linker.crops_seen == []


def _png(width: int = 64, height: int = 48) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


def test_images_added_through_the_api_queue_an_index_refresh(
    client: TestClient, engine: Engine, brand: BrandAccount, job_queue: RecordingQueue
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    images = f"/v1/products/{product.id}/images"

    by_url = client.post(images, json={"url": "https://cdn.example/pack.png"}, headers=brand.headers).json()
    uploaded = client.post(
        images, files={"file": ("p.png", _png(), "image/png")}, headers=brand.headers
    ).json()

    assert (by_url["indexed"], by_url["fetch_error"], by_url["url"]) == (
        False,
        None,
        "https://cdn.example/pack.png",
    )
    assert uploaded["indexed"] is True
    # One image-fetch job (the `io` queue's; it queues the index-only link job once it has the image):
    # the second add found it still queued.
    (queued,) = job_queue.enqueued
    job = client.get(f"/v1/image-fetch-jobs/{queued.id}", headers=brand.headers).json()
    assert (queued.kind, job["state"], job["images_fetched"]) == (JobKind.IMAGES, "queued", 0)
    without_images = {
        "products": [{"title": "Tea", "variants": [{"sku": "T-1", "price": "1", "currency": "EUR"}]}]
    }
    imported = client.post("/v1/catalog/import", json=without_images, headers=brand.headers)
    assert (imported.status_code, len(job_queue.enqueued)) == (200, 1)
    # Asking for a fetch while one is queued answers that one.
    asked = client.post("/v1/catalog/images/fetch", headers=brand.headers)
    assert (asked.status_code, asked.headers["location"]) == (202, f"/v1/image-fetch-jobs/{queued.id}")
    assert len(job_queue.enqueued) == 1


def test_link_jobs_fetch_url_images_so_they_can_be_indexed_and_report_the_ones_that_fail(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"image_fetch_private_hosts": True})
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    episode = make_episode(engine, brand.brand.id, local)
    routes: dict[str, Route] = {"/pack.png": (200, {"Content-Type": "image/png"}, _png())}
    with (
        serving(routes) as base,
        _run_link_client(local, engine, FakeSource(FixedLinker("x", 0.5))) as client,
    ):
        images = f"/v1/products/{product.id}/images"
        good = client.post(images, json={"url": f"{base}/pack.png"}, headers=brand.headers).json()
        broken = client.post(images, json={"url": f"{base}/gone.png"}, headers=brand.headers).json()
        fetches = client.get("/v1/image-fetch-jobs", headers=brand.headers).json()["items"]
        jobs = client.get("/v1/link-jobs", headers=brand.headers).json()["items"]
        # (Tagged after the images came: a product's first image would re-link it, see below.)
        make_placement(engine, episode, thumbnail_path=crop_file(tmp_path / "crops"))
        relink = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers).json()
        shown = {
            image["id"]: image
            for image in client.get(f"/v1/products/{product.id}", headers=brand.headers).json()["images"]
        }

    # The first add's fetch job (io) fetched the good image and queued an index job (vision) for it;
    # the second's recorded why the other failed, and had nothing new to index.
    assert [(job["state"], job["images_fetched"], job["images_failed"]) for job in fetches] == [
        ("done", 0, 1),
        ("done", 1, 0),
    ]
    assert [(job["index_only"], job["state"], job["images_fetched"]) for job in jobs] == [(True, "done", 0)]
    assert set(jobs[0]["seconds"]) == {"fetch", "index"}
    assert (relink["state"], relink["images_fetched"], relink["images_failed"]) == (
        "done",
        0,
        0,
    )  # not retried
    assert (shown[good["id"]]["indexed"], shown[good["id"]]["fetch_error"]) == (True, None)
    assert shown[good["id"]]["url"] == f"{base}/pack.png"
    assert shown[broken["id"]]["indexed"] is False
    assert shown[broken["id"]]["fetch_error"] == f"{base}/gone.png answered HTTP 404"
    with Session(engine) as session:
        stored = session.get(ProductImage, uuid.UUID(good["id"]))
        assert stored is not None
        assert stored.path is not None
        assert Path(stored.path).read_bytes() == _png()
        assert (stored.width, stored.height) == (64, 48)


def test_a_catalog_whose_image_urls_all_fail_says_so_in_the_job(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with Session(engine) as session:
        session.add(
            ProductImage(product_id=product.id, brand_id=brand.brand.id, source_url="ftp://cdn.example/p.png")
        )
        session.commit()
    with _run_link_client(settings, engine, FakeSource()) as client:
        job = client.post("/v1/link", headers=brand.headers).json()
        image = client.get(f"/v1/products/{product.id}", headers=brand.headers).json()["images"][0]
    assert (job["state"], job["images_failed"]) == ("failed", 1)
    assert (
        job["error"] == NO_IMAGES + " (1 image URLs could not be fetched; each image's fetch_error says why)"
    )
    assert image["fetch_error"] == "ftp://cdn.example/p.png: only http and https image URLs are fetched"
    # Nothing is left to fetch or index now: asking again is a conflict, not another failing job.
    with _run_link_client(settings, engine, FakeSource()) as client:
        assert client.post("/v1/link", headers=brand.headers).status_code == 409


@pytest.fixture
def embedder_dir() -> Path:
    if not (REPO_MODELS / "mobilenetv2_embedder.onnx").is_file():
        pytest.skip("var/models/mobilenetv2_embedder.onnx is missing; `make models` exports it")
    return REPO_MODELS


@pytest.fixture
def linking_client(settings: ApiSettings, engine: Engine, embedder_dir: Path) -> Iterator[TestClient]:
    """The real linker (ONNX embedder, OCR) behind the link routes; jobs run as they are queued."""
    real = settings.model_copy(update={"model_dir": embedder_dir})
    executor = LinkJobExecutor(engine, real, LinkingService(engine, real))
    app = create_app(real, engine=engine, job_queue=InlineJobQueue({JobKind.LINK: executor}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


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
    assert report.status_code == 202, report.text
    assert (report.json()["state"], report.json()["placements_relinked"]) == ("done", 2), report.json()
    assert report.json()["index_version"]

    linked = linking_client.get(f"/v1/placements/{machine.id}", headers=brand.headers).json()
    top = linked["sku_candidates"][0]
    assert (top["title"], top["product_id"]) == ("Bravo Orange Juice", str(products["Bravo Orange Juice"].id))
    assert linked["link_confidence"] == top["confidence"]
    assert [c["confidence"] for c in linked["sku_candidates"]] == sorted(
        (c["confidence"] for c in linked["sku_candidates"]), reverse=True
    )
    # And the link says what scored it: the linker the preview compares stored links with
    with Session(engine) as session:
        inputs = DecisionInputs.from_stored(session.get_one(Placement, machine.id).link_inputs)
    assert inputs is not None
    assert inputs.scorer == current_scorer()
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


def test_the_catalog_is_indexed_in_the_order_it_was_listed_whatever_its_random_ids(
    engine: Engine, brand: BrandAccount
) -> None:
    """Two imports of one catalog draw different product ids; the linker's rows (and so any tie
    between equally scored products) must not follow them."""
    titles = ["Oat Milk", "Apple Juice", "Rye Bread", "Cheddar", "Butter"]
    for title in titles:
        make_product(engine, brand.brand.id, title, sku=title.upper().replace(" ", "-"))

    with Session(engine) as session:
        items = catalog_items(session, brand.brand.id)

    assert [item.title for item in items] == titles


def test_a_products_variant_titles_are_part_of_its_text_but_a_placeholder_title_is_not(
    engine: Engine, brand: BrandAccount
) -> None:
    """A brand that models flavours as variants ("God Morgon Juice": Apple, Orange): its carton printing
    "apple" is its own text, not another product's name (which would veto its approval)."""
    product, default = make_product(engine, brand.brand.id, "God Morgon Juice", sku="GM-APPLE")
    with Session(engine) as session:
        session.add(
            Variant(
                product_id=product.id,
                brand_id=brand.brand.id,
                sku="GM-ORANGE",
                title="Orange",
                price=Decimal("2.00"),
                currency="EUR",
            )
        )
        stored = session.get(Variant, default.id)
        assert stored is not None
        stored.title = "Apple"
        session.add(stored)
        session.commit()
    plain, _ = make_product(engine, brand.brand.id, "Oat Milk", sku="OAT")  # one variant, titled "Default"

    with Session(engine) as session:
        items = {item.sku: item for item in catalog_items(session, brand.brand.id)}

    assert set(items[str(product.id)].description.split()) == {"Apple", "Orange"}
    assert items[str(plain.id)].description == ""


def _marks_patch(client: TestClient, brand: BrandAccount, product: Product, marks: list[list[float]]) -> Any:
    return client.patch(f"/v1/products/{product.id}", json={"own_print": marks}, headers=brand.headers)


def test_saving_a_products_marks_relinks_the_placements_the_linker_decided_that_name_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    sibling, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    other_episode = make_episode(engine, brand.brand.id, settings)
    crops = tmp_path / "crops"
    # Held for review with the product first, with it second, and chosen by a person without candidates.
    held = make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))
    runner_up = make_placement(
        engine, other_episode, candidates=[sibling, product], thumbnail_path=crop_file(crops)
    )
    chosen = make_placement(engine, episode, chosen_product_id=product.id, thumbnail_path=crop_file(crops))
    # Not for the marks to decide: another product's placement, and placements a decision closed.
    unrelated = make_placement(engine, episode, candidates=[sibling], thumbnail_path=crop_file(crops))
    rejected = make_placement(
        engine,
        episode,
        candidates=[product],
        status=PlacementStatus.REJECTED,
        thumbnail_path=crop_file(crops),
    )
    approved = make_placement(
        engine,
        episode,
        candidates=[product],
        status=PlacementStatus.APPROVED,
        chosen_product_id=product.id,
        thumbnail_path=crop_file(crops),
    )
    linker = FixedLinker(str(product.id), 0.93)

    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        saved = _marks_patch(client, brand, product, [[0.1, 0.1, 0.6, 0.5]])
        assert saved.status_code == 200, saved.text
        monitor = saved.headers["Link"]
        assert monitor.startswith("</v1/link-jobs/")
        assert monitor.endswith('>; rel="monitor"')
        job = client.get(monitor[1 : monitor.index(">")], headers=brand.headers).json()
        assert (job["product_id"], job["episode_id"], job["index_only"], job["state"]) == (
            str(product.id),
            None,
            False,
            "done",
        )
        assert (job["placements_relinked"], job["approved"], job["auto_approved"]) == (3, 3, 3)
        assert job["linker_decided_only"] is True
        assert linker.crops_seen == [1, 1, 1]
        status_of = {
            name: client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()["status"]
            for name, placement in {
                "held": held,
                "runner_up": runner_up,
                "chosen": chosen,
                "unrelated": unrelated,
                "rejected": rejected,
                "approved": approved,
            }.items()
        }
        assert status_of == {
            "held": "approved",
            "runner_up": "approved",
            "chosen": "approved",
            "unrelated": "proposed",
            "rejected": "rejected",
            "approved": "approved",
        }
        unrelated_now = client.get(f"/v1/placements/{unrelated.id}", headers=brand.headers).json()
        assert unrelated_now["version"] == unrelated.version  # not linked again
        # The linker approved what the person had picked: that approval publishes their choice, theirs
        by_linker = {
            name: client.get(f"/v1/placements/{one.id}", headers=brand.headers).json()["approved_by_linker"]
            for name, one in {"held": held, "runner_up": runner_up, "chosen": chosen}.items()
        }
        assert by_linker == {"held": True, "runner_up": True, "chosen": False}
        # Both episodes' timelines show what the new marks approved.
        assert str(held.id) in str(client.get(f"/v1/episodes/{episode.id}/timeline").json())
        assert str(runner_up.id) in str(client.get(f"/v1/episodes/{other_episode.id}/timeline").json())

        # The same marks and title written back change nothing, so nothing is queued.
        again = _marks_patch(client, brand, product, [[0.1, 0.1, 0.6, 0.5]])
        same_title = client.patch(
            f"/v1/products/{product.id}", json={"title": product.title}, headers=brand.headers
        )
        assert (again.status_code, same_title.status_code) == (200, 200)
        assert "Link" not in again.headers
        assert "Link" not in same_title.headers
        # Cleared marks decide differently again: a job over the linker's two approvals (the person's
        # approval and the pick the linker approved are not among them), which the new link keeps.
        cleared = client.patch(f"/v1/products/{product.id}", json={"own_print": None}, headers=brand.headers)
        assert "Link" in cleared.headers
        listed = client.get("/v1/link-jobs", headers=brand.headers).json()
        assert listed["total"] == 2
        counted = [(j["placements_relinked"], j["auto_approved"], j["withdrawn"]) for j in listed["items"]]
        assert counted == [(2, 0, 0), (3, 3, 0)]
        assert client.get("/v1/link-jobs", headers=other_brand.headers).json()["total"] == 0
        # And a brand-wide re-link that names the sibling for everything moves the linker's two
        # approvals, never the person's pick
        linker.sku = str(sibling.id)
        everything = client.post("/v1/link", headers=brand.headers)
        assert everything.status_code == 202, everything.text
        wide = client.get(everything.headers["Location"], headers=brand.headers).json()
        assert (wide["placements_relinked"], wide["moved"], wide["withdrawn"]) == (6, 2, 0)
        picked = client.get(f"/v1/placements/{chosen.id}", headers=brand.headers).json()
        assert (picked["status"], picked["chosen_product_id"]) == ("approved", str(product.id))
    assert linker.crops_seen == [1] * 11


def test_marks_saved_while_one_relink_of_them_waits_queue_nothing_more(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    product, _episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    first = _marks_patch(client, brand, product, [[0.1, 0.1, 0.6, 0.5]])
    second = _marks_patch(client, brand, product, [[0.2, 0.1, 0.7, 0.5]])
    assert first.headers["Link"] == second.headers["Link"]
    assert len(job_queue.enqueued) == 1
    # A product whose catalog holds no image to index cannot be linked: nothing is queued.
    imageless, _ = make_product(engine, brand.brand.id, "Imageless Tea", sku="TEA-1")
    with Session(engine) as session:
        for image in session.exec(select(ProductImage)).all():
            session.delete(image)
        session.commit()
    plain = _marks_patch(client, brand, imageless, [[0.1, 0.1, 0.6, 0.5]])
    assert plain.status_code == 200, plain.text
    assert "Link" not in plain.headers
    assert len(job_queue.enqueued) == 1


def test_a_re_link_never_swaps_a_product_a_person_picked_for_another(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    sibling, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    crops = tmp_path / "crops"
    # A reviewer picked the product for this placement (keys 1 to 5, or search) and has not approved it yet
    picked = make_placement(
        engine,
        episode,
        candidates=[sibling, product],
        chosen_product_id=product.id,
        thumbnail_path=crop_file(crops),
    )

    # When a re-link approves the sibling, the pick stands and the placement waits for the person
    with _run_link_client(settings, engine, FakeSource(FixedLinker(str(sibling.id), 0.95))) as client:
        job = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers).json()
        assert (job["state"], job["placements_relinked"], job["approved"]) == ("done", 1, 0)
        kept = client.get(f"/v1/placements/{picked.id}", headers=brand.headers).json()
    assert (kept["status"], kept["chosen_product_id"]) == ("proposed", str(product.id))
    assert kept["sku_candidates"][0]["product_id"] == str(sibling.id)  # the candidates still refresh

    # When one approves the product picked, it is approved as that product
    with _run_link_client(settings, engine, FakeSource(FixedLinker(str(product.id), 0.95))) as client:
        client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
        agreed = client.get(f"/v1/placements/{picked.id}", headers=brand.headers).json()
    assert (agreed["status"], agreed["chosen_product_id"]) == ("approved", str(product.id))


def _monitored(answer: Any) -> str:
    """The path of the link job an answer's `Link: <…>; rel="monitor"` header names."""
    monitor: str = answer.headers["Link"]
    assert monitor.endswith('>; rel="monitor"')
    return monitor[1 : monitor.index(">")]


def _followed(client: TestClient, brand: BrandAccount, answer: Any) -> dict[str, Any]:
    """The link job an answer's `Link` header names (run to its end by the inline queue)."""
    job: dict[str, Any] = client.get(_monitored(answer), headers=brand.headers).json()
    return job


def test_a_change_to_the_words_the_linker_reads_relinks_the_placements_awaiting_review_that_name_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    sibling, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    crops = tmp_path / "crops"
    held = make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))
    make_placement(engine, episode, candidates=[sibling], thumbnail_path=crop_file(crops))
    linker = FixedLinker(str(product.id), 0.5)  # below the bar: every job re-links the held one again
    products, variants = f"/v1/products/{product.id}", f"/v1/products/{product.id}/variants"

    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        # Given edits of the title, the vendor and the description
        for body in ({"title": "Pressed Apple 1 l"}, {"vendor": "Orchard"}, {"description": "Cloudy, 100 %"}):
            answer = client.patch(products, json=body, headers=brand.headers)
            assert answer.status_code == 200, answer.text
            job = _followed(client, brand, answer)
            # Then each re-links the product's placement awaiting review, and not the sibling's
            assert (job["state"], job["product_id"], job["linker_decided_only"]) == (
                "done",
                str(product.id),
                True,
            )
            assert (job["placements_relinked"], job["approved"], job["auto_approved"]) == (1, 0, 0)
        # And a variant's name, a word its pack prints: added, renamed, removed
        added = client.post(
            variants,
            json={"sku": "PA-2", "title": "Apple & Ginger", "price": "5.49", "currency": "EUR"},
            headers=brand.headers,
        )
        assert added.status_code == 201, added.text
        assert _followed(client, brand, added)["placements_relinked"] == 1
        variant = f"/v1/variants/{added.json()['id']}"
        renamed = client.patch(variant, json={"title": "Apple & Mint"}, headers=brand.headers)
        assert _followed(client, brand, renamed)["placements_relinked"] == 1
        # But a price or a placeholder name is nothing the linker reads: no job
        repriced = client.patch(variant, json={"price": "5.99"}, headers=brand.headers)
        placeholder = client.post(
            variants,
            json={"sku": "PA-3", "title": "Default Title", "price": "5.49", "currency": "EUR"},
            headers=brand.headers,
        )
        assert (repriced.status_code, placeholder.status_code) == (200, 201)
        assert "Link" not in repriced.headers
        assert "Link" not in placeholder.headers
        removed = client.delete(variant, headers=brand.headers)
        assert removed.status_code == 204
        assert _followed(client, brand, removed)["placements_relinked"] == 1
        assert client.get("/v1/link-jobs", headers=brand.headers).json()["total"] == 6
    assert linker.crops_seen == [1] * 6
    with Session(engine) as session:
        stored = session.get(Placement, held.id)
        assert stored is not None
        assert stored.version == held.version + 6


def test_changing_the_brands_linking_settings_decides_the_placements_the_linker_decided_again(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"
    held = make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))
    # Decided by a person: not for the settings to decide again
    rejected = make_placement(
        engine,
        episode,
        candidates=[product],
        status=PlacementStatus.REJECTED,
        thumbnail_path=crop_file(crops),
    )
    by_a_person = make_placement(
        engine,
        episode,
        start_ms=5000,
        end_ms=8000,
        candidates=[product],
        status=PlacementStatus.APPROVED,
        chosen_product_id=product.id,
        thumbnail_path=crop_file(crops),
    )
    linker = FixedLinker(str(product.id), 0.72)  # under the default 0.8

    with _run_link_client(settings, engine, FakeSource(linker, engine=engine)) as client:
        # Given a brand that lowers its auto-approve level under the held link's confidence
        lowered = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.7}, headers=brand.headers)
        assert lowered.status_code == 200, lowered.text
        assert lowered.json()["auto_approve_threshold"] == 0.7
        job = _followed(client, brand, lowered)
        # Then a brand-wide job over the placements awaiting review approves it: it is on the timeline
        assert (job["state"], job["episode_id"], job["product_id"], job["linker_decided_only"]) == (
            "done",
            None,
            None,
            True,
        )
        assert (job["placements_relinked"], job["approved"], job["auto_approved"]) == (1, 1, 1)
        now = client.get(f"/v1/placements/{held.id}", headers=brand.headers).json()
        assert (now["status"], now["link_approval_level"]) == ("approved", 0.7)
        assert str(held.id) in str(client.get(f"/v1/episodes/{episode.id}/timeline").json())
        untouched = client.get(f"/v1/placements/{rejected.id}", headers=brand.headers).json()
        assert (untouched["status"], untouched["version"]) == ("rejected", rejected.version)

        # And the same settings written back, or another brand's change, queue nothing here
        same = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.7}, headers=brand.headers)
        assert same.status_code == 200
        assert "Link" not in same.headers
        other = client.patch("/v1/brands/me", json={"link_floor": 0.2}, headers=other_brand.headers)
        assert (other.status_code, "Link" in other.headers) == (200, False)  # no catalog images to link
        # When the brand raises the level above the link it approved
        assert now["approved_by_linker"] is True
        raised = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.9}, headers=brand.headers)
        job = _followed(client, brand, raised)
        # Then the linker's approval is withdrawn: back in review, off the timeline
        assert (job["placements_relinked"], job["approved"], job["auto_approved"], job["withdrawn"]) == (
            1,
            0,
            0,
            1,
        )
        withdrawn = client.get(f"/v1/placements/{held.id}", headers=brand.headers).json()
        assert (withdrawn["status"], withdrawn["chosen_product_id"], withdrawn["approved_by_linker"]) == (
            "proposed",
            None,
            False,
        )
        assert withdrawn["link_approval_level"] == 0.9
        # And its history says when the linker approved it and when it took the approval back
        history = client.get(f"/v1/placements/{held.id}/history", headers=brand.headers).json()
        assert [(entry["actor"], entry["action"]) for entry in history] == [
            ("linker", "approve"),
            ("linker", "withdraw"),
        ]
        assert (history[1]["before"]["status"], history[1]["after"]["status"]) == ("approved", "proposed")
        timeline = str(client.get(f"/v1/episodes/{episode.id}/timeline").json())
        assert str(held.id) not in timeline
        # And a person's approval of a link just as weak stays, on the timeline, untouched
        kept = client.get(f"/v1/placements/{by_a_person.id}", headers=brand.headers).json()
        assert (kept["status"], kept["version"], kept["approved_by_linker"]) == (
            "approved",
            by_a_person.version,
            False,
        )
        assert str(by_a_person.id) in timeline
        # And lowering it again approves the same link again
        again = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.7}, headers=brand.headers)
        assert (_followed(client, brand, again)["auto_approved"], _status(client, brand, held.id)) == (
            1,
            "approved",
        )
    assert linker.crops_seen == [1, 1, 1]


def test_a_settings_change_decides_the_stored_links_again_and_links_only_those_that_cannot_say(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"

    def linked(start_ms: int, confidence: float | None, **extra: Any) -> Placement:
        return linked_placement(engine, episode, [product], crops, start_ms, confidence, **extra)

    # Given links against the current index with what their decision weighed kept, as tag jobs keep it:
    # one held for review at 0.72, one the linker approved at 0.85, one held where a person picked it
    held = linked(1000, 0.72)
    approved = linked(
        5000, 0.85, status=PlacementStatus.APPROVED, chosen_product_id=product.id, approved_by_linker=True
    )
    picked = linked(9000, 0.72, chosen_product_id=product.id)
    # And six a level of 0.7 cannot decide from what they kept: linked before the inputs were kept;
    # in a catalog with scene images, never asked for the packshots' opinion; against an older index
    # (the catalog changed since); with candidates the linker never wrote; scored by another fusion
    # model than the linker's now (a deploy refitted it); kept before links named what scored them
    linked(13000, None, index_version=None)
    linked(29000, 0.72, link_inputs=DecisionInputs(0.72, True, MATCHED, scorer="fusion-before").stored())
    linked(33000, 0.72, link_inputs=DecisionInputs(0.72, True, MATCHED).stored())
    linked(
        17000,
        0.75,
        link_inputs=DecisionInputs(0.75, True, MATCHED, scenes=True, scorer=FAKE_SCORER).stored(),
    )
    linked(21000, 0.72, index_version="index-v6")
    garbled = linked(25000, 0.72)
    with Session(engine) as session:
        row = session.get(Placement, garbled.id)
        assert row is not None
        row.sku_candidates = [{"product_id": "not-a-product", "confidence": "high"}]
        session.add(row)
        session.commit()
    linker = FixedLinker(str(product.id), 0.75, keeps_inputs=True)

    with _run_link_client(settings, engine, FakeSource(linker, engine=engine)) as client:
        # When the brand lowers its auto-approve level to 0.7
        lowered = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.7}, headers=brand.headers)
        job = _followed(client, brand, lowered)
        # Then three links are decided again from what they kept, and only the other six linked again
        assert (job["state"], job["decide_only"], job["linker_decided_only"]) == ("done", True, True)
        assert (job["redecided"], job["placements_relinked"], job["index_version"]) == (3, 6, FAKE_INDEX)
        assert (job["approved"], job["auto_approved"], job["withdrawn"]) == (9, 8, 0)
        assert linker.crops_seen == [1] * 6
        now = client.get(f"/v1/placements/{held.id}", headers=brand.headers).json()
        assert (now["status"], now["approved_by_linker"], now["link_approval_level"]) == (
            "approved",
            True,
            0.7,
        )
        assert (now["link_confidence"], now["link_evidence"]) == (0.72, MATCHED)
        assert str(held.id) in str(client.get(f"/v1/episodes/{episode.id}/timeline").json())
        # And the person's pick is approved as their product, and stays theirs
        theirs = client.get(f"/v1/placements/{picked.id}", headers=brand.headers).json()
        assert (theirs["status"], theirs["chosen_product_id"], theirs["approved_by_linker"]) == (
            "approved",
            str(product.id),
            False,
        )

        # When it raises the level above every link
        raised = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.9}, headers=brand.headers)
        job = _followed(client, brand, raised)
        # Then the linker's eight approvals are decided again without linking any (the six linked now
        # kept their inputs, scored as the linker scores now) and withdrawn, off the timeline, each with
        # its history entry; the approval of the person's pick is theirs, out of the job's scope, and stays
        assert (job["redecided"], job["placements_relinked"]) == (8, 0)
        assert (job["withdrawn"], job["approved"]) == (8, 0)
        assert linker.crops_seen == [1] * 6
        timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
        assert [placement["id"] for placement in timeline] == [str(picked.id)]
        history = client.get(f"/v1/placements/{approved.id}/history", headers=brand.headers).json()
        assert [(entry["actor"], entry["action"]) for entry in history] == [("linker", "withdraw")]
        # (with why: the link's confidence, the level it needed now, the linker's reason)
        why = {
            key: history[0]["after"][key]
            for key in ("link_confidence", "link_approval_level", "link_evidence")
        }
        assert why == {"link_confidence": 0.85, "link_approval_level": 0.9, "link_evidence": MATCHED}
        withdrawn = client.get(f"/v1/placements/{approved.id}", headers=brand.headers).json()
        assert (withdrawn["status"], withdrawn["link_approval_level"]) == ("proposed", 0.9)
    with Session(engine) as session:
        kept = session.exec(select(Placement).where(Placement.brand_id == brand.brand.id)).all()
        assert all(DecisionInputs.from_stored(placement.link_inputs) is not None for placement in kept)


def test_a_stored_link_is_decided_again_only_by_the_scorer_it_names() -> None:
    candidates = [{"product_id": str(uuid.uuid4()), "variant_id": None, "title": "Tea", "confidence": 0.9}]

    def placement(scorer: str) -> Placement:
        inputs = DecisionInputs(0.9, True, MATCHED, scorer=scorer).stored()
        return Placement(
            brand_id=uuid.uuid4(),
            episode_id=uuid.uuid4(),
            start_ms=0,
            end_ms=1000,
            start_frame=0,
            end_frame=30,
            label="bottle",
            confidence=0.9,
            sku_candidates=candidates,
            link_inputs=inputs,
        )

    thresholds = LinkThresholds()
    decided_again = stored_decision(placement("scorer-a"), thresholds, "scorer-a")
    assert decided_again is not None
    assert decided_again.approved
    assert stored_decision(placement("scorer-a"), thresholds, "scorer-b") is None
    # Inputs that name no scorer (stored before links named one) are linked again, even by a linker that
    # names none itself
    assert stored_decision(placement(""), thresholds, "") is None


def test_a_link_job_that_fails_part_way_puts_the_approvals_it_stored_on_the_timeline(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"
    first = make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))
    make_placement(
        engine, episode, start_ms=5000, end_ms=8000, candidates=[product], thumbnail_path=crop_file(crops)
    )
    calls: list[int] = []

    def models_gone_at_the_second() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise ModelError("the embedder's file is gone")

    linker = FixedLinker(str(product.id), 0.93, during=models_gone_at_the_second)
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        # When a re-link approves the first placement, then fails at the second
        answer = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
        job = client.get(answer.headers["Location"], headers=brand.headers).json()
        # Then the job says why it failed, and the approval it stored is on the timeline already
        assert (job["state"], job["error"]) == (
            "failed",
            "linking is unavailable: the embedder's file is gone",
        )
        timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()
        assert [placement["id"] for placement in timeline["placements"]] == [str(first.id)]


def test_deleting_a_product_takes_its_hotspot_down_and_links_what_named_it_again_without_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    duplicate, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    kept, _ = make_product(engine, brand.brand.id, "Pressed Apple 1 l", sku="PA-2")
    _add_image(engine, brand.brand.id, kept.id, tmp_path / "kept.jpg")
    crops = tmp_path / "crops"
    # Given a hotspot the linker approved as a product the brand imported twice, and a placement
    # awaiting review that names it first
    live = _approved_by_the_linker(engine, episode, duplicate, crops)
    waiting = make_placement(
        engine,
        episode,
        start_ms=5000,
        end_ms=8000,
        candidates=[duplicate, kept],
        thumbnail_path=crop_file(crops),
    )
    # And a placement a person rejected as it
    rejected = make_placement(
        engine,
        episode,
        start_ms=9000,
        end_ms=12000,
        candidates=[duplicate, kept],
        status=PlacementStatus.REJECTED,
        chosen_product_id=duplicate.id,
        thumbnail_path=crop_file(crops),
    )
    with Session(engine) as session:
        rebuild_timeline(session, session.get_one(Episode, episode.id), settings)  # as tagging left it
        session.commit()
    linker = FixedLinker(str(kept.id), 0.93)  # the catalog without the duplicate: the other one, sure
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        assert [p["id"] for p in client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]] == [
            str(live.id)
        ]
        # When the brand deletes the duplicate
        deleted = client.delete(f"/v1/products/{duplicate.id}", headers=brand.headers)
        assert deleted.status_code == 204, deleted.text
        # Then the answer names the link job over the placements that named it, which ran
        job = _followed(client, brand, deleted)
        assert (job["product_id"], job["state"], job["placements_relinked"]) == (str(duplicate.id), "done", 2)
        # And both are linked again without it: the product that remains, approved and on the timeline
        for placement in (live, waiting):
            now = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()
            assert (now["status"], now["chosen_product_id"], now["approved_by_linker"]) == (
                "approved",
                str(kept.id),
                True,
            )
            assert [c["product_id"] for c in now["sku_candidates"]] == [str(kept.id)]
        timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
        assert {placement["product"]["title"] for placement in timeline} == {"Pressed Apple 1 l"}
        # And the hotspot's history says the deletion took it down before the linker approved it again
        history = client.get(f"/v1/placements/{live.id}/history", headers=brand.headers).json()
        assert [(entry["actor"], entry["action"]) for entry in history] == [
            (f"key:{brand.brand.slug}-key", "product-deleted"),
            ("linker", "approve"),
        ]
        assert (history[0]["before"]["status"], history[0]["after"]["status"]) == ("approved", "proposed")
        # And the person's rejection stands: it only lost the product, and no re-link touched it
        no = client.get(f"/v1/placements/{rejected.id}", headers=brand.headers).json()
        assert (no["status"], no["chosen_product_id"]) == ("rejected", None)
    assert linker.crops_seen == [1, 1]


def test_a_link_naming_a_product_deleted_while_the_job_ran_is_left_for_review(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    gone, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    placement = make_placement(engine, episode, candidates=[gone], thumbnail_path=crop_file(tmp_path))

    def deleted_meanwhile() -> None:
        with Session(engine) as session:
            for variant in session.exec(select(Variant).where(Variant.product_id == gone.id)).all():
                session.delete(variant)
            session.delete(session.get_one(Product, gone.id))
            session.commit()

    # Given an index that still holds a product deleted while the job links (its link names it, sure)
    linker = FixedLinker(str(gone.id), 0.95, during=deleted_meanwhile)
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        answer = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
        job = client.get(answer.headers["Location"], headers=brand.headers).json()
        # Then the job ends, and the placement waits for review instead of being approved as nothing
        assert (job["state"], job["placements_relinked"], job["approved"]) == ("done", 1, 0)
        now = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()
        assert (now["status"], now["chosen_product_id"]) == ("proposed", None)
    assert product.id != gone.id


def _deleting(engine: Engine, product: Product) -> Session:
    """A session that has deleted `product` (as `DELETE /v1/products/{id}` does) and not committed yet."""
    session = Session(engine)
    stored = session.get(Product, product.id)
    assert stored is not None
    delete_product(session, stored, "someone@brand.test")
    session.flush()
    return session


def _answered_after(deletion: Session, request: Callable[[], Any]) -> Any:
    """Send `request` on another thread, check it waits for the uncommitted deletion, commit it, and
    return the answer."""
    done: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: done.setdefault("answer", request()))
    thread.start()
    thread.join(2.0)
    assert "answer" not in done, "the job should wait for the deletion's lock on the product"
    deletion.commit()
    deletion.close()
    thread.join(30)
    assert not thread.is_alive()
    return done["answer"]


def test_a_relink_choosing_a_product_being_deleted_waits_and_leaves_the_placement_for_review(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    skip_unless_postgres(engine)
    _, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    pear, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    placement = make_placement(engine, episode, candidates=[pear], thumbnail_path=crop_file(tmp_path))
    linker = FixedLinker(str(pear.id), 0.95)
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        # Given the pear's deletion under way (not committed) when a re-link approves a placement as it
        deletion = _deleting(engine, pear)
        answer = _answered_after(
            deletion, lambda: client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
        )
        # Then the job waited for the deletion, saw the pear gone, and left the placement for review
        # (before, its commit failed on the foreign key and so did the job)
        job = client.get(answer.headers["Location"], headers=brand.headers).json()
        assert (job["state"], job["placements_relinked"], job["approved"]) == ("done", 1, 0)
        now = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()
        assert (now["status"], now["chosen_product_id"]) == ("proposed", None)


def test_a_settings_job_and_a_deletion_of_the_product_it_keeps_never_wait_on_each_other(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    skip_unless_postgres(engine)
    _, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    pear, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    # Given the linker's approval of the pear at 0.85, which a level of 0.84 keeps
    kept = linked_placement(
        engine,
        episode,
        [pear],
        tmp_path / "crops",
        1000,
        0.85,
        status=PlacementStatus.APPROVED,
        chosen_product_id=pear.id,
        approved_by_linker=True,
    )
    job_id = decide_only_job(engine, brand.brand.id, 0.84)
    executor = LinkJobExecutor(engine, settings, FakeSource(FixedLinker(str(pear.id), 0.1), engine=engine))
    failures: list[BaseException] = []

    def guarded(work: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # a deadlock victim, say
                failures.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def delete_the_pear() -> None:
        with Session(engine) as deletion:
            delete_product(deletion, deletion.get_one(Product, pear.id), "someone@brand.test")
            deletion.commit()

    # When a reviewer holds the placement for a moment, so the job's batch skips it and then waits for it
    # alone, and the pear's deletion starts meanwhile (it holds the pear, and waits for the placement too)
    with Session(engine) as reviewer:
        reviewer.exec(select(Placement).where(Placement.id == kept.id).with_for_update()).one()
        job_thread = guarded(lambda: executor(job_id))
        job_thread.join(0.8)
        deletion_thread = guarded(delete_the_pear)
        deletion_thread.join(0.8)
        reviewer.commit()
    job_thread.join(30)
    deletion_thread.join(30)

    # Then neither waits for the other: the job decided the placement as it shows (no lock on the pear it
    # keeps), and the deletion then took the hotspot down
    assert failures == []
    with Session(engine) as session:
        done = session.get_one(LinkJob, job_id)
        assert (done.state, done.error, done.redecided) == ("done", None, 1)
        after = session.get_one(Placement, kept.id)
        assert (after.status, after.chosen_product_id) == (PlacementStatus.PROPOSED, None)


def test_a_settings_job_meeting_a_product_being_deleted_steps_back_and_decides_once_it_is_gone(
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip_unless_postgres(engine)
    apple, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    pear, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    crops = tmp_path / "crops"
    # Given the linker's approval of the pear, and a pear and an apple held at 0.72
    approved = linked_placement(
        engine,
        episode,
        [pear],
        crops,
        1000,
        0.85,
        status=PlacementStatus.APPROVED,
        chosen_product_id=pear.id,
        approved_by_linker=True,
    )
    held_pear = linked_placement(engine, episode, [pear], crops, 5000, 0.72)
    held_apple = linked_placement(engine, episode, [apple], crops, 9000, 0.72)
    # And the decide-only job of a level lowered to 0.7, which would approve both held links
    job_id = decide_only_job(engine, brand.brand.id, 0.7)
    executor = LinkJobExecutor(engine, settings, FakeSource(FixedLinker(str(apple.id), 0.1), engine=engine))
    stepped_back: list[float] = []
    # (the executor's pauses between tries, recorded instead of slept)
    monkeypatch.setattr(executor_module, "time", SimpleNamespace(sleep=stepped_back.append))

    # When it runs while the pear's deletion is under way (holding the pear and the placement approved
    # as it): a batch holds the placements it decides, and a deletion may be waiting for one of them,
    # so the batch never waits for the pear; it steps back, and the lone placements wait their turn
    deletion = _deleting(engine, pear)
    _answered_after(deletion, lambda: executor(job_id))

    # Then it stepped back (before, it waited for the pear on the foreign key, then failed on it), and
    # once the deletion was done decided all three: the apple approved, both pears left for review
    assert stepped_back
    with Session(engine) as session:
        done = session.get_one(LinkJob, job_id)
        assert (done.state, done.error, done.redecided, done.placements_relinked) == ("done", None, 3, 0)
        rows = [session.get_one(Placement, row.id) for row in (approved, held_pear, held_apple)]
        assert [(row.status, row.chosen_product_id) for row in rows] == [
            (PlacementStatus.PROPOSED, None),
            (PlacementStatus.PROPOSED, None),
            (PlacementStatus.APPROVED, apple.id),
        ]


def test_a_queued_relink_of_the_linkers_decisions_covers_a_settings_change_and_not_the_reverse(
    engine: Engine, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    with Session(engine) as session:
        # Given a re-link of everything the linker decided still queued (products arrived)
        relink, new = pending_link_job(session, brand.brand.id, linker_decided_only=True)
        session.commit()
        # Then a settings change finds it: linking again decides under the thresholds it reads then
        covered, again = pending_link_job(session, brand.brand.id, linker_decided_only=True, decide_only=True)
        assert (new, covered.id, again) == (True, relink.id, False)
        # But a queued decide-only job does not link anything again, so products arriving queue a re-link
        decide, _ = pending_link_job(
            session, other_brand.brand.id, linker_decided_only=True, decide_only=True
        )
        session.commit()
        full, added = pending_link_job(session, other_brand.brand.id, linker_decided_only=True)
        assert (added, full.id != decide.id, full.decide_only) == (True, True, False)


def _status(client: TestClient, brand: BrandAccount, placement_id: uuid.UUID) -> str:
    status: str = client.get(f"/v1/placements/{placement_id}", headers=brand.headers).json()["status"]
    return status


def test_a_person_who_acts_on_the_linkers_approval_makes_it_theirs_and_no_relink_withdraws_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"
    retimed = _approved_by_the_linker(engine, episode, product, crops)
    left = _approved_by_the_linker(engine, episode, product, crops, start_ms=5000)
    linker = FixedLinker(str(product.id), 0.6)  # under the bar: not enough to approve any more
    with _run_link_client(settings, engine, FakeSource(linker, engine=engine)) as client:
        # Given a reviewer who adjusts the span of one of the linker's approvals
        adjusted = client.patch(
            f"/v1/placements/{retimed.id}",
            json={"end_ms": 3500},
            headers={**brand.headers, "If-Match": f'"{retimed.version}"'},
        )
        assert adjusted.status_code == 200, adjusted.text
        assert adjusted.json()["approved_by_linker"] is False
        # When the product's words change and its placements are linked again with a weaker link
        product_now = client.get(f"/v1/products/{product.id}", headers=brand.headers)
        renamed = client.patch(
            f"/v1/products/{product.id}",
            json={"title": "Cloudy Apple Juice"},
            headers={**brand.headers, "If-Match": product_now.headers["ETag"]},
        )
        job = _followed(client, brand, renamed)
        # Then the reviewer's placement keeps its approval; the linker's own is withdrawn
        assert (job["placements_relinked"], job["withdrawn"]) == (1, 1)
        assert _status(client, brand, retimed.id) == "approved"
        assert _status(client, brand, left.id) == "proposed"
    assert linker.crops_seen == [1]


def test_a_link_job_counts_apart_what_it_approved_and_what_a_person_approved_while_it_ran(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"
    first = make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))
    second = make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))

    def reviewer_approves_the_second() -> None:
        with Session(engine) as session:
            placement = session.get(Placement, second.id)
            assert placement is not None
            if placement.status == PlacementStatus.PROPOSED:
                placement.status, placement.chosen_product_id = PlacementStatus.APPROVED, product.id
                session.add(placement)
                session.commit()

    linker = FixedLinker(str(product.id), 0.93, during=reviewer_approves_the_second)
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        saved = _marks_patch(client, brand, product, [[0.1, 0.1, 0.6, 0.5]])
        job = _followed(client, brand, saved)
    # Both are approved after the job; the job approved one of them, the person the other
    assert (job["placements_relinked"], job["approved"], job["auto_approved"]) == (2, 2, 1)
    assert first.id != second.id


def test_a_settings_job_is_its_own_scope_and_never_touches_another_brands_placements(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    other_brand: BrandAccount,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    theirs, their_episode = _catalog_and_episode(engine, settings, other_brand, tmp_path / "other")
    crops = tmp_path / "crops"
    make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(crops))
    their_placement = make_placement(
        engine, their_episode, candidates=[theirs], thumbnail_path=crop_file(crops)
    )
    # Given a brand-wide re-link and a product's re-link still queued
    everything = client.post("/v1/link", headers=brand.headers)
    marks = _marks_patch(client, brand, product, [[0.1, 0.1, 0.6, 0.5]])
    assert (everything.status_code, marks.status_code) == (202, 200)
    # When the brand changes its settings twice, then the other brand once
    lowered = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.7}, headers=brand.headers)
    floor = client.patch("/v1/brands/me", json={"link_floor": 0.2}, headers=brand.headers)
    theirs_lowered = client.patch(
        "/v1/brands/me", json={"auto_approve_threshold": 0.6}, headers=other_brand.headers
    )
    # Then the settings job is neither of the queued ones, and the second change finds it still queued
    settings_job = _monitored(lowered)
    assert settings_job == _monitored(floor)
    assert settings_job not in (everything.headers["Location"], _monitored(marks))
    assert settings_job != _monitored(theirs_lowered)
    assert len(job_queue.enqueued) == 4
    # And running the first brand's settings job re-links none of the other brand's placements
    job_id = uuid.UUID(settings_job.rsplit("/", 1)[1])
    LinkJobExecutor(engine, settings, FakeSource(FixedLinker(str(product.id), 0.75), engine=engine))(job_id)
    with Session(engine) as session:
        done = session.get(LinkJob, job_id)
        assert done is not None
        assert (done.state, done.placements_relinked, done.auto_approved) == (JobState.DONE, 1, 1)
        untouched = session.get(Placement, their_placement.id)
        assert untouched is not None
        assert (untouched.status, untouched.version) == (PlacementStatus.PROPOSED, their_placement.version)


def test_an_image_added_or_removed_relinks_the_products_placements_awaiting_review(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    bare, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    make_placement(engine, episode, candidates=[product], thumbnail_path=crop_file(tmp_path / "crops"))
    linker = FixedLinker(str(product.id), 0.5)
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        # Given a second packshot uploaded for the product a held placement names
        added = client.post(
            f"/v1/products/{product.id}/images",
            files={"file": ("shop-print.png", _png(), "image/png")},
            headers=brand.headers,
        )
        assert added.status_code == 201, added.text
        # Then its placement awaiting review is linked again with it, and the answer names the job
        job = _followed(client, brand, added)
        assert (job["product_id"], job["state"], job["placements_relinked"]) == (str(product.id), "done", 1)
        # And removing it links the placement again without it
        removed = client.delete(f"/v1/images/{added.json()['id']}", headers=brand.headers)
        assert removed.status_code == 204
        assert _followed(client, brand, removed)["placements_relinked"] == 1
        # And a product's first image makes it linkable: it may be what any placement awaiting review
        # shows, so they are all linked again
        first = client.post(
            f"/v1/products/{bare.id}/images",
            files={"file": ("pear.png", _png(), "image/png")},
            headers=brand.headers,
        )
        assert first.status_code == 201
        brand_wide = _followed(client, brand, first)
        assert (brand_wide["product_id"], brand_wide["linker_decided_only"]) == (None, True)
        assert brand_wide["placements_relinked"] == 1
        # But its second image, which no placement's candidates name, only refreshes the index
        second = client.post(
            f"/v1/products/{bare.id}/images",
            files={"file": ("pear-back.png", _png(), "image/png")},
            headers=brand.headers,
        )
        assert second.status_code == 201
        assert "Link" not in second.headers
    assert linker.crops_seen == [1, 1, 1]


def test_a_withdrawn_approval_leaves_the_public_timeline_before_the_job_goes_on(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"
    first, second = (
        _approved_by_the_linker(engine, episode, product, crops, start_ms=start) for start in (1000, 5000)
    )
    with Session(engine) as session:
        rebuild_timeline(session, session.get_one(Episode, episode.id), settings)  # as tagging left it
        session.commit()
    published: list[str] = []

    def timeline_now() -> None:
        with Session(engine) as session:
            stored = session.get(Episode, episode.id)
            assert stored is not None
            published.append(stored.timeline_json)

    linker = FixedLinker(str(product.id), 0.85, during=timeline_now)  # under the new 0.9
    with _run_link_client(settings, engine, FakeSource(linker, engine=engine)) as client:
        shown = client.get(f"/v1/episodes/{episode.id}/timeline").json()
        assert {entry["id"] for entry in shown["placements"]} == {str(first.id), str(second.id)}
        raised = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.9}, headers=brand.headers)
        assert _followed(client, brand, raised)["withdrawn"] == 2
    # While the second placement was being linked, the first was already off the public timeline
    assert len(published) == 2
    assert str(first.id) not in published[1]
    assert str(second.id) in published[1]


def test_a_link_job_does_not_approve_a_product_with_nothing_to_buy(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a product the catalog lists with a packshot but no variant, and a placement showing it
    with Session(engine, expire_on_commit=False) as session:
        box = Product(brand_id=brand.brand.id, title="Gift box")
        session.add(box)
        session.commit()
    _add_image(engine, brand.brand.id, box.id, tmp_path / "box.jpg")
    episode = make_episode(engine, brand.brand.id, settings)
    held = make_placement(engine, episode, candidates=[box], thumbnail_path=crop_file(tmp_path / "crops"))
    linker = FixedLinker(str(box.id), 0.95)  # sure of it, past the bar
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        queued = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers)
        assert queued.status_code == 202, queued.text
        # Then the link is stored, but the placement waits for a person: its hotspot would sell nothing
        job = client.get(queued.headers["location"], headers=brand.headers).json()
        assert (job["state"], job["auto_approved"]) == ("done", 0)
        stored = client.get(f"/v1/placements/{held.id}", headers=brand.headers).json()
        assert (stored["status"], stored["sku_candidates"][0]["product_id"]) == ("proposed", str(box.id))
        assert client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"] == []


def test_the_linkers_approval_of_a_product_it_cannot_see_is_kept(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a placement the linker approved as a product whose only image the brand then removes
    product, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    other, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    _add_image(engine, brand.brand.id, other.id, tmp_path / "pear.jpg")
    approved = _approved_by_the_linker(engine, episode, product, tmp_path / "crops")
    with Session(engine) as session:
        (image,) = session.exec(select(ProductImage).where(ProductImage.product_id == product.id)).all()
    linker = FixedLinker(str(other.id), 0.4)  # the index no longer shows the product: a weak other link
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        removed = client.delete(f"/v1/images/{image.id}", headers=brand.headers)
        assert removed.status_code == 204
        job = _followed(client, brand, removed)
        # Then its placement is linked again, but a link blind to the product is no evidence against it
        assert (job["placements_relinked"], job["withdrawn"], job["moved"]) == (1, 0, 0)
        kept = client.get(f"/v1/placements/{approved.id}", headers=brand.headers).json()
        assert (kept["status"], kept["chosen_product_id"], kept["approved_by_linker"]) == (
            "approved",
            str(product.id),
            True,
        )
        assert kept["sku_candidates"][0]["product_id"] == str(other.id)  # the candidates did refresh
    assert linker.crops_seen == [1]


def test_the_linkers_approval_of_a_sibling_moves_to_the_product_shown_once_it_joins_the_catalog(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given two placements of a vanilla yoghurt linked to its sibling, the only Yoggi the catalog had:
    # one approved by the linker, the other by a reviewer
    strawberry, episode = _catalog_and_episode(engine, settings, brand, tmp_path)
    crops = tmp_path / "crops"
    by_linker, by_reviewer = (
        _approved_by_the_linker(engine, episode, strawberry, crops, start_ms=start) for start in (1000, 5000)
    )
    vanilla, _ = make_product(engine, brand.brand.id, "Yoggi Vanilla", sku="YV-1")
    linker = FixedLinker(str(vanilla.id), 0.93)  # what the vanilla pack links to once it is there
    with _run_link_client(settings, engine, FakeSource(linker)) as client:
        confirmed = client.post(
            f"/v1/placements/{by_reviewer.id}/approve",
            json={"product_id": str(strawberry.id)},
            headers={**brand.headers, "If-Match": f'"{by_reviewer.version}"'},
        )
        assert confirmed.status_code == 200, confirmed.text
        # When the brand uploads the vanilla's packshot (its first image: it becomes linkable)
        added = client.post(
            f"/v1/products/{vanilla.id}/images",
            files={"file": ("vanilla.png", _png(), "image/png")},
            headers=brand.headers,
        )
        assert added.status_code == 201, added.text
        job = _followed(client, brand, added)
        # Then the linker's approval moves to the vanilla; the reviewer's choice is theirs and stays
        counted = (job["placements_relinked"], job["moved"], job["withdrawn"], job["auto_approved"])
        assert counted == (1, 1, 0, 0)
        moved = client.get(f"/v1/placements/{by_linker.id}", headers=brand.headers).json()
        assert (moved["status"], moved["chosen_product_id"], moved["approved_by_linker"]) == (
            "approved",
            str(vanilla.id),
            True,
        )
        history = client.get(f"/v1/placements/{by_linker.id}/history", headers=brand.headers).json()
        assert [
            (entry["actor"], entry["action"], entry["after"]["chosen_product_id"]) for entry in history
        ] == [("linker", "move", str(vanilla.id))]
        kept = client.get(f"/v1/placements/{by_reviewer.id}", headers=brand.headers).json()
        assert (kept["chosen_product_id"], kept["approved_by_linker"]) == (str(strawberry.id), False)
        # And the public timeline sells the vanilla where the linker had put the strawberry
        timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()
        sold = {entry["id"]: entry["product"]["id"] for entry in timeline["placements"]}
        assert sold == {str(by_linker.id): str(vanilla.id), str(by_reviewer.id): str(strawberry.id)}
    assert linker.crops_seen == [1]


def test_a_queued_job_a_change_joins_cannot_start_before_the_change_is_stored(
    engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    with Session(engine) as session:
        queued = LinkJob(brand_id=brand.brand.id, linker_decided_only=True)
        session.add(queued)
        session.commit()
        queued_id = queued.id
    claimed = threading.Event()

    def worker_claims() -> None:
        with Session(engine) as session:
            assert claim_job(session, LinkJob, queued_id)
            session.commit()
        claimed.set()

    # Given a settings change that found the queued job and has not committed yet
    with Session(engine) as change:
        job, new = pending_link_job(change, brand.brand.id, linker_decided_only=True)
        assert (job.id, new) == (queued_id, False)
        worker = threading.Thread(target=worker_claims)
        worker.start()
        # Then a worker offered the job waits for the change to be stored
        assert not claimed.wait(1.0)
        change.commit()
    # And starts it once it is
    worker.join(10)
    assert claimed.is_set()


# A catalog import (JSON) of one product with a packshot given by URL.
_APPLE_WITH_A_PACKSHOT = {
    "products": [
        {
            "title": "Pressed Apple",
            "images": [{"url": "https://cdn.example/apple.png"}],
            "variants": [{"sku": "PA-1", "price": "2.50", "currency": "EUR"}],
        }
    ]
}


def test_products_imported_or_created_with_images_relink_the_placements_awaiting_review(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    job_queue: RecordingQueue,
) -> None:
    # Given a brand whose episode was tagged before its catalog held the product a placement shows
    make_placement(engine, make_episode(engine, brand.brand.id, settings))
    # When it imports the product with an image
    imported = client.post("/v1/catalog/import", json=_APPLE_WITH_A_PACKSHOT, headers=brand.headers)
    assert imported.status_code == 200, imported.text
    # Then every placement awaiting review is queued to be linked again, once its image is there
    job_path = _monitored(imported)
    job = client.get(job_path, headers=brand.headers).json()
    assert (job["state"], job["product_id"], job["linker_decided_only"]) == ("queued", None, True)
    assert JobRef(JobKind.LINK, uuid.UUID(job_path.rsplit("/", 1)[1])) in job_queue.enqueued
    # And a product created with an image joins that job while it waits; one without images does not
    with_image = client.post(
        "/v1/products",
        json={
            "title": "Pressed Pear",
            "images": [{"url": "https://cdn.example/pear.png"}],
            "variants": [{"sku": "PP-1", "price": "2.50", "currency": "EUR"}],
        },
        headers=brand.headers,
    )
    without = client.post(
        "/v1/products",
        json={"title": "Tea", "variants": [{"sku": "T-1", "price": "1.00", "currency": "EUR"}]},
        headers=brand.headers,
    )
    assert (with_image.status_code, without.status_code) == (201, 201), with_image.text
    assert _monitored(with_image) == job_path
    assert "Link" not in without.headers


def test_a_catalog_imported_before_anything_was_tagged_queues_only_its_index_refresh(
    client: TestClient, brand: BrandAccount, job_queue: RecordingQueue
) -> None:
    imported = client.post("/v1/catalog/import", json=_APPLE_WITH_A_PACKSHOT, headers=brand.headers)
    assert imported.status_code == 200, imported.text
    assert "Link" not in imported.headers
    assert [job.kind for job in job_queue.enqueued] == [JobKind.IMAGES]


def test_a_first_usable_image_after_a_failed_url_makes_the_product_linkable(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, job_queue: RecordingQueue
) -> None:
    # Given a product whose only image URL failed to fetch, and a placement awaiting review
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with Session(engine) as session:
        session.add(
            ProductImage(
                product_id=product.id,
                brand_id=brand.brand.id,
                source_url="https://cdn.example/gone.png",
                fetch_error="https://cdn.example/gone.png answered HTTP 404",
            )
        )
        session.commit()
    make_placement(engine, make_episode(engine, brand.brand.id, settings))
    # When the brand uploads a packshot that works
    added = client.post(
        f"/v1/products/{product.id}/images",
        files={"file": ("pack.png", _png(), "image/png")},
        headers=brand.headers,
    )
    # Then the product just became linkable: every placement awaiting review is queued to link again
    assert added.status_code == 201, added.text
    job = client.get(_monitored(added), headers=brand.headers).json()
    assert (job["product_id"], job["linker_decided_only"], job["state"]) == (None, True, "queued")
