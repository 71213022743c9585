"""A broker that takes the connection and then never answers (a half-open connection after a failover,
a firewall that drops packets silently, a server frozen mid-reply): publishing gives up within seconds
and the job stays queued, unpublished, for the supervisor's next round. Before the Redis transport had a
reply timeout, such a publish waited forever and held the supervisor thread, so no later job was ever
published either."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api.jobs.celery_app import BROKER_REPLY_TIMEOUT_S, CeleryJobQueue
from api.jobs.queue import JobKind, JobRef
from api.linking.models import LinkJob
from api.settings import ApiSettings
from tests.utils.api import BrandAccount


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield int(server.getsockname()[1])
    stop.set()
    acceptor.join()
    for connection in held:
        connection.close()
    server.close()


def _publish_within(queue: CeleryJobQueue, job: JobRef, limit_s: float) -> tuple[bool | None, float]:
    """Publishes on a thread, so a publish that hangs fails this test instead of hanging the suite."""
    answer: list[bool] = []
    started = time.monotonic()
    publisher = threading.Thread(target=lambda: answer.append(queue.publish(job)), daemon=True)
    publisher.start()
    publisher.join(limit_s)
    return (answer[0] if answer else None), time.monotonic() - started


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_broker_that_never_answers_leaves_the_job_queued_within_seconds(
    scheme: str, silent_port: int, engine: Engine, brand: BrandAccount
) -> None:
    url = {
        "redis": f"redis://127.0.0.1:{silent_port}/0",
        "amqp": f"amqp://guest:guest@127.0.0.1:{silent_port}//",
    }[scheme]
    settings = ApiSettings(broker_url=url, job_republish_after_s=3600)
    with Session(engine, expire_on_commit=False) as session:
        job = LinkJob(brand_id=brand.brand.id)
        session.add(job)
        session.commit()
    queue = CeleryJobQueue(settings, engine)
    limit_s = 3 * BROKER_REPLY_TIMEOUT_S

    published, waited_s = _publish_within(queue, JobRef(JobKind.LINK, job.id), limit_s)

    assert published is False, f"publishing to a silent {scheme} broker did not give up within {limit_s:g} s"
    assert waited_s < limit_s
    with Session(engine) as session:
        stored = session.get(LinkJob, job.id)
        assert stored is not None
        assert stored.published_at is None  # the supervisor offers it again next round
