"""`reelcart worker` and its loop: queued jobs of every kind found in the database and run once each."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from api.brands.models import Brand
from api.catalog.models import ProductImage
from api.cli import app
from api.db import create_db_engine
from api.episodes.models import TagJob
from api.jobs.models import JobState
from api.jobs.progress import Heartbeat, claim_job
from api.jobs.queue import DatabaseJobQueue, JobHandler, JobKind, JobRef
from api.jobs.recovery import StaleJobReaper, requeue_stale_jobs
from api.jobs.tagging import ProgressCallback, TagJobExecutor, TagOutcome
from api.jobs.worker import drain, next_queued, run_worker
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import NO_IMAGES, BrandLinker, IndexProgress
from api.settings import ApiSettings, get_settings
from tests.api.factories import make_episode, make_product
from tests.utils.api import BrandAccount


def no_placements(
    media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
) -> TagOutcome:
    return TagOutcome([], empty_reason="nothing to see")


class NoImagesSource:
    """A brand whose catalog has nothing to index: its link jobs fail fast, with no models loaded."""

    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None:
        return None


def _jobs(engine: Engine, settings: ApiSettings, brand: BrandAccount) -> tuple[LinkJob, TagJob, LinkJob]:
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine, expire_on_commit=False) as session:
        first = LinkJob(brand_id=brand.brand.id)
        session.add(first)
        session.commit()
        tag = TagJob(brand_id=brand.brand.id, episode_id=episode.id)
        session.add(tag)
        session.commit()
        taken = LinkJob(brand_id=brand.brand.id, state=JobState.RUNNING)
        session.add(taken)
        session.commit()
        return first, tag, taken


def _handlers(engine: Engine, settings: ApiSettings) -> dict[JobKind, JobHandler]:
    return {
        JobKind.TAG: TagJobExecutor(engine, settings, no_placements),
        JobKind.LINK: LinkJobExecutor(engine, settings, NoImagesSource()),
    }


def test_drain_runs_every_queued_job_oldest_first_and_leaves_claimed_ones(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    first, tag, taken = _jobs(engine, settings, brand)
    assert next_queued(engine) == JobRef(JobKind.LINK, first.id)

    ran = drain(engine, _handlers(engine, settings))

    assert ran == 2
    with Session(engine) as session:
        linked, tagged = session.get(LinkJob, first.id), session.get(TagJob, tag.id)
        assert linked is not None
        assert tagged is not None
        assert (linked.state, linked.error, tagged.state) == (JobState.FAILED, NO_IMAGES, JobState.DONE)
        untouched = session.get(LinkJob, taken.id)
        assert untouched is not None
        assert (untouched.state, untouched.attempts) == (JobState.RUNNING, 0)
    assert next_queued(engine) is None


def test_a_crashing_handler_is_offered_its_job_once_per_pass(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    first, tag, _ = _jobs(engine, settings, brand)
    offered: list[uuid.UUID] = []

    def crash(job_id: uuid.UUID) -> None:
        offered.append(job_id)
        raise RuntimeError("boom")

    assert drain(engine, {JobKind.LINK: crash, JobKind.TAG: crash}) == 2
    assert offered == [first.id, tag.id]


def test_of_workers_racing_for_one_job_exactly_one_claims_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    first, _, _ = _jobs(engine, settings, brand)
    if engine.dialect.name != "postgresql":
        with Session(engine) as session:
            assert [claim_job(session, LinkJob, first.id) for _ in range(2)] == [True, False]
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def race() -> None:
        with Session(engine) as session:
            barrier.wait()
            results.append(claim_job(session, LinkJob, first.id))
            session.commit()

    racers = [threading.Thread(target=race) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(results) == [False, False, False, True]
    with Session(engine) as session:
        claimed = session.get(LinkJob, first.id)
        assert claimed is not None
        assert (claimed.state, claimed.attempts) == (JobState.RUNNING, 1)
        assert claimed.heartbeat_at is not None


def test_the_worker_loop_runs_jobs_queued_while_it_waits_and_stops_when_told(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a second thread needs its own connection; the in-memory SQLite shares one")
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(engine, _handlers(engine, settings)),
        kwargs={"threads": 2, "poll_s": 0.05, "stop": stop},
    )
    worker.start()
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id)
        session.add(job)
        session.commit()
    for _ in range(200):
        with Session(engine) as session:
            current = session.get(LinkJob, job.id)
            if current is not None and current.state == JobState.FAILED:
                break
        stop.wait(0.05)
    stop.set()
    worker.join(5)
    assert not worker.is_alive()
    assert current is not None
    assert (current.state, current.attempts, current.error) == (JobState.FAILED, 1, NO_IMAGES)


def test_worker_once_runs_what_is_queued_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "media"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert runner.invoke(app, ["brand", "create", "Orchard Co"]).exit_code == 0
        engine = create_db_engine(get_settings().database_url)
        with Session(engine, expire_on_commit=False) as session:
            brand = session.exec(select(Brand)).one()
            job = LinkJob(brand_id=brand.id)
            session.add(job)
            session.commit()

        result = runner.invoke(app, ["worker", "--once"])

        assert result.exit_code == 0, result.output
        assert "ran 1 queued jobs" in result.output
        with Session(engine) as session:
            done = session.get(LinkJob, job.id)
            assert done is not None
            assert (done.state, done.error) == (JobState.FAILED, NO_IMAGES)
    finally:
        get_settings.cache_clear()


def test_a_web_only_api_leaves_its_jobs_in_the_database_for_the_worker(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    assert settings.worker_threads == 0
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with Session(engine) as session:
        session.add(
            ProductImage(product_id=product.id, brand_id=brand.brand.id, path=str(tmp_path / "p.jpg"))
        )
        session.commit()
    with TestClient(create_app(settings, engine=engine)) as client:
        assert isinstance(client.app.state.job_queue, DatabaseJobQueue)  # type: ignore[attr-defined]
        queued = client.post("/v1/link", headers=brand.headers).json()
        assert queued["state"] == "queued"

        assert drain(engine, _handlers(engine, settings)) == 1

        assert client.get(f"/v1/link-jobs/{queued['id']}", headers=brand.headers).json()["state"] == "failed"


def test_only_running_jobs_whose_heartbeat_stopped_are_queued_again(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        alive = LinkJob(
            brand_id=brand.brand.id, state=JobState.RUNNING, heartbeat_at=now - timedelta(seconds=20)
        )
        dead = LinkJob(
            brand_id=brand.brand.id, state=JobState.RUNNING, heartbeat_at=now - timedelta(minutes=10)
        )
        legacy = LinkJob(
            brand_id=brand.brand.id, state=JobState.RUNNING, progress=0.6
        )  # no heartbeat column yet
        finished = LinkJob(
            brand_id=brand.brand.id, state=JobState.DONE, heartbeat_at=now - timedelta(hours=1)
        )
        session.add_all([alive, dead, legacy, finished])
        session.commit()
    handed: list[JobRef] = []

    requeued = StaleJobReaper(engine, on_requeued=handed.append).reap()

    assert sorted(job.id for job in requeued) == sorted([dead.id, legacy.id])
    assert handed == requeued
    with Session(engine) as session:
        states = {job.id: (job.state, job.progress) for job in session.exec(select(LinkJob)).all()}
    assert states == {
        alive.id: (JobState.RUNNING, 0.0),
        dead.id: (JobState.QUEUED, 0.0),
        legacy.id: (JobState.QUEUED, 0.0),
        finished.id: (JobState.DONE, 0.0),
    }
    assert requeue_stale_jobs_now(engine) == []


def requeue_stale_jobs_now(engine: Engine) -> list[JobRef]:
    with Session(engine) as session:
        requeued = requeue_stale_jobs(session)
        session.commit()
        return requeued


def test_a_running_job_beats_until_it_ends(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a second thread needs its own connection; the in-memory SQLite shares one")
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id, state=JobState.RUNNING, heartbeat_at=long_ago)
        session.add(job)
        session.commit()

    with Heartbeat(engine, LinkJob, job.id, every_s=0.05):
        threading.Event().wait(0.3)

    with Session(engine) as session:
        beaten = session.get(LinkJob, job.id)
        assert beaten is not None
        assert beaten.heartbeat_at is not None
        assert beaten.heartbeat_at > long_ago + timedelta(minutes=59)
