"""Migration 0015 on a database that holds link jobs: a product's jobs (0014) only ever re-linked
placements awaiting review and say so after it, the others re-linked every placement and say so too;
going back and forth keeps every row."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from api.db import alembic_config, upgrade_database
from api.linking.models import LinkJob
from tests.api.migration_support import migrated_with_a_brand


def test_link_jobs_made_before_0015_keep_their_scope_and_survive_a_round_trip(tmp_path: Path) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    command.downgrade(alembic_config(engine), "0014")
    product_job, brand_job = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        for job_id, product_id in ((product_job, uuid.uuid4().hex), (brand_job, None)):
            connection.execute(
                text(
                    "INSERT INTO linkjob (id, brand_id, product_id, index_only, state, progress, attempts, "
                    "images_fetched, images_failed, placements_relinked, approved, seconds, created_at) "
                    "VALUES (:id, :brand, :product, false, 'done', 1.0, 1, 0, 0, 3, 2, '{}', "
                    "'2026-12-05 23:00:00')"
                ),
                {"id": job_id.hex, "brand": brand_id.hex, "product": product_id},
            )

    upgrade_database(engine)
    with Session(engine) as session:
        scoped, wide = session.get(LinkJob, product_job), session.get(LinkJob, brand_job)
        assert scoped is not None
        assert wide is not None
        assert (scoped.linker_decided_only, scoped.approved, scoped.auto_approved) == (True, 2, 0)
        assert (wide.linker_decided_only, wide.product_id, wide.auto_approved) == (False, None, 0)

    command.downgrade(alembic_config(engine), "0014")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM linkjob")).scalar() == 2
    upgrade_database(engine)
    with Session(engine) as session:
        again = session.get(LinkJob, product_job)
        assert again is not None
        assert again.linker_decided_only is True
