"""Migration 0017 on a database that holds placements and link jobs: placements linked before it keep
no decision inputs (a settings job links them again from their crops), jobs made before it were never
decide-only; going back and forth keeps every row."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from api.db import alembic_config, upgrade_database
from api.linking.models import LinkJob
from api.review.models import Placement
from api.settings import ApiSettings
from tagger.linking.decision import DecisionInputs
from tests.api.factories import make_episode, make_placement
from tests.api.migration_support import migrated_with_a_brand


def test_links_made_before_0017_keep_no_inputs_and_rows_survive_a_round_trip(tmp_path: Path) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    episode = make_episode(engine, brand_id, ApiSettings(environment="development"))
    inputs = DecisionInputs(0.72, True, "crop 1: its print matched (40 keypoints)").stored()
    placement = make_placement(engine, episode, link_inputs=inputs).id
    command.downgrade(alembic_config(engine), "0016")
    job = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO linkjob (id, brand_id, index_only, linker_decided_only, state, progress, "
                "attempts, images_fetched, images_failed, placements_relinked, approved, auto_approved, "
                "withdrawn, moved, seconds, created_at) VALUES (:id, :brand, false, true, 'done', 1.0, 1, "
                "0, 0, 3, 2, 1, 0, 0, '{}', '2026-12-06 07:00:00')"
            ),
            {"id": job.hex, "brand": brand_id.hex},
        )

    upgrade_database(engine)
    with Session(engine) as session:
        stored = session.get(Placement, placement)
        linked = session.get(LinkJob, job)
        assert stored is not None
        assert linked is not None
        assert stored.link_inputs is None
        assert (linked.decide_only, linked.redecided, linked.placements_relinked) == (False, 0, 3)
        stored.link_inputs = inputs
        session.add(stored)
        session.commit()

    command.downgrade(alembic_config(engine), "0016")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM placement")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM linkjob")).scalar() == 1
    upgrade_database(engine)
    with Session(engine) as session:
        again = session.get(Placement, placement)
        assert again is not None
        assert again.link_inputs is None
