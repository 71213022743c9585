"""A worker installed without the `ocr` extra: linking cannot load its text reader. A tag job still
tags (its placements wait for review, unlinked, and its summary says why), as with a missing embedder;
a link job fails with that reason, never as an internal error."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.catalog.job_executors import ImageFetchJobExecutor
from api.catalog.models import ProductImage
from api.jobs.queue import InlineJobQueue, JobKind
from api.jobs.tagger_adapter import PipelineTagFunction
from api.jobs.tagging import TagJobExecutor
from api.linking.executor import LinkJobExecutor
from api.linking.service import BrandLinker, IndexProgress
from api.settings import ApiSettings
from tagger.linking.factory import load_text_reader
from tagger.settings import TaggerSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.api.fake_linking import crop_file
from tests.tagger.factories import BLUE, ColourDetector, Square, frame_with, tiny_spec, write_video
from tests.utils.api import BrandAccount

NO_OCR = "OCR needs the `ocr` extra (pip install 'reelcart[ocr]'); or link without text (ocr=False)"


class OcrLessLinking:
    """The brand's linking as a worker without rapidocr meets it: indexing the catalog loads the text
    reader first (`LinkingService` loads it with the embedder), and that import fails."""

    def fetch_pending_images(self, brand_id: uuid.UUID) -> None:
        return None

    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None:
        load_text_reader()
        raise AssertionError("the text reader loaded without rapidocr")


@pytest.fixture(autouse=True)
def without_rapidocr(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import rapidocr_onnxruntime` fail as it does where it is not installed.
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)


def test_a_tag_job_without_the_ocr_extra_tags_and_says_why_its_placements_are_unlinked(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a worker whose linking cannot read text, and an episode showing two products
    frames = [frame_with(160, 96, [Square(20, 30, 20), Square(100, 40, 24, BLUE)]) for _ in range(45)]
    video = write_video(tmp_path / "two-products.mp4", frames)
    tag = PipelineTagFunction(
        settings,
        TaggerSettings(sample_fps=10, work_max_side=160, min_placement_ms=300, decode_skip="none"),
        linking=OcrLessLinking(),
        detector=ColourDetector(tiny_spec(tmp_path)),
    )
    queue = InlineJobQueue({JobKind.TAG: TagJobExecutor(engine, settings, tag)})
    with TestClient(create_app(settings, engine=engine, job_queue=queue)) as client:
        episode = client.post(
            "/v1/episodes/upload?title=Ep 1&filename=ep1.mp4",
            content=video.read_bytes(),
            headers={**brand.headers, "Content-Type": "video/mp4"},
        ).json()

        # When its tag job runs
        queued = client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=brand.headers).json()
        job = client.get(f"/v1/tag-jobs/{queued['id']}", headers=brand.headers).json()

    # Then the placements are found, left for review, and the summary says why they are unlinked
    assert (job["state"], job["error"], job["placements_found"]) == ("done", None, 2)
    assert job["summary"] == (
        f"2 placements: 0 approved automatically, 2 for review (not linked to the catalog: {NO_OCR})"
    )


def test_a_link_job_without_the_ocr_extra_fails_with_that_reason(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a brand with a product image and a placement to link again, on a worker without rapidocr
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with Session(engine) as session:
        session.add(
            ProductImage(product_id=product.id, brand_id=brand.brand.id, path=str(tmp_path / "p.jpg"))
        )
        session.commit()
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, thumbnail_path=crop_file(tmp_path / "crops"))
    queue = InlineJobQueue()
    queue.bind(
        {
            JobKind.LINK: LinkJobExecutor(engine, settings, OcrLessLinking()),
            JobKind.IMAGES: ImageFetchJobExecutor(engine, settings, queue),
        }
    )
    with TestClient(create_app(settings, engine=engine, job_queue=queue)) as client:
        # When its link job runs
        job = client.post(f"/v1/episodes/{episode.id}/link", headers=brand.headers).json()
        same = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).json()

    # Then it fails with the linker's own reason, as a missing embedder does, and changes nothing
    assert (job["state"], job["error"], job["placements_relinked"]) == (
        "failed",
        f"linking is unavailable: {NO_OCR}",
        0,
    )
    assert (same["status"], same["version"]) == ("proposed", placement.version)
