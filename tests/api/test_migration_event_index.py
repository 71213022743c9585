"""Migration 0027: the events are read by (placement_id, type); the index on placement_id alone goes. Built
without blocking the players' events on PostgreSQL (CREATE INDEX CONCURRENTLY), and undone the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from api.db import alembic_config, create_db_engine, upgrade_database
from tests.fixtures.api import throwaway_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own at the newest revision (the migrations run again here)."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'events.db'}")
        upgrade_database(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        upgrade_database(engine)
        yield engine
        engine.dispose()


def event_indexes(engine: Engine) -> set[str]:
    return {index["name"] or "" for index in sa.inspect(engine).get_indexes("event")}


def test_events_are_indexed_by_placement_and_type_and_going_back_restores_the_old_index(
    migrated: Engine,
) -> None:
    assert {"ix_event_placement_type", "ix_event_episode_type"} <= event_indexes(migrated)
    assert "ix_event_placement_id" not in event_indexes(migrated)

    command.downgrade(alembic_config(migrated), "0026")
    assert "ix_event_placement_id" in event_indexes(migrated)
    assert "ix_event_placement_type" not in event_indexes(migrated)

    upgrade_database(migrated)
    assert "ix_event_placement_type" in event_indexes(migrated)
    assert "ix_event_placement_id" not in event_indexes(migrated)


@pytest.mark.postgres
def test_an_index_build_interrupted_on_postgresql_is_finished_by_upgrading_again() -> None:
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        command.downgrade(alembic_config(engine), "0026")
        # What an interrupted CREATE INDEX CONCURRENTLY leaves: the index, outside any transaction
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("CREATE INDEX ix_event_placement_type ON event (placement_id, type)"))

        upgrade_database(engine)

        assert "ix_event_placement_type" in event_indexes(engine)
        assert "ix_event_placement_id" not in event_indexes(engine)
        engine.dispose()
