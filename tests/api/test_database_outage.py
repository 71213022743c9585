"""A database outage through HTTP: every route answers 503 problem+json with Retry-After (never a
500), the API starts without its database, and readiness (and job recovery) follow the database."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, event, text
from sqlmodel import Session, SQLModel

from api.app import create_app
from api.db import create_db_engine, upgrade_database
from api.episodes.models import TagJob
from api.jobs.tagging import ProgressCallback, TagOutcome
from api.settings import ApiSettings
from tests.api.factories import make_episode
from tests.utils.api import BrandAccount, RecordingQueue, make_brand
from tests.utils.metrics import METRICS_TOKEN, scrape, value

PROBLEM = "application/problem+json"
# Nothing listens on port 1: connecting is refused at once, as with a stopped PostgreSQL.
DEAD_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:1/reelcart"


class DatabaseSwitch:
    """Takes an engine's database away and gives it back: while down, every new connection fails as
    the driver's own OperationalError (what a refused or dropped connection raises), and the pooled
    ones are closed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.up = True
        event.listen(engine, "do_connect", self._connect)

    def _connect(self, dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        if not self.up:
            raise dialect.loaded_dbapi.OperationalError(
                "connection refused (the test took the database down)"
            )

    def down(self) -> None:
        self.up = False
        self.engine.dispose()

    def restore(self) -> None:
        self.up = True


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def switchable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseSwitch]:
    """A migrated database on a file (SQLite) or the real server, whose engine can lose it."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'outage.db'}")
        upgrade_database(engine)
    else:
        engine = create_db_engine(request.getfixturevalue("postgres_database"))
    switch = DatabaseSwitch(engine)
    yield switch
    switch.restore()
    if request.param == "postgres":
        tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(settings: ApiSettings) -> ApiSettings:
    return settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})


def assert_database_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["type"] == "https://reelcart.dev/problems/database-unavailable"
    assert body["detail"] == "the database is unavailable; try again shortly"


def _requests(openapi: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every documented operation, its path parameters filled with fresh ids."""
    for template, operations in openapi["paths"].items():
        path = template.replace("{kind}", "tag")
        for name in re.findall(r"{(\w+)}", path):
            path = path.replace("{" + name + "}", str(uuid.uuid4()))
        for method in operations:
            yield method.upper(), path


def test_no_route_answers_500_when_the_database_is_down(settings: ApiSettings) -> None:
    engine = create_db_engine(DEAD_POSTGRES_URL)
    app = create_app(settings, engine=engine, job_queue=RecordingQueue())
    unavailable: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        # The documented operations, and the pages that are not in the OpenAPI document
        pages = [("GET", "/"), ("GET", f"/demo/episodes/{uuid.uuid4()}")]
        for method, path in [*_requests(app.openapi()), *pages]:
            response = client.request(method, path, headers={"Authorization": "Bearer rc_some-key"}, json={})
            assert response.status_code != 500, f"{method} {path}: {response.text}"
            if response.status_code != 503 or path == "/readyz":  # readiness says so in its JSON
                continue
            if response.json().get("type", "").endswith("/commerce-not-configured"):
                continue  # refused before any query: this server has no provider keys
            assert_database_unavailable(response)
            unavailable.append(f"{method} {path}")
    engine.dispose()
    # Every route that reads the database before it validates anything: the brand and operator
    # routes (the key lookup), the public timeline, the landing page
    assert len(unavailable) > 20, unavailable
    for expected in ("GET /v1/products", "GET /v1/admin/brands", "GET /"):
        assert expected in unavailable
    assert any(item.startswith("GET /v1/episodes/") and item.endswith("/timeline") for item in unavailable)


def test_the_api_starts_without_its_database_and_is_ready_once_it_answers(
    switchable: DatabaseSwitch, settings: ApiSettings
) -> None:
    engine = switchable.engine
    brand = make_brand(engine, "acme-drinks")
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine, expire_on_commit=False) as session:
        left_behind = TagJob(brand_id=brand.brand.id, episode_id=episode.id)  # queued before a restart
        session.add(left_behind)
        session.commit()

    def no_placements(
        media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        return TagOutcome([], empty_reason="nothing to see")

    # Given the database is down when the API (with an in-process worker) starts
    switchable.down()
    # The job supervisor asks the database again every job_supervise_s.
    app = create_app(
        settings.model_copy(update={"worker_threads": 1, "job_supervise_s": 0.1}),
        engine=engine,
        tag_function=no_placements,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        # Then it serves: alive, not ready, and every database route answers 503 with Retry-After
        assert client.get("/healthz").status_code == 200
        not_ready = client.get("/readyz")
        assert (not_ready.status_code, not_ready.headers["retry-after"]) == (503, "5")
        assert not_ready.json() == {"status": "unavailable", "checks": {"database": "unreachable"}}
        assert_database_unavailable(client.get("/v1/episodes", headers=brand.headers))
        assert value(scrape(client), "reelcart_database_up") == 0

        # When the database comes back
        switchable.restore()

        # Then it is ready, serves, and recovers the job the last process left queued
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready", "checks": {"database": "ok"}})
        assert client.get("/v1/episodes", headers=brand.headers).status_code == 200
        assert _wait_for_state(engine, left_behind.id, "done") == "done"


def _wait_for_state(engine: Engine, job_id: uuid.UUID, state: str, timeout_s: float = 15.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        with Session(engine) as session:
            job = session.get(TagJob, job_id)
            assert job is not None
            if job.state == state or time.monotonic() > deadline:
                return str(job.state)
        time.sleep(0.05)


def test_a_database_that_disappears_answers_503_until_it_returns(
    switchable: DatabaseSwitch, settings: ApiSettings, job_queue: Any
) -> None:
    brand: BrandAccount = make_brand(switchable.engine, "acme-drinks")
    app = create_app(settings, engine=switchable.engine, job_queue=job_queue)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/products", headers=brand.headers).status_code == 200

        switchable.down()
        assert_database_unavailable(client.get("/v1/products", headers=brand.headers))
        assert_database_unavailable(client.get(f"/v1/episodes/{uuid.uuid4()}/timeline"))
        assert client.get("/readyz").status_code == 503

        switchable.restore()
        assert client.get("/v1/products", headers=brand.headers).status_code == 200
        assert client.get("/readyz").status_code == 200
