"""one queued or running tag job per episode (a partial unique index, as train jobs have per brand)

Two `POST /v1/episodes/{id}/tag-jobs` racing past the route's check both queued a job, and both tagged
the episode. Any such pair already stored is settled first: a running job stays (its worker is at it),
else the earliest queued one; the others fail with the reason, so the index can be created.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "state IN ('queued', 'running')"
SUPERSEDED = "superseded: another tag job for this episode was already queued or running"


def upgrade() -> None:
    connection = op.get_bind()
    active = connection.execute(
        sa.text(
            "SELECT id, episode_id FROM tagjob WHERE state IN ('queued', 'running') "
            "ORDER BY episode_id, CASE WHEN state = 'running' THEN 0 ELSE 1 END, created_at, id"
        )
    ).all()
    seen: set[object] = set()
    for job_id, episode_id in active:
        if episode_id in seen:
            connection.execute(
                sa.text(
                    "UPDATE tagjob SET state = 'failed', phase = 'finished', error = :error, summary = :error, "
                    "finished_at = CURRENT_TIMESTAMP WHERE id = :id"
                ),
                {"error": SUPERSEDED, "id": job_id},
            )
        seen.add(episode_id)
    with op.batch_alter_table("tagjob", schema=None) as batch_op:
        batch_op.create_index(
            "uq_tagjob_active_episode",
            ["episode_id"],
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table("tagjob", schema=None) as batch_op:
        batch_op.drop_index("uq_tagjob_active_episode")
