"""API fixtures: every database test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api.app import create_app
from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.db import create_db_engine, upgrade_database
from api.jobs.queue import InlineJobQueue, JobQueue, JobRef
from api.jobs.tagging import TagFunction
from api.settings import ApiSettings

if TYPE_CHECKING:  # commerce_support imports this module (BrandAccount), so only for annotations here
    from tests.api.commerce_support import Shoppable, World

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_server_url() -> str:
    return os.environ.get("REELCART_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away database on the real server, migrated once for the whole session."""
    server_url = _postgres_server_url()
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"reelcart_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("REELCART_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable at {server_url}: {error.orig}")
        pytest.skip(
            f"PostgreSQL unreachable at {server_url} (set REELCART_REQUIRE_POSTGRES=1 to fail instead)"
        )
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_db_engine("sqlite://")
        upgrade_database(engine)
        yield engine
        engine.dispose()
        return
    url: str = request.getfixturevalue("postgres_database")
    engine = create_db_engine(url)
    yield engine
    # Empty every table so the next test starts clean, without re-running migrations.
    from sqlmodel import SQLModel  # noqa: PLC0415

    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        environment="test",
        secret_key="test-secret-key-not-a-placeholder",
        database_url="sqlite://",
        media_dir=tmp_path / "media",
        model_dir=tmp_path / "models",
        media_import_roots=[tmp_path / "library"],
        public_base_url="http://testserver",
        worker_threads=0,
    )


class RecordingQueue:
    """A queue that only remembers what was enqueued: jobs stay `queued` until a test runs them."""

    def __init__(self) -> None:
        self.enqueued: list[JobRef] = []

    def enqueue(self, job: JobRef) -> None:
        self.enqueued.append(job)

    def start(self) -> None:
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        return None


@pytest.fixture
def job_queue() -> JobQueue:
    return RecordingQueue()


@pytest.fixture
def client(settings: ApiSettings, engine: Engine, job_queue: JobQueue) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, job_queue=job_queue)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass(frozen=True)
class BrandAccount:
    brand: Brand
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_brand(engine: Engine, slug: str) -> BrandAccount:
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name=slug.replace("-", " ").title(), slug=slug)
        session.add(brand)
        session.flush()
        issued = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=f"{slug}-key")
        session.commit()
        return BrandAccount(brand=brand, key=issued.secret)


@pytest.fixture
def brand(engine: Engine) -> BrandAccount:
    return make_brand(engine, "acme-drinks")


@pytest.fixture
def other_brand(engine: Engine) -> BrandAccount:
    return make_brand(engine, "rival-foods")


@pytest.fixture
def operator_key(engine: Engine) -> str:
    with Session(engine) as session:
        issued = issue_api_key(session, scope=ApiKeyScope.OPERATOR, brand_id=None, name="ops")
        session.commit()
        return issued.secret


def make_video(path: Path, *, seconds: float = 1.0, fps: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """A real, tiny H.264 file made with PyAV (frames carry a moving bright square)."""
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(int(seconds * fps)):
            frame = np.zeros((height, width, 3), dtype=np.uint8)
            x = (index * 3) % max(width - 8, 1)
            frame[10:18, x : x + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


__all__ = ["BrandAccount", "InlineJobQueue", "RecordingQueue", "TagFunction", "make_brand", "make_video"]


@pytest.fixture
def world(client: TestClient, settings: ApiSettings) -> Iterator[World]:
    """The API wired to loopback Stripe and Shopify fakes (tests/commerce/fakes)."""
    from tests.api.commerce_support import running_world  # noqa: PLC0415 - see TYPE_CHECKING above

    with running_world(client, settings) as running:
        yield running


@pytest.fixture
def hoodie(world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount) -> Shoppable:
    """An approved placement showing a 59.90 EUR hoodie, sold by a brand connected to both providers."""
    from tests.api.commerce_support import (  # noqa: PLC0415 - see TYPE_CHECKING above
        SHOPIFY_VARIANT,
        connect_shopify,
        connect_stripe,
        make_shoppable,
    )
    from tests.commerce.fakes.shopify_fake import product_node, variant_node  # noqa: PLC0415

    connect_stripe(world.client, brand)
    connect_shopify(world.client, brand)
    world.shopify.products = [product_node(1, "Lead hoodie", [variant_node(11, price="59.90")])]
    return make_shoppable(engine, settings, brand, shopify_variant_gid=SHOPIFY_VARIANT)
