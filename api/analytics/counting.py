"""The event counts the funnel reads (`EventCount`): added to as events are stored, rebuilt on demand.

Every place that stores an `Event` calls `count_events` in the same transaction, so the counts and the
events commit together. `recount_events` rebuilds them from the events (after a rolling upgrade that let
an older release store events uncounted, or to repair counts after hand edits of the events).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable

from sqlalchemy import Table, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from api.analytics.models import COUNT_SLOTS, Event, EventCount
from api.review.models import Placement

# Placements recounted per transaction: each chunk holds its placements' rows locked only while it counts
# their events, so the players' batches for other placements never wait on a recount.
RECOUNT_CHUNK = 500


def _table() -> Table:
    return EventCount.__table__  # type: ignore[attr-defined,no-any-return]


def count_events(session: Session, stored: Iterable[tuple[uuid.UUID, str]]) -> None:
    """Add the stored events, (placement id, type) each, to the counts: one upsert of a row per placement
    and type, in key order (two batches never wait on each other in opposite orders), on one slot."""
    added = Counter(stored)
    if not added:
        return
    table = _table()
    upsert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    slot = random.randrange(COUNT_SLOTS)  # noqa: S311 - spreads row locks, nothing secret
    rows = [
        {"placement_id": placement_id, "type": kind, "slot": slot, "count": n}
        for (placement_id, kind), n in sorted(added.items(), key=lambda item: (str(item[0][0]), item[0][1]))
    ]
    statement = upsert(table).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.placement_id, table.c.type, table.c.slot],
            set_={"count": table.c.count + statement.excluded.count},
        )
    )


def recount_events(session: Session, *, progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild every count from the events, `RECOUNT_CHUNK` placements per committed transaction; returns
    how many events were counted. Each chunk locks its placements first (FOR UPDATE, in id order, as a
    deletion or a re-tag takes them): a batch storing events for one of them, which key-shares it, is
    waited for or waits, so none of its events is counted twice or missed. `progress(placements done,
    events counted)` is told after each chunk."""
    table = _table()
    after: uuid.UUID | None = None
    placements_done = 0
    counted = 0
    while True:
        chunk = select_rows(Placement.id).order_by(col(Placement.id)).limit(RECOUNT_CHUNK)
        if after is not None:
            chunk = chunk.where(col(Placement.id) > after)
        ids = list(session.exec(chunk.with_for_update()).all())
        if not ids:
            session.commit()
            return counted
        session.execute(delete(EventCount).where(col(EventCount.placement_id).in_(ids)))
        of_chunk = (
            select(col(Event.placement_id), col(Event.type), literal(0), func.count())
            .where(col(Event.placement_id).in_(ids))
            .group_by(col(Event.placement_id), col(Event.type))
        )
        columns = [table.c.placement_id, table.c.type, table.c.slot, table.c.count]
        session.execute(insert(table).from_select(columns, of_chunk))
        counted += int(
            session.execute(
                select(func.coalesce(func.sum(table.c.count), 0)).where(table.c.placement_id.in_(ids))
            ).scalar_one()
        )
        session.commit()
        placements_done += len(ids)
        after = ids[-1]
        if progress is not None:
            progress(placements_done, counted)
