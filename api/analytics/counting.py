"""The event counts the funnel reads: every placement's events of each type in all (`EventCount`) and per UTC
day (`EventDayCount`, for a report of a range of days). Added to as events are stored, checked and rebuilt
on demand, a past day's slots folded into one.

Every place that stores an `Event` calls `count_events` in the same transaction, so the counts and the
events commit together. `count_mismatches` says where they disagree (an older release stored events
uncounted during a rolling upgrade, or events were edited by hand), `recount_events` rebuilds them from
the events, and `fold_day_counts` folds the slots of days no event can land on any more.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy import (
    ColumnElement,
    Date,
    Insert,
    Select,
    Table,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from api.analytics.models import COUNT_SLOTS, UNFOLDED_SQL, Event, EventCount, EventDayCount
from api.review.models import Placement

# Placements recounted per transaction: each chunk holds its placements' rows locked only while it counts
# their events, so the players' batches for other placements never wait on a recount.
RECOUNT_CHUNK = 500


# Placements whose slots of one day are folded per transaction.
FOLD_CHUNK = 1_000


def _table() -> Table:
    return EventCount.__table__  # type: ignore[attr-defined,no-any-return]


def _day_table() -> Table:
    return EventDayCount.__table__  # type: ignore[attr-defined,no-any-return]


@functools.cache
def _upsert_statement(dialect: str, table: Table) -> Insert:
    """INSERT … ON CONFLICT adding the row's count to its key's row, made once per database and table: one
    statement, compiled once and executed for a batch's rows (SQLAlchemy's executemany), instead of a
    statement of each batch's own size compiled each time (a third of the time a batch took to store)."""
    upsert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = upsert(table)
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={"count": table.c.count + statement.excluded.count},
    )


def _upsert(session: Session, table: Table, rows: Sequence[dict[str, object]]) -> None:
    """Add each row's count to its key's row (inserted when there is none), in the rows' order."""
    if rows:
        session.execute(_upsert_statement(session.get_bind().dialect.name, table), list(rows))


