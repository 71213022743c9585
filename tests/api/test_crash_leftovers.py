"""Crashes leave nothing behind: stale `.part` files are swept when the API starts, and an upload
its client abandons is one info line, not an unhandled error."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.app import create_app
from api.episodes.models import Episode, TranscodeJob
from api.housekeeping import (
    ORPHAN_AFTER_S,
    STALE_PART_AFTER_S,
    sweep_orphaned_episode_files,
    sweep_stale_part_files,
)
from api.jobs.models import JobState
from api.jobs.queue import JobQueue
from api.settings import ApiSettings
from tests.utils.api import BrandAccount


def _file(path: Path, *, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial bytes")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_start_up_sweeps_stale_partial_files_and_keeps_live_and_complete_ones(
    settings: ApiSettings, engine: Engine, job_queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    media = settings.media_dir
    stale = STALE_PART_AFTER_S + 60
    # Given what a crash left (an upload, a transcode, a catalog image), an upload another process
    # is writing now, a finished episode, and a `.part` name outside the folders writes go to
    crashed = [
        _file(media / "episodes" / "a1.mp4.part", age_s=stale),
        _file(media / "episodes" / "b2.mp4.mp4.part", age_s=stale),
        _file(media / "images" / "brand-1" / "c3.jpg.part", age_s=stale),
    ]
    live = _file(media / "episodes" / "d4.mp4.part", age_s=5)
    complete = _file(media / "episodes" / "e5.mp4", age_s=stale)
    elsewhere = _file(media / "catalog-index" / "f6.part", age_s=stale)
    caplog.set_level(logging.INFO, logger="reelcart.housekeeping")

    # When the API starts
    with TestClient(create_app(settings, engine=engine, job_queue=job_queue)) as client:
        assert client.get("/healthz").status_code == 200

    # Then only the stale partial files are gone
    assert [path.exists() for path in crashed] == [False, False, False]
    assert (live.exists(), complete.exists(), elsewhere.exists()) == (True, True, True)
    assert "deleted 3 partial file(s) an interrupted write left in the media dir" in caplog.messages


def test_the_sweep_decides_by_the_time_of_the_last_write(tmp_path: Path) -> None:
    part = _file(tmp_path / "episodes" / "x.mp4.part", age_s=0)
    written = part.stat().st_mtime

    assert sweep_stale_part_files(tmp_path, older_than_s=60, now=written + 59) == []
    assert sweep_stale_part_files(tmp_path, older_than_s=60, now=written + 61) == [part]
    assert not part.exists()
    assert sweep_stale_part_files(tmp_path / "missing", older_than_s=60) == []


def test_start_up_sweeps_complete_episode_files_nothing_names_and_keeps_the_rest(
    settings: ApiSettings, engine: Engine, job_queue: JobQueue, brand: BrandAccount
) -> None:
    media = settings.media_dir / "episodes"
    day = ORPHAN_AFTER_S + 60
    # Given an episode's file, a failed transcode's kept upload, and what crashes left: a transcode
    # whose job died before its commit, an upload never registered, a CLI copy cut short
    played = _file(media / "0b7e1f6a-3c1d-4e2a-9f00-000000000001.mp4", age_s=day)
    kept_upload = _file(media / "0b7e1f6a-3c1d-4e2a-9f00-000000000002.upload", age_s=day)
    with Session(engine) as session:
        episode = Episode(
            brand_id=brand.brand.id,
            title="Pilot",
            media_path=str(played),
            duration_ms=1000,
            fps=30.0,
            time_base="1/30",
            width=16,
            height=16,
        )
        session.add(episode)
        session.flush()
        session.add(
            TranscodeJob(
                brand_id=brand.brand.id,
                episode_id=episode.id,
                source_path=str(kept_upload),
                state=JobState.FAILED,
            )
        )
        session.commit()
    orphans = [
        _file(media / "0b7e1f6a-3c1d-4e2a-9f00-000000000003.mp4", age_s=day),
        _file(media / "0b7e1f6a-3c1d-4e2a-9f00-000000000004.upload", age_s=day),
        _file(media / "0b7e1f6a-3c1d-4e2a-9f00-000000000005.mov", age_s=day),
    ]
    # and files the sweep must leave: one written an hour ago (its commit may be on its way), and
    # files ReelCart did not name
    recent = _file(media / "0b7e1f6a-3c1d-4e2a-9f00-000000000006.mp4", age_s=3600)
    foreign = [_file(media / "intro.mp4", age_s=day), _file(media / "README", age_s=day)]

    with TestClient(create_app(settings, engine=engine, job_queue=job_queue)) as client:
        assert client.get("/healthz").status_code == 200

    assert [path.exists() for path in orphans] == [False, False, False]
    assert [path.exists() for path in (played, kept_upload, recent, *foreign)] == [True] * 5


def test_a_database_that_names_no_episode_file_sweeps_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A new or restored database pointed at a media dir full of episodes: not a day of orphans
    files = [
        _file(tmp_path / "episodes" / f"0b7e1f6a-3c1d-4e2a-9f00-00000000000{n}.mp4", age_s=10**6)
        for n in (1, 2)
    ]
    caplog.set_level(logging.WARNING, logger="reelcart.housekeeping")

    assert sweep_orphaned_episode_files(tmp_path, set()) == []
    # nor one that names only a file registered by path (`reelcart demo` run on the new database)
    assert sweep_orphaned_episode_files(tmp_path, {"demo-episode.mp4"}) == []

    assert [path.exists() for path in files] == [True, True]
    assert "episode files not swept: the database names none of the 2 stored in" in caplog.text


def test_the_episode_file_sweep_decides_by_name_and_age(tmp_path: Path) -> None:
    name = "0b7e1f6a-3c1d-4e2a-9f00-0000000000aa.mp4"
    orphan = _file(tmp_path / "episodes" / name, age_s=0)
    written = orphan.stat().st_mtime

    kept = _file(tmp_path / "episodes" / "0b7e1f6a-3c1d-4e2a-9f00-0000000000bb.mp4", age_s=10**6)
    named = {kept.name}  # another episode's file
    assert sweep_orphaned_episode_files(tmp_path, named, older_than_s=60, now=written + 59) == []
    assert sweep_orphaned_episode_files(tmp_path, {name, kept.name}, older_than_s=60, now=written + 61) == []
    assert sweep_orphaned_episode_files(tmp_path, named, older_than_s=60, now=written + 61) == [orphan]
    assert kept.exists()
    assert sweep_orphaned_episode_files(tmp_path / "missing", named) == []


def _upload_then_disconnect(app: FastAPI, key: str) -> list[dict[str, Any]]:
    """POST an upload whose client sends one chunk of a larger body, then goes away."""
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"\x00" * 64_000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # a gone client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/episodes/upload",
        "raw_path": b"/v1/episodes/upload",
        "query_string": b"title=Pilot",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"video/mp4"),
            (b"content-length", b"10000000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    return sent


def test_a_client_that_disconnects_mid_upload_is_an_info_line_and_leaves_no_file(
    settings: ApiSettings,
    engine: Engine,
    job_queue: JobQueue,
    brand: BrandAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings, engine=engine, job_queue=job_queue)
    caplog.set_level(logging.INFO)

    sent = _upload_then_disconnect(app, brand.key)

    (start,) = [message for message in sent if message["type"] == "http.response.start"]
    assert start["status"] == 499  # logged and counted as "client closed request"; nobody reads it
    assert [record.levelname for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert "client disconnected before POST /v1/episodes/upload was read" in caplog.messages
    assert list((settings.media_dir / "episodes").iterdir()) == []
    with Session(engine) as session:
        assert session.exec(select(Episode)).all() == []
