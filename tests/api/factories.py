"""Rows for API tests, written straight to the database (factories, not mocks)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.models import CheckoutProviderName
from api.catalog.models import Product, Variant
from api.checkout.models import CheckoutSession, Order
from api.episodes.models import Episode
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline


def make_product(
    engine: Engine,
    brand_id: uuid.UUID,
    title: str,
    *,
    sku: str,
    price: str = "4.99",
    currency: str = "EUR",
    available: bool = True,
) -> tuple[Product, Variant]:
    with Session(engine, expire_on_commit=False) as session:
        product = Product(brand_id=brand_id, title=title, vendor="Acme")
        session.add(product)
        session.flush()
        variant = Variant(
            product_id=product.id,
            brand_id=brand_id,
            sku=sku,
            price=Decimal(price),
            currency=currency,
            available=available,
        )
        session.add(variant)
        session.commit()
        return product, variant


def make_episode(
    engine: Engine,
    brand_id: uuid.UUID,
    settings: ApiSettings,
    *,
    media_path: str = "/nonexistent.mp4",
    duration_ms: int = 20_000,
) -> Episode:
    with Session(engine, expire_on_commit=False) as session:
        episode = Episode(
            brand_id=brand_id,
            title="Episode 1",
            media_path=media_path,
            duration_ms=duration_ms,
            fps=30,
            time_base="1/30000",
            width=1080,
            height=1920,
        )
        session.add(episode)
        session.flush()
        rebuild_timeline(session, episode, settings)
        session.commit()
        return episode


def make_placement(
    engine: Engine,
    episode: Episode,
    *,
    start_ms: int = 1000,
    end_ms: int = 4000,
    link_confidence: float | None = 0.5,
    candidates: list[Product] | None = None,
    status: PlacementStatus = PlacementStatus.PROPOSED,
    **extra: Any,
) -> Placement:
    with Session(engine, expire_on_commit=False) as session:
        placement = placement_row(
            episode,
            start_ms=start_ms,
            end_ms=end_ms,
            link_confidence=link_confidence,
            candidates=candidates,
            status=status,
            **extra,
        )
        session.add(placement)
        session.commit()
        return placement


def placement_row(
    episode: Episode,
    *,
    start_ms: int = 1000,
    end_ms: int = 4000,
    link_confidence: float | None = 0.5,
    candidates: list[Product] | None = None,
    status: PlacementStatus = PlacementStatus.PROPOSED,
    **extra: Any,
) -> Placement:
    """The placement `make_placement` stores, not stored (a migration test writes it as an older revision)."""
    return Placement(
        brand_id=episode.brand_id,
        episode_id=episode.id,
        start_ms=start_ms,
        end_ms=end_ms,
        start_frame=start_ms * 30 // 1000,
        end_frame=end_ms * 30 // 1000,
        label="bottle",
        confidence=0.8,
        keyframes=[
            {"t_ms": start_ms, "box": [0.1, 0.2, 0.2, 0.3]},
            {"t_ms": end_ms, "box": [0.3, 0.2, 0.2, 0.3]},
        ],
        sku_candidates=[
            {
                "product_id": str(p.id),
                "variant_id": None,
                "title": p.title,
                "confidence": 0.9 - 0.1 * rank,
            }
            for rank, p in enumerate(candidates or [])
        ],
        link_confidence=link_confidence,
        status=status,
        **extra,
    )


def make_checkout(
    engine: Engine,
    placement: Placement,
    variant_id: uuid.UUID,
    *,
    click_id: str,
    amount: str = "19.00",
    provider: CheckoutProviderName = CheckoutProviderName.SHOPIFY,
    quantity: int = 1,
    provider_session_id: str | None = None,
) -> CheckoutSession:
    """A checkout a shopper started from `placement` for `quantity` of `variant_id`, `amount` in all (stored
    as the checkout route stores it, without a provider call): the variant is sold through ReelCart from
    then on."""
    with Session(engine, expire_on_commit=False) as session:
        checkout = CheckoutSession(
            brand_id=placement.brand_id,
            click_id=click_id,
            placement_id=placement.id,
            episode_id=placement.episode_id,
            variant_id=variant_id,
            quantity=quantity,
            provider=provider,
            provider_session_id=provider_session_id,
            amount=Decimal(amount),
            currency="EUR",
        )
        session.add(checkout)
        session.commit()
        return checkout


def make_paid_order(engine: Engine, checkout: CheckoutSession, *, provider_event_id: str) -> Order:
    """The paid order the provider reported for `checkout`: its whole amount, attributed to its placement."""
    with Session(engine, expire_on_commit=False) as session:
        order = Order(
            brand_id=checkout.brand_id,
            provider=checkout.provider,
            provider_event_id=provider_event_id,
            checkout_session_id=checkout.id,
            placement_id=checkout.placement_id,
            episode_id=checkout.episode_id,
            amount=checkout.amount,
            currency=checkout.currency,
        )
        session.add(order)
        session.commit()
        return order
