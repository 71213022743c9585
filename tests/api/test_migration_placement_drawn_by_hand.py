"""Migration 0032 on a database that holds placements: every one stored before it is the tagger's
(`drawn_by_hand` false), and going back and forth keeps every row."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session, select

from api.db import alembic_config, upgrade_database
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement
from tests.api.migration_support import migrated_with_a_brand


def test_placements_stored_before_0032_are_the_taggers_and_a_round_trip_keeps_every_row(
    tmp_path: Path,
) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    episode = make_episode(engine, brand_id, ApiSettings(environment="development"))
    drawn = make_placement(engine, episode, status=PlacementStatus.APPROVED, drawn_by_hand=True).id

    command.downgrade(alembic_config(engine), "0031")
    tagged = uuid.uuid4()
    with engine.begin() as connection:
        assert "drawn_by_hand" not in {
            row[1] for row in connection.execute(text("PRAGMA table_info(placement)"))
        }
        # The tagger's placement, stored by the code before 0032
        connection.execute(
            text(
                "INSERT INTO placement (id, brand_id, episode_id, start_ms, end_ms, start_frame, end_frame, "
                "time_base, label, confidence, keyframes, sku_candidates, status, approved_by_linker, "
                "link_contradicted, version, created_at, updated_at) VALUES (:id, :brand, :episode, 0, 900, "
                "0, 27, '1/1000', 'bottle', 0.8, '[]', '[]', 'proposed', false, false, 1, "
                "'2026-12-07 00:00:00', '2026-12-07 00:00:00')"
            ),
            {"id": tagged.hex, "brand": brand_id.hex, "episode": episode.id.hex},
        )
    upgrade_database(engine)

    with Session(engine) as session:
        flags = {placement.id: placement.drawn_by_hand for placement in session.exec(select(Placement)).all()}
    # Both rows are there; the drawn one's flag did not survive the way down (0031 has nowhere to keep it)
    assert flags == {tagged: False, drawn: False}
