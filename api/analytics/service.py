"""Player events in, per-placement funnel out. Every number is a COUNT over stored rows, so reports
reconcile exactly with the events and orders tables."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.analytics.models import Event
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

# Clients' clocks drift; an event claiming to be from the far future or past keeps the server time.
MAX_CLOCK_SKEW = timedelta(hours=24)


def record_events(session: Session, batch: EventBatch) -> EventReceipt:
    episode_ids = {event.episode_id for event in batch.events}
    episodes = {
        row.id: row for row in session.exec(select(Episode).where(col(Episode.id).in_(episode_ids))).all()
    }
    placement_ids = {event.placement_id for event in batch.events if event.placement_id}
    placements = {
        row.id: row
        for row in session.exec(select(Placement).where(col(Placement.id).in_(placement_ids))).all()
    }
    now = datetime.now(UTC)
    accepted = 0
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
        occurred = event.ts.astimezone(UTC) if event.ts and event.ts.tzinfo else now
        if abs(occurred - now) > MAX_CLOCK_SKEW:
            occurred = now
        session.add(
            Event(
                type=event.type,
                brand_id=episode.brand_id,
                episode_id=episode.id,
                placement_id=placement.id,
                click_id=event.click_id,
                t_ms=event.t_ms,
                occurred_at=occurred,
                received_at=now,
            )
        )
        accepted += 1
    session.flush()
    return EventReceipt(accepted=accepted, rejected=rejected)


def _money_text(amount: Decimal, currency: str) -> str:
    """Sums come back with the column's 3 decimals; show the currency's own precision."""
    return str(Money(amount.normalize(), currency).amount)


def _rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def funnel(
    session: Session, brand_id: uuid.UUID, *, episode_id: uuid.UUID | None, scope: str
) -> AnalyticsReport:
    placement_filter = [Placement.brand_id == brand_id]
    if episode_id is not None:
        placement_filter.append(Placement.episode_id == episode_id)
    placements = session.exec(
        select(Placement).where(*placement_filter).order_by(col(Placement.start_ms))
    ).all()
    ids = [placement.id for placement in placements]

    event_counts: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for placement_id, kind, count in session.exec(
        select(Event.placement_id, Event.type, func.count())
        .where(col(Event.placement_id).in_(ids))
        .group_by(col(Event.placement_id), col(Event.type))
    ).all():
        if placement_id is not None:
            event_counts[(placement_id, kind)] = count
    checkouts: dict[uuid.UUID, int] = dict(
        session.exec(
            select(CheckoutSession.placement_id, func.count())
            .where(col(CheckoutSession.placement_id).in_(ids))
            .group_by(col(CheckoutSession.placement_id))
        ).all()
    )
    orders: dict[uuid.UUID, int] = defaultdict(int)
    revenue: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for placement_id, currency, count, amount in session.exec(
        select(Order.placement_id, Order.currency, func.count(), func.sum(Order.amount))
        .where(col(Order.placement_id).in_(ids), Order.status == OrderStatus.PAID)
        .group_by(col(Order.placement_id), col(Order.currency))
    ).all():
        if placement_id is None:
            continue
        orders[placement_id] += count
        revenue[placement_id][currency] += Decimal(str(amount))
    titles = {
        product.id: product.title
        for product in session.exec(
            select(Product).where(
                col(Product.id).in_({p.chosen_product_id for p in placements if p.chosen_product_id})
            )
        ).all()
    }
    stats = []
    for placement in placements:
        impressions = event_counts[(placement.id, EventType.HOTSPOT_IMPRESSION)]
        taps = event_counts[(placement.id, EventType.HOTSPOT_TAP)]
        placement_orders = orders[placement.id]
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
                checkouts=checkouts.get(placement.id, 0),
                orders=placement_orders,
                revenue={c: _money_text(amount, c) for c, amount in sorted(revenue[placement.id].items())},
                conversion=_rate(placement_orders, taps),
            )
        )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for per_placement in revenue.values():
        for currency, amount in per_placement.items():
            totals[currency] += amount
    return AnalyticsReport(
        scope=scope,
        impressions=sum(s.impressions for s in stats),
        taps=sum(s.taps for s in stats),
        checkouts=sum(s.checkouts for s in stats),
        orders=sum(s.orders for s in stats),
        revenue={currency: _money_text(amount, currency) for currency, amount in sorted(totals.items())},
        placements=stats,
    )
