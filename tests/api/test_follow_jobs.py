"""A drawn placement followed through its span by a follow job (`POST /v1/placements/{id}/follow-jobs`),
through HTTP with the real follower on a real video: the hotspot's boxes move with the product and the
timeline serves them; a person's edit made meanwhile wins; a box over nothing to match stays and says why;
what cannot be followed is refused with a reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from api.app import create_app
from api.episodes.models import Episode, EpisodeStatus
from api.jobs.queue import InlineJobQueue, JobKind, JobRef
from api.review.follow_job import FollowJobExecutor
from api.review.models import FollowJob, Placement
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.tagger.factories import carried_frames, printed_face, write_video
from tests.utils.api import BrandAccount, RecordingQueue

WIDTH, HEIGHT, SIDE, FPS = 320, 240, 80, 30


class HeldQueue(InlineJobQueue):
    """Runs follow jobs when told to, so a test can act between queueing and running."""

    def __init__(self, executor: FollowJobExecutor) -> None:
        super().__init__({JobKind.FOLLOW: executor})
        self.held: list[JobRef] = []
        self.hold = False

    def enqueue(self, job: JobRef) -> None:
        if self.hold:
            self.held.append(job)
        else:
            super().enqueue(job)

    def release(self) -> None:
        held, self.held = self.held, []
        for job in held:
            super().enqueue(job)


@pytest.fixture
def carried_video(tmp_path: Path) -> Path:
    """2 s of a printed pack carried left to right and down, 3 px and 1 px a frame."""
    positions: list[tuple[int, int] | None] = [(10 + 3 * i, 40 + i) for i in range(60)]
    frames = carried_frames(positions, printed_face(SIDE), WIDTH, HEIGHT)
    return write_video(tmp_path / "carried.mp4", frames, fps=FPS)


@pytest.fixture
def follow_api(engine: Engine, settings: ApiSettings) -> Iterator[tuple[TestClient, HeldQueue]]:
    queue = HeldQueue(FollowJobExecutor(engine, settings))
    with TestClient(create_app(settings, engine=engine, job_queue=queue)) as client:
        yield client, queue


@dataclass
class Scene:
    """A brand's tagged episode of the carried pack, its Cola Zero, and the API that follows boxes."""

    client: TestClient
    queue: HeldQueue
    brand: BrandAccount
    episode: Episode
    product_id: uuid.UUID

    def draw(self, box: list[float]) -> Any:
        """The pack drawn at 1 s with `box`, over the whole video: the placement's JSON."""
        answer = self.client.post(
            f"/v1/episodes/{self.episode.id}/placements",
            json={
                "product_id": str(self.product_id),
                "start_ms": 0,
                "end_ms": 1967,
                "keyframes": [{"t_ms": 1000, "box": box}],
            },
            headers=self.brand.headers,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()


@pytest.fixture
def scene(
    follow_api: tuple[TestClient, HeldQueue],
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    carried_video: Path,
) -> Scene:
    client, queue = follow_api
    cola, _ = make_product(engine, brand.brand.id, "Cola Zero", sku="COLA-0")
    return Scene(client, queue, brand, _episode(engine, settings, brand, carried_video), cola.id)


def _episode(engine: Engine, settings: ApiSettings, brand: BrandAccount, video: Path) -> Episode:
    episode = make_episode(engine, brand.brand.id, settings, media_path=str(video), duration_ms=2000)
    with Session(engine, expire_on_commit=False) as session:
        stored = session.get_one(Episode, episode.id)
        stored.width, stored.height, stored.status = WIDTH, HEIGHT, EpisodeStatus.TAGGED
        session.add(stored)
        session.commit()
        return stored


# Drawn at 1 s, where the pack is at (100, 70)
DRAWN = [100 / WIDTH, 70 / HEIGHT, SIDE / WIDTH, SIDE / HEIGHT]


def test_a_drawn_box_followed_moves_with_the_product_on_the_timeline(
    scene: Scene, engine: Engine, brand: BrandAccount, carried_video: Path
) -> None:
    client, episode = scene.client, scene.episode
    drawn = scene.draw(DRAWN)

    # When the brand asks ReelCart to follow it (the job runs at once here)
    queued = client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)

    # Then the job is done and says what it stored
    assert queued.status_code == 202, queued.text
    job = client.get(queued.headers["location"], headers=brand.headers).json()
    assert (job["state"], job["error"], job["at_ms"], job["box"]) == ("done", None, 1000, DRAWN)
    assert job["summary"].startswith("followed in ")
    assert job["summary"].endswith(f"{job['keyframes']} keyframes stored")
    assert job["keyframes"] >= 2
    # And the placement's boxes start where the pack starts and end where it ends, not where it was drawn
    placement = client.get(f"/v1/placements/{drawn['id']}", headers=brand.headers)
    frames = placement.json()["keyframes"]
    assert (frames[0]["t_ms"], frames[-1]["t_ms"]) == (0, 1967)
    assert frames[0]["box"][:2] == pytest.approx([10 / WIDTH, 40 / HEIGHT], abs=0.02)
    assert frames[-1]["box"][:2] == pytest.approx([(10 + 3 * 59) / WIDTH, (40 + 59) / HEIGHT], abs=0.02)
    assert placement.headers["etag"] == '"2"'
    # And players get the moving boxes
    [hotspot] = client.get(f"/v1/episodes/{episode.id}/timeline").json()["placements"]
    assert hotspot["keyframes"] == frames
    # And the history says the follower moved them
    history = client.get(f"/v1/placements/{drawn['id']}/history", headers=brand.headers).json()
    assert [(entry["actor"], entry["action"]) for entry in history] == [
        (f"key:{brand.brand.slug}-key", "draw"),
        ("follower", "follow"),
    ]
    # And following it again starts from the box the person drew, not one the follower derived
    again = client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)
    second = client.get(again.headers["location"], headers=brand.headers).json()
    assert (second["state"], second["at_ms"], second["box"]) == ("done", 1000, DRAWN)


