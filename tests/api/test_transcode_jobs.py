"""An upload browsers cannot play is transcoded by a job, never inside its request: the request answers
with the episode `processing`; a video that does not convert leaves it `unplayable`, saying why; an
upload retried with its `Idempotency-Key` answers the first episode instead of registering a second."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

import api.episodes.service as episode_service
from api.episodes.models import Episode, TranscodeJob
from api.jobs.models import JobState
from api.jobs.queue import JobKind
from api.jobs.recovery import requeue_stale_jobs
from api.settings import ApiSettings
from tests.api.concurrency import skip_unless_postgres
from tests.api.test_episode_media import (
    assert_no_server_detail,
    disk_full,
    make_gif,
    media,
    refused_by_the_encoder,
    run_transcodes,
    stored_episodes,
)
from tests.utils.api import BrandAccount, RecordingQueue, make_video, upload_episode
from tests.utils.webhooks import count

PROBLEMS = "https://reelcart.dev/problems/"


def upload(client: TestClient, brand: BrandAccount, data: bytes, key: str | None = None) -> httpx.Response:
    return upload_episode(client, brand, data, title="Ep 1", filename="loop.gif", key=key)


def test_a_video_that_does_not_convert_leaves_the_episode_unplayable_and_says_why(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    job_queue: RecordingQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an upload whose frames FFmpeg cannot encode (the encoder fails on them)
    monkeypatch.setattr(episode_service, "transcode_for_browsers", refused_by_the_encoder)
    response = upload(client, brand, make_gif(tmp_path / "loop.gif").read_bytes())
    assert (response.status_code, response.json()["status"]) == (201, "processing")

    # When its transcode job runs
    assert run_transcodes(engine, settings, job_queue) == 1

    # Then the episode is unplayable and says why, in the brand's name for the file
    episode = client.get(f"/v1/episodes/{response.json()['id']}", headers=brand.headers).json()
    reason = "loop.gif could not be converted to H.264: Invalid data"
    assert (episode["status"], episode["media_error"]) == ("unplayable", reason)
    job = client.get(episode["transcode_job"], headers=brand.headers).json()
    assert (job["state"], job["error"]) == ("failed", reason)
    listed = client.get(f"/v1/transcode-jobs?episode_id={episode['id']}", headers=brand.headers).json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    # And nothing can be done with it: it cannot be tagged, and the upload is not kept
    tag = client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=brand.headers)
    assert (tag.status_code, tag.json()["type"]) == (409, PROBLEMS + "episode-unplayable")
    assert reason in tag.json()["detail"]
    played = media(client, settings, episode["id"])
    assert (played.status_code, played.json()["type"]) == (409, PROBLEMS + "episode-unplayable")
    assert stored_episodes(settings) == []


def test_a_transcode_that_fails_for_another_reason_than_the_video_keeps_the_upload(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    job_queue: RecordingQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the media volume fills up while the transcode writes (the machine's fault, not the video's)
    monkeypatch.setattr(episode_service, "transcode_for_browsers", disk_full)
    response = upload(client, brand, make_gif(tmp_path / "loop.gif").read_bytes())

    run_transcodes(engine, settings, job_queue)

    # Then the episode cannot be played, but the brand's upload is still there to try again
    episode = client.get(f"/v1/episodes/{response.json()['id']}", headers=brand.headers).json()
    assert episode["status"] == "unplayable"
    assert [path.suffix for path in stored_episodes(settings)] == [".upload"]
    tag = client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=brand.headers)
    assert f"POST /v1/episodes/{episode['id']}/transcode-jobs" in tag.json()["detail"]

    # When the disk has room again and the brand asks for the transcode again
    monkeypatch.undo()
    retried = client.post(f"/v1/episodes/{episode['id']}/transcode-jobs", headers=brand.headers)
    assert retried.status_code == 202
    assert retried.headers["Location"] == f"/v1/transcode-jobs/{retried.json()['id']}"
    processing = client.get(f"/v1/episodes/{episode['id']}", headers=brand.headers).json()
    assert (processing["status"], processing["media_error"]) == ("processing", None)
    assert processing["transcode_job"] == retried.headers["Location"]
    assert run_transcodes(engine, settings, job_queue) == 1

    # Then the episode is registered, plays the transcode, and the upload is gone
    done = client.get(f"/v1/episodes/{episode['id']}", headers=brand.headers).json()
    assert (done["status"], done["codec"], done["transcode_job"]) == ("registered", "h264", None)
    assert [path.suffix for path in stored_episodes(settings)] == [".mp4"]
    assert client.get(retried.headers["Location"], headers=brand.headers).json()["state"] == "done"
    # And it has nothing left to transcode
    again = client.post(f"/v1/episodes/{episode['id']}/transcode-jobs", headers=brand.headers)
    assert (again.status_code, again.json()["type"]) == (409, PROBLEMS + "nothing-to-transcode")


def test_a_transcode_cannot_be_tried_again_while_one_runs_or_once_the_file_is_gone(
    client: TestClient,
    brand: BrandAccount,
    other_brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    job_queue: RecordingQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    response = upload(client, brand, make_gif(tmp_path / "loop.gif").read_bytes())
    episode_id = response.json()["id"]
    # While its first transcode is queued
    queued = client.post(f"/v1/episodes/{episode_id}/transcode-jobs", headers=brand.headers)
    assert (queued.status_code, queued.json()["type"]) == (409, PROBLEMS + "episode-processing")

    # Another brand's key does not find the episode at all
    foreign = client.post(f"/v1/episodes/{episode_id}/transcode-jobs", headers=other_brand.headers)
    assert foreign.status_code == 404

    # A video that does not convert is deleted: nothing is left to try again
    monkeypatch.setattr(episode_service, "transcode_for_browsers", refused_by_the_encoder)
    run_transcodes(engine, settings, job_queue)
    gone = client.post(f"/v1/episodes/{episode_id}/transcode-jobs", headers=brand.headers)
    assert (gone.status_code, gone.json()["type"]) == (409, PROBLEMS + "episode-source-gone")
    assert "upload the video again" in gone.json()["detail"]
    assert_no_server_detail(gone, settings)
    assert count(engine, TranscodeJob) == 1


def test_a_transcode_whose_workers_keep_dying_is_given_up_and_its_episode_says_so(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    # Given an upload whose transcode killed its worker on each of 3 attempts (a video too big for it)
    response = upload(client, brand, make_gif(tmp_path / "loop.gif").read_bytes())
    with Session(engine) as session:
        job = session.exec(select(TranscodeJob)).one()
        job.state, job.attempts = JobState.RUNNING, 3
        job.heartbeat_at = datetime.now(UTC) - timedelta(minutes=10)
        session.add(job)
        session.commit()

    # When the job supervisor finds it
    with Session(engine) as session:
        assert requeue_stale_jobs(session, lease_s=60, max_attempts=3) == []
        session.commit()

    # Then the episode is unplayable with the reason, not processing for ever, and the upload is gone
    episode = client.get(f"/v1/episodes/{response.json()['id']}", headers=brand.headers).json()
    assert episode["status"] == "unplayable"
    assert "stopped answering on each of 3 attempts" in episode["media_error"]
    assert stored_episodes(settings) == []


def test_a_playable_upload_is_registered_in_its_request_and_queues_no_job(
    client: TestClient, brand: BrandAccount, job_queue: RecordingQueue, tmp_path: Path
) -> None:
    response = upload(client, brand, make_video(tmp_path / "clip.mp4").read_bytes())

    assert (response.status_code, response.json()["status"], response.json()["transcode_job"]) == (
        201,
        "registered",
        None,
    )
    assert [job for job in job_queue.enqueued if job.kind is JobKind.TRANSCODE] == []


def test_an_upload_retried_with_its_key_answers_the_first_episode(
    client: TestClient,
    brand: BrandAccount,
    other_brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    gif = make_gif(tmp_path / "loop.gif").read_bytes()
    # Given an upload whose answer the brand never saw (a proxy timed out)
    first = upload(client, brand, gif, key="upload-7f3a")
    assert (first.status_code, first.json()["status"]) == (201, "processing")

    # When it sends it again with the same key, and again after the transcode
    again = upload(client, brand, gif, key="upload-7f3a")
    run_transcodes(engine, settings, job_queue)
    later = upload(client, brand, gif, key="upload-7f3a")

    # Then each answer is the first episode (200: nothing new), as it stands now
    assert [(r.status_code, r.json()["id"]) for r in (again, later)] == [(200, first.json()["id"])] * 2
    assert (again.json()["status"], later.json()["status"]) == ("processing", "registered")
    assert (count(engine, Episode), count(engine, TranscodeJob)) == (1, 1)
    # And another key, or another brand's same key, is another upload
    other_key = upload(client, brand, gif, key="upload-8b1c")
    other_brand_upload = upload(client, other_brand, gif, key="upload-7f3a")
    assert (other_key.status_code, other_brand_upload.status_code) == (201, 201)
    assert len({first.json()["id"], other_key.json()["id"], other_brand_upload.json()["id"]}) == 3


def test_a_key_reused_for_another_upload_is_a_409_naming_the_first(
    client: TestClient, brand: BrandAccount, engine: Engine, tmp_path: Path
) -> None:
    data = make_video(tmp_path / "clip.mp4").read_bytes()
    first = upload(client, brand, data, key="k-1")
    headers = {**brand.headers, "Content-Type": "video/mp4", "Idempotency-Key": "k-1"}

    # Another title, or the same title with another file (another size), is another upload
    other_title = client.post("/v1/episodes/upload?title=Ep%202", content=data, headers=headers)
    other_file = upload(client, brand, data + b"\0" * 100, key="k-1")
    cut_short = upload(client, brand, data[:10], key="k-1")

    for other in (other_title, other_file, cut_short):
        assert (other.status_code, other.json()["type"]) == (409, PROBLEMS + "idempotency-key-reused")
        assert first.json()["id"] in other.json()["detail"]
    assert f"{len(data)} bytes" in other_file.json()["detail"]
    assert count(engine, Episode) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "two words"])
def test_a_malformed_idempotency_key_is_a_422_before_the_body_is_stored(
    client: TestClient, brand: BrandAccount, settings: ApiSettings, tmp_path: Path, key: str
) -> None:
    response = client.post(
        "/v1/episodes/upload?title=Ep",
        content=make_video(tmp_path / "clip.mp4").read_bytes(),
        headers={
            **brand.headers,
            "Content-Type": "video/mp4",
            "Idempotency-Key": key.encode(),
        },
    )

    assert response.status_code == 422, response.text
    assert not (settings.media_dir / "episodes").exists() or stored_episodes(settings) == []


def test_uploads_racing_with_one_key_register_one_episode(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    skip_unless_postgres(engine)
    data = make_video(tmp_path / "clip.mp4").read_bytes()

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: upload(client, brand, data, key="race-1"), range(4)))

    assert sorted(response.status_code for response in responses) == [200, 200, 200, 201]
    assert len({response.json()["id"] for response in responses}) == 1
    assert count(engine, Episode) == 1
    # And the losers' files are gone: one stored video
    assert len(stored_episodes(settings)) == 1


def test_an_upload_that_lost_the_race_for_its_key_is_compared_by_the_bytes_it_sent(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import api.episodes.router as episodes_router  # noqa: PLC0415

    data = make_video(tmp_path / "clip.mp4").read_bytes()
    first = upload(client, brand, data, key="race-2")
    # A second upload with the key, sent chunked (no Content-Length) with another file, whose look for
    # the key ran before the first upload's commit (as when both are in flight at once)
    original = episodes_router._registered_under
    calls: list[int | None] = []

    def before_the_first_commit(*args: Any) -> Episode | None:
        calls.append(args[-1])
        return None if len(calls) == 1 else original(*args)

    monkeypatch.setattr(episodes_router, "_registered_under", before_the_first_commit)
    other = data + b"\0" * 100
    response = client.post(
        "/v1/episodes/upload?title=Ep%201&filename=loop.gif",
        content=iter([other[:1000], other[1000:]]),
        headers={**brand.headers, "Content-Type": "video/mp4", "Idempotency-Key": "race-2"},
    )

    # Then, its insert refused by the key's index, it is compared by the bytes it sent: another upload
    assert calls == [None, len(other)]
    assert (response.status_code, response.json()["type"]) == (409, PROBLEMS + "idempotency-key-reused")
    assert first.json()["id"] in response.json()["detail"]
    assert count(engine, Episode) == 1
    assert len(stored_episodes(settings)) == 1
