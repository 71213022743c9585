"""Migrations match the models on both databases; the thread queue survives failing jobs."""

from __future__ import annotations

import threading
import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from api.jobs.queue import ThreadJobQueue
from api.jobs.tagging import recover_jobs
from api.models import Episode, TagJob, TagJobState
from tests.api.conftest import BrandAccount


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], "run `reelcart db revision -m ...` and commit the migration"


def test_thread_queue_runs_jobs_and_survives_a_crash() -> None:
    done: list[uuid.UUID] = []
    finished = threading.Event()
    crash, ok = uuid.uuid4(), uuid.uuid4()

    def handler(job_id: uuid.UUID) -> None:
        if job_id == crash:
            raise RuntimeError("job crashed")
        done.append(job_id)
        finished.set()

    queue = ThreadJobQueue(handler, workers=1)
    queue.start()
    queue.enqueue(crash)
    queue.enqueue(ok)
    assert finished.wait(5)
    queue.join()
    queue.stop()
    assert done == [ok]


def test_recover_requeues_jobs_a_dead_process_left_running(engine: Engine, brand: BrandAccount) -> None:
    with Session(engine, expire_on_commit=False) as session:
        episode = Episode(
            brand_id=brand.brand.id,
            title="e",
            media_path="/x.mp4",
            duration_ms=1,
            fps=1,
            time_base="1/1",
            width=1,
            height=1,
        )
        session.add(episode)
        session.flush()
        running = TagJob(
            brand_id=brand.brand.id, episode_id=episode.id, state=TagJobState.RUNNING, progress=0.4
        )
        done = TagJob(brand_id=brand.brand.id, episode_id=episode.id, state=TagJobState.DONE, progress=1.0)
        session.add_all([running, done])
        session.commit()
        assert recover_jobs(session) == [running.id]
        session.commit()
        session.refresh(running)
        assert (running.state, running.progress) == (TagJobState.QUEUED, 0.0)
