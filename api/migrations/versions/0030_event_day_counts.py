"""event counts per placement, type and UTC day, kept as events are stored: a brand's report for a range of
days (`since`/`until`) sums them instead of counting the events; filled here from the events

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eventdaycount",
        sa.Column(
            "placement_id", sa.Uuid(), sa.ForeignKey("placement.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        # Placement, then day: a report for a few days reads only those days of each placement.
        sa.PrimaryKeyConstraint("placement_id", "day", "type", "slot"),
    )
    # The rows the daily fold looks for (slots beyond 0: a day or two of them); written out, as in
    # api.analytics.models.UNFOLDED_SQL then.
    unfolded = sa.text("slot > 0")
    op.create_index(
        "ix_eventdaycount_unfolded",
        "eventdaycount",
        ["day", "placement_id"],
        postgresql_where=unfolded,
        sqlite_where=unfolded,
    )
    # The UTC date an event occurred on: PostgreSQL stores a timestamptz (read in UTC here, whatever the
    # session's time zone), SQLite the UTC time as text, whose date() is that date.
    if op.get_bind().dialect.name == "postgresql":
        day = "CAST(timezone('UTC', occurred_at) AS DATE)"
    else:
        day = "date(occurred_at)"
    # What the events say now, in one statement (the migration's transaction), as 0028 did for the totals.
    # An older release storing events while this runs stores some these counts miss: `reelcart analytics
    # check` finds them, and `recount` counts them again from the events.
    # `day` is one of the two expressions above, nothing from outside.
    fill = (
        "INSERT INTO eventdaycount (placement_id, day, type, slot, count) "  # noqa: S608
        f"SELECT placement_id, {day}, type, 0, count(*) FROM event WHERE placement_id IS NOT NULL "
        f"GROUP BY placement_id, {day}, type"
    )
    op.execute(fill)


def downgrade() -> None:
    op.drop_index("ix_eventdaycount_unfolded", table_name="eventdaycount")
    op.drop_table("eventdaycount")
