"""Migrations match the models on both databases; the thread queue survives failing jobs."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from functools import partial

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from api.app import _job_queue as api_job_queue
from api.columns import utcnow
from api.episodes.models import Episode, TagJob
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobRef, ThreadJobQueue
from api.jobs.recovery import JobSupervisor, mark_published, take_for_threads, unpublished_jobs
from api.linking.models import LinkJob
from api.linking.service import LinkingService
from api.settings import ApiSettings
from tests.api.concurrency import skip_unless_postgres
from tests.utils.api import BrandAccount


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], "run `reelcart db revision -m ...` and commit the migration"


def test_thread_queue_runs_each_kind_through_its_handler_and_survives_a_crash() -> None:
    done: list[tuple[str, uuid.UUID]] = []
    finished = threading.Event()
    crash, tag, link, orphan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def tag_handler(job_id: uuid.UUID) -> None:
        if job_id == crash:
            raise RuntimeError("job crashed")
        done.append(("tag", job_id))

    def link_handler(job_id: uuid.UUID) -> None:
        done.append(("link", job_id))
        finished.set()

    queue = ThreadJobQueue({JobKind.TAG: tag_handler, JobKind.LINK: link_handler}, workers=1)
    queue.start()
    queue.enqueue(JobRef(JobKind.TAG, crash))
    queue.enqueue(JobRef(JobKind.TAG, tag))
    queue.enqueue(JobRef(JobKind.LINK, link))
    assert finished.wait(5)
    queue.join()
    queue.stop()
    assert done == [("tag", tag), ("link", link)]

    only_tags = ThreadJobQueue({JobKind.TAG: tag_handler}, workers=1)
    only_tags.start()
    only_tags.enqueue(JobRef(JobKind.LINK, orphan))  # no handler: logged, the worker carries on
    only_tags.enqueue(JobRef(JobKind.TAG, tag))
    only_tags.join()
    only_tags.stop()
    assert done[-1] == ("tag", tag)


def test_a_long_train_job_on_its_own_thread_does_not_hold_up_tagging() -> None:
    # Given a one-box queue with one shared worker thread, and a train job that runs until released
    release, training = threading.Event(), threading.Event()
    tagged: list[uuid.UUID] = []

    def train_handler(_: uuid.UUID) -> None:
        training.set()
        assert release.wait(10)

    queue = ThreadJobQueue(
        {JobKind.TRAIN: train_handler, JobKind.TAG: tagged.append},
        workers=1,
        own_thread=frozenset({JobKind.TRAIN}),
    )
    queue.start()
    queue.enqueue(JobRef(JobKind.TRAIN, uuid.uuid4()))
    assert training.wait(5)

    # When a tag job is queued while training runs
    tag = uuid.uuid4()
    queue.enqueue(JobRef(JobKind.TAG, tag))

    # Then it is tagged before the training ends, and join waits for both lanes
    deadline = time.monotonic() + 5
    while not tagged and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tagged == [tag]
    release.set()
    queue.join()
    queue.stop()


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
        running = TagJob(brand_id=brand.brand.id, episode_id=episode.id, state=JobState.RUNNING, progress=0.4)
        done = TagJob(brand_id=brand.brand.id, episode_id=episode.id, state=JobState.DONE, progress=1.0)
        session.add_all([running, done])
        session.flush()
        relink = LinkJob(brand_id=brand.brand.id, state=JobState.RUNNING, progress=0.7)
        queued_relink = LinkJob(brand_id=brand.brand.id, episode_id=episode.id)
        session.add_all([relink, queued_relink])
        session.commit()
    offered: list[JobRef] = []
    supervisor = JobSupervisor(engine, ApiSettings(environment="development"), offered.append, outbox=False)
    assert (
        supervisor.run_once()
        == offered
        == [
            JobRef(JobKind.TAG, running.id),
            JobRef(JobKind.LINK, relink.id),
            JobRef(JobKind.LINK, queued_relink.id),
        ]
    )
    # Later rounds offer only what they queued again, not what the threads already hold.
    assert supervisor.run_once() == []
    with Session(engine, expire_on_commit=False) as session:
        session.add_all([running, relink])
        session.refresh(running)
        session.refresh(relink)
        assert (running.state, running.progress) == (JobState.QUEUED, 0.0)
        assert (relink.state, relink.progress) == (JobState.QUEUED, 0.0)


def test_a_one_box_supervisor_hands_out_a_job_another_process_queued_once_and_only_to_one_process(
    engine: Engine, brand: BrandAccount
) -> None:
    # Given a one-box service whose first round found nothing, and its thread queue, which records what
    # it hands out as the API's queue does
    settings = ApiSettings(environment="development")
    ran: list[uuid.UUID] = []
    threads = ThreadJobQueue({JobKind.LINK: ran.append}, handed_out=partial(mark_published, engine))
    supervisor = JobSupervisor(engine, settings, threads.enqueue, outbox=False)
    other_process = JobSupervisor(engine, settings, threads.enqueue, outbox=False)
    assert supervisor.run_once() == other_process.run_once() == []

    # When the API queues a job through the threads, and the CLI stores two without handing them out,
    # one a round ago and one just now
    earlier = utcnow() - timedelta(seconds=settings.job_supervise_s + 1)
    with Session(engine, expire_on_commit=False) as session:
        from_api = LinkJob(brand_id=brand.brand.id)
        from_cli = LinkJob(brand_id=brand.brand.id, index_only=True, created_at=earlier)
        just_now = LinkJob(brand_id=brand.brand.id, linker_decided_only=True)
        session.add_all([from_api, from_cli, just_now])
        session.commit()
    threads.enqueue(JobRef(JobKind.LINK, from_api.id))

    # Then the next round takes the CLI's older job alone (the newest may be a route's, about to be
    # handed out), and no other round, here or elsewhere, takes it again
    assert supervisor.run_once() == [JobRef(JobKind.LINK, from_cli.id)]
    assert supervisor.run_once() == other_process.run_once() == []
    threads.start()
    threads.join()
    threads.stop()
    assert sorted(ran) == sorted([from_api.id, from_cli.id])


def test_of_two_processes_that_both_see_a_job_unpublished_one_takes_it(
    engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id, created_at=utcnow() - timedelta(minutes=5))
        session.add(job)
        session.commit()
    # Both read the candidates; the first takes the job and commits, then the second tries
    with Session(engine) as first, Session(engine) as second:
        assert JobRef(JobKind.LINK, job.id) in unpublished_jobs(second, republish_after_s=None)
        assert take_for_threads(first, every_queued=False, grace_s=15) == [JobRef(JobKind.LINK, job.id)]
        first.commit()
        assert take_for_threads(second, every_queued=False, grace_s=15) == []
        second.commit()


def test_the_api_records_each_job_its_threads_are_handed(engine: Engine, brand: BrandAccount) -> None:
    settings = ApiSettings(environment="development", worker_threads=1)
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id)
        session.add(job)
        session.commit()
    queue = api_job_queue(settings, engine, LinkingService(engine, settings), None, lambda: None)  # type: ignore[arg-type,return-value]
    queue.enqueue(JobRef(JobKind.LINK, job.id))  # not started: the job stays in its lane
    with Session(engine) as session:
        stored = session.get(LinkJob, job.id)
        assert stored is not None
        assert stored.published_at is not None
