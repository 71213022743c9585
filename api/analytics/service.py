"""Player events in, per-placement funnel out. Impressions, taps and sheet opens are the counts kept with
the events (`api.analytics.counting`, equal to a COUNT of the stored events); Buy presses are read from
their events' own index (distinct click ids, `buy_presses`), orders from the orders table; so reports
reconcile exactly with the events and orders tables."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import ColumnElement, case, func, insert, text
from sqlalchemy import select as select_columns
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from api.analytics.counting import count_events
from api.analytics.models import BUY_PRESS_SQL, Event, EventCount, EventDayCount, is_checkout_failure
from api.analytics.schemas import (
    AnalyticsReport,
    EventBatch,
    EventReceipt,
    EventType,
    PlacementStats,
    RejectedEvent,
)
from api.catalog.models import Product
from api.checkout.models import CheckoutSession, Order, OrderStatus
from api.episodes.models import Episode
from api.review.models import Placement
from commerce.money import Money


class StoredEvent(NamedTuple):
    """One event of a player's batch, as inserted into the events table (and counted)."""

    id: uuid.UUID
    type: str
    brand_id: uuid.UUID
    episode_id: uuid.UUID
    placement_id: uuid.UUID
    click_id: str | None
    t_ms: int | None
    occurred_at: datetime
    received_at: datetime


# Clients' clocks drift; an event claiming to be from the far future or past keeps the server time.
MAX_CLOCK_SKEW = timedelta(hours=24)


# A tap is deduplicated by the same per-viewer window as an impression, under a key of its own: the
# placement's id mapped into a namespace no placement id is in, so a viewer's tap never reads as a repeat
# of their impression of the same placement.
_TAP_NAMESPACE = uuid.UUID("0b7a5c1e-6f1d-4c57-9a53-7d1c0e4a7a11")


def tap_key(placement_id: uuid.UUID) -> uuid.UUID:
    """The key a viewer's tap on a placement is counted once under (see `record_events`)."""
    return uuid.uuid5(_TAP_NAMESPACE, str(placement_id))


# The events counted once per viewer in the window, and the key each is counted under.
_SEEN_KEYS: dict[EventType, Callable[[uuid.UUID], uuid.UUID]] = {
    EventType.HOTSPOT_IMPRESSION: lambda placement_id: placement_id,
    EventType.HOTSPOT_TAP: tap_key,
}


def record_events(
    session: Session, batch: EventBatch, *, first_sighting: Callable[[uuid.UUID], bool] | None = None
) -> EventReceipt:
    """Store the batch's valid events. `first_sighting(key)` says whether this viewer sights `key` for
    the first time in its window: an impression is asked under its placement's id, a tap under
    `tap_key(placement id)`. A repeat is refused as a duplicate, so one client cannot inflate
    impressions or taps by resending them (and a tap rate, taps per impression, stays a share of
    viewers)."""
    episode_ids = {event.episode_id for event in batch.events}
    # Key-share locked, the placements before the episodes (the order an episode's deletion takes them
    # in, api.episodes.deletion): a deletion under way is waited for and then they are unknown, instead
    # of the events failing on their foreign keys.
    placement_ids = {event.placement_id for event in batch.events if event.placement_id}
    placements = {
        row.id: row
        for row in session.exec(
            select(Placement)
            .where(col(Placement.id).in_(placement_ids))
            .order_by(col(Placement.id))
            .with_for_update(read=True, key_share=True)
        ).all()
    }
    episodes = {
        row.id: row
        for row in session.exec(
            select(Episode)
            .where(col(Episode.id).in_(episode_ids))
            .order_by(col(Episode.id))
            .with_for_update(read=True, key_share=True)
        ).all()
    }
    now = datetime.now(UTC)
    stored: list[StoredEvent] = []
    rejected = []
    for index, event in enumerate(batch.events):
        episode = episodes.get(event.episode_id)
        if episode is None:
            rejected.append(RejectedEvent(index=index, reason="unknown episode"))
            continue
        if event.placement_id is None:
            rejected.append(RejectedEvent(index=index, reason=f"{event.type} needs a placement_id"))
            continue
        placement = placements.get(event.placement_id)
        if placement is None or placement.episode_id != episode.id:
            rejected.append(RejectedEvent(index=index, reason="placement is not in this episode"))
            continue
        seen_key = _SEEN_KEYS.get(event.type)
        if seen_key is not None and first_sighting is not None and not first_sighting(seen_key(placement.id)):
            what = "impression" if event.type is EventType.HOTSPOT_IMPRESSION else "tap"
            rejected.append(
                RejectedEvent(index=index, reason=f"duplicate {what}: this viewer's is already counted")
            )
            continue
        occurred = event.ts.astimezone(UTC) if event.ts and event.ts.tzinfo else now
        if abs(occurred - now) > MAX_CLOCK_SKEW:
            occurred = now
        stored.append(
            StoredEvent(
                id=uuid.uuid4(),
                type=str(event.type),
                brand_id=episode.brand_id,
                episode_id=episode.id,
                placement_id=placement.id,
                click_id=event.click_id,
                t_ms=event.t_ms,
                occurred_at=occurred,
                received_at=now,
            )
        )
    if stored:
        # Rows, not ORM objects: one INSERT compiled once and run for the batch (nothing reads them back);
        # with its NULLs written out, so rows with and without a click id are one statement, not several.
        session.execute(insert(Event).execution_options(render_nulls=True), [row._asdict() for row in stored])
        count_events(session, stored)
    return EventReceipt(accepted=len(stored), rejected=rejected)


