"""A throw-away ReelCart for measuring what a brand sees through the API on labelled episodes.

One SQLite database and media folder in a scratch directory, one brand with the catalog imported and an
API key, the episodes tagged by the real tag job executor, and the API (with the real link job executor
behind an inline queue) called over HTTP through FastAPI's test client. Used by `marks_loop.py` and
`settings_relink.py`; not part of the service.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.app import create_app
from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.cli.catalog import import_catalog_file
from api.cli.evaluate_episode import scored_placements
from api.db import create_db_engine, upgrade_database
from api.episodes.models import TagJob
from api.episodes.service import register_episode
from api.jobs.models import JobState
from api.jobs.queue import InlineJobQueue, JobKind, run_to_end
from api.jobs.tagger_adapter import PipelineTagFunction
from api.jobs.tagging import TagJobExecutor
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import LinkingService
from api.settings import ApiSettings, get_settings
from tagger.episode_eval import EpisodeScore, TruthShot, score_episode


@dataclass(frozen=True)
class Labelled:
    video: Path
    truth: list[TruthShot]
    episode_id: uuid.UUID


@dataclass(frozen=True)
class World:
    engine: Engine
    settings: ApiSettings
    linking: LinkingService
    brand_id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def open_world(
    catalog: Path, videos: Sequence[Path], left_out: frozenset[str], scratch: Path, *, name: str
) -> World:
    """A database with one brand (`name`) and the catalog imported without the `left_out` SKUs."""
    settings = get_settings().model_copy(
        update={
            "database_url": f"sqlite:///{scratch / 'world.db'}",
            "media_dir": scratch / "media",
            "media_import_roots": sorted({video.resolve().parent for video in videos}),
            "worker_threads": 0,
        }
    )
    settings.media_dir.mkdir(parents=True)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    linking = LinkingService(engine, settings)
    slug = name.lower().replace(" ", "-")
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name=name, slug=slug)
        session.add(brand)
        session.commit()
        import_catalog_file(session, brand.id, catalog, settings.media_dir, skip_skus=left_out)
        key = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=slug).secret
        session.commit()
    return World(engine, settings, linking, brand.id, key)


def tagged(world: World, video: Path, truth: list[TruthShot]) -> Labelled:
    """The episode registered and tagged by a tag job, run to its end here."""
    with Session(world.engine, expire_on_commit=False) as session:
        episode = register_episode(
            session,
            world.settings,
            brand_id=world.brand_id,
            title=video.name,
            path=video.resolve(),
            source="path",
        )
        job = TagJob(brand_id=world.brand_id, episode_id=episode.id)
        session.add(job)
        session.commit()
    print(f"tagging {video.name}", flush=True)
    tag = PipelineTagFunction(world.settings, linking=world.linking)
    run_to_end(TagJobExecutor(world.engine, world.settings, tag), job.id)
    with Session(world.engine) as session:
        done = session.get(TagJob, job.id)
        if done is None or done.state != JobState.DONE:
            raise SystemExit(f"the tag job of {video.name} failed: {done.error if done else 'it vanished'}")
    return Labelled(video, truth, episode.id)


def score(world: World, episode: Labelled, left_out: frozenset[str]) -> EpisodeScore:
    with Session(world.engine) as session:
        placements = scored_placements(session, world.brand_id, episode.episode_id)
    return score_episode(episode.truth, placements, left_out=left_out)


def counts(score: EpisodeScore) -> dict[str, int]:
    return {
        "product_shots": score.product_shots,
        "found": score.found,
        "top1_right": score.top1_right,
        "approved_shots": score.auto_approved_shots,
        "approved_right": score.auto_approved_right,
        "approved_wrong": score.auto_approved_wrong,
        "left_out_approved": score.left_out_auto_approved,
    }


@contextmanager
def api_client(world: World) -> Iterator[TestClient]:
    """The API over HTTP, its link jobs run by the real executor as soon as they are queued."""
    queue = InlineJobQueue()
    queue.bind({JobKind.LINK: LinkJobExecutor(world.engine, world.settings, world.linking)})
    app = create_app(world.settings, engine=world.engine, job_queue=queue)
    with TestClient(app) as client:
        yield client


def followed_job(client: TestClient, world: World, answer: Any) -> dict[str, Any] | None:
    """The link job an answer's `Link` header names (already run by the inline queue), or None."""
    monitor = answer.headers.get("Link", "")
    if not monitor:
        return None
    job: dict[str, Any] = client.get(monitor[1 : monitor.index(">")], headers=world.headers).json()
    return job


def refuse_failed_link_jobs(world: World) -> None:
    with Session(world.engine) as session:
        failed = session.exec(select(LinkJob).where(LinkJob.state == JobState.FAILED)).all()
    if failed:
        raise SystemExit(f"a link job failed: {failed[0].error}")