def utc_day(session: Session) -> ColumnElement[date]:
    """The UTC date an event occurred on, as SQL: PostgreSQL stores a timestamptz (read in UTC here, whatever
    the session's time zone), SQLite the UTC time as text, whose date() is that date (read back as a date)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", col(Event.occurred_at)), Date)
    return type_coerce(func.date(col(Event.occurred_at)), Date)


def events_by_day(session: Session) -> Select[uuid.UUID | None, str, date, int]:
    """How many events each placement has of each type on each UTC day, as SQL (events without a placement
    left out): read from the (placement_id, type, occurred_at) index alone, in its order (migration 0031)."""
    day = utc_day(session)
    return (
        select(col(Event.placement_id), col(Event.type), day.label("day"), func.count().label("n"))
        .where(col(Event.placement_id).is_not(None))
        .group_by(col(Event.placement_id), col(Event.type), day)
    )


class CountedEvent(Protocol):
    """What counting needs of a stored event (an `Event`, or the row a batch inserted)."""

    @property
    def placement_id(self) -> uuid.UUID | None: ...
    @property
    def type(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...


def count_events(session: Session, stored: Iterable[CountedEvent]) -> None:
    """Add the stored events to the counts, in all and on the UTC day each occurred: one upsert of a row per
    placement and type (and per day), in key order (two batches never wait on each other in opposite
    orders), on one slot. Events without a placement are not counted (the funnel is per placement)."""
    added = Counter(
        (event.placement_id, event.type, event.occurred_at.astimezone(UTC).date())
        for event in stored
        if event.placement_id is not None
    )
    if not added:
        return
    slot = random.randrange(COUNT_SLOTS)  # noqa: S311 - spreads row locks, nothing secret
    in_all: Counter[tuple[uuid.UUID, str]] = Counter()
    for (placement_id, kind, _), n in added.items():
        in_all[(placement_id, kind)] += n
    _upsert(
        session,
        _table(),
        [
            {"placement_id": placement_id, "type": kind, "slot": slot, "count": n}
            for (placement_id, kind), n in sorted(
                in_all.items(), key=lambda item: (str(item[0][0]), item[0][1])
            )
        ],
    )
    _upsert(
        session,
        _day_table(),
        [
            {"placement_id": placement_id, "day": day, "type": kind, "slot": slot, "count": n}
            for (placement_id, kind, day), n in sorted(
                added.items(), key=lambda item: (str(item[0][0]), item[0][2], item[0][1])
            )
        ],
    )


def fold_day_counts(session: Session, *, before: date) -> int:
    """Fold the slots of every day before `before` into slot 0, up to `FOLD_CHUNK` placements of a day per
    committed transaction; returns how many rows were folded away. A day's slots spread the row locks of the
    day's batches; once events stop landing on it, one row per placement, day and type is all a report
    needs. (An event whose own time is more than a day off keeps the server's, so a batch lands no later
    than yesterday; one stored at midnight may still land on the day before, leaving a row that the next
    day's fold takes.)

    Each chunk first key-shares its placements, in id order, as a batch of events does: an episode's
    deletion, a re-tag or a recount (which lock them FOR UPDATE, in the same order) waits for the fold or
    is waited for, and a placement deleted meanwhile is left out. The rows are then deleted and their counts
    read in one statement (DELETE … RETURNING) and added to slot 0."""
    table = _day_table()
    unfolded = text(UNFOLDED_SQL)  # literal, so the unfolded rows' partial index is used
    days = (
        session.execute(
            select(table.c.day).where(unfolded, table.c.day < before).distinct().order_by(table.c.day)
        )
        .scalars()
        .all()
    )
    folded = 0
    for day in days:
        after: uuid.UUID | None = None
        while True:
            candidates = select(table.c.placement_id).where(unfolded, table.c.day == day)
            if after is not None:
                candidates = candidates.where(table.c.placement_id > after)
            placements = (
                session.execute(candidates.distinct().order_by(table.c.placement_id).limit(FOLD_CHUNK))
                .scalars()
                .all()
            )
            if not placements:
                break
            after = placements[-1]
            locked = session.exec(
                select_rows(Placement.id)
                .where(col(Placement.id).in_(placements))
                .order_by(col(Placement.id))
                .with_for_update(read=True, key_share=True)
            ).all()
            sums: Counter[tuple[uuid.UUID, str]] = Counter()
            for placement_id, kind, count in session.execute(
                delete(table)
                .where(table.c.placement_id.in_(locked), table.c.day == day, unfolded)
                .returning(table.c.placement_id, table.c.type, table.c.count)
            ).all():
                sums[(placement_id, kind)] += count
                folded += 1
            _upsert(
                session,
                table,
                [
                    {"placement_id": placement_id, "day": day, "type": kind, "slot": 0, "count": n}
                    for (placement_id, kind), n in sorted(
                        sums.items(), key=lambda item: (str(item[0][0]), item[0][1])
                    )
                ],
            )
            session.commit()
    session.commit()
    return folded


def recount_events(session: Session, *, progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild every count from the events, `RECOUNT_CHUNK` placements per committed transaction; returns
    how many events were counted. Each chunk locks its placements first (FOR UPDATE, in id order, as a
    deletion or a re-tag takes them): a batch storing events for one of them, which key-shares it, is
    waited for or waits, so none of its events is counted twice or missed. `progress(placements done,
    events counted)` is told after each chunk. Both the counts in all and by day are rebuilt (a day's in
    slot 0, folded)."""
    table, day_table = _table(), _day_table()
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
        session.execute(delete(EventDayCount).where(col(EventDayCount.placement_id).in_(ids)))
        # The events are read once, per day; the counts in all are the sums of the day counts just written.
        of_chunk_by_day = events_by_day(session).where(col(Event.placement_id).in_(ids)).subquery()
        session.execute(
            insert(day_table).from_select(
                [
                    day_table.c.placement_id,
                    day_table.c.day,
                    day_table.c.type,
                    day_table.c.slot,
                    day_table.c.count,
                ],
                select(
                    of_chunk_by_day.c.placement_id,
                    of_chunk_by_day.c.day,
                    of_chunk_by_day.c.type,
                    literal(0),
                    of_chunk_by_day.c.n,
                ),
            )
        )
        of_chunk = (
            select(day_table.c.placement_id, day_table.c.type, literal(0), func.sum(day_table.c.count))
            .where(day_table.c.placement_id.in_(ids))
            .group_by(day_table.c.placement_id, day_table.c.type)
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
    """A placement's events of one type (on one UTC day, or in all where `day` is None): what the counts
    say, and how many are stored."""

    placement_id: uuid.UUID
    type: str
    counted: int
    stored: int
    day: date | None = None


@dataclass(frozen=True, slots=True)
class CountCheck:
    """What `count_mismatches` found: every (placement, type) whose count in all, and every (placement, type,
    day) whose count of the day, is not its events' number; the first `shown` of them; and how many events
    and counts (in all) it compared."""

    mismatches: int
    shown: list[CountMismatch]
    events: int
    counted: int


def _compared(session: Session) -> Iterator[tuple[bool, uuid.UUID, str, date | None, int, int]]:
    """(by day, placement, type, day (None in all), counted, stored) for every key either side has: the
    counts in all first, then per day, each in key order. The events are grouped per placement, type and
    UTC day once (`events_by_day`, a CTE) and summed again for the comparison in all. Each side is rows of
    one UNION ALL, summed per key, which is what a FULL OUTER JOIN would say, on every SQLite (FULL JOIN
    came in 3.39) and PostgreSQL. One statement: one snapshot for both comparisons."""
    stored_by_day = events_by_day(session).cte("stored_by_day")
    in_all, per_day = literal(0), literal(1)
    no_day = cast(null(), Date)
    totals, day_counts = _table(), _day_table()
    sides = union_all(
        select(
            in_all.label("by_day"),
            stored_by_day.c.placement_id,
            stored_by_day.c.type,
            no_day.label("day"),
            literal(0).label("counted"),
            func.sum(stored_by_day.c.n).label("stored"),
        ).group_by(stored_by_day.c.placement_id, stored_by_day.c.type),
        select(
            in_all, totals.c.placement_id, totals.c.type, no_day, func.sum(totals.c.count), literal(0)
        ).group_by(totals.c.placement_id, totals.c.type),
        select(
            per_day,
            stored_by_day.c.placement_id,
            stored_by_day.c.type,
            stored_by_day.c.day,
            literal(0),
            stored_by_day.c.n,
        ),
        select(
            per_day,
            day_counts.c.placement_id,
            day_counts.c.type,
            day_counts.c.day,
            func.sum(day_counts.c.count),
            literal(0),
        ).group_by(day_counts.c.placement_id, day_counts.c.type, day_counts.c.day),
    ).subquery("both_sides")
    keys = (sides.c.by_day, sides.c.placement_id, sides.c.type, sides.c.day)
    compared = (
        select(*keys, func.sum(sides.c.counted), func.sum(sides.c.stored)).group_by(*keys).order_by(*keys)
    )
    for by_day, placement, event_type, event_day, n_counted, n_stored in session.execute(compared):
        yield bool(by_day), placement, event_type, event_day, int(n_counted), int(n_stored)


def count_mismatches(session: Session, *, show: int = 20) -> CountCheck:
    """Compare the counts with the stored events, per placement and type in all, then per placement, type
    and UTC day. One statement, so it reads one snapshot; an event is committed with its counts, so a batch
    stored meanwhile is in both sides or in neither and never reads as a mismatch. Reads every event once
    (grouped per day); writes nothing."""
    mismatches = 0
    shown: list[CountMismatch] = []
    events = counts = 0
    for by_day, placement, event_type, day, n_counted, n_stored in _compared(session):
        if not by_day:
            events += n_stored
            counts += n_counted
        if n_counted == n_stored:
            continue
        mismatches += 1
        if len(shown) < show:
            shown.append(CountMismatch(placement, event_type, n_counted, n_stored, day))
    return CountCheck(mismatches=mismatches, shown=shown, events=events, counted=counts)
