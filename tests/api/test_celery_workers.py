"""Real `reelcart worker` processes (Celery, prefork) on a real Redis broker and PostgreSQL: a worker
process killed or paused mid-job, a broker that restarts empty or is down when a job is created,
messages for jobs that are gone, a job that fails every time; and, where RabbitMQ answers, a killed
worker process on RabbitMQ.

The broker is a private redis-server on a free port, started here (never the shared one on 6379:
these tests restart it). Detection is replaced by `tests.utils.worker_tagging:timed_tag` (named by
REELCART_TAG_FUNCTION; the rest — claims, leases, heartbeats, storing, retries, Celery — is real), and
the lease is 2 s instead of 60 so a lost worker is noticed in seconds. Without redis-server the module
is skipped, unless REELCART_REQUIRE_REDIS=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.app import create_app
from api.db import create_db_engine
from api.episodes.models import TagJob
from api.jobs.models import JobState
from api.review.models import Placement
from api.settings import ApiSettings
from tests.api.factories import make_episode
from tests.fixtures.api import throwaway_postgres_database
from tests.utils.api import make_brand

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TAG_SECONDS = 2.0
# Short leases so a lost worker is noticed in seconds (production: 10 s beats, a 60 s lease).
JOB_SETTINGS = {
    "job_heartbeat_s": 0.3,
    "job_lease_s": 2.0,
    "job_supervise_s": 0.3,
    "job_max_attempts": 3,
    "job_retry_backoff_s": 0.2,
    "job_republish_after_s": 4.0,
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


class Redis:
    """A redis-server of our own, without persistence: restarting it empties its queues."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self._directory,
            stdout=subprocess.DEVNULL,
        )
        wait_for("redis to answer", self._answers, 10)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@dataclass
class Cluster:
    api: TestClient
    engine: Engine
    settings: ApiSettings
    redis: Redis | None  # None: the broker is RabbitMQ
    worker_log: Path
    pid_file: Path
    headers: dict[str, str]
    brand_id: uuid.UUID
    metrics_url: str  # the worker's own /metrics (REELCART_WORKER_METRICS_PORT), token METRICS_TOKEN

    def episode(self, name: str) -> uuid.UUID:
        return make_episode(self.engine, self.brand_id, self.settings, media_path=f"/media/{name}.mp4").id

    def tag(self, episode_id: uuid.UUID) -> uuid.UUID:
        response = self.api.post(f"/v1/episodes/{episode_id}/tag-jobs", headers=self.headers)
        assert response.status_code == 202, response.text
        assert response.headers["location"] == f"/v1/tag-jobs/{response.json()['id']}"
        return uuid.UUID(response.json()["id"])

    def job(self, job_id: uuid.UUID) -> TagJob:
        with Session(self.engine) as session:
            job = session.get(TagJob, job_id)
            assert job is not None
            return job

    def finished(self, job_id: uuid.UUID) -> bool:
        return self.job(job_id).state in (JobState.DONE, JobState.FAILED)

    def running_pid(self, name: str) -> int:
        """The worker process tagging episode `name` (the test tag function records it as it starts)."""
        pids = (
            [line.split() for line in self.pid_file.read_text().splitlines()]
            if self.pid_file.exists()
            else []
        )
        return int(next(pid for stem, pid in reversed(pids) if stem == name))

    def placements(self, episode_id: uuid.UUID) -> list[tuple[int, int, str, str]]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(Placement).where(Placement.episode_id == episode_id).order_by(col(Placement.start_ms))
            ).all()
            return [(row.start_ms, row.end_ms, row.label, row.status) for row in rows]

    def log(self) -> str:
        return self.worker_log.read_text(errors="replace")


METRICS_TOKEN = "worker-scrape-token"