def test_an_edit_made_while_the_box_is_followed_wins(
    scene: Scene, engine: Engine, brand: BrandAccount, carried_video: Path
) -> None:
    client = scene.client
    queue = scene.queue
    drawn = scene.draw(DRAWN)
    queue.hold = True
    queued = client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)
    # A second request while it waits is refused
    again = client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)

    # When the brand moves the box by hand before the job runs
    moved = [0.5, 0.5, 0.2, 0.2]
    edit = client.patch(
        f"/v1/placements/{drawn['id']}",
        json={"keyframes": [{"t_ms": 500, "box": moved}]},
        headers={**brand.headers, "If-Match": '"1"'},
    )
    queue.release()

    # Then the job stores nothing over it, and says why
    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("/job-in-progress")
    assert edit.status_code == 200, edit.text
    job = client.get(queued.headers["location"], headers=brand.headers).json()
    assert (job["state"], job["keyframes"]) == ("done", 0)
    assert job["summary"].startswith("nothing stored: the placement was edited while it was followed")
    after = client.get(f"/v1/placements/{drawn['id']}", headers=brand.headers).json()
    assert after["keyframes"] == [{"t_ms": 500, "box": moved}]


def test_a_box_over_nothing_to_match_stays_where_it_was_drawn(
    scene: Scene, engine: Engine, brand: BrandAccount, carried_video: Path
) -> None:
    client = scene.client
    plain = [0.7, 0.75, 0.25, 0.2]
    drawn = scene.draw(plain)

    queued = client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)

    job = client.get(queued.headers["location"], headers=brand.headers).json()
    assert (job["state"], job["keyframes"]) == ("done", 0)
    assert job["summary"].startswith("nothing stored: too little texture in the box to follow")
    after = client.get(f"/v1/placements/{drawn['id']}", headers=brand.headers).json()
    assert (after["keyframes"], after["version"]) == ([{"t_ms": 1000, "box": plain}], 1)


def test_an_episode_that_no_longer_decodes_fails_the_job_with_its_reason(
    scene: Scene, engine: Engine, brand: BrandAccount, carried_video: Path
) -> None:
    client = scene.client
    drawn = scene.draw(DRAWN)
    carried_video.write_bytes(b"not a video any more")

    queued = client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)

    job = client.get(queued.headers["location"], headers=brand.headers).json()
    assert job["state"] == "failed"
    assert "carried.mp4" in (job["error"] or "")
    assert job["summary"] == f"nothing stored: {job['error']}"
    after = client.get(f"/v1/placements/{drawn['id']}", headers=brand.headers).json()
    assert after["keyframes"] == [{"t_ms": 1000, "box": DRAWN}]


def test_what_cannot_be_followed_is_refused_before_any_job(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    other_brand: BrandAccount,
    job_queue: RecordingQueue,
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    tagged = make_placement(engine, episode)

    refusals = {
        "the tagger's": client.post(f"/v1/placements/{tagged.id}/follow-jobs", headers=brand.headers),
        "another brand's": client.post(
            f"/v1/placements/{tagged.id}/follow-jobs", headers=other_brand.headers
        ),
        "no key": client.post(f"/v1/placements/{tagged.id}/follow-jobs"),
        "a bad body": client.post(
            f"/v1/placements/{tagged.id}/follow-jobs", json={"t_ms": -5}, headers=brand.headers
        ),
    }

    assert {name: answer.status_code for name, answer in refusals.items()} == {
        "the tagger's": 409,
        "another brand's": 404,
        "no key": 401,
        "a bad body": 422,
    }
    assert refusals["the tagger's"].json()["type"].endswith("/not-drawn-by-hand")
    assert job_queue.enqueued == []
    with Session(engine) as session:
        assert session.get(Placement, tagged.id) is not None
        assert session.exec(select(func.count()).select_from(FollowJob)).one() == 0


def test_an_episode_is_deleted_with_its_follow_jobs_but_not_while_one_runs(
    scene: Scene, engine: Engine, brand: BrandAccount, carried_video: Path
) -> None:
    client, episode = scene.client, scene.episode
    queue = scene.queue
    drawn = scene.draw(DRAWN)
    queue.hold = True
    client.post(f"/v1/placements/{drawn['id']}/follow-jobs", headers=brand.headers)

    busy = client.delete(f"/v1/episodes/{episode.id}", headers=brand.headers)
    queue.release()
    deleted = client.delete(f"/v1/episodes/{episode.id}", headers=brand.headers)

    assert busy.status_code == 409, busy.text
    assert "follow job" in busy.json()["detail"]
    assert deleted.status_code == 204, deleted.text
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(FollowJob)).one() == 0
        assert session.get(Placement, uuid.UUID(drawn["id"])) is None
