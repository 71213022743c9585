"""The demo's brand reviewer: approves what a person reviewing the demo episode would approve.

A shoppable demo must not hang on a confidence a hair above the auto-approve threshold (a carton
scored 0.81 on one CPU and 0.79 on another, and the demo player showed no hotspot). The demo knows
which products each of its shots shows, because it cut the episode from photos of them; after the tag
job, it reviews the proposals as the brand would: a placement whose first candidate is a product its
shot shows, linked above the brand's floor, is approved through the review service (audited under
the demo key, timeline rebuilt); everything else is left for the review console. Auto-approval runs
first and unchanged, so the demo also shows what the linker approved on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.auth import IssuedKey, Principal
from api.brands.models import ApiKeyScope, Brand
from api.catalog.models import Product
from api.review.models import Placement, PlacementStatus
from api.review.service import approve, top_candidate
from api.settings import ApiSettings


class DemoDecision(StrEnum):
    AUTO_APPROVED = "auto-approved"
    APPROVED_BY_REVIEWER = "approved by the demo's reviewer"
    LEFT_FOR_REVIEW = "left for review"


@dataclass(frozen=True, slots=True)
class ReviewedPlacement:
    start_ms: int
    end_ms: int
    product: str  # the first candidate's title, or "unknown product"
    confidence: float | None
    decision: DemoDecision
    why: str


def shot_of(start_ms: int, end_ms: int, shot_ms: int) -> int:
    """The shot holding most of the placement: the one its midpoint falls in."""
    return (start_ms + end_ms) // 2 // shot_ms


def review_demo_episode(
    engine: Engine,
    settings: ApiSettings,
    *,
    brand_id: uuid.UUID,
    episode_id: uuid.UUID,
    shot_products: Sequence[frozenset[uuid.UUID]],
    shot_ms: int,
    key: IssuedKey,
) -> list[ReviewedPlacement]:
    """Review the episode's placements in time order; returns what was decided for each, and why."""
    reviewer = Principal(
        key_id=key.record.id, key_name=key.record.name, scope=ApiKeyScope.BRAND, brand_id=brand_id
    )
    outcome: list[ReviewedPlacement] = []
    with Session(engine) as session:
        brand = session.get(Brand, brand_id)
        floor = brand.link_floor if brand is not None else 0.0
        titles = dict(
            session.exec(select(Product.id, Product.title).where(Product.brand_id == brand_id)).all()
        )
        placements = session.exec(
            select(Placement)
            .where(Placement.episode_id == episode_id)
            .order_by(col(Placement.start_ms), col(Placement.id))
        ).all()
        for placement in placements:
            top_id = top_candidate(placement)
            product = titles.get(top_id, "unknown product") if top_id else "unknown product"
            confidence = placement.link_confidence
            shot = shot_of(placement.start_ms, placement.end_ms, shot_ms)
            shown = shot_products[shot] if shot < len(shot_products) else frozenset()
            if placement.status == PlacementStatus.APPROVED:
                decision, why = DemoDecision.AUTO_APPROVED, "above the brand's threshold, with print evidence"
            elif top_id is None or confidence is None or confidence < floor:
                decision, why = DemoDecision.LEFT_FOR_REVIEW, f"no link above the brand's floor ({floor:.2f})"
            elif top_id not in shown:
                decision, why = DemoDecision.LEFT_FOR_REVIEW, f"shot {shot + 1} does not show this product"
            else:
                approve(session, placement, reviewer, settings, product_id=top_id)
                decision, why = DemoDecision.APPROVED_BY_REVIEWER, f"shot {shot + 1} shows this product"
            outcome.append(
                ReviewedPlacement(placement.start_ms, placement.end_ms, product, confidence, decision, why)
            )
        session.commit()
    return outcome
