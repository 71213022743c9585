"""Catalog image URLs whose fetch failed in a way that may pass (a CDN's 503, a 429, a timeout) are tried
again by a later job, a few times, further apart each time; a failure only the brand can fix is not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.app import create_app
from api.catalog.job_executors import ImageFetchJobExecutor
from api.catalog.models import ImageFetchJob, ProductImage
from api.catalog.remote_images import MAX_FETCH_ATTEMPTS
from api.jobs.queue import InlineJobQueue, JobKind, JobRef
from api.jobs.recovery import JobSupervisor
from api.linking.executor import LinkJobExecutor
from api.linking.preview import catalog_work_pending
from api.settings import ApiSettings
from tests.api.factories import make_product
from tests.api.fake_linking import FakeSource, FixedLinker
from tests.api.image_server import Route, serving
from tests.utils.api import BrandAccount


def _png() -> bytes:
    ok, data = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


UNAVAILABLE: Route = (503, {"Content-Type": "text/plain", "Retry-After": "30"}, b"busy")
PACKSHOT: Route = (200, {"Content-Type": "image/png"}, _png())


def _client(settings: ApiSettings, engine: Engine) -> TestClient:
    queue = InlineJobQueue()
    queue.bind(
        {
            JobKind.LINK: LinkJobExecutor(engine, settings, FakeSource(FixedLinker("x", 0.5))),
            JobKind.IMAGES: ImageFetchJobExecutor(engine, settings, queue),
        }
    )
    return TestClient(create_app(settings, engine=engine, job_queue=queue), raise_server_exceptions=False)


def _image(client: TestClient, brand: BrandAccount, product_id: uuid.UUID) -> dict[str, Any]:
    (image,) = client.get(f"/v1/products/{product_id}", headers=brand.headers).json()["images"]
    assert isinstance(image, dict)
    return image


def _fetch(client: TestClient, brand: BrandAccount) -> tuple[str, int, int]:
    job = client.post("/v1/catalog/images/fetch", headers=brand.headers).json()
    return job["state"], job["images_fetched"], job["images_failed"]


def _due_now(engine: Engine, image_id: str, **changes: Any) -> None:
    """Move the image's retry time into the past (the minutes a test cannot wait)."""
    with Session(engine) as session:
        image = session.get_one(ProductImage, uuid.UUID(image_id))
        image.fetch_retry_at = datetime.now(UTC) - timedelta(seconds=1)
        for name, value in changes.items():
            setattr(image, name, value)
        session.add(image)
        session.commit()


