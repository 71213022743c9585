"""Training a brand's detector through the API: one job per brand, registration only of a model that
loads and matches its card, failures with their reason and nothing left behind, staleness."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.catalog.models import ProductImage
from api.detectors import training
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.detectors.service import BrandDetectorCards, images_per_class, train_request
from api.detectors.training import DetectorTrainExecutor, TrainerCommand
from api.jobs.models import JobPhase, JobState
from api.jobs.queue import JobKind
from api.settings import ApiSettings
from tests.api.factories import make_product
from tests.utils.api import BrandAccount, RecordingQueue


def _fake(mode: str) -> TrainerCommand:
    return lambda request: [sys.executable, "-m", "tests.api.fake_trainer", str(request), mode]


def _with_packshots(
    engine: Engine, brand: BrandAccount, tmp_path: Path, count: int = 2, prefix: str = "J"
) -> list[uuid.UUID]:
    ids = []
    for index in range(count):
        product, _ = make_product(engine, brand.brand.id, f"Juice {index}", sku=f"{prefix}-{index}")
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / f"packshot-{index}.jpg"
        cv2.imwrite(str(path), np.full((64, 48, 3), 40 * index, np.uint8))
        with Session(engine) as session:
            session.add(ProductImage(product_id=product.id, brand_id=brand.brand.id, path=str(path)))
            session.commit()
        ids.append(product.id)
    return ids


def _job(engine: Engine, job_id: str | uuid.UUID) -> DetectorTrainJob:
    with Session(engine) as session:
        job = session.get(DetectorTrainJob, uuid.UUID(str(job_id)))
        assert job is not None
        return job


def _detectors(engine: Engine) -> list[BrandDetector]:
    with Session(engine) as session:
        return list(session.exec(select(BrandDetector)).all())


def test_given_no_packshots_when_training_requested_then_422_and_no_job(
    client: TestClient, brand: BrandAccount, engine: Engine, job_queue: RecordingQueue
) -> None:
    make_product(engine, brand.brand.id, "No picture", sku="NP-1")

    response = client.post("/v1/detectors/train", headers=brand.headers)

    assert response.status_code == 422
    assert response.json()["type"].endswith("no-packshots")
    assert job_queue.enqueued == []


def test_given_a_train_job_queued_when_another_is_requested_then_409_and_one_job(
    client: TestClient, brand: BrandAccount, engine: Engine, job_queue: RecordingQueue, tmp_path: Path
) -> None:
    _with_packshots(engine, brand, tmp_path)

    first = client.post("/v1/detectors/train", headers=brand.headers)
    second = client.post("/v1/detectors/train", headers=brand.headers)

    assert first.status_code == 202
    job = first.json()
    assert first.headers["Location"] == f"/v1/train-jobs/{job['id']}"
    assert (job["state"], job["phase"], job["products"]) == ("queued", "queued", 2)
    assert second.status_code == 409
    assert job["id"] in second.json()["detail"]
    assert [ref.kind for ref in job_queue.enqueued] == [JobKind.TRAIN]
    listed = client.get("/v1/train-jobs", headers=brand.headers).json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]


def test_given_a_racing_insert_when_a_second_active_job_is_written_then_the_database_refuses_it(
    engine: Engine, brand: BrandAccount
) -> None:
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    with Session(engine) as session:
        session.add(DetectorTrainJob(brand_id=brand.brand.id))
        session.commit()
        session.add(DetectorTrainJob(brand_id=brand.brand.id))
        with pytest.raises(IntegrityError):
            session.commit()


def test_given_a_trainer_that_succeeds_when_the_job_runs_then_detector_registered_and_used(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    tmp_path: Path,
) -> None:
    product_ids = _with_packshots(engine, brand, tmp_path)
    job_id = client.post("/v1/detectors/train", headers=brand.headers).json()["id"]
    per_product = settings.model_copy(update={"train_single_class": False})

    DetectorTrainExecutor(engine, per_product, command=_fake("ok"))(uuid.UUID(job_id))

    job = client.get(f"/v1/train-jobs/{job_id}", headers=brand.headers).json()
    assert (job["state"], job["phase"], job["progress"], job["error"]) == ("done", "finished", 1.0, None)
    [row] = _detectors(engine)
    assert job["detector_id"] == str(row.id)
    assert job["message"] == f"{row.name}: 2 products, 2 classes, map50 0.500, precision 0.600"
    assert row.name == f"brand-{brand.brand.slug}-1"
    assert row.classes == 2
    assert row.metrics == {"map50": 0.5, "precision": 0.6}
    card = Path(row.card_path)
    # In the brand's folder, in the folder of the attempt that trained it
    assert (
        card.parent
        == (settings.model_dir / "brands" / str(brand.brand.id) / f"{job_id.replace('-', '')}-1").resolve()
    )
    assert card.with_suffix(".onnx").is_file()
    # One class per product, named by its id, in id order (stable whatever order they were added in).
    first, second = sorted(str(product_id) for product_id in product_ids)
    assert f'names = ["{first}", "{second}"]' in card.read_text(encoding="utf-8")
    assert sorted(p.name for p in card.parent.iterdir()) == [card.with_suffix(".onnx").name, card.name]
    assert BrandDetectorCards(engine).newest_card(brand.brand.id) == card
    listed = client.get("/v1/detectors", headers=brand.headers).json()
    assert [(d["name"], d["in_use"], d["stale"]) for d in listed["items"]] == [(row.name, True, False)]


def test_given_a_trained_detector_when_the_catalog_changes_then_it_is_stale(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    _with_packshots(engine, brand, tmp_path)
    job_id = client.post("/v1/detectors/train", headers=brand.headers).json()["id"]
    DetectorTrainExecutor(engine, settings, command=_fake("ok"))(uuid.UUID(job_id))

    _with_packshots(engine, brand, tmp_path / "more", count=1, prefix="K")

    [detector] = client.get("/v1/detectors", headers=brand.headers).json()["items"]
    assert detector["stale"] is True
    assert detector["in_use"] is True  # still the brand's best until a new one is trained


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("crash", "RuntimeError: out of memory while training"),
        ("error", "training failed: TrainingError: ONNX export failed"),
        ("tamper", "the trained model was refused"),
    ],
)
def test_given_a_trainer_that_fails_when_the_job_runs_then_failed_with_reason_and_nothing_registered(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    tmp_path: Path,
    mode: str,
    reason: str,
) -> None:
    _with_packshots(engine, brand, tmp_path)
    job_id = client.post("/v1/detectors/train", headers=brand.headers).json()["id"]

    DetectorTrainExecutor(engine, settings, command=_fake(mode))(uuid.UUID(job_id))

    job = _job(engine, job_id)
    assert job.state == JobState.FAILED
    assert reason in (job.error or "")
    assert _detectors(engine) == []
    folder = settings.model_dir / "brands" / str(brand.brand.id)
    assert list(folder.iterdir()) == []
    # The failed job no longer blocks a new one.
    assert client.post("/v1/detectors/train", headers=brand.headers).status_code == 202


def test_given_an_attempt_superseded_while_training_then_it_stops_and_leaves_the_new_attempts_files(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    # Given a train job whose first attempt lost its lease mid-training (a partition longer than the
    # lease): the supervisor requeued it and attempt 2 claimed it and is training in its own folder
    _with_packshots(engine, brand, tmp_path)
    job_id = uuid.UUID(client.post("/v1/detectors/train", headers=brand.headers).json()["id"])
    folder = (settings.model_dir / "brands" / str(brand.brand.id)).resolve()
    theirs = folder / f"{job_id.hex}-2" / ".train-live"
    events: list[object] = []

    def another_attempt_claims_it(event: object) -> None:
        events.append(event)
        if len(events) > 1:
            return
        with Session(engine) as session:
            job = session.get_one(DetectorTrainJob, job_id)
            job.attempts = 2
            session.add(job)
            session.commit()
        theirs.mkdir(parents=True)

    # When attempt 1 runs on
    executor = DetectorTrainExecutor(
        engine, settings, command=_fake("ok"), on_event=another_attempt_claims_it
    )
    executor(job_id)

    # Then it stops at its next word on the job (no second trainer spends the hour: it read no event
    # after that one), registers nothing, removes only its own folder, and leaves the job to attempt 2
    assert len(events) == 1
    assert _detectors(engine) == []
    assert sorted(p.name for p in folder.iterdir()) == [f"{job_id.hex}-2"]
    assert theirs.is_dir()
    job = _job(engine, job_id)
    assert (job.state, job.attempts, job.error) == (JobState.RUNNING, 2, None)


def test_given_a_trainer_that_hangs_when_its_time_limit_passes_then_it_is_stopped_and_the_job_fails(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_packshots(engine, brand, tmp_path)
    job_id = client.post("/v1/detectors/train", headers=brand.headers).json()["id"]
    monkeypatch.setattr(training, "LIMIT_SLACK_S", 0.0)
    quick = settings.model_copy(update={"train_time_hours": 1 / 3600})  # stopped after 1.5 s

    DetectorTrainExecutor(engine, quick, command=_fake("hang"))(uuid.UUID(job_id))

    job = _job(engine, job_id)
    assert job.state == JobState.FAILED
    assert "ran past its limit" in (job.error or "")
    assert _detectors(engine) == []


def test_given_no_train_virtualenv_when_the_job_runs_then_it_fails_saying_how_to_install_it(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    _with_packshots(engine, brand, tmp_path)
    job_id = client.post("/v1/detectors/train", headers=brand.headers).json()["id"]
    missing = settings.model_copy(update={"train_python": tmp_path / "nowhere" / "python"})

    DetectorTrainExecutor(engine, missing)(uuid.UUID(job_id))

    job = _job(engine, job_id)
    assert (job.state, job.phase) == (JobState.FAILED, JobPhase.QUEUED)
    assert "make train-venv" in (job.error or "")


def test_given_a_huge_catalog_when_planned_then_training_images_are_bounded(settings: ApiSettings) -> None:
    assert images_per_class(settings, 81) == settings.train_images_per_class
    assert images_per_class(settings, 10_000) * 10_000 <= max(
        settings.train_max_images, settings.train_min_images_per_class * 10_000
    )
    assert images_per_class(settings, 10_000) == settings.train_min_images_per_class


@pytest.mark.parametrize(("threads", "asked"), [(None, None), (3, 3)])
def test_the_operators_training_settings_reach_the_trainer(
    engine: Engine,
    brand: BrandAccount,
    settings: ApiSettings,
    tmp_path: Path,
    threads: int | None,
    asked: int | None,
) -> None:
    _with_packshots(engine, brand, tmp_path)
    configured = settings.model_copy(update={"train_threads": threads, "train_image_size": 256})

    with Session(engine) as session:
        request, data = train_request(session, configured, brand.brand.id, brand.brand.slug, "brand-x-1")

    assert (request.options.threads, request.synthetic.image_size) == (asked, 256)
    assert len(data.products) == 2
