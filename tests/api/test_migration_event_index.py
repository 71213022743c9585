"""Migrations 0027 and 0031: the events are read by (placement_id, type), then by (placement_id, type,
occurred_at); the index before each goes. Built without blocking the players' events on PostgreSQL (CREATE
INDEX CONCURRENTLY), and undone the same way; these and 0029 (the Buy presses' index) finish when the
upgrade is run again after an interruption, without rebuilding an index that is already usable."""

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


def test_events_are_indexed_by_placement_type_and_time_and_going_back_restores_each_older_index(
    migrated: Engine,
) -> None:
    assert {"ix_event_placement_type_time", "ix_event_episode_type"} <= event_indexes(migrated)
    assert not {"ix_event_placement_id", "ix_event_placement_type"} & event_indexes(migrated)

    command.downgrade(alembic_config(migrated), "0030")
    assert "ix_event_placement_type" in event_indexes(migrated)
    assert "ix_event_placement_type_time" not in event_indexes(migrated)

    command.downgrade(alembic_config(migrated), "0026")
    assert "ix_event_placement_id" in event_indexes(migrated)
    assert "ix_event_placement_type" not in event_indexes(migrated)

    upgrade_database(migrated)
    assert "ix_event_placement_type_time" in event_indexes(migrated)
    assert not {"ix_event_placement_id", "ix_event_placement_type"} & event_indexes(migrated)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("revision", "left_behind", "columns"),
    [
        ("0026", "ix_event_placement_type", "placement_id, type"),
        ("0030", "ix_event_placement_type_time", "placement_id, type, occurred_at"),
    ],
)
def test_an_index_build_interrupted_on_postgresql_is_finished_by_upgrading_again(
    revision: str, left_behind: str, columns: str
) -> None:
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        command.downgrade(alembic_config(engine), revision)
        # What an interrupted CREATE INDEX CONCURRENTLY leaves: the index, outside any transaction
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f"CREATE INDEX {left_behind} ON event ({columns})"))

        upgrade_database(engine)

        assert "ix_event_placement_type_time" in event_indexes(engine)
        assert not {"ix_event_placement_id", "ix_event_placement_type"} & event_indexes(engine)
        engine.dispose()


def _index_oid_and_validity(engine: Engine, name: str) -> tuple[int, bool] | None:
    with engine.connect() as connection:
        row = connection.execute(
            sa.text(
                "SELECT indexrelid::oid::int, indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"
            ),
            {"n": name},
        ).one_or_none()
    return None if row is None else (int(row[0]), bool(row[1]))


_BUILT_BY = {
    "0027": ("0026", "ix_event_placement_type", "CREATE INDEX {name} ON event (placement_id, type)"),
    "0029": (
        "0028",
        "ix_event_buy_press",
        "CREATE INDEX {name} ON event (placement_id, occurred_at, received_at, click_id, type) "
        "WHERE (type = 'checkout_started' OR type LIKE 'checkout_failed:%')",
    ),
    "0031": (
        "0030",
        "ix_event_placement_type_time",
        "CREATE INDEX {name} ON event (placement_id, type, occurred_at)",
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("revision", sorted(_BUILT_BY))
@pytest.mark.parametrize("left_valid", [True, False], ids=["built-then-stopped", "build-interrupted"])
def test_upgrading_again_keeps_a_finished_index_and_rebuilds_an_invalid_one(
    revision: str, left_valid: bool
) -> None:
    """A migration that builds an index CONCURRENTLY and was stopped after the build finished (before the
    old index's drop, or before its revision was recorded) keeps that index as it is when the upgrade runs
    again: the table is never without a usable one while it is rebuilt. An invalid one (a build
    interrupted) is built again."""
    before_revision, name, create = _BUILT_BY[revision]
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        command.downgrade(alembic_config(engine), before_revision)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(create.format(name=name)))
            if not left_valid:
                connection.execute(
                    sa.text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(:name)"),
                    {"name": name},
                )
        before = _index_oid_and_validity(engine, name)
        assert before is not None
        assert before[1] is left_valid

        upgrade_database(engine, revision)

        after = _index_oid_and_validity(engine, name)
        assert after is not None
        assert after[1] is True
        assert (after[0] == before[0]) is left_valid  # kept as it was, or built anew
        engine.dispose()