def _money_text(amount: Decimal, currency: str) -> str:
    """Sums come back with the column's 3 decimals; show the currency's own precision."""
    return str(Money(amount.normalize(), currency).amount)


def _by_currency(per_placement: dict[uuid.UUID, dict[str, Decimal]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for amounts in per_placement.values():
        for currency, amount in amounts.items():
            totals[currency] += amount
    return totals


def _rate(numerator: int, denominator: int) -> float | None:
    """None when there is nothing to divide by: no rate, rather than a rate of 0."""
    return round(numerator / denominator, 4) if denominator else None


@dataclass(frozen=True, slots=True)
class ReportDays:
    """The UTC days a report covers, both ends included; None: from the first day, or to the latest. An
    event counts on the day it occurred, a checkout on the day it opened, an order on the day it was paid
    (its refunds, whenever given, are shown with it)."""

    since: date | None = None
    until: date | None = None

    @property
    def every_day(self) -> bool:
        return self.since is None and self.until is None

    def start(self) -> datetime | None:
        return datetime.combine(self.since, time.min, UTC) if self.since is not None else None

    def end(self) -> datetime | None:
        """The first moment after the range (None past the last day a date can name: nothing is after it)."""
        if self.until is None or self.until == date.max:
            return None
        return datetime.combine(self.until + timedelta(days=1), time.min, UTC)

    def of_days(self, column: Mapped[date]) -> list[ColumnElement[bool]]:
        """The conditions that keep `column`'s days within the range (none for every day)."""
        return [
            *([column >= self.since] if self.since is not None else []),
            *([column <= self.until] if self.until is not None else []),
        ]

    def of_times(self, column: Mapped[datetime]) -> list[ColumnElement[bool]]:
        """The conditions that keep `column`'s times within the range (none for every day)."""
        start, end = self.start(), self.end()
        return [
            *([column >= start] if start is not None else []),
            *([column < end] if end is not None else []),
        ]


EVERY_DAY = ReportDays()


@dataclass
class _Buys:
    """One placement's Buy presses, by click id."""

    started: int = 0
    opened: int = 0
    failures: Counter[str] = field(default_factory=Counter)


def buy_presses(
    in_scope: SelectOfScalar[uuid.UUID], days: ReportDays = EVERY_DAY
) -> Select[uuid.UUID | None, str, str | None]:
    """The Buy presses of the placements `in_scope` selects (placement, type, click id) that occurred within
    `days`, oldest first: read from their own index (`BUY_PRESS_SQL`, migration 0029), which holds every
    column asked for here and orders each placement's by time, so no event row is read."""
    return (
        select(Event.placement_id, Event.type, Event.click_id)
        .where(
            col(Event.placement_id).in_(in_scope),
            text(BUY_PRESS_SQL),
            *days.of_times(col(Event.occurred_at)),
        )
        .order_by(col(Event.occurred_at), col(Event.received_at))
    )


def _checkout_funnel(
    session: Session,
    placement_ids: list[uuid.UUID],
    in_scope: SelectOfScalar[uuid.UUID],
    any_pressed: bool,
    days: ReportDays,
) -> dict[uuid.UUID, _Buys]:
    """Started, opened and failed Buy presses per placement (`placement_ids`, which `in_scope` selects)
    within `days`, from the `checkout_started` and `checkout_failed:…` events (none are read unless
    `any_pressed`: the counts say there are some) and the checkouts opened. A click id counts once however
    many rows name it; a failed click that later opened is opened; a click that failed more than once failed
    for its latest reason. Rows without a click id count one press each."""
    opened: dict[uuid.UUID, set[str]] = defaultdict(set)
    for placement_id, click_id in session.exec(
        select(CheckoutSession.placement_id, CheckoutSession.click_id).where(
            col(CheckoutSession.placement_id).in_(in_scope), *days.of_times(col(CheckoutSession.created_at))
        )
    ).all():
        opened[placement_id].add(click_id)
    reported: dict[uuid.UUID, set[str]] = defaultdict(set)
    anonymous: Counter[uuid.UUID] = Counter()
    failed: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    anonymous_failures: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    pressed = session.exec(buy_presses(in_scope, days)).all() if any_pressed else []
    for event_placement, kind, event_click in pressed:
        if event_placement is None:
            continue
        reason = kind.partition(":")[2] if kind != EventType.CHECKOUT_STARTED else None
        if event_click is None:
            anonymous[event_placement] += 1
            if reason is not None:
                anonymous_failures[event_placement][reason] += 1
            continue
        reported[event_placement].add(event_click)
        if reason is not None:
            failed[event_placement][event_click] = reason  # oldest first: the latest reason stays
    funnel: dict[uuid.UUID, _Buys] = {}
    for placement_id in placement_ids:
        opened_clicks = opened.get(placement_id, set())
        failures = Counter(
            reason for click, reason in failed.get(placement_id, {}).items() if click not in opened_clicks
        )
        failures.update(anonymous_failures.get(placement_id, Counter()))
        started = len(opened_clicks | reported.get(placement_id, set())) + anonymous[placement_id]
        if started:
            funnel[placement_id] = _Buys(started=started, opened=len(opened_clicks), failures=failures)
    return funnel


def _one_snapshot(session: Session) -> None:
    """Make the report's reads see one moment. Its numbers come from several queries (counts, Buy presses,
    checkouts, orders); under PostgreSQL's READ COMMITTED a sale or a press committed between two of them
    would be in one and not the other (more Buy presses than the taps they came from, the press of a type
    the counts had not seen left out). REPEATABLE READ gives every query the snapshot of the first; the
    report writes nothing, so it can never fail to serialize. SQLite's read transaction is one snapshot
    already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.rollback()  # the request's reads so far (its key, the episode) wrote nothing
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _event_counts(
    session: Session, in_scope: SelectOfScalar[uuid.UUID], days: ReportDays
) -> dict[tuple[uuid.UUID, str], int]:
    """Each placement's events of each type within `days`: from the counts kept as events are stored, not
    the events themselves (a few rows per placement however many events it has; per day for a range)."""
    counts: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    if days.every_day:
        rows = session.exec(
            select(EventCount.placement_id, EventCount.type, func.sum(EventCount.count))
            .where(col(EventCount.placement_id).in_(in_scope))
            .group_by(col(EventCount.placement_id), col(EventCount.type))
        ).all()
    else:
        rows = session.exec(
            select(EventDayCount.placement_id, EventDayCount.type, func.sum(EventDayCount.count))
            .where(col(EventDayCount.placement_id).in_(in_scope), *days.of_days(col(EventDayCount.day)))
            .group_by(col(EventDayCount.placement_id), col(EventDayCount.type))
        ).all()
    for placement_id, kind, count in rows:
        counts[(placement_id, kind)] = int(count or 0)
    return counts


def funnel(
    session: Session,
    brand_id: uuid.UUID,
    *,
    episode_id: uuid.UUID | None,
    scope: str,
    days: ReportDays = EVERY_DAY,
) -> AnalyticsReport:
    """The funnel of the brand's placements (of one episode, or all) within `days`, per placement and in
    total. Every placement is listed, those with nothing in the range with zeros."""
    _one_snapshot(session)
    placement_filter = [col(Placement.brand_id) == brand_id]
    if episode_id is not None:
        placement_filter.append(col(Placement.episode_id) == episode_id)
    placements = session.exec(
        select(Placement).where(*placement_filter).order_by(col(Placement.start_ms))
    ).all()
    ids = [placement.id for placement in placements]
    # The rows below are picked by this subquery, never by a list of the placements' ids: a bound
    # parameter each would pass PostgreSQL's limit of 65,535 per statement for a big brand.
    in_scope = select(Placement.id).where(*placement_filter)

    event_counts = _event_counts(session, in_scope, days)
    any_pressed = any(
        kind == EventType.CHECKOUT_STARTED or is_checkout_failure(kind) for _, kind in event_counts
    )
    buys = _checkout_funnel(session, ids, in_scope, any_pressed, days)
    orders: dict[uuid.UUID, int] = defaultdict(int)
    revenue: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    refunded: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    # A paid order counts; one refunded in full no longer does, but its refund is still shown, so
    # revenue (what was kept) plus refunded is what shoppers paid.
    still_paid = case((col(Order.status) == OrderStatus.PAID, 1), else_=0)
    # Five columns: past the arity of sqlmodel's typed `select`, so SQLAlchemy's own.
    for placement_id, currency, count, amount, given_back in session.execute(
        select_columns(
            col(Order.placement_id),
            col(Order.currency),
            func.sum(still_paid),
            func.sum(Order.amount),
            func.sum(Order.refunded_amount),
        )
        .where(
            col(Order.placement_id).in_(in_scope),
            col(Order.status).in_([OrderStatus.PAID, OrderStatus.REFUNDED]),
            *days.of_times(col(Order.created_at)),
        )
        .group_by(col(Order.placement_id), col(Order.currency))
    ).all():
        if placement_id is None:
            continue
        orders[placement_id] += int(count)
        kept, back = Decimal(str(amount)), Decimal(str(given_back))
        revenue[placement_id][currency] += kept - back
        if back:
            refunded[placement_id][currency] += back
    chosen = select(Placement.chosen_product_id).where(*placement_filter)
    titles = dict(session.exec(select(Product.id, Product.title).where(col(Product.id).in_(chosen))).all())
    stats = []
    for placement in placements:
        impressions = event_counts[(placement.id, EventType.HOTSPOT_IMPRESSION)]
        taps = event_counts[(placement.id, EventType.HOTSPOT_TAP)]
        placement_orders = orders[placement.id]
        buy = buys.get(placement.id, _Buys())
        stats.append(
            PlacementStats(
                placement_id=placement.id,
                episode_id=placement.episode_id,
                label=placement.label,
                product_title=titles.get(placement.chosen_product_id)
                if placement.chosen_product_id
                else None,
                impressions=impressions,
                taps=taps,
                tap_rate=_rate(taps, impressions),
                sheet_opens=event_counts[(placement.id, EventType.SHEET_OPEN)],
                checkouts_started=buy.started,
                checkouts_opened=buy.opened,
                checkouts_failed=sum(buy.failures.values()),
                checkout_failures=dict(sorted(buy.failures.items())),
                orders_paid=placement_orders,
                revenue={c: _money_text(amount, c) for c, amount in sorted(revenue[placement.id].items())},
                refunded={c: _money_text(amount, c) for c, amount in sorted(refunded[placement.id].items())},
                conversion=_rate(placement_orders, taps),
            )
        )
    failures: Counter[str] = Counter()
    for buy in buys.values():
        failures.update(buy.failures)
    totals, refund_totals = _by_currency(revenue), _by_currency(refunded)
    return AnalyticsReport(
        scope=scope,
        since=days.since,
        until=days.until,
        impressions=sum(s.impressions for s in stats),
        taps=sum(s.taps for s in stats),
        checkouts_started=sum(s.checkouts_started for s in stats),
        checkouts_opened=sum(s.checkouts_opened for s in stats),
        checkouts_failed=sum(s.checkouts_failed for s in stats),
        checkout_failures=dict(sorted(failures.items())),
        orders_paid=sum(s.orders_paid for s in stats),
        revenue={currency: _money_text(amount, currency) for currency, amount in sorted(totals.items())},
        refunded={c: _money_text(amount, c) for c, amount in sorted(refund_totals.items())},
        placements=stats,
    )
