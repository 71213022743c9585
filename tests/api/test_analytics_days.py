"""A brand's results for a range of UTC days (`since`/`until` on both analytics routes): events on the day
they occurred (read from the day counts, `EventDayCount`), checkouts on the day they opened, orders on the
day they were paid; and a past day's count slots folded into one without changing a report."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, update
from sqlmodel import Session, col, select

from api.analytics import counting
from api.analytics.counting import count_events, fold_day_counts
from api.analytics.models import Event, EventDayCount
from api.checkout.models import CheckoutSession, Order
from api.db import create_db_engine, upgrade_database
from api.jobs import recovery
from api.jobs.recovery import JobSupervisor
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_checkout, make_episode, make_paid_order, make_placement, make_product
from tests.fixtures.api import throwaway_postgres_database
from tests.utils.api import BrandAccount, make_brand


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _store(
    engine: Engine, placement: Placement, kind: str, when: str, *, click_id: str | None = None
) -> None:
    """An event that occurred at `when` (UTC), stored and counted as the events route stores it."""
    with Session(engine) as session:
        row = Event(
            type=kind,
            brand_id=placement.brand_id,
            episode_id=placement.episode_id,
            placement_id=placement.id,
            click_id=click_id,
            occurred_at=_at(when),
            received_at=_at(when),
        )
        session.add(row)
        session.flush()
        count_events(session, [row])
        session.commit()


def _opened_at(engine: Engine, checkout: CheckoutSession, order: Order | None, when: str) -> None:
    """The checkout opened, and its order paid, at `when`."""
    with Session(engine) as session:
        session.execute(
            update(CheckoutSession).where(col(CheckoutSession.id) == checkout.id).values(created_at=_at(when))
        )
        if order is not None:
            session.execute(update(Order).where(col(Order.id) == order.id).values(created_at=_at(when)))
        session.commit()


def _funnel(report: dict[str, Any]) -> tuple[object, ...]:
    return (
        report["impressions"],
        report["taps"],
        report["checkouts_started"],
        report["checkouts_opened"],
        report["checkouts_failed"],
        report["checkout_failures"],
        report["orders_paid"],
        report["revenue"],
    )


def test_a_report_for_a_range_of_days_counts_what_happened_on_those_days(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    product, variant = make_product(engine, brand.brand.id, "Cola", sku="COLA")
    placement = make_placement(engine, episode, status=PlacementStatus.APPROVED, chosen_product_id=product.id)
    # Three days, with events on both sides of the midnights between them
    for kind, when, click in (
        ("hotspot_impression", "2026-11-30 10:00:00", None),
        ("hotspot_impression", "2026-11-30 23:59:59.999", None),
        ("checkout_failed:variant-unavailable", "2026-11-30 11:00:00", "c-sold-out"),
        ("hotspot_impression", "2026-12-01 00:00:00", None),
        ("hotspot_tap", "2026-12-01 12:00:00", None),
        ("checkout_started", "2026-12-01 23:59:59.999999", "c-left"),
        ("hotspot_impression", "2026-12-02 08:00:00", None),
        ("hotspot_impression", "2026-12-02 08:00:01", None),
        ("hotspot_impression", "2026-12-02 23:00:00", None),
        ("hotspot_tap", "2026-12-02 08:00:10", None),
        ("checkout_started", "2026-12-02 00:00:00", "c-bought"),
    ):
        _store(engine, placement, kind, when, click_id=click)
    bought = make_checkout(engine, placement, variant.id, click_id="c-bought", amount="2.50")
    order = make_paid_order(engine, bought, provider_event_id="evt-bought")
    # Opened and paid in the first second of the 2nd: the 1st ends before it
    _opened_at(engine, bought, order, "2026-12-02 00:00:00.5")

    def report(query: str = "", path: str = "/v1/analytics/brands/me") -> dict[str, Any]:
        answer = client.get(f"{path}{query}", headers=brand.headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    everything = report()
    assert (everything["since"], everything["until"]) == (None, None)
    assert _funnel(everything) == (6, 2, 3, 1, 1, {"variant-unavailable": 1}, 1, {"EUR": "2.50"})

    # One day: what happened on it, and nothing of the days beside it
    first_of_december = report("?since=2026-12-01&until=2026-12-01")
    assert (first_of_december["since"], first_of_december["until"]) == ("2026-12-01", "2026-12-01")
    assert _funnel(first_of_december) == (1, 1, 1, 0, 0, {}, 0, {})
    # From a day on, and up to a day
    assert _funnel(report("?since=2026-12-02")) == (3, 1, 1, 1, 0, {}, 1, {"EUR": "2.50"})
    assert _funnel(report("?until=2026-11-30")) == (2, 0, 1, 0, 1, {"variant-unavailable": 1}, 0, {})
    # Every placement is listed, with zeros where nothing happened in the range
    empty = report("?since=2026-12-05&until=2026-12-06")
    assert _funnel(empty) == (0, 0, 0, 0, 0, {}, 0, {})
    assert [p["placement_id"] for p in empty["placements"]] == [str(placement.id)]
    assert empty["placements"][0]["tap_rate"] is None
    # The episode's report says the same as the brand's
    episode_path = f"/v1/analytics/episodes/{episode.id}"
    assert _funnel(report("?since=2026-12-02", episode_path)) == _funnel(report("?since=2026-12-02"))
    # The widest range a date can name is every day (its end is past the last date: no overflow)
    assert _funnel(report("?since=0001-01-01&until=9999-12-31")) == _funnel(everything)

    # Past days' slots folded into one: every report the same
    ranges = ["", "?since=2026-12-01&until=2026-12-01", "?since=2026-12-02", "?until=2026-11-30"]
    before_folding = [_funnel(report(query)) for query in ranges]
    with Session(engine) as session:
        fold_day_counts(session, before=date(2026, 12, 7))
        slots = session.exec(select(func.max(EventDayCount.slot))).one()
    assert slots == 0
    assert [_funnel(report(query)) for query in ranges] == before_folding


def test_events_from_the_player_count_on_the_day_they_say_they_occurred(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, status=PlacementStatus.APPROVED)
    # 23 hours ago by the player's clock (within the skew a player's time is believed), and one with no time
    earlier = datetime.now(UTC) - timedelta(hours=23)
    opened = {"type": "sheet_open", "episode_id": str(episode.id), "placement_id": str(placement.id)}
    answer = client.post("/v1/events", json={"events": [{**opened, "ts": earlier.isoformat()}, opened]})
    assert answer.json()["accepted"] == 2, answer.text
    with Session(engine) as session:
        times = session.exec(select(Event.occurred_at)).all()
    assert earlier in times  # the player's time, kept
    days = [at.astimezone(UTC).date() for at in times]

    def sheet_opens(query: str) -> int:
        report = client.get(f"/v1/analytics/brands/me{query}", headers=brand.headers).json()
        return int(report["placements"][0]["sheet_opens"])

    assert sheet_opens(f"?since={earlier.date()}&until={earlier.date()}") == days.count(earlier.date())
    assert sheet_opens(f"?since={max(days)}") == days.count(max(days))
    assert sheet_opens(f"?until={earlier.date() - timedelta(days=1)}") == 0
    assert sheet_opens("") == 2


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("?since=2026-12-02&until=2026-12-01", "`since` (2026-12-02) is after `until` (2026-12-01)"),
        ("?since=2026-13-01", "since"),
        ("?until=yesterday", "until"),
        ("?since=2026-12-01T10:00:00", "since"),
        ("?since=2026-12-01T00:00:00", "since"),
        ("?since=1764547200", "since"),
        ("?until=2026-02-30", "`until` (2026-02-30) is not a day of the calendar"),
        ("?since=10000-01-01", "since"),
    ],
)
def test_a_range_that_names_no_day_is_refused_with_what_is_wrong(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, query: str, says: str
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    for path in ("/v1/analytics/brands/me", f"/v1/analytics/episodes/{episode.id}"):
        answer = client.get(f"{path}{query}", headers=brand.headers)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert says in answer.text
    # Without a key, a bad range is still a 401 first: nothing is said of a brand's data
    assert client.get(f"/v1/analytics/brands/me{query}").status_code == 401


def test_a_past_days_slots_fold_into_one_row_keeping_their_sum_and_recent_days_are_left(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A placement per transaction: the chunking is gone through as at scale
    monkeypatch.setattr(counting, "FOLD_CHUNK", 1)
    engine = create_db_engine(database_url)
    try:
        upgrade_database(engine)
        brand_id = make_brand(engine, "folded").brand.id
        settings = ApiSettings(_env_file=None, database_url=database_url, media_dir=tmp_path / "media")
        episode = make_episode(engine, brand_id, settings)
        first, second = (
            make_placement(engine, episode, start_ms=1000 * n, end_ms=1000 * n + 900) for n in range(2)
        )
        # One clock for the test and the supervisor: a run across midnight folds what it expects
        now = datetime.now(UTC)
        monkeypatch.setattr(recovery, "utcnow", lambda: now)
        today = now.date()
        long_ago, day_before, yesterday = (today - timedelta(days=n) for n in (9, 2, 1))
        with Session(engine) as session:
            for day in (long_ago, day_before, yesterday, today):
                for slot in (0, 3, 5, 7):
                    session.add(
                        EventDayCount(placement_id=first.id, type="hotspot_tap", day=day, slot=slot, count=2)
                    )
                session.add(
                    EventDayCount(placement_id=second.id, type="sheet_open", day=day, slot=4, count=7)
                )
            session.commit()

        def rows() -> dict[tuple[uuid.UUID, str, date], list[tuple[int, int]]]:
            found: dict[tuple[uuid.UUID, str, date], list[tuple[int, int]]] = {}
            with Session(engine) as session:
                for row in session.exec(select(EventDayCount)).all():
                    found.setdefault((row.placement_id, row.type, row.day), []).append((row.slot, row.count))
            return {key: sorted(value) for key, value in found.items()}

        supervisor = JobSupervisor(engine, settings, lambda job: None, outbox=True)
        # The supervisor folds the days before yesterday, once a day
        assert supervisor.fold_counts_if_due() == 2 * (3 + 1)
        assert supervisor.fold_counts_if_due() is None
        after = rows()
        for day in (long_ago, day_before):
            assert after[(first.id, "hotspot_tap", day)] == [(0, 8)]
            assert after[(second.id, "sheet_open", day)] == [(0, 7)]
        # Yesterday's and today's may still take events: left as they are
        for day in (yesterday, today):
            assert after[(first.id, "hotspot_tap", day)] == [(0, 2), (3, 2), (5, 2), (7, 2)]
            assert after[(second.id, "sheet_open", day)] == [(4, 7)]
        # Nothing left to fold
        with Session(engine) as session:
            assert fold_day_counts(session, before=yesterday) == 0
        assert rows() == after
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_fold_waits_for_a_placement_being_deleted_on_postgresql_and_leaves_it_out() -> None:
    """An episode's deletion (or a re-tag, or a recount) locks its placements FOR UPDATE, then deletes
    their counts. A fold that took the counts' rows first and then wrote slot 0 (a row naming the
    placement) would wait for the deletion while the deletion waited for it: a deadlock, and the brand's
    DELETE failed. The fold key-shares the placements first, so it waits, and leaves the deleted one out."""
    with throwaway_postgres_database() as url:
        engine = create_db_engine(url)
        try:
            brand_id = make_brand(engine, "folding-deleted").brand.id
            episode = make_episode(engine, brand_id, ApiSettings(_env_file=None, database_url=url))
            doomed = make_placement(engine, episode)
            long_ago = datetime.now(UTC).date() - timedelta(days=9)
            with Session(engine) as session:
                for slot in (1, 2):
                    session.add(
                        EventDayCount(
                            placement_id=doomed.id, day=long_ago, type="sheet_open", slot=slot, count=3
                        )
                    )
                session.commit()
            results: list[int] = []
            errors: list[BaseException] = []

            def fold() -> None:
                try:
                    with Session(engine) as session:
                        results.append(fold_day_counts(session, before=long_ago + timedelta(days=1)))
                except BaseException as error:  # pragma: no cover - reported below
                    errors.append(error)

            with Session(engine) as deleting:
                deleting.exec(select(Placement).where(Placement.id == doomed.id).with_for_update()).one()
                folding = threading.Thread(target=fold)
                folding.start()
                folding.join(timeout=1.0)
                assert folding.is_alive()  # waiting for the placement, having taken nothing
                deleting.execute(delete(Placement).where(col(Placement.id) == doomed.id))
                deleting.commit()
            folding.join(timeout=10)
            assert errors == []
            assert results == [0]
            with Session(engine) as session:
                assert session.exec(select(EventDayCount)).all() == []
        finally:
            engine.dispose()
