"""The event counts the funnel reads (`EventCount`): added to as events are stored, checked and rebuilt on
demand.

Every place that stores an `Event` calls `count_events` in the same transaction, so the counts and the
events commit together. `count_mismatches` says where they disagree (an older release stored events
uncounted during a rolling upgrade, or events were edited by hand), and `recount_events` rebuilds them
from the events.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, insert, literal, select, union_all
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


@dataclass(frozen=True, slots=True)
class CountMismatch:
    """A placement's events of one type: what the counts say, and how many are stored."""

    placement_id: uuid.UUID
    type: str
    counted: int
    stored: int


@dataclass(frozen=True, slots=True)
class CountCheck:
    """What `count_mismatches` found: every (placement, type) whose count is not its events' number, the
    first `shown` of them, and how many events and counts it compared."""

    mismatches: int
    shown: list[CountMismatch]
    events: int
    counted: int


def count_mismatches(session: Session, *, show: int = 20) -> CountCheck:
    """Compare the counts with the stored events, per placement and type, in one statement: it reads one
    snapshot, and an event is committed with its count, so a batch stored meanwhile is in both or in
    neither and never reads as a mismatch. Reads every event once (a GROUP BY over the table); writes
    nothing."""
    # Both sides as rows of one UNION ALL, summed per key: what a FULL OUTER JOIN would say, on every
    # SQLite (FULL JOIN came in 3.39) and PostgreSQL.
    stored = (
        select(
            col(Event.placement_id),
            col(Event.type),
            literal(0).label("counted"),
            func.count().label("stored"),
        )
        .where(col(Event.placement_id).is_not(None))
        .group_by(col(Event.placement_id), col(Event.type))
    )
    counted = select(
        col(EventCount.placement_id), col(EventCount.type), func.sum(EventCount.count), literal(0)
    ).group_by(col(EventCount.placement_id), col(EventCount.type))
    both = union_all(stored, counted).subquery("both_sides")
    placement_id, kind = both.c.placement_id, both.c.type
    compared = (
        select(placement_id, kind, func.sum(both.c.counted), func.sum(both.c.stored))
        .group_by(placement_id, kind)
        .order_by(placement_id, kind)
    )
    mismatches = 0
    shown: list[CountMismatch] = []
    events = counts = 0
    for placement, event_type, n_counted, n_stored in session.execute(compared):
        events += int(n_stored)
        counts += int(n_counted)
        if int(n_counted) == int(n_stored):
            continue
        mismatches += 1
        if len(shown) < show:
            shown.append(CountMismatch(placement, event_type, int(n_counted), int(n_stored)))
    return CountCheck(mismatches=mismatches, shown=shown, events=events, counted=counts)
