"""Celery as the cluster's job engine: the only module that imports Celery, and only when a broker is
configured (REELCART_BROKER_URL), so API processes without the `celery` extra still start.

A message carries a job's reference, never its state: `reelcart.run_job(kind, id)`. Its worker runs the
same executor a one-box thread would, and the executor's claim (one conditional UPDATE) decides
whether this delivery runs the job, so a duplicate or late message is harmless: it finds the job
running or finished, is acknowledged and dropped (logged). What Celery is asked for:

- `acks_late` and `reject_on_worker_lost`: a message is acknowledged when its task returns, and put back
  when the worker process running it dies, so a worker that dies between receiving and claiming a job
  does not lose it. (A worker that dies *after* claiming leaves a `running` job; its lease runs out and
  the API's supervisor queues and publishes it again, api.jobs.recovery.)
- `worker_prefetch_multiplier=1`: a worker holds one waiting message per process, so a long tag job does
  not sit on messages another worker could run now.
- A visibility timeout (Redis) longer than the longest job: a message not acknowledged within it is
  delivered again — to a worker that drops it, since its job is still running — but only once per timeout.
- Transient failures (database, provider timeouts) are retried with exponential backoff, in the job's
  row as well (`JobDeferred`: queued again, attempts counted, failed after `job_max_attempts`); bad
  input fails the job at once and is never retried.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery
from celery.signals import setup_logging
from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy import Engine

from api.db import create_db_engine, is_database_outage
from api.jobs.queue import JobDeferred, JobHandler, JobKind, JobRef, dispatch
from api.jobs.recovery import JobSupervisor, mark_published
from api.jobs.routing import queue_for
from api.jobs.runner import retry_delay_s
from api.observability.context import configure_logging
from api.settings import ApiSettings, get_settings

log = logging.getLogger("reelcart.jobs")

TASK_NAME = "reelcart.run_job"
# How long publishing waits for a broker that does not answer, so a request that queues a job is not
# held: the job stays queued in the database and the supervisor publishes it when the broker is back.
BROKER_CONNECT_TIMEOUT_S = 2.0
# How long a command waits for Redis's reply once connected. Without it a broker that accepts the
# connection and never answers (a half-open connection after a failover, a NAT or firewall that drops
# it silently, a server stopped mid-reply) holds a publish forever: the request that queued the job, or
# the supervisor thread, and with it every later job's publishing. Longer than a worker's idle BRPOP
# (1 s), so waiting for work never times out. (RabbitMQ's client times out its handshake already.)
BROKER_REPLY_TIMEOUT_S = 5.0


def create_celery(settings: ApiSettings) -> Celery:
    if settings.broker_url is None:
        raise ValueError("Celery needs REELCART_BROKER_URL")
    app = Celery("reelcart", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_create_missing_queues=True,
        task_publish_retry=False,
        broker_connection_timeout=BROKER_CONNECT_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_S,
            "socket_timeout": BROKER_REPLY_TIMEOUT_S,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @app.task(  # type: ignore[untyped-decorator]  # Celery ships no type hints
        name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None
    )
    def run_job(task: Any, kind: str, job_id: str) -> None:
        # Retries are `task.retry` with our own countdown rather than autoretry_for/retry_backoff: whether
        # to retry, and when, is decided with the job row (its attempts, its release back to queued, a
        # failure recorded after the last), which Celery's per-message retry count does not see.
        try:
            job = JobRef(JobKind(kind), uuid.UUID(job_id))
        except ValueError:
            log.error("a message for an unknown job (%r, %r) is acknowledged and dropped", kind, job_id)
            return
        try:
            dispatch(worker_handlers(app), job)
        except JobDeferred as deferred:
            raise task.retry(countdown=deferred.delay_s) from None
        except LookupError:
            log.exception("%s job %s: this worker has no handler for its kind; dropped", job.kind, job.id)
        except Exception as error:
            if not is_database_outage(error):
                raise
            # The database did not answer before the job was claimed (or while a failure was being
            # recorded): nothing was run, so the same message is retried, backing off, until it does.
            delay = retry_delay_s(get_settings(), task.request.retries + 1)
            log.warning("%s job %s: database unavailable; retrying in %g s", job.kind, job.id, delay)
            raise task.retry(countdown=delay) from None

    return app


class CeleryJobQueue:
    """The API's side: `enqueue` publishes the job's reference to its kind's queue (api.jobs.routing)
    and records that it did; with the broker down the job stays queued, unpublished, and the
    supervisor (started by `start`) publishes it once the broker answers. Workers use the same class,
    without `start`, to queue follow-up jobs (a sync's image fetch)."""

    def __init__(self, settings: ApiSettings, engine: Engine, app: Celery | None = None) -> None:
        self._app = app or create_celery(settings)
        self._engine = engine
        self._supervisor = JobSupervisor(engine, settings, self.publish, outbox=True)

    def enqueue(self, job: JobRef) -> None:
        self.publish(job)

    def publish(self, job: JobRef) -> bool:
        try:
            self._app.send_task(
                TASK_NAME, args=[job.kind.value, str(job.id)], queue=queue_for(job.kind), retry=False
            )
        except (BrokerUnavailable, OSError) as error:
            log.warning(
                "broker unavailable (%s); %s job %s stays queued and is published when it answers",
                error,
                job.kind,
                job.id,
            )
            return False
        mark_published(self._engine, job)
        return True

    def start(self) -> None:
        self._supervisor.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._supervisor.stop()


_handlers: dict[int, Mapping[JobKind, JobHandler]] = {}


def worker_handlers(app: Celery) -> Mapping[JobKind, JobHandler]:
    """This worker process's executors, built on its first task: after the fork, so each pool process
    has its own database connections (and loads the models once)."""
    pid = os.getpid()
    if pid not in _handlers:
        # Imported here: the executors pull in the vision stack, which the API side never needs.
        from api.commerce_config import load_for  # noqa: PLC0415
        from api.jobs.handlers import job_handlers, load_tag_function  # noqa: PLC0415
        from api.linking.service import LinkingService  # noqa: PLC0415

        settings = get_settings()
        engine = create_db_engine(settings.database_url)
        follow_ups = CeleryJobQueue(settings, engine, app)
        tag_function = load_tag_function(settings.tag_function) if settings.tag_function else None
        _handlers[pid] = job_handlers(
            engine,
            settings,
            LinkingService(engine, settings),
            follow_ups,
            lambda: load_for(settings),
            tag_function,
        )
    return _handlers[pid]


def run_worker(settings: ApiSettings, *, concurrency: int, queues: Sequence[str], pool: str) -> None:
    """Start a Celery worker in this process (it forks `concurrency` pool processes for prefork; solo
    runs jobs in this one) and serve until stopped (SIGTERM: finish the jobs in hand, then exit)."""
    app = create_celery(settings)

    @setup_logging.connect  # type: ignore[untyped-decorator]  # Celery ships no type hints
    def _logging(**_: object) -> None:
        # Connected, so Celery leaves logging to us: the same JSON lines as the API with
        # REELCART_LOG_FORMAT=json (job ids included), plain lines otherwise.
        if settings.log_format == "json":
            configure_logging("json")
        else:
            logging.basicConfig(
                level=logging.INFO, format="[%(asctime)s %(levelname)s/%(processName)s] %(name)s: %(message)s"
            )

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues)}",
            f"--pool={pool}",
            f"--hostname=reelcart-{os.getpid()}@%h",
            "--loglevel=INFO",
            # One box's workers need not talk to each other: no gossip, mingle or event heartbeats.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