def test_an_image_the_cdn_could_not_serve_is_fetched_by_a_later_job_once_due(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    local = settings.model_copy(update={"image_fetch_private_hosts": True})
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    routes: dict[str, Route] = {"/pack.png": UNAVAILABLE}
    with serving(routes) as base, _client(local, engine) as client:
        # Given the CDN answers 503 when the brand adds the image by URL
        before = datetime.now(UTC)
        added = client.post(
            f"/v1/products/{product.id}/images", json={"url": f"{base}/pack.png"}, headers=brand.headers
        )
        assert added.status_code == 201, added.text
        failed = _image(client, brand, product.id)

        # Then the image says it failed, that the failure may pass, and when it is tried again
        due = datetime.fromisoformat(failed["fetch_retry_at"])
        assert timedelta(seconds=59) <= due - before <= timedelta(seconds=70)
        assert failed["indexed"] is False
        assert failed["fetch_error"] == (
            f"{base}/pack.png answered HTTP 503 (try 1 of {MAX_FETCH_ATTEMPTS}; the next job that fetches "
            f"images from {due:%Y-%m-%d %H:%M} UTC tries again)"
        )

        # And a fetch before then leaves it alone, even though the CDN is back
        routes["/pack.png"] = PACKSHOT
        assert _fetch(client, brand) == ("done", 0, 0)

        # When it is due, the next job fetches it, and nothing of the failure is left
        _due_now(engine, failed["id"])
        assert _fetch(client, brand) == ("done", 1, 0)
        fetched = _image(client, brand, product.id)
    assert (fetched["indexed"], fetched["fetch_error"], fetched["fetch_retry_at"]) == (True, None, None)


def test_an_image_that_keeps_failing_is_given_up_after_the_last_try(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    local = settings.model_copy(update={"image_fetch_private_hosts": True})
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with serving({"/pack.png": UNAVAILABLE}) as base, _client(local, engine) as client:
        client.post(
            f"/v1/products/{product.id}/images", json={"url": f"{base}/pack.png"}, headers=brand.headers
        )
        image = _image(client, brand, product.id)
        # Each try waits four times longer than the one before: 1, 4, 16, 64 minutes
        waits = []
        for _ in range(MAX_FETCH_ATTEMPTS - 2):
            tried_at = datetime.now(UTC)
            _due_now(engine, image["id"])
            assert _fetch(client, brand) == ("done", 0, 1)
            image = _image(client, brand, product.id)
            waits.append(
                round((datetime.fromisoformat(image["fetch_retry_at"]) - tried_at).total_seconds() / 60)
            )
        assert waits == [4, 16, 64]

        # The last try fails too: it is not tried again, and the brand is told how to retry it
        _due_now(engine, image["id"])
        assert _fetch(client, brand) == ("done", 0, 1)
        given_up = _image(client, brand, product.id)
        assert given_up["fetch_retry_at"] is None
        assert given_up["fetch_error"] == (
            f"{base}/pack.png answered HTTP 503 (failed {MAX_FETCH_ATTEMPTS} times; not tried again: add the "
            "image anew to retry)"
        )
        assert _fetch(client, brand) == ("done", 0, 0)


def test_a_url_that_is_not_there_is_not_tried_again(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    local = settings.model_copy(update={"image_fetch_private_hosts": True})
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with serving({}) as base, _client(local, engine) as client:
        client.post(
            f"/v1/products/{product.id}/images", json={"url": f"{base}/gone.png"}, headers=brand.headers
        )
        image = _image(client, brand, product.id)
        assert (image["fetch_error"], image["fetch_retry_at"]) == (f"{base}/gone.png answered HTTP 404", None)
        assert _fetch(client, brand) == ("done", 0, 0)


def _failed_once(engine: Engine, brand_id: uuid.UUID, retry_at: datetime) -> uuid.UUID:
    """A product whose only image URL failed once in a way that may pass, due again at `retry_at`."""
    product, _ = make_product(engine, brand_id, "Pressed Apple", sku="PA-1")
    with Session(engine) as session:
        session.add(
            ProductImage(
                product_id=product.id,
                brand_id=brand_id,
                source_url="https://cdn.example/p.png",
                fetch_error="https://cdn.example/p.png answered HTTP 503 (try 1 of 5; …)",
                fetch_attempts=1,
                fetch_retry_at=retry_at,
            )
        )
        session.commit()
    return product.id


def test_a_failed_fetch_due_again_is_not_a_catalog_change_under_way(
    engine: Engine, brand: BrandAccount
) -> None:
    # A settings preview's `catalog_pending` says a change is on its way to the index; a retry that
    # is due is not one until a fetch brings the image home, so it must not say "pending" meanwhile.
    product_id = _failed_once(engine, brand.brand.id, datetime.now(UTC) - timedelta(minutes=1))
    with Session(engine) as session:
        assert catalog_work_pending(session, brand.brand.id) is False
        # while an image never tried yet is
        session.add(
            ProductImage(
                product_id=product_id, brand_id=brand.brand.id, source_url="https://cdn.example/q.png"
            )
        )
        session.commit()
        assert catalog_work_pending(session, brand.brand.id) is True


def test_the_job_supervisor_queues_a_fetch_once_a_retry_is_due(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    # Given one brand's image URL due again, and another brand's not due for an hour
    now = datetime.now(UTC)
    for account, retry_at in ((brand, now - timedelta(seconds=1)), (other_brand, now + timedelta(hours=1))):
        _failed_once(engine, account.brand.id, retry_at)
    offered: list[JobRef] = []
    supervisor = JobSupervisor(engine, settings, offered.append, outbox=True)

    # When the job supervisor makes its rounds (the brand does nothing)
    supervisor.run_once()
    supervisor.run_once()

    # Then one image-fetch job is queued, for the brand whose retry is due, and handed to the workers
    with Session(engine) as session:
        jobs = session.exec(select(ImageFetchJob)).all()
    assert [(job.brand_id, job.state) for job in jobs] == [(brand.brand.id, "queued")]
    assert set(offered) == {JobRef(JobKind.IMAGES, jobs[0].id)}
