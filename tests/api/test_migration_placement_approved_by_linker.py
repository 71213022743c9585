"""Migration 0016 on a database that holds placements and link jobs: an approved placement no person
acted on was approved by the linker, one a reviewer approved is theirs; link jobs keep their scope under
its new name; going back and forth keeps every row."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from api.db import alembic_config, upgrade_database
from api.linking.models import LinkJob
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement
from tests.api.migration_support import migrated_with_a_brand


def test_approvals_made_before_0016_are_told_apart_by_who_made_them(tmp_path: Path) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    episode = make_episode(engine, brand_id, ApiSettings(environment="development"))
    by_linker, by_person, waiting = (
        make_placement(engine, episode, status=status).id
        for status in (PlacementStatus.APPROVED, PlacementStatus.APPROVED, PlacementStatus.PROPOSED)
    )
    command.downgrade(alembic_config(engine), "0015")
    job = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO reviewaction (id, brand_id, placement_id, actor, action, before, after, at) "
                "VALUES (:id, :brand, :placement, 'key:ops', 'approve', '{}', '{}', '2026-12-06 00:01:00')"
            ),
            {"id": uuid.uuid4().hex, "brand": brand_id.hex, "placement": by_person.hex},
        )
        # A re-link's own entry (a round trip through a downgrade keeps them): no person's action
        connection.execute(
            text(
                "INSERT INTO reviewaction (id, brand_id, placement_id, actor, action, before, after, at) "
                "VALUES (:id, :brand, :placement, 'linker', 'approve', '{}', '{}', '2026-12-06 00:01:00')"
            ),
            {"id": uuid.uuid4().hex, "brand": brand_id.hex, "placement": by_linker.hex},
        )
        connection.execute(
            text(
                "INSERT INTO linkjob (id, brand_id, index_only, awaiting_review_only, state, progress, "
                "attempts, images_fetched, images_failed, placements_relinked, approved, auto_approved, "
                "seconds, created_at) VALUES (:id, :brand, false, true, 'done', 1.0, 1, 0, 0, 3, 2, 1, "
                "'{}', '2026-12-06 00:02:00')"
            ),
            {"id": job.hex, "brand": brand_id.hex},
        )

    upgrade_database(engine)
    with Session(engine) as session:
        stored = {key: session.get(Placement, key) for key in (by_linker, by_person, waiting)}
        assert {key: row.approved_by_linker for key, row in stored.items() if row is not None} == {
            by_linker: True,
            by_person: False,
            waiting: False,
        }
        linked = session.get(LinkJob, job)
        assert linked is not None
        assert (linked.linker_decided_only, linked.auto_approved, linked.withdrawn) == (True, 1, 0)

    command.downgrade(alembic_config(engine), "0015")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM placement")).scalar() == 3
        assert connection.execute(text("SELECT awaiting_review_only FROM linkjob")).scalar() in (1, True)
    upgrade_database(engine)
    with Session(engine) as session:
        again = session.get(Placement, by_linker)
        assert again is not None
        assert again.approved_by_linker is True
