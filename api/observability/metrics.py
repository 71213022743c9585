"""Prometheus metrics: requests, jobs, queue depth, webhook deliveries and checkouts.

Counters and histograms are process-wide (as Prometheus clients keep them) and unregistered; each
app builds its own registry (`metrics_registry`) holding them, the process collectors, and a
collector that counts queued and running jobs in the database at scrape time (two indexed counts,
one per job table). Label values are bounded: route templates, never raw paths; problem slugs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from api.errors import ApiError
from api.jobs.models import JobState
from api.jobs.queue import JobKind
from api.jobs.routing import QUEUES, queue_for
from api.jobs.tables import JOB_TABLES
from api.observability.context import job_context
from commerce.exceptions import CommerceError

log = logging.getLogger("reelcart.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "reelcart_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=None,
)
HTTP_LATENCY = Histogram(
    "reelcart_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
    registry=None,
)
JOBS = Counter(
    "reelcart_jobs",
    "Jobs run to an end, by kind and outcome (done, failed: the job's own reason, error: unexpected)",
    ["kind", "outcome"],
    registry=None,
)
JOB_DURATION = Histogram(
    "reelcart_job_duration_seconds",
    "Time a job's work took, by kind and outcome",
    ["kind", "outcome"],
    buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
    registry=None,
)
WEBHOOKS = Counter(
    "reelcart_webhook_deliveries",
    "Provider webhook deliveries, by provider and outcome (processed, held: a refund kept for an order "
    "not recorded yet, ignored, duplicate, failed: not acknowledged, invalid-webhook-signature, "
    "invalid-webhook-payload)",
    ["provider", "outcome"],
    registry=None,
)
CHECKOUTS = Counter(
    "reelcart_checkout_sessions",
    "Checkout requests, by provider (as asked for; default: the brand's default) and outcome "
    "(created, replayed, or the problem type that refused it)",
    ["provider", "outcome"],
    registry=None,
)
PROCESS_METRICS = (HTTP_REQUESTS, HTTP_LATENCY, JOBS, JOB_DURATION, WEBHOOKS, CHECKOUTS)


class JobStateCollector(Collector):
    """Queued and running jobs per kind, counted in the database when Prometheus scrapes (the
    `state` columns are indexed). A database that does not answer gives `reelcart_database_up 0`
    and no counts, never a failed scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # What registering asks for; without it the registry would collect, querying the database.
        return self._families()

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("reelcart_database_up", "1 when the database answered this scrape"),
            GaugeMetricFamily("reelcart_jobs_queued", "Jobs waiting for a worker, by kind", labels=["kind"]),
            GaugeMetricFamily("reelcart_jobs_running", "Jobs a worker is running, by kind", labels=["kind"]),
            GaugeMetricFamily(
                "reelcart_queue_depth",
                "Jobs waiting for a worker, by the broker queue their kind goes to (vision, io)",
                labels=["queue"],
            ),
        )

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up, queued, running, depth = self._families()
        try:
            counts = self._counts()
        except SQLAlchemyError as error:
            log.warning("metrics scrape could not count jobs: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        per_queue = dict.fromkeys(QUEUES, 0)
        for kind, by_state in counts.items():
            queued.add_metric([kind], by_state.get(JobState.QUEUED, 0))
            running.add_metric([kind], by_state.get(JobState.RUNNING, 0))
            per_queue[queue_for(JobKind(kind))] += by_state.get(JobState.QUEUED, 0)
        for queue, waiting in sorted(per_queue.items()):
            depth.add_metric([queue], waiting)
        yield from (up, queued, running, depth)

    def _counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        with Session(self._engine) as session:
            for kind, table in JOB_TABLES:
                rows = session.exec(
                    select(table.state, func.count())
                    .where(col(table.state).in_([JobState.QUEUED, JobState.RUNNING]))
                    .group_by(col(table.state))
                ).all()
                counts[str(kind)] = {str(state): int(number) for state, number in rows}
        return counts


def metrics_registry(engine: Engine) -> CollectorRegistry:
    """A registry for one app: the process-wide metrics, the process collectors, the job counts."""
    registry = CollectorRegistry()
    for metric in (*PROCESS_METRICS, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(metric)
    registry.register(JobStateCollector(engine))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (`CONTENT_TYPE`)."""
    return generate_latest(registry)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


@dataclass
class JobObservation:
    """What the runner tells about a job's end: `done` unless it says otherwise."""

    outcome: str = "done"


@contextmanager
def observe_job(kind: str, job_id: uuid.UUID) -> Iterator[JobObservation]:
    """Time a job's work, count it by outcome, and put its id in the log context meanwhile. An
    exception escaping the block counts as `error`."""
    observation = JobObservation()
    started = time.perf_counter()
    try:
        with job_context(job_id):
            yield observation
    except BaseException:
        observation.outcome = "error"
        raise
    finally:
        JOBS.labels(kind, observation.outcome).inc()
        JOB_DURATION.labels(kind, observation.outcome).observe(time.perf_counter() - started)


def record_webhook(provider: str, outcome: str) -> None:
    WEBHOOKS.labels(provider, outcome).inc()


@dataclass
class CheckoutObservation:
    answered: tuple[str, str] | None = field(default=None)

    def opened(self, provider: str, *, replayed: bool) -> None:
        """The checkout was answered: a new provider session, or the click's earlier one."""
        self.answered = (provider, "replayed" if replayed else "created")


@contextmanager
def observe_checkout(
    requested_provider: str | None, reason: Callable[[ApiError | CommerceError], str]
) -> Iterator[CheckoutObservation]:
    """Count one checkout request by provider and outcome. A refusal or provider failure counts under
    `reason(error)` (the problem type the answer carries); anything else under `error`."""
    observation = CheckoutObservation()
    asked = requested_provider or "default"
    try:
        yield observation
    except (ApiError, CommerceError) as error:
        CHECKOUTS.labels(asked, reason(error)).inc()
        raise
    except BaseException:
        CHECKOUTS.labels(asked, "error").inc()
        raise
    if observation.answered is not None:
        CHECKOUTS.labels(*observation.answered).inc()
