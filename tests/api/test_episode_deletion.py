"""`DELETE /v1/episodes/{id}`: the episode and everything only about it go (placements, their history,
analytics, finished jobs, stored files); an episode shoppers bought from, or one a job is working on, is
kept with a 409 saying why; a server file registered by path is never deleted."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

import api.episodes.service as episode_service
from api.analytics.models import Event
from api.episodes.models import Episode, TagJob, TranscodeJob
from api.jobs.models import JobState
from api.review.models import Placement, PlacementStatus, ReviewAction
from api.settings import ApiSettings
from tests.api.commerce_support import Shoppable, World, connect_stripe, make_shoppable
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_checkout, make_placement, make_product
from tests.api.test_episode_media import disk_full, make_gif, run_transcodes, stored_episodes
from tests.utils.api import BrandAccount, RecordingQueue, make_video, upload_episode
from tests.utils.webhooks import count

PROBLEMS = "https://reelcart.dev/problems/"


def uploaded(client: TestClient, brand: BrandAccount, video: Path, title: str = "Pilot") -> dict[str, Any]:
    response = upload_episode(client, brand, video.read_bytes(), title=title)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def stored(engine: Engine, episode_id: str) -> Episode:
    with Session(engine, expire_on_commit=False) as session:
        episode = session.get(Episode, uuid.UUID(episode_id))
        assert episode is not None
        return episode


def delete(client: TestClient, brand: BrandAccount, episode_id: str) -> httpx.Response:
    response: httpx.Response = client.delete(f"/v1/episodes/{episode_id}", headers=brand.headers)
    return response


def test_deleting_an_episode_removes_it_its_placements_analytics_jobs_and_files(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    # Given a tagged episode with an approved hotspot, its review history, a viewer's events, a finished
    # tag job and thumbnails, and a second episode of the brand
    data = uploaded(client, brand, make_video(tmp_path / "pilot.mp4"))
    other = uploaded(client, brand, make_video(tmp_path / "second.mp4"), title="Second")
    episode = stored(engine, data["id"])
    product, _ = make_product(engine, brand.brand.id, "Oat drink", sku="OAT-1")
    placement = make_placement(engine, episode, candidates=[product])
    etag = client.get(f"/v1/placements/{placement.id}", headers=brand.headers).headers["ETag"]
    approved = client.post(
        f"/v1/placements/{placement.id}/approve",
        json={"product_id": str(product.id)},
        headers={**brand.headers, "If-Match": etag},
    )
    assert approved.status_code == 200, approved.text
    impression = {"type": "hotspot_impression", "episode_id": data["id"], "placement_id": str(placement.id)}
    assert client.post("/v1/events", json={"events": [impression]}).json()["accepted"] == 1
    with Session(engine) as session:
        session.add(TagJob(brand_id=brand.brand.id, episode_id=episode.id, state=JobState.DONE))
        session.commit()
    thumbnails = settings.media_dir / "thumbnails" / data["id"]
    thumbnails.mkdir(parents=True)
    (thumbnails / "crop-1.jpg").write_bytes(b"jpeg")
    timeline = client.get(f"/v1/episodes/{data['id']}/timeline")
    assert len(timeline.json()["placements"]) == 1
    files_before = stored_episodes(settings)

    # When the brand deletes it
    response = delete(client, brand, data["id"])

    # Then it is gone, with everything only about it, and the other episode is untouched
    assert response.status_code == 204
    assert client.get(f"/v1/episodes/{data['id']}", headers=brand.headers).status_code == 404
    assert client.get(f"/v1/episodes/{data['id']}/timeline").status_code == 404
    listed = client.get("/v1/episodes", headers=brand.headers).json()
    assert [item["id"] for item in listed["items"]] == [other["id"]]
    assert [count(engine, table) for table in (Placement, ReviewAction, Event, TagJob)] == [0, 0, 0, 0]
    assert not thumbnails.exists()
    assert [path for path in files_before if path.exists()] == [Path(stored(engine, other["id"]).media_path)]
    # And deleting it again is a 404
    assert delete(client, brand, data["id"]).status_code == 404


def test_an_episode_shoppers_bought_from_is_kept(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    data = uploaded(client, brand, make_video(tmp_path / "pilot.mp4"))
    episode = stored(engine, data["id"])
    product, variant = make_product(engine, brand.brand.id, "Oat drink", sku="OAT-1")
    placement = make_placement(engine, episode, candidates=[product], status=PlacementStatus.APPROVED)
    make_checkout(engine, placement, variant.id, click_id="click-1")

    response = delete(client, brand, data["id"])

    assert (response.status_code, response.json()["type"]) == (409, PROBLEMS + "already-sold")
    assert "1 checkout(s)" in response.json()["detail"]
    assert "reject its placements" in response.json()["detail"]
    assert client.get(f"/v1/episodes/{data['id']}", headers=brand.headers).status_code == 200
    assert count(engine, Placement) == 1
    assert Path(episode.media_path).exists()


def test_an_episode_a_job_is_working_on_is_kept_until_the_job_is_done(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    # A GIF upload: processing, its transcode job queued
    processing = uploaded(client, brand, make_gif(tmp_path / "loop.gif"))
    assert processing["status"] == "processing"
    refused = delete(client, brand, processing["id"])
    assert (refused.status_code, refused.json()["type"]) == (409, PROBLEMS + "job-in-progress")
    assert "queued transcode job" in refused.json()["detail"]

    # A playable episode being tagged
    tagged = uploaded(client, brand, make_video(tmp_path / "pilot.mp4"))
    assert client.post(f"/v1/episodes/{tagged['id']}/tag-jobs", headers=brand.headers).status_code == 202
    busy = delete(client, brand, tagged["id"])
    assert (busy.status_code, busy.json()["type"]) == (409, PROBLEMS + "job-in-progress")
    assert "queued tag job" in busy.json()["detail"]
    assert count(engine, Episode) == 2


def test_an_unplayable_episode_is_deleted_with_the_upload_its_transcode_kept(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    job_queue: RecordingQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(episode_service, "transcode_for_browsers", disk_full)
    data = uploaded(client, brand, make_gif(tmp_path / "loop.gif"))
    run_transcodes(engine, settings, job_queue)
    assert [path.suffix for path in stored_episodes(settings)] == [".upload"]

    assert delete(client, brand, data["id"]).status_code == 204

    assert stored_episodes(settings) == []
    assert count(engine, TranscodeJob) == 0


def test_a_server_file_registered_by_path_is_never_deleted(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    root = settings.media_import_roots[0]
    source = make_video(root / "library" / "pilot.mp4")
    registered = client.post(
        "/v1/episodes", json={"title": "Pilot", "path": str(source)}, headers=brand.headers
    ).json()

    assert delete(client, brand, registered["id"]).status_code == 204

    assert source.exists()
    assert count(engine, Episode) == 0


def test_a_file_registered_by_path_inside_the_media_dir_is_never_deleted(
    brand: BrandAccount, engine: Engine, settings: ApiSettings, client: TestClient
) -> None:
    # As the demo registers its episode: by path, in the media dir (but not under a name ReelCart gave it)
    source = make_video(settings.media_dir / "demo" / "demo-episode.mp4")
    copy = make_video(settings.media_dir / "episodes" / "my-cut.mp4")
    ids = []
    for path in (source, copy):
        with Session(engine) as session:
            episode = Episode(
                brand_id=brand.brand.id,
                title="Demo",
                source="path",
                media_path=str(path),
                duration_ms=1000,
                fps=10.0,
                time_base="1/10",
                width=64,
                height=48,
            )
            session.add(episode)
            session.commit()
            ids.append(str(episode.id))

    assert [delete(client, brand, episode_id).status_code for episode_id in ids] == [204, 204]

    assert (source.exists(), copy.exists()) == (True, True)


def test_another_brands_episode_is_not_found_and_kept(
    client: TestClient, brand: BrandAccount, other_brand: BrandAccount, engine: Engine, tmp_path: Path
) -> None:
    data = uploaded(client, brand, make_video(tmp_path / "pilot.mp4"))

    response = delete(client, other_brand, data["id"])

    assert (response.status_code, response.json()["type"]) == (404, PROBLEMS + "not-found")
    assert count(engine, Episode) == 1
    assert client.delete(f"/v1/episodes/{data['id']}").status_code == 401


def test_events_and_checkouts_racing_a_deletion_get_answers_not_errors(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, tmp_path: Path
) -> None:
    skip_unless_postgres(engine)
    video = make_video(tmp_path / "pilot.mp4")
    for round_number in range(4):
        data = uploaded(client, brand, video, title=f"Round{round_number}")
        episode = stored(engine, data["id"])
        placement = make_placement(engine, episode)
        impression = {
            "type": "hotspot_impression",
            "episode_id": data["id"],
            "placement_id": str(placement.id),
        }

        def send(kind: str, impression: dict[str, Any] = impression, episode_id: str = data["id"]) -> int:
            response = (
                delete(client, brand, episode_id)
                if kind == "delete"
                else client.post("/v1/events", json={"events": [impression]})
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            codes = list(pool.map(send, ["events", "delete", "events", "events"]))

        assert codes[1] == 204
        assert set(codes[0:1] + codes[2:]) <= {202}
    assert count(engine, Event) == 0


def test_a_checkout_racing_a_deletion_either_keeps_the_episode_or_finds_it_gone(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    connect_stripe(world.client, brand)
    for round_number in range(6):
        item = make_shoppable(engine, settings, brand, sku=f"HOODIE-{round_number}")

        def send(kind: str, item: Shoppable = item, click: str = f"click-000{round_number}") -> int:
            response: httpx.Response = (
                world.client.delete(f"/v1/episodes/{item.episode.id}", headers=brand.headers)
                if kind == "delete"
                else world.client.post("/v1/checkout", json=item.checkout_body(click_id=click))
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            checkout, deletion = pool.map(send, ["checkout", "delete"])

        # The checkout came first (the episode is sold from, and kept) or the deletion did (not found)
        assert (checkout, deletion) in {(201, 409), (404, 204)}
        with Session(engine) as session:
            assert (session.get(Episode, item.episode.id) is None) == (deletion == 204)