def _worker_env(
    database_url: str, broker_url: str, directory: Path, pid_file: Path, metrics_port: int
) -> dict[str, str]:
    return {
        **os.environ,
        "REELCART_ENVIRONMENT": "test",
        "REELCART_SECRET_KEY": "test-secret-key-not-a-placeholder",
        "REELCART_DATABASE_URL": database_url,
        "REELCART_MEDIA_DIR": str(directory / "media"),
        "REELCART_BROKER_URL": broker_url,
        "REELCART_TAG_FUNCTION": "tests.utils.worker_tagging:timed_tag",
        "REELCART_TEST_TAG_SECONDS": str(TAG_SECONDS),
        "REELCART_TEST_TAG_PID_FILE": str(pid_file),
        "REELCART_METRICS_TOKEN": METRICS_TOKEN,
        "REELCART_WORKER_METRICS_PORT": str(metrics_port),
        "REELCART_WORKER_METRICS_HOST": "127.0.0.1",
        **{f"REELCART_{name.upper()}": str(value) for name, value in JOB_SETTINGS.items()},
    }


@contextmanager
def running_cluster(
    database_url: str, broker_url: str, directory: Path, redis: Redis | None
) -> Iterator[Cluster]:
    """One `reelcart worker` with two pool processes, and the API (broker-backed, its supervisor running):
    a test kills or pauses the pool process running its job, and the other one (or the replacement the
    worker forks) is "another worker"."""
    settings = ApiSettings(
        environment="test",
        secret_key="test-secret-key-not-a-placeholder",
        database_url=database_url,
        media_dir=directory / "media",
        model_dir=directory / "models",
        public_base_url="http://testserver",
        worker_threads=0,
        broker_url=broker_url,
        **JOB_SETTINGS,  # type: ignore[arg-type]
    )
    engine = create_db_engine(database_url)
    account = make_brand(engine, f"workers-{uuid.uuid4().hex[:6]}")
    worker_log, pid_file = directory / "worker.log", directory / "pids.txt"
    metrics_port = _free_port()
    command = [sys.executable, "-c", "from api.cli import app; app()", "worker", "--concurrency", "2"]
    with worker_log.open("wb") as log_file:
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_worker_env(database_url, broker_url, directory, pid_file, metrics_port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for("the worker to be ready", lambda: b" ready." in worker_log.read_bytes(), 60)
        with TestClient(create_app(settings, engine=engine)) as api:
            yield Cluster(
                api,
                engine,
                settings,
                redis,
                worker_log,
                pid_file,
                account.headers,
                account.brand.id,
                f"http://127.0.0.1:{metrics_port}/metrics",
            )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("redis-server") is None:
        if os.environ.get("REELCART_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is required (REELCART_REQUIRE_REDIS=1) but not on PATH")
        pytest.skip("redis-server is not on PATH; the worker-process tests start their own broker with it")
    directory = tmp_path_factory.mktemp("cluster")
    redis = Redis(directory)
    redis.start()
    try:
        # A database of its own: a supervisor offers every unpublished queued job in its database to its
        # own broker, so two clusters on one database would take each other's jobs.
        with (
            throwaway_postgres_database() as database,
            running_cluster(database, redis.url, directory, redis) as running,
        ):
            yield running
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The same on RabbitMQ (127.0.0.1:5672, guest), in a virtual host of its own so no other user of
    the server shares its queues. Skipped when RabbitMQ does not answer, unless
    REELCART_REQUIRE_RABBITMQ=1."""
    vhost = f"reelcart-test-{uuid.uuid4().hex[:8]}"
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            pass
        for command in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
            subprocess.run(["rabbitmqctl", "-q", *command], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        if os.environ.get("REELCART_REQUIRE_RABBITMQ") == "1":
            pytest.fail(f"RabbitMQ is required (REELCART_REQUIRE_RABBITMQ=1) but unusable: {error}")
        pytest.skip(f"RabbitMQ at 127.0.0.1:5672 (with rabbitmqctl) is unusable: {error}")
    try:
        broker = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        with (
            throwaway_postgres_database() as database,
            running_cluster(database, broker, tmp_path_factory.mktemp("rabbit"), None) as running,
        ):
            yield running
    finally:
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True, timeout=30
        )


def test_a_worker_process_killed_mid_job_is_replaced_and_the_job_completes_once(cluster: Cluster) -> None:
    undisturbed, killed = cluster.episode("undisturbed"), cluster.episode("killed")
    reference_job = cluster.tag(undisturbed)
    job_id = cluster.tag(killed)
    wait_for("the job to start", lambda: cluster.job(job_id).progress > 0.2)

    os.kill(cluster.running_pid("killed"), signal.SIGKILL)

    wait_for("the job to finish on another process", lambda: cluster.finished(job_id), 30)
    wait_for("the undisturbed job", lambda: cluster.finished(reference_job))
    job = cluster.job(job_id)
    assert (job.state, job.attempts, job.placements_found) == (JobState.DONE, 2, 2)
    assert cluster.placements(killed) == cluster.placements(undisturbed)
    assert len(cluster.placements(killed)) == 2
    assert cluster.job(reference_job).attempts == 1


def _scrape(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _jobs_done(body: str, kind: str) -> float:
    prefix = f'reelcart_jobs_total{{kind="{kind}",outcome="done"}} '
    return next((float(line[len(prefix) :]) for line in body.splitlines() if line.startswith(prefix)), 0.0)


def test_the_worker_serves_the_metrics_of_the_jobs_its_pool_processes_ran(cluster: Cluster) -> None:
    # Given what the worker has counted so far (its pool processes ran the module's earlier jobs)
    status, before = _scrape(cluster.metrics_url, METRICS_TOKEN)
    assert status == 200, before
    # When it runs two more tag jobs, one in each pool process if both are free
    jobs = [cluster.tag(cluster.episode(f"metered-{n}")) for n in range(2)]
    wait_for("the metered jobs", lambda: all(cluster.finished(job) for job in jobs), 60)
    # Then its /metrics counts them, summed over its processes (a job is counted just after it is
    # stored), beside the cluster's queue
    expected = _jobs_done(before, "tag") + 2
    wait_for(
        "the jobs counted",
        lambda: _jobs_done(_scrape(cluster.metrics_url, METRICS_TOKEN)[1], "tag") == expected,
        10,
    )
    status, after = _scrape(cluster.metrics_url, METRICS_TOKEN)
    assert (status, _jobs_done(after, "tag")) == (200, expected)
    assert "reelcart_database_up 1.0" in after.splitlines()
    # And only to the token
    assert _scrape(cluster.metrics_url, "not-the-token")[0] == 401
    assert _scrape(cluster.metrics_url, None)[0] == 401


def test_a_paused_worker_that_wakes_after_its_lease_writes_nothing(cluster: Cluster) -> None:
    paused = cluster.episode("paused")
    job_id = cluster.tag(paused)
    wait_for("the job to start", lambda: cluster.job(job_id).progress > 0.2)
    stale_pid = cluster.running_pid("paused")

    os.kill(stale_pid, signal.SIGSTOP)
    try:
        wait_for("another process to finish the job", lambda: cluster.finished(job_id), 30)
    finally:
        os.kill(stale_pid, signal.SIGCONT)
    done = cluster.job(job_id)

    refused = f"TagJob {job_id}: attempt 1 no longer holds the job (state done, attempt 2); its placements"
    wait_for("the woken attempt's refused write", lambda: refused in cluster.log(), 15)
    after = cluster.job(job_id)
    assert (after.state, after.attempts, after.finished_at) == (JobState.DONE, 2, done.finished_at)
    assert len(cluster.placements(paused)) == 2


def test_tagging_an_episode_twice_leaves_one_set_of_placements(cluster: Cluster) -> None:
    episode = cluster.episode("retagged")
    for _ in range(2):
        job_id = cluster.tag(episode)
        wait_for("the tag job", lambda: cluster.finished(job_id))  # noqa: B023 -- waited on at once
        assert cluster.job(job_id).state == JobState.DONE
    assert cluster.placements(episode) == [
        (0, 1500, "bottle", "proposed"),
        (4000, 6500, "handbag", "proposed"),
    ]


def test_a_message_for_a_deleted_job_is_acknowledged_and_writes_nothing(cluster: Cluster) -> None:
    from api.jobs.celery_app import TASK_NAME, create_celery  # noqa: PLC0415

    ghost = uuid.uuid4()
    create_celery(cluster.settings).send_task(TASK_NAME, args=["tag", str(ghost)], queue="vision")
    create_celery(cluster.settings).send_task(TASK_NAME, args=["no-such-kind", str(ghost)], queue="vision")

    wait_for("the worker to drop it", lambda: f"tag job {ghost} does not exist" in cluster.log())
    wait_for(
        "the unknown kind dropped", lambda: "a message for an unknown job ('no-such-kind'" in cluster.log()
    )
    with Session(cluster.engine) as session:
        assert session.get(TagJob, ghost) is None


def test_a_job_that_fails_every_time_fails_after_its_retries_without_blocking_its_queue(
    cluster: Cluster,
) -> None:
    poisoned, healthy = cluster.episode("poison"), cluster.episode("healthy")
    bad_job = cluster.tag(poisoned)
    good_job = cluster.tag(healthy)

    wait_for("the poisoned job to give up", lambda: cluster.finished(bad_job), 30)
    wait_for("the healthy job", lambda: cluster.finished(good_job), 30)

    bad = cluster.job(bad_job)
    assert (bad.state, bad.attempts) == (JobState.FAILED, 3)
    assert bad.error == (
        "gave up after 3 attempts; the last failed with ConnectTimeout: the provider did not answer"
    )
    assert cluster.job(good_job).state == JobState.DONE


def test_jobs_created_while_the_broker_is_down_or_lost_in_its_restart_all_run_once(cluster: Cluster) -> None:
    # Given a broker that is down when the first job is created
    assert cluster.redis is not None
    cluster.redis.stop()
    early = cluster.episode("while-down")
    early_job = cluster.tag(early)  # the API answers 202: the job is queued, published later
    assert cluster.job(early_job).published_at is None
    cluster.redis.start()
    # And a broker restarted, empty, while three more jobs wait in its queue
    later = [cluster.episode(f"queued-{n}") for n in range(3)]
    wait_for("the first job to be published", lambda: cluster.job(early_job).published_at is not None)
    later_jobs = [cluster.tag(episode) for episode in later]
    cluster.redis.stop()
    cluster.redis.start()

    # Then every job runs, once
    for job_id in [early_job, *later_jobs]:
        wait_for(f"job {job_id}", lambda: cluster.finished(job_id), 40)  # noqa: B023 -- waited on at once
        job = cluster.job(job_id)
        assert (job.state, job.attempts) == (JobState.DONE, 1)
    for episode in [early, *later]:
        assert len(cluster.placements(episode)) == 2


def test_on_rabbitmq_a_killed_worker_process_job_also_completes_once(rabbit_cluster: Cluster) -> None:
    killed, calm = rabbit_cluster.episode("rabbit-killed"), rabbit_cluster.episode("rabbit-calm")
    job_id, calm_job = rabbit_cluster.tag(killed), rabbit_cluster.tag(calm)
    wait_for("the job to start", lambda: rabbit_cluster.job(job_id).progress > 0.2)

    os.kill(rabbit_cluster.running_pid("rabbit-killed"), signal.SIGKILL)

    wait_for("the job to finish on another process", lambda: rabbit_cluster.finished(job_id), 30)
    wait_for("the calm job", lambda: rabbit_cluster.finished(calm_job))
    assert (rabbit_cluster.job(job_id).state, rabbit_cluster.job(job_id).attempts) == (JobState.DONE, 2)
    assert (rabbit_cluster.job(calm_job).state, rabbit_cluster.job(calm_job).attempts) == (JobState.DONE, 1)
    assert rabbit_cluster.placements(killed) == rabbit_cluster.placements(calm)
    assert len(rabbit_cluster.placements(killed)) == 2
