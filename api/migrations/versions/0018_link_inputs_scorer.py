"""links stored since 0017 name what scored them (`DecisionInputs.scorer`), so a settings change after
this upgrade decides them again instead of linking them all again from their crops

Every link stored between revision 0017 and this one was scored by the same linker: the fusion model,
shortlist and scoring code did not change in between (the fusion model was last refit before 0017). Its
scorer id is written into those links' inputs. Inputs that already name a scorer, and anything that is
not inputs as `DecisionInputs.stored` writes them, are left alone (such a link is linked again, as any
link whose inputs cannot say).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `tagger.linking.linker.scorer_id` of the linker every 0017-era link was scored by (SCORING_REVISION 1,
# the shipped fusion model fitted at 501dc5e, the default shortlist). A constant, not computed: after a
# later refit this migration must still say what scored those links.
SCORER_0017 = "9857aeefa70d9d29"
_BATCH = 1000

_placement = sa.table("placement", sa.column("id", sa.Uuid()), sa.column("link_inputs", sa.JSON()))


def upgrade() -> None:
    connection = op.get_bind()
    last = None
    while True:
        query = sa.select(_placement.c.id, _placement.c.link_inputs).where(
            _placement.c.link_inputs.is_not(None)
        )
        if last is not None:
            query = query.where(_placement.c.id > last)
        rows = connection.execute(query.order_by(_placement.c.id).limit(_BATCH)).all()
        if not rows:
            return
        for placement_id, inputs in rows:
            if isinstance(inputs, dict) and "confidence" in inputs and "scorer" not in inputs:
                connection.execute(
                    _placement.update()
                    .where(_placement.c.id == placement_id)
                    .values(link_inputs={**inputs, "scorer": SCORER_0017})
                )
        last = rows[-1][0]


def downgrade() -> None:
    # Nothing to undo: code before 0018 ignores the extra key.
    return None
