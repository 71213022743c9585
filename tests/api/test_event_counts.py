"""The event counts the funnel reads: kept with every stored event, by the players' batches and the checkout
route alike (tests/api/test_checkout_analytics.py counts its failures from them), filled from the events
by migration 0028, compared with them by `reelcart analytics check`, rebuilt by `reelcart analytics
recount`, and gone with the episode."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import Counter
from datetime import UTC, date
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import ClauseElement, Engine, delete, event, func, text
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.analytics import counting
from api.analytics.counting import CountCheck, CountMismatch, count_events, count_mismatches, recount_events
from api.analytics.models import Event, EventCount, EventDayCount
from api.analytics.service import EVERY_DAY, ReportDays, buy_presses
from api.cli import app
from api.db import alembic_config, create_db_engine, upgrade_database
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings, get_settings
from tests.api.factories import make_episode, make_placement
from tests.fixtures.api import throwaway_postgres_database
from tests.utils.api import BrandAccount, make_brand


def _events(episode: uuid.UUID, placement: uuid.UUID, *kinds: str) -> dict[str, object]:
    return {
        "events": [
            {"type": kind, "episode_id": str(episode), "placement_id": str(placement), "t_ms": 100 * n}
            for n, kind in enumerate(kinds)
        ]
    }


def counted(engine: Engine) -> Counter[tuple[uuid.UUID, str]]:
    """The counts as the funnel sums them (over every slot)."""
    with Session(engine) as session:
        rows = session.exec(
            select(EventCount.placement_id, EventCount.type, func.sum(EventCount.count)).group_by(
                col(EventCount.placement_id), col(EventCount.type)
            )
        ).all()
    return Counter({(placement, kind): int(n) for placement, kind, n in rows})


def stored(engine: Engine) -> Counter[tuple[uuid.UUID, str]]:
    """What the events themselves say."""
    with Session(engine) as session:
        rows = session.exec(select(Event.placement_id, Event.type)).all()
    return Counter((placement, kind) for placement, kind in rows if placement is not None)


def counted_by_day(engine: Engine) -> Counter[tuple[uuid.UUID, str, date]]:
    """The day counts as a report of a range sums them (over every slot)."""
    with Session(engine) as session:
        rows = session.execute(
            select_columns(
                col(EventDayCount.placement_id),
                col(EventDayCount.type),
                col(EventDayCount.day),
                func.sum(EventDayCount.count),
            ).group_by(col(EventDayCount.placement_id), col(EventDayCount.type), col(EventDayCount.day))
        ).all()
    return Counter({(placement, kind, day): int(n) for placement, kind, day, n in rows})


def stored_by_day(engine: Engine) -> Counter[tuple[uuid.UUID, str, date]]:
    """What the events say, by the UTC day each occurred (worked out here, in Python)."""
    with Session(engine) as session:
        rows = session.exec(select(Event.placement_id, Event.type, Event.occurred_at)).all()
    return Counter(
        (placement, kind, at.astimezone(UTC).date()) for placement, kind, at in rows if placement is not None
    )


def uncounted(placement: Placement, kind: str) -> Event:
    """An event as `count_events` is handed it, never stored: counts with no event behind them."""
    return Event(
        type=kind, brand_id=placement.brand_id, episode_id=placement.episode_id, placement_id=placement.id
    )


def test_every_stored_event_is_counted_and_the_funnel_reads_the_counts(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    shown = make_placement(engine, episode, status=PlacementStatus.APPROVED)
    other = make_placement(engine, episode, status=PlacementStatus.APPROVED, start_ms=5000, end_ms=6000)
    for batch in (
        _events(episode.id, shown.id, "hotspot_impression", "hotspot_tap", "sheet_open", "sheet_open"),
        _events(episode.id, other.id, "hotspot_impression"),
        # A viewer's repeat impression is refused as a duplicate: not stored, not counted.
        _events(episode.id, shown.id, "hotspot_impression"),
    ):
        answer = client.post("/v1/events", json=batch)
        assert answer.status_code == 202, answer.text

    assert counted(engine) == stored(engine)
    assert counted(engine)[(shown.id, "sheet_open")] == 2

    # The funnel answers from the counts: with the events gone it still says what they said
    with Session(engine) as session:
        session.execute(delete(Event))
        session.commit()
    report = client.get(f"/v1/analytics/episodes/{episode.id}", headers=brand.headers).json()
    by_placement = {p["placement_id"]: p for p in report["placements"]}
    assert (report["impressions"], report["taps"]) == (2, 1)
    assert by_placement[str(shown.id)]["sheet_opens"] == 2


def test_recount_rebuilds_counts_that_drifted_from_the_events(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    shown = make_placement(engine, episode, status=PlacementStatus.APPROVED)
    batch = _events(episode.id, shown.id, "hotspot_impression", "hotspot_tap", "sheet_open")
    assert client.post("/v1/events", json=batch).status_code == 202
    right = stored(engine)
    # Events an older release stored without counting them, and a count of nothing
    with Session(engine) as session:
        session.add(
            Event(type="sheet_open", brand_id=brand.brand.id, episode_id=episode.id, placement_id=shown.id)
        )
        session.add(EventCount(placement_id=shown.id, type="checkout_started", slot=5, count=40))
        session.commit()
    assert counted(engine) != stored(engine)

    with Session(engine) as session:
        assert recount_events(session) == sum(right.values()) + 1
    assert counted(engine) == stored(engine)
    assert counted(engine)[(shown.id, "sheet_open")] == 2


def test_a_recount_goes_through_the_placements_a_chunk_at_a_time(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    shown = [
        make_placement(
            engine, episode, status=PlacementStatus.APPROVED, start_ms=1000 * n, end_ms=1000 * n + 900
        )
        for n in range(5)
    ]
    for n, placement in enumerate(shown):
        batch = _events(episode.id, placement.id, *["sheet_open"] * (n + 1))
        assert client.post("/v1/events", json=batch).status_code == 202
    with Session(engine) as session:
        session.execute(delete(EventCount))
        session.commit()
    monkeypatch.setattr(counting, "RECOUNT_CHUNK", 2)
    told: list[tuple[int, int]] = []

    with Session(engine) as session:
        assert recount_events(session, progress=lambda p, e: told.append((p, e))) == 15

    assert counted(engine) == stored(engine)
    assert [placements for placements, _ in told] == [2, 4, 5]
    assert told[-1][1] == 15


def test_a_placement_deleted_takes_its_counts_with_it(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Counts with no event behind them (events removed by hand): a re-tag deletes such a placement
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode)
    with Session(engine) as session:
        count_events(session, [uncounted(placement, "sheet_open")])
        session.commit()
    assert counted_by_day(engine) != Counter()
    with Session(engine) as session:
        session.execute(delete(Placement).where(col(Placement.id) == placement.id))
        session.commit()
    assert counted(engine) == Counter()
    assert counted_by_day(engine) == Counter()


def test_deleting_an_episode_deletes_its_counts(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    doomed = make_episode(engine, brand.brand.id, settings)
    kept = make_episode(engine, brand.brand.id, settings)
    on_doomed = make_placement(engine, doomed, status=PlacementStatus.APPROVED)
    on_kept = make_placement(engine, kept, status=PlacementStatus.APPROVED)
    for episode, placement in ((doomed, on_doomed), (kept, on_kept)):
        assert (
            client.post("/v1/events", json=_events(episode.id, placement.id, "sheet_open")).status_code == 202
        )

    assert client.delete(f"/v1/episodes/{doomed.id}", headers=brand.headers).status_code == 204

    assert set(counted(engine)) == {(on_kept.id, "sheet_open")}
    assert {(placement, kind) for placement, kind, _ in counted_by_day(engine)} == {
        (on_kept.id, "sheet_open")
    }


@pytest.mark.postgres
def test_batches_counted_at_once_on_postgresql_lose_no_count() -> None:
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        try:
            brand_id = make_brand(engine, "counted-at-once").brand.id
            settings = ApiSettings(_env_file=None, database_url=url)
            placement = make_placement(engine, make_episode(engine, brand_id, settings))
            errors: list[BaseException] = []

            def count_many() -> None:
                try:
                    for _ in range(40):
                        with Session(engine) as session:
                            count_events(session, [uncounted(placement, "hotspot_impression")] * 3)
                            session.commit()
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)

            workers = [threading.Thread(target=count_many) for _ in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            assert counted(engine) == Counter({(placement.id, "hotspot_impression"): 4 * 40 * 3})
            assert sum(counted_by_day(engine).values()) == 4 * 40 * 3
        finally:
            engine.dispose()


def _four_placements(engine: Engine, url: str, slug: str) -> tuple[uuid.UUID, list[Placement]]:
    """A new brand's episode with four placements, one a second: its id and theirs."""
    brand_id = make_brand(engine, slug).brand.id
    episode = make_episode(engine, brand_id, ApiSettings(_env_file=None, database_url=url))
    return brand_id, [
        make_placement(engine, episode, start_ms=1000 * n, end_ms=1000 * n + 900) for n in range(4)
    ]


