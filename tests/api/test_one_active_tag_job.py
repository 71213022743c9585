"""One queued or running tag job per episode, held by the database (migration 0019): two requests racing
past the route's check used to both queue a job, and both tagged the episode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.cli.demo import _drop_interrupted_tag_jobs
from api.db import alembic_config, upgrade_database
from api.episodes import router as episodes_router
from api.episodes.models import TagJob
from api.jobs.models import JobState
from api.settings import ApiSettings
from tests.api.factories import make_episode
from tests.api.migration_support import migrated_with_a_brand
from tests.utils.api import BrandAccount

SETTINGS = ApiSettings(environment="development")


def test_a_request_that_raced_past_the_check_is_refused_by_the_index(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an episode with a queued tag job, and a second request that got past the route's check first
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine) as session:
        session.add(TagJob(brand_id=brand.brand.id, episode_id=episode.id))
        session.commit()
    check = episodes_router._refuse_if_tagging
    calls: list[uuid.UUID] = []

    def raced_past_once(session: Session, episode_id: uuid.UUID) -> None:
        calls.append(episode_id)
        if len(calls) > 1:
            check(session, episode_id)

    monkeypatch.setattr(episodes_router, "_refuse_if_tagging", raced_past_once)

    answer = client.post(f"/v1/episodes/{episode.id}/tag-jobs", headers=brand.headers)

    # Then its insert is refused, and it answers the 409 the check would have, naming the job that runs
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"].endswith("/job-in-progress")
    with Session(engine) as session:
        assert len(session.exec(select(TagJob).where(TagJob.episode_id == episode.id)).all()) == 1


def test_the_upgrade_keeps_the_running_tag_job_of_an_episode_and_fails_the_others(tmp_path: Path) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    # Episodes made with today's columns, then the schema taken back to before 0019 (it keeps them)
    twice, once = make_episode(engine, brand_id, SETTINGS), make_episode(engine, brand_id, SETTINGS)
    command.downgrade(alembic_config(engine), "0018")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        # (queued first, then running: the running one's worker is at it, so it is the one kept)
        TagJob(brand_id=brand_id, episode_id=twice.id, created_at=start),
        TagJob(
            brand_id=brand_id,
            episode_id=twice.id,
            state=JobState.RUNNING,
            created_at=start + timedelta(seconds=1),
        ),
        TagJob(
            brand_id=brand_id, episode_id=twice.id, state=JobState.DONE, created_at=start - timedelta(days=1)
        ),
        TagJob(brand_id=brand_id, episode_id=once.id, created_at=start + timedelta(seconds=2)),
    ]
    with Session(engine, expire_on_commit=False) as session:
        session.add_all(rows)
        session.commit()

    upgrade_database(engine)

    with Session(engine) as session:
        states = [session.get_one(TagJob, row.id) for row in rows]
        assert [job.state for job in states] == [
            JobState.FAILED,
            JobState.RUNNING,
            JobState.DONE,
            JobState.QUEUED,
        ]
        assert states[0].error == "superseded: another tag job for this episode was already queued or running"
        assert states[0].finished_at is not None
        # And from now on a second active job for an episode cannot be stored
        session.add(TagJob(brand_id=brand_id, episode_id=once.id))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_demo_run_after_an_interrupted_one_fails_the_job_it_left_and_may_tag_again(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given the job a demo stopped with Ctrl-C left running (no service takes the demo's jobs)
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine, expire_on_commit=False) as session:
        left = TagJob(brand_id=brand.brand.id, episode_id=episode.id, state=JobState.RUNNING)
        session.add(left)
        session.commit()

    with Session(engine) as session:
        _drop_interrupted_tag_jobs(session, episode.id)
        session.add(TagJob(brand_id=brand.brand.id, episode_id=episode.id))
        session.commit()  # the next run's job (it used to be an IntegrityError traceback)

    with Session(engine) as session:
        stopped = session.get_one(TagJob, left.id)
        assert (stopped.state, stopped.error) == (
            JobState.FAILED,
            "interrupted: the demo was stopped while it tagged",
        )
