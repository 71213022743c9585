"""The safety net where problems are built: whatever an error's text holds, no server path, no errno."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.episodes.exceptions import UnusableMedia
from api.problems import REDACTED_PATH, redact_server_details
from api.settings import ApiSettings
from tagger.exceptions import VideoError
from tests.utils.api import RecordingQueue


@pytest.fixture
def leaky_client(settings: ApiSettings, engine: Engine) -> Iterator[TestClient]:
    """The real app plus two routes whose errors carry what libraries put in their messages."""
    app: FastAPI = create_app(settings, engine=engine, job_queue=RecordingQueue())

    @app.get("/leaky/domain")
    def domain_error() -> None:
        raise UnusableMedia(
            f"cannot read {settings.media_dir}/episodes/abc.mp4: [Errno 2] No such file or directory",
            errors=[{"field": "file", "message": "open('/srv/reelcart/media/x.mp4') failed: errno=13"}],
        )

    @app.get("/leaky/tagger")
    def tagger_error() -> None:
        raise VideoError("Invalid data found when processing input: '/var/lib/reelcart/ep.gif'")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_problems_never_show_server_paths_or_errno(leaky_client: TestClient) -> None:
    domain = leaky_client.get("/leaky/domain").json()
    assert (domain["status"], domain["detail"], domain["errors"]) == (
        422,
        f"cannot read {REDACTED_PATH}: No such file or directory",
        [{"field": "file", "message": f"open('{REDACTED_PATH}') failed: "}],
    )
    tagger = leaky_client.get("/leaky/tagger").json()
    assert tagger["detail"] == f"Invalid data found when processing input: '{REDACTED_PATH}'"


def test_redaction_keeps_urls_routes_and_words(tmp_path: Path) -> None:
    kept = (
        "no route for GET /v1/episodes/x/timeline; see https://shop.example/tmp/a.png and "
        "http://127.0.0.1:8000/var/x; 3 errors in var/media"
    )
    assert redact_server_details(kept, (tmp_path,)) == kept
    assert redact_server_details(f"at {tmp_path}/a b", (tmp_path,)) == f"at {REDACTED_PATH} b"
    assert redact_server_details("/home/ops/ep.mp4, /etc") == f"{REDACTED_PATH}, {REDACTED_PATH}"
