"""REELCART_LOG_FORMAT=json through HTTP and jobs: one JSON object per line, each carrying the
request id (the caller's X-Request-ID when sane, echoed back) or the job id."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.episodes.models import TagJob
from api.jobs.queue import JobQueue
from api.jobs.tagging import ProgressCallback, TagJobExecutor, TagOutcome
from api.settings import ApiSettings
from tests.api.factories import make_episode
from tests.utils.api import BrandAccount

HEX_ID = 32


@pytest.fixture
def settings(settings: ApiSettings) -> ApiSettings:
    return settings.model_copy(update={"log_format": "json"})


@pytest.fixture
def app(settings: ApiSettings, engine: Engine, job_queue: JobQueue) -> FastAPI:
    app = create_app(settings, engine=engine, job_queue=job_queue)

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("a bug in a route")

    return app


@pytest.fixture
def json_client(app: FastAPI, capsys: pytest.CaptureFixture[str]) -> Iterator[TestClient]:
    # Entered after capsys took stderr, so the app's JSON handler writes where the test reads.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(parsed) == len(lines), f"a line that is not JSON: {err}"
    return parsed


def test_each_request_is_one_json_line_with_the_callers_request_id(
    json_client: TestClient, brand: BrandAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    response = json_client.get("/v1/episodes", headers={**brand.headers, "X-Request-ID": "lb-7f3a.42"})

    assert response.headers["x-request-id"] == "lb-7f3a.42"
    (access,) = [line for line in json_lines(capsys) if line["logger"] == "reelcart.access"]
    assert access["request_id"] == "lb-7f3a.42"
    assert access["level"] == "info"
    assert access["message"].startswith("GET /v1/episodes 200 ")
    assert (access["method"], access["route"], access["path"], access["status"]) == (
        "GET",
        "/v1/episodes",
        "/v1/episodes",
        200,
    )
    assert access["duration_ms"] >= 0
    assert access["ts"].endswith("+00:00")


@pytest.mark.parametrize(
    "incoming",
    [None, "", "has spaces", 'quote"d', "x" * 129, "-leading-dash", "caf\u00e9", "{json}"],
)
def test_an_absent_or_insane_request_id_is_replaced_by_a_new_one(
    json_client: TestClient, capsys: pytest.CaptureFixture[str], incoming: str | None
) -> None:
    # As bytes: a header is latin-1 on the wire, and httpx refuses str outside ASCII.
    headers = {} if incoming is None else {"X-Request-ID": incoming.encode("latin-1")}
    first = json_client.get("/healthz", headers=headers).headers["x-request-id"]
    second = json_client.get("/healthz", headers=headers).headers["x-request-id"]

    assert len(first) == HEX_ID
    assert int(first, 16) >= 0
    assert first != second
    ids = [line["request_id"] for line in json_lines(capsys) if line["logger"] == "reelcart.access"]
    assert ids == [first, second]


def test_an_unhandled_error_is_logged_with_the_request_id_and_answers_it(
    json_client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = json_client.get("/test-only/boom", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    lines = json_lines(capsys)
    (error,) = [line for line in lines if line["level"] == "error"]
    assert error["message"] == "unhandled error on GET /test-only/boom"
    assert error["request_id"] == "req-500"
    assert "RuntimeError: a bug in a route" in error["exc"]
    (access,) = [line for line in lines if line["logger"] == "reelcart.access"]
    assert (access["status"], access["route"], access["request_id"]) == (500, "/test-only/boom", "req-500")


def test_job_log_lines_carry_the_job_id(
    json_client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def tag(
        media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        logging.getLogger("reelcart.tagger.test").info("decoding the episode")
        raise RuntimeError("the tagger crashed")

    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine, expire_on_commit=False) as session:
        job = TagJob(brand_id=brand.brand.id, episode_id=episode.id)
        session.add(job)
        session.commit()

    TagJobExecutor(engine, settings, tag)(job.id)

    lines = [line for line in json_lines(capsys) if line["logger"] != "reelcart.access"]
    (decoding,) = [line for line in lines if line["message"] == "decoding the episode"]
    assert decoding["job_id"] == str(job.id)
    assert "request_id" not in decoding
    (crash,) = [line for line in lines if line["level"] == "error"]
    assert crash["job_id"] == str(job.id)
    assert crash["message"] == f"tag job {job.id} failed unexpectedly"
    assert "RuntimeError: the tagger crashed" in crash["exc"]


def test_the_json_handler_goes_when_the_app_stops(app: FastAPI) -> None:
    handlers = list(logging.getLogger().handlers)
    with TestClient(app):
        assert len(logging.getLogger().handlers) == len(handlers) + 1
    assert logging.getLogger().handlers == handlers
