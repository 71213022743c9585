"""The job machinery shared by the one-box threads and Celery workers: claims, heartbeats, the
supervisor (stale jobs queued again, unpublished ones published), transient failures retried with
backoff and then failed, and the start-up refusal of a web-only node without a broker."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import ConfigurationError, create_app
from api.cli import app as cli
from api.episodes.models import Episode, EpisodeStatus, TagJob
from api.jobs.models import JobPhase, JobState
from api.jobs.progress import Heartbeat, claim_job
from api.jobs.queue import JobDeferred, JobKind, JobRef, ThreadJobQueue
from api.jobs.recovery import JobSupervisor, mark_published, requeue_stale_jobs
from api.jobs.routing import queue_for
from api.jobs.tagging import ProgressCallback, TagJobExecutor, TagOutcome
from api.linking.models import LinkJob
from api.review.models import PlacementStatus
from api.settings import ApiSettings, get_settings
from tests.api.factories import make_episode, make_placement
from tests.utils.api import BrandAccount


def provider_times_out(
    media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
) -> TagOutcome:
    raise httpx.ConnectTimeout("the catalog CDN did not answer")


def test_of_workers_racing_for_one_job_exactly_one_claims_it(engine: Engine, brand: BrandAccount) -> None:
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id)
        session.add(job)
        session.commit()
    if engine.dialect.name != "postgresql":
        with Session(engine) as session:
            assert [claim_job(session, LinkJob, job.id) for _ in range(2)] == [True, False]
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def race() -> None:
        with Session(engine) as session:
            barrier.wait()
            results.append(claim_job(session, LinkJob, job.id))
            session.commit()

    racers = [threading.Thread(target=race) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(results) == [False, False, False, True]
    with Session(engine) as session:
        claimed = session.get(LinkJob, job.id)
        assert claimed is not None
        assert (claimed.state, claimed.attempts) == (JobState.RUNNING, 1)
        assert claimed.heartbeat_at is not None


def test_a_web_only_api_without_a_broker_refuses_to_start(settings: ApiSettings, engine: Engine) -> None:
    assert (settings.worker_threads, settings.broker_url) == (0, None)
    with pytest.raises(ConfigurationError, match="REELCART_BROKER_URL"):
        create_app(settings, engine=engine)


def test_only_running_jobs_whose_lease_ran_out_are_queued_again_and_unpublished(
    engine: Engine, brand: BrandAccount
) -> None:
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        alive = LinkJob(
            brand_id=brand.brand.id, state=JobState.RUNNING, heartbeat_at=now - timedelta(seconds=20)
        )
        dead = LinkJob(
            brand_id=brand.brand.id,
            state=JobState.RUNNING,
            attempts=1,
            heartbeat_at=now - timedelta(minutes=10),
            published_at=now - timedelta(minutes=11),
        )
        legacy = LinkJob(brand_id=brand.brand.id, state=JobState.RUNNING, progress=0.6)  # no heartbeat
        exhausted = LinkJob(
            brand_id=brand.brand.id,
            state=JobState.RUNNING,
            attempts=3,
            heartbeat_at=now - timedelta(minutes=10),
        )
        finished = LinkJob(
            brand_id=brand.brand.id, state=JobState.DONE, heartbeat_at=now - timedelta(hours=1)
        )
        session.add_all([alive, dead, legacy, exhausted, finished])
        session.commit()

    episode = make_episode(engine, brand.brand.id, ApiSettings())
    with Session(engine, expire_on_commit=False) as session:
        doomed_tag = TagJob(
            brand_id=brand.brand.id,
            episode_id=episode.id,
            state=JobState.RUNNING,
            attempts=3,
            heartbeat_at=now - timedelta(minutes=10),
        )
        session.add(doomed_tag)
        session.commit()

    with Session(engine) as session:
        requeued = requeue_stale_jobs(session, lease_s=60, max_attempts=3)
        session.commit()

    assert sorted(job.id for job in requeued) == sorted([dead.id, legacy.id])
    with Session(engine) as session:
        states = {
            job.id: (job.state, job.progress, job.published_at) for job in session.exec(select(LinkJob))
        }
        given_up = session.get(LinkJob, exhausted.id)
    assert states[alive.id] == (JobState.RUNNING, 0.0, None)
    assert states[dead.id] == (JobState.QUEUED, 0.0, None)
    assert states[legacy.id] == (JobState.QUEUED, 0.0, None)
    assert states[finished.id][0] == JobState.DONE
    assert given_up is not None
    assert given_up.state == JobState.FAILED
    assert given_up.error is not None
    assert "stopped answering on each of 3 attempts" in given_up.error
    with Session(engine) as session:
        failed_tag, its_episode = session.get(TagJob, doomed_tag.id), session.get(Episode, episode.id)
        assert failed_tag is not None
        assert its_episode is not None
        assert (failed_tag.state, its_episode.status) == (JobState.FAILED, EpisodeStatus.FAILED)


def test_a_tag_job_the_supervisor_gives_up_on_reads_as_a_failed_job_does(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given two tag jobs whose workers died on every attempt, midway through detection: one on a new
    # episode, one re-tagging an episode whose earlier tag has an approved hotspot on its timeline
    new = make_episode(engine, brand.brand.id, settings)
    tagged = make_episode(engine, brand.brand.id, settings)
    make_placement(engine, tagged, status=PlacementStatus.APPROVED)
    stale = datetime.now(UTC) - timedelta(minutes=10)
    with Session(engine, expire_on_commit=False) as session:
        jobs = [
            TagJob(
                brand_id=brand.brand.id,
                episode_id=episode.id,
                state=JobState.RUNNING,
                phase=JobPhase.DETECT,
                progress=0.4,
                attempts=3,
                heartbeat_at=stale,
            )
            for episode in (new, tagged)
        ]
        session.add_all(jobs)
        for episode in (new, tagged):
            row = session.get_one(Episode, episode.id)
            row.status = EpisodeStatus.TAGGING
        session.commit()

    # When the supervisor gives up on them
    supervisor = JobSupervisor(
        engine, settings.model_copy(update={"job_max_attempts": 3}), lambda job: None, outbox=True
    )
    supervisor.run_once()

    # Then each reads as a failed job does: finished, its summary saying in which phase and why
    read = [client.get(f"/v1/tag-jobs/{job.id}", headers=brand.headers).json() for job in jobs]
    for job in read:
        assert (job["state"], job["phase"]) == ("failed", "finished")
        assert "stopped answering on each of 3 attempts" in job["error"]
    assert read[0]["summary"] == f"failed while in phase detect: {read[0]['error']}"
    assert read[1]["summary"] == (
        f"failed while in phase detect: {read[1]['error']}; the episode keeps its earlier tag's placements"
    )
    # And the new episode is failed, while the re-tagged one stays tagged, its placement kept
    status = [
        client.get(f"/v1/episodes/{e.id}", headers=brand.headers).json()["status"] for e in (new, tagged)
    ]
    assert status == ["failed", "tagged"]
    assert len(client.get(f"/v1/episodes/{tagged.id}/placements", headers=brand.headers).json()) == 1


def test_the_broker_supervisor_publishes_what_was_never_published_and_only_that(
    engine: Engine, brand: BrandAccount
) -> None:
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        never = LinkJob(brand_id=brand.brand.id)
        published = LinkJob(brand_id=brand.brand.id, published_at=now - timedelta(minutes=1))
        lost = LinkJob(brand_id=brand.brand.id, published_at=now - timedelta(days=1))
        session.add_all([never, published, lost])
        session.commit()
    offered: list[JobRef] = []

    def publish(job: JobRef) -> None:
        offered.append(job)
        mark_published(engine, job)

    settings = ApiSettings(job_republish_after_s=3600)
    broker_down = JobSupervisor(engine, settings, lambda job: False, outbox=True)
    supervisor = JobSupervisor(engine, settings, publish, outbox=True)

    assert broker_down.run_once() == []  # the round stops at the first refusal
    assert sorted(job.id for job in supervisor.run_once()) == sorted([never.id, lost.id])
    assert supervisor.run_once() == []
    assert len(offered) == 2


def test_a_transient_failure_is_retried_with_backoff_then_fails_with_its_reason(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine, expire_on_commit=False) as session:
        job = TagJob(brand_id=brand.brand.id, episode_id=episode.id)
        session.add(job)
        session.commit()
    patient = settings.model_copy(update={"job_max_attempts": 3, "job_retry_backoff_s": 2.0})
    executor = TagJobExecutor(engine, patient, provider_times_out)

    delays = []
    for _ in range(2):
        with pytest.raises(JobDeferred) as deferred:
            executor(job.id)
        delays.append(deferred.value.delay_s)
        with Session(engine) as session:
            waiting = session.get(TagJob, job.id)
            assert waiting is not None
            assert (waiting.state, waiting.error) == (JobState.QUEUED, None)
    executor(job.id)

    assert delays == [2.0, 4.0]
    with Session(engine) as session:
        failed = session.get(TagJob, job.id)
        assert failed is not None
        assert (failed.state, failed.attempts) == (JobState.FAILED, 3)
        assert failed.error == (
            "gave up after 3 attempts; the last failed with ConnectTimeout: the catalog CDN did not answer"
        )


def test_the_thread_queue_offers_a_deferred_job_again_after_its_delay(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    ran: list[uuid.UUID] = []
    again = threading.Event()
    job = JobRef(JobKind.LINK, uuid.uuid4())

    def flaky(job_id: uuid.UUID) -> None:
        ran.append(job_id)
        if len(ran) == 1:
            raise JobDeferred(job, "database blip", 0.05)
        again.set()

    queue = ThreadJobQueue({JobKind.LINK: flaky})
    queue.start()
    try:
        queue.enqueue(job)
        assert again.wait(5)
    finally:
        queue.stop()
    assert ran == [job.id, job.id]


def test_the_thread_queue_offers_a_job_again_when_the_database_was_down_before_its_claim() -> None:
    # Given a handler that cannot reach the database twice (a PostgreSQL restart, a locked SQLite file),
    # then can: nothing ran, the job is still queued, and its published_at says it was handed out, so
    # no supervisor would offer it again
    ran: list[uuid.UUID] = []
    waits: list[int] = []
    done = threading.Event()
    job = JobRef(JobKind.TAG, uuid.uuid4())

    def claim_fails_twice(job_id: uuid.UUID) -> None:
        ran.append(job_id)
        if len(ran) <= 2:
            raise OperationalError("UPDATE tagjob ...", {}, Exception("database is locked"))
        done.set()

    def outage_delay_s(outages: int) -> float:
        waits.append(outages)
        return 0.05

    queue = ThreadJobQueue({JobKind.TAG: claim_fails_twice}, outage_delay_s=outage_delay_s)
    queue.start()
    try:
        queue.enqueue(job)
        # Then the queue offers it again, backing off by the outages in a row, until it runs
        assert done.wait(5)
    finally:
        queue.stop()
    assert ran == [job.id] * 3
    assert waits == [1, 2]


def test_the_thread_queue_does_not_retry_a_handler_that_failed_for_another_reason() -> None:
    ran: list[uuid.UUID] = []
    job = JobRef(JobKind.TAG, uuid.uuid4())

    def broken(job_id: uuid.UUID) -> None:
        ran.append(job_id)
        raise RuntimeError("a bug")

    queue = ThreadJobQueue({JobKind.TAG: broken}, outage_delay_s=lambda _: 0.01)
    queue.start()
    try:
        queue.enqueue(job)
        queue.join()
        threading.Event().wait(0.1)
    finally:
        queue.stop()
    assert ran == [job.id]


def test_a_running_job_beats_until_it_ends_and_a_superseded_attempt_does_not(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a second thread needs its own connection; the in-memory SQLite shares one")
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id, state=JobState.RUNNING, attempts=2, heartbeat_at=long_ago)
        session.add(job)
        session.commit()

    with Heartbeat(engine, LinkJob, job.id, 0.05, attempt=1):
        threading.Event().wait(0.3)
    with Session(engine) as session:
        untouched = session.get(LinkJob, job.id)
        assert untouched is not None
        assert untouched.heartbeat_at == long_ago

    with Heartbeat(engine, LinkJob, job.id, 0.05, attempt=2):
        threading.Event().wait(0.3)
    with Session(engine) as session:
        beaten = session.get(LinkJob, job.id)
        assert beaten is not None
        assert beaten.heartbeat_at is not None
        assert beaten.heartbeat_at > long_ago + timedelta(minutes=59)


def test_a_one_box_api_runs_its_jobs_on_threads(engine: Engine, settings: ApiSettings) -> None:
    threaded = settings.model_copy(update={"worker_threads": 1})
    with TestClient(create_app(threaded, engine=engine)) as client:
        assert isinstance(client.app.state.job_queue, ThreadJobQueue)  # type: ignore[attr-defined]


def test_the_worker_command_needs_a_broker_and_known_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REELCART_BROKER_URL", raising=False)
    get_settings.cache_clear()
    try:
        without_broker = CliRunner().invoke(cli, ["worker"])
        monkeypatch.setenv("REELCART_BROKER_URL", "redis://127.0.0.1:1/0")
        get_settings.cache_clear()
        unknown_queue = CliRunner().invoke(cli, ["worker", "--queues", "vision,gpu"])
        monkeypatch.delenv("REELCART_METRICS_TOKEN", raising=False)
        get_settings.cache_clear()
        metrics_without_token = CliRunner().invoke(cli, ["worker", "--metrics-port", "9464"])
    finally:
        get_settings.cache_clear()
    assert without_broker.exit_code == 1
    assert "set REELCART_BROKER_URL" in without_broker.output
    assert unknown_queue.exit_code == 1
    assert "unknown queue(s) gpu; the queues are io, train, vision" in unknown_queue.output
    assert metrics_without_token.exit_code == 1
    assert "worker metrics need REELCART_METRICS_TOKEN" in metrics_without_token.output


def test_settings_refuse_a_lease_shorter_than_two_beats_and_the_tag_hook_in_production() -> None:
    with pytest.raises(ValueError, match="at least twice REELCART_JOB_HEARTBEAT_S"):
        ApiSettings(job_heartbeat_s=10, job_lease_s=15)
    with pytest.raises(ValueError, match="REELCART_TAG_FUNCTION"):
        ApiSettings(
            environment="production",
            secret_key="a-real-secret-for-this-test",
            tag_function="tests.utils.worker_tagging:timed_tag",
        )


def test_every_kind_of_job_has_a_queue() -> None:
    assert {kind: queue_for(kind) for kind in JobKind} == {
        JobKind.TAG: "vision",
        JobKind.LINK: "vision",
        JobKind.SYNC: "io",
        JobKind.IMAGES: "io",
        JobKind.TRAIN: "train",
        JobKind.TRANSCODE: "vision",
        JobKind.FOLLOW: "vision",
    }


def test_the_public_base_url_follows_the_address_served_unless_set_and_is_required_in_production() -> None:
    assert ApiSettings(_env_file=None).public_base_url == "http://127.0.0.1:8000"
    derived = ApiSettings(_env_file=None, host="0.0.0.0", port=8011)
    assert derived.public_base_url == "http://127.0.0.1:8011"
    assert derived.serving_at("::", 9000).public_base_url == "http://[::1]:9000"
    assert derived.serving_at(None, None).public_base_url == "http://127.0.0.1:8011"
    given = ApiSettings(_env_file=None, public_base_url="https://api.example.com")
    assert given.serving_at("0.0.0.0", 9000).public_base_url == "https://api.example.com"
    with pytest.raises(ValueError, match="REELCART_PUBLIC_BASE_URL is required in production"):
        ApiSettings(_env_file=None, environment="production", secret_key="a-real-secret-for-this-test")
