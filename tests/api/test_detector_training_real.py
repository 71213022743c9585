"""The real training path, end to end and small: a train job runs ultralytics in the train virtualenv
(3 products, a few synthetic images, one epoch at 64 px), exports ONNX, cards and registers it, and
the registered detector loads and runs. Needs the train virtualenv (`make train-venv`; `make test`
builds it); CI sets REELCART_REQUIRE_TRAINING=1 so it fails there instead of skipping."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine
from sqlmodel import Session

from api.catalog.models import ProductImage
from api.db import upgrade_database
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.detectors.service import queue_train_job
from api.detectors.training import DetectorTrainExecutor
from api.jobs.models import JobState
from api.settings import ApiSettings
from tagger.detection.factory import load_detector_card
from tagger.models.cards import load_detector_spec
from tagger.training.request import TrainEvent
from tests.api.factories import make_product
from tests.tagger.training.packshots import write_products
from tests.utils.api import RecordingQueue, make_brand

pytestmark = pytest.mark.slow


def _train_python() -> Path:
    configured = os.environ.get("REELCART_TRAIN_PYTHON")
    python = (
        Path(configured) if configured else Path(__file__).resolve().parents[2] / "var/train-venv/bin/python"
    )
    if python.is_file():
        return python
    message = f"no train virtualenv at {python} (make train-venv; REELCART_TRAIN_PYTHON)"
    if os.environ.get("REELCART_REQUIRE_TRAINING") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sqlite_engine() -> Engine:
    engine = create_engine("sqlite://")
    upgrade_database(engine)
    return engine


def test_a_train_job_trains_exports_and_registers_a_detector_that_runs(
    sqlite_engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    engine = sqlite_engine
    tiny = settings.model_copy(
        update={
            "train_python": _train_python(),
            "train_image_size": 64,
            "train_images_per_class": 4,
            "train_val_per_class": 2,
            "train_epochs": 1,
            "train_time_hours": None,
            "train_batch": 4,
            "train_device": "cpu",
        }
    )
    account = make_brand(engine, "acme-drinks")
    brand_id = account.brand.id
    for index, shots in enumerate(write_products(tmp_path / "packshots", 3)):
        product, _ = make_product(engine, brand_id, shots.name, sku=f"SKU-{index}")
        with Session(engine) as session:
            session.add(ProductImage(product_id=product.id, brand_id=brand_id, path=str(shots.packshots[0])))
            session.commit()
    with Session(engine) as session:
        job_id = queue_train_job(session, RecordingQueue(), brand_id).id
    events: list[TrainEvent] = []

    DetectorTrainExecutor(engine, tiny, on_event=events.append)(job_id)

    with Session(engine) as session:
        job = session.get(DetectorTrainJob, job_id)
        assert job is not None
        assert (job.state, job.error) == (JobState.DONE, None)
        detector = session.get(BrandDetector, job.detector_id)
        assert detector is not None
    phases = [event.phase for event in events]
    # On the CPU every core trains (ultralytics alone would use cpu_count - 1 torch threads).
    assert f"training on the CPU, {len(os.sched_getaffinity(0))} torch threads" in [e.message for e in events]
    assert phases[0] == "synthesise"
    assert "train" in phases
    assert phases[-2:] == ["export", "done"]
    card = Path(detector.card_path)
    spec = load_detector_spec(card)
    # One class for all products by default (the linker names the SKU); the card counts the products.
    assert (spec.layout, spec.rgb, spec.width, spec.class_names) == (
        "ultralytics",
        True,
        64,
        ("brand-product",),
    )
    assert detector.classes == 1
    assert set(detector.metrics) == {"precision", "recall", "map50", "map50_95"}
    text = card.read_text(encoding="utf-8")
    assert 'weights = "none (from scratch)"' in text
    assert "train_images = 12" in text
    assert "trained_products = 3" in text
    # Exported with dynamic axes and carded "fit": a tall frame is read at its own aspect, not padded
    # square, and the graph's anchor grid follows the input (a fixed export fails on 32 x 64).
    assert spec.fit_shape
    runtime = load_detector_card(card)
    assert runtime.input_size(90, 320) == (32, 64)
    assert runtime.input_size(320, 320) == (64, 64)
    found = runtime.detect([np.full((320, 90, 3), 128, np.uint8), np.full((120, 80, 3), 128, np.uint8)])
    assert len(found) == 2  # a from-scratch one-epoch model finds nothing useful; it must only run
    assert uuid.UUID(str(detector.train_job_id)) == job_id
