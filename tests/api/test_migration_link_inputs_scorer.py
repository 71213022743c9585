"""Migration 0018: the links stored since 0017 name the linker that scored them, so the first settings
change after the upgrade decides them again instead of linking every one again from its crops."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from sqlmodel import Session

from api.db import alembic_config, upgrade_database
from api.linking.service import current_scorer
from api.review.models import Placement
from api.settings import ApiSettings
from tagger.linking.decision import DecisionInputs
from tests.api.factories import make_episode, placement_row
from tests.api.migration_support import insert_as_of_then, migrated_with_a_brand

MATCHED = "crop 1: its print matched (40 keypoints)"


def test_links_stored_since_0017_are_stamped_with_their_scorer_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    # The episode made with today's columns, then the schema taken back to 0017 (it keeps the episode)
    episode = make_episode(engine, brand_id, ApiSettings(environment="development"))
    command.downgrade(alembic_config(engine), "0017")
    kept = DecisionInputs(0.72, True, MATCHED).stored()
    del kept["scorer"]  # as 0017-era code stored them
    named = DecisionInputs(0.72, True, MATCHED, scorer="another").stored()
    malformed = {"not": "inputs"}
    rows = [
        placement_row(episode, start_ms=start, link_inputs=inputs)
        for start, inputs in ((1000, kept), (5000, named), (9000, malformed), (13000, None))
    ]
    for row in rows:
        # (the columns added since 0017 are not there yet)
        insert_as_of_then(engine, row, without={"drawn_by_hand", "idempotency_key"})
    ids = [row.id for row in rows]

    upgrade_database(engine)

    with Session(engine) as session:
        stored = [session.get_one(Placement, placement_id).link_inputs for placement_id in ids]
    # The 0017-era link names the scorer that made it: the linker as shipped until a refit
    assert stored[0] == {**kept, "scorer": "9857aeefa70d9d29"}
    assert DecisionInputs.from_stored(stored[0]) == DecisionInputs(
        0.72, True, MATCHED, scorer="9857aeefa70d9d29"
    )
    # And what already named a scorer, what is not inputs, and no inputs, are as they were
    assert stored[1:] == [named, malformed, None]
    # Going back keeps every row as it is (code before 0018 ignores the extra key)
    command.downgrade(alembic_config(engine), "0017")
    upgrade_database(engine)
    with Session(engine) as session:
        assert session.get_one(Placement, ids[0]).link_inputs == stored[0]


def test_the_stamp_is_the_scorer_of_the_linker_as_0017_shipped_it() -> None:
    # The migration's constant must be what scored the 0017-era links: the linker as shipped then, which is
    # still the shipped one. A refit of the fusion model (or another shortlist or SCORING_REVISION) moves
    # `current_scorer`: then change this test, never the migration (it says what scored the old links).
    migration = importlib.import_module("api.migrations.versions.0018_link_inputs_scorer")
    assert current_scorer() == migration.SCORER_0017