@pytest.mark.postgres
def test_events_stored_while_a_recount_runs_on_postgresql_are_counted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(counting, "RECOUNT_CHUNK", 1)
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        try:
            brand_id, placements = _four_placements(engine, url, "recounted-live")
            episode_id = placements[0].episode_id
            errors: list[BaseException] = []
            storing = threading.Event()

            def store_many() -> None:
                try:
                    for n in range(60):
                        targets = [placements[n % 4].id, placements[(n + 1) % 4].id]
                        with Session(engine) as session:
                            rows = [
                                Event(
                                    type="sheet_open",
                                    brand_id=brand_id,
                                    episode_id=episode_id,
                                    placement_id=target,
                                )
                                for target in targets
                            ]
                            session.add_all(rows)
                            session.flush()
                            count_events(session, rows)
                            session.commit()
                        storing.set()
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)

            def recount_often() -> None:
                try:
                    storing.wait(10)
                    for _ in range(5):
                        with Session(engine) as session:
                            recount_events(session)
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)

            workers = [threading.Thread(target=store_many) for _ in range(2)] + [
                threading.Thread(target=recount_often)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            assert sum(stored(engine).values()) == 2 * 60 * 2
            assert counted(engine) == stored(engine)
            assert counted_by_day(engine) == stored_by_day(engine)
        finally:
            engine.dispose()


def _store(
    engine: Engine, brand_id: uuid.UUID, placement: Placement, *kinds: str, count: bool = True
) -> None:
    """Events stored as the API stores them (counted in the same transaction), or, `count=False`, as a
    release from before the counts did."""
    with Session(engine) as session:
        rows = [
            Event(type=kind, brand_id=brand_id, episode_id=placement.episode_id, placement_id=placement.id)
            for kind in kinds
        ]
        session.add_all(rows)
        session.flush()
        if count:
            count_events(session, rows)
        session.commit()


def test_counting_more_rows_than_a_statement_can_bind_loses_none(database_url: str, tmp_path: Path) -> None:
    """14,000 keys in one call: 70,000 values for each table, past PostgreSQL's 65,535 bound parameters a
    statement and SQLite's stock 32,766 (set here: Debian's build allows 250,000). Each is counted, in all
    and per day."""
    engine = create_db_engine(database_url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def stock_limit(connection: sqlite3.Connection, _: object) -> None:
            connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)

    try:
        upgrade_database(engine)
        brand_id = make_brand(engine, "counted-wide").brand.id
        settings = ApiSettings(_env_file=None, database_url=database_url, media_dir=tmp_path / "media")
        placement = make_placement(engine, make_episode(engine, brand_id, settings))
        kinds = [f"kind-{n}" for n in range(14_000)]
        with Session(engine) as session:
            count_events(session, [uncounted(placement, kind) for kind in kinds])
            count_events(session, [uncounted(placement, kinds[0])])
            session.commit()
        expected = Counter({(placement.id, kind): 1 for kind in kinds}) + Counter(
            {(placement.id, kinds[0]): 1}
        )
        assert counted(engine) == expected
        assert sum(counted_by_day(engine).values()) == 14_001
    finally:
        engine.dispose()


def test_the_check_finds_counts_that_disagree_with_the_events_and_a_recount_mends_them(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = create_db_engine(database_url)
    monkeypatch.setenv("REELCART_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        upgrade_database(engine)
        brand_id = make_brand(engine, "checked").brand.id
        settings = ApiSettings(_env_file=None, database_url=database_url, media_dir=tmp_path / "media")
        episode = make_episode(engine, brand_id, settings)
        first, second = (
            make_placement(engine, episode, start_ms=1000 * n, end_ms=1000 * n + 900) for n in range(2)
        )
        _store(engine, brand_id, first, "hotspot_impression", "hotspot_tap")
        _store(engine, brand_id, second, "hotspot_impression")

        # Given counts kept with every event: the check agrees and exits 0
        agreeing = runner.invoke(app, ["analytics", "check"])
        assert agreeing.exit_code == 0, agreeing.output
        assert "the counts agree with the 3 stored events" in agreeing.output

        # When an older release stores an event uncounted, and counts are left with no event behind them
        _store(engine, brand_id, first, "sheet_open", count=False)
        with Session(engine) as session:
            session.add(EventCount(placement_id=second.id, type="checkout_started", slot=3, count=4))
            session.add(
                EventDayCount(
                    placement_id=second.id, type="hotspot_tap", day=date(2026, 1, 2), slot=2, count=5
                )
            )
            session.commit()
            uncounted_on = session.exec(
                select(Event.occurred_at).where(Event.placement_id == first.id, Event.type == "sheet_open")
            ).one()
        day = uncounted_on.astimezone(UTC).date()

        # Then the check names each, in all and on its day, with what each side says, and exits 1
        with Session(engine) as session:
            found = count_mismatches(session)
        in_all = sorted(
            [
                CountMismatch(first.id, "sheet_open", counted=0, stored=1),
                CountMismatch(second.id, "checkout_started", counted=4, stored=0),
            ],
            key=lambda m: m.placement_id.hex,  # uuid order, as both databases sort them
        )
        by_day = sorted(
            [
                CountMismatch(first.id, "sheet_open", counted=0, stored=1, day=day),
                CountMismatch(second.id, "hotspot_tap", counted=5, stored=0, day=date(2026, 1, 2)),
            ],
            key=lambda m: m.placement_id.hex,
        )
        assert found == CountCheck(mismatches=4, shown=in_all + by_day, events=4, counted=7)
        disagreeing = runner.invoke(app, ["analytics", "check"])
        assert disagreeing.exit_code == 1, disagreeing.output
        said = " ".join(disagreeing.output.split())
        lines = disagreeing.output.splitlines()
        assert f"{first.id}  sheet_open  all  0  1" in lines
        assert f"{second.id}  checkout_started  all  4  0" in lines
        assert f"{first.id}  sheet_open  {day.isoformat()}  0  1" in lines
        assert f"{second.id}  hotspot_tap  2026-01-02  5  0" in lines
        assert "4 counts disagree with the events: the counts hold 7 events, the events table 4" in said
        assert "Run `reelcart analytics recount`" in said
        shortened = runner.invoke(app, ["analytics", "check", "--show", "1"])
        assert shortened.exit_code == 1
        assert "counts disagree with the events (3 not listed)" in " ".join(shortened.output.split())

        # And after a recount it agrees again
        assert runner.invoke(app, ["analytics", "recount"]).exit_code == 0
        mended = runner.invoke(app, ["analytics", "check"])
        assert mended.exit_code == 0, mended.output
        assert "the counts agree with the 4 stored events" in mended.output
    finally:
        get_settings.cache_clear()
        engine.dispose()


def test_the_check_refuses_a_database_from_before_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'old.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "upgrade", "0027"]).exit_code == 0
        # A database from before the counts: refused in one line, as every command refuses an old schema
        result = runner.invoke(app, ["analytics", "check"])
    finally:
        get_settings.cache_clear()
    # 2, "could not compare": a cron job that recounts on 1 ("they disagree") leaves it alone
    assert result.exit_code == 2
    assert "reelcart db upgrade" in " ".join(result.output.split())


@pytest.mark.postgres
def test_events_stored_while_the_check_runs_on_postgresql_never_read_as_a_mismatch() -> None:
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        try:
            brand_id, placements = _four_placements(engine, url, "checked-live")
            errors: list[BaseException] = []
            checks: list[CountCheck] = []
            done = threading.Event()

            def store_many() -> None:
                try:
                    for n in range(80):
                        _store(engine, brand_id, placements[n % 4], "sheet_open", "hotspot_tap")
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)
                finally:
                    done.set()

            def check_often() -> None:
                try:
                    while not done.is_set():
                        with Session(engine) as session:
                            checks.append(count_mismatches(session))
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)

            workers = [threading.Thread(target=store_many), threading.Thread(target=check_often)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            assert len(checks) > 1
            assert [check.mismatches for check in checks] == [0] * len(checks)
            assert [check.events for check in checks] == sorted(check.events for check in checks)
        finally:
            engine.dispose()


def _plan(session: Session, query: ClauseElement) -> str:
    """What the database's planner says it would read for `query`. PostgreSQL is told to avoid a table scan
    and a bitmap scan (which it prefers on a table this small), so an index-only scan is what it picks when
    the index holds every column the query reads, and an index scan when it does not."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
    connection = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
    else:
        # SQLite stores uuids as hex, times as text
        values = tuple(
            value.hex if isinstance(value, uuid.UUID) else str(value) for value in compiled.params.values()
        )
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values).all()
    return " ".join(str(column) for row in plan for column in row)


def assert_reads_the_index_alone(engine: Engine, plan: str, index: str) -> None:
    """`plan` (from `_plan`) reads `index` and no table row: SQLite's covering index, PostgreSQL's index-only
    scan."""
    if engine.dialect.name == "sqlite":
        assert f"COVERING INDEX {index}" in plan, plan
    else:
        assert f"Index Only Scan using {index}" in plan, plan


@pytest.mark.parametrize(
    "days",
    [EVERY_DAY, ReportDays(since=date(2026, 12, 1), until=date(2026, 12, 7))],
    ids=["every-day", "a-week"],
)
def test_the_funnel_reads_buy_presses_from_their_own_index(database_url: str, days: ReportDays) -> None:
    """The index is partial: a database uses it only for a query that states its condition as written,
    with no bound parameter in it. This asks each database's planner which index the funnel's query would
    read, for every day and for a range (whose times the index holds in each placement's order)."""
    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
        brand_id = make_brand(engine, "pressing").brand.id
        query = buy_presses(select(Placement.id).where(Placement.brand_id == brand_id), days)
        with Session(engine) as session:
            read = _plan(session, query)
        assert_reads_the_index_alone(engine, read, "ix_event_buy_press")
    finally:
        engine.dispose()


@pytest.mark.parametrize("scope", ["every placement", "a recount's chunk"])
def test_events_are_counted_per_day_from_the_index_alone(database_url: str, scope: str) -> None:
    """The per-day GROUP BY of a check (every placement) and of a recount (a chunk of placements) reads each
    event's time from the (placement_id, type, occurred_at) index, never the event's row (migration 0031:
    with (placement_id, type), SQLite read a row per event, 12.5 s for 2,000,000 events)."""
    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
        with Session(engine) as session:
            query = counting.events_by_day(session)
            if scope == "a recount's chunk":
                query = query.where(col(Event.placement_id).in_([uuid.uuid4(), uuid.uuid4()]))
            read = _plan(session, query)
        assert_reads_the_index_alone(engine, read, "ix_event_placement_type_time")
    finally:
        engine.dispose()


def test_the_migrations_count_the_events_already_stored_and_the_cli_recounts_them(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
        brand_id = make_brand(engine, "counted-before").brand.id
        settings = ApiSettings(_env_file=None, database_url=database_url, media_dir=tmp_path / "media")
        episode = make_episode(engine, brand_id, settings)
        placement = make_placement(engine, episode)
        command.downgrade(alembic_config(engine), "0027")
        if engine.dialect.name == "postgresql":
            # A server whose sessions are in Tokyo's time: 23:30 UTC is the next morning there, and still
            # the 6th in the day counts (UTC days, whatever the session's zone).
            with engine.connect() as connection:
                name = connection.execute(text("SELECT current_database()")).scalar_one()
                connection.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Tokyo'"))
                connection.commit()
            engine.dispose()

        def as_stored(value: uuid.UUID) -> str:
            # How SQLAlchemy's Uuid type stores it: 32 hex digits on SQLite, a native uuid on PostgreSQL.
            return value.hex if engine.dialect.name == "sqlite" else str(value)

        def at(utc: str) -> str:
            # SQLite holds the UTC time as text; PostgreSQL is told its zone.
            return utc if engine.dialect.name == "sqlite" else f"{utc}+00:00"

        # Events stored before the counts existed, on two UTC days
        with engine.begin() as connection:
            for kind, when in (
                ("hotspot_impression", "2026-12-06 12:00:00"),
                ("hotspot_impression", "2026-12-06 23:30:00"),
                ("hotspot_tap", "2026-12-07 00:30:00"),
            ):
                connection.execute(
                    text(
                        "INSERT INTO event (id, type, brand_id, episode_id, placement_id, occurred_at, "
                        "received_at) VALUES (:id, :type, :brand, :episode, :placement, :at, :at)"
                    ),
                    {
                        "id": as_stored(uuid.uuid4()),
                        "type": kind,
                        "brand": as_stored(brand_id),
                        "episode": as_stored(episode.id),
                        "placement": as_stored(placement.id),
                        "at": at(when),
                    },
                )

        upgrade_database(engine)
        assert counted(engine) == Counter(
            {(placement.id, "hotspot_impression"): 2, (placement.id, "hotspot_tap"): 1}
        )
        expected_by_day = Counter(
            {
                (placement.id, "hotspot_impression", date(2026, 12, 6)): 2,
                (placement.id, "hotspot_tap", date(2026, 12, 7)): 1,
            }
        )
        assert counted_by_day(engine) == expected_by_day
        assert stored_by_day(engine) == expected_by_day

        # And the operator's command counts them again after drift
        with Session(engine) as session:
            session.execute(delete(EventCount))
            session.execute(delete(EventDayCount))
            session.commit()
        monkeypatch.setenv("REELCART_DATABASE_URL", database_url)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["analytics", "recount"])
        get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "counted 3 events of 1 placement again" in result.output
        assert counted(engine) == stored(engine)
        assert counted_by_day(engine) == expected_by_day
    finally:
        engine.dispose()


def test_upgrading_past_the_counts_migration_tells_the_operator_to_recount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'upgraded.db'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "media"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        # A new database: nothing was stored uncounted, nothing to say
        fresh = runner.invoke(app, ["db", "upgrade"])
        assert fresh.exit_code == 0, fresh.output
        assert "recount" not in fresh.output
        # A database from before the counts, upgraded: the operator is told what to run once rolled out
        older = tmp_path / "older.db"
        monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{older}")
        get_settings.cache_clear()
        assert runner.invoke(app, ["db", "upgrade", "0027"]).exit_code == 0
        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert "run `reelcart analytics recount`" in " ".join(upgraded.output.split())
        # Upgrading again changes nothing and says nothing more
        again = runner.invoke(app, ["db", "upgrade"])
        assert "recount" not in again.output
    finally:
        get_settings.cache_clear()
