"""The public hotspot timeline: built when placements change, served as stored bytes with an ETag.

Contract (version 1, published as `TimelineV1` in `api/timeline/schemas.py` and in OpenAPI; the overlay's
`web_overlay/types.d.ts` is checked against it), consumed by web_overlay/reelcart-overlay.js:
{"version": 1, "episode": {"id", "duration_ms", "width", "height"},
 "placements": [{"id", "start_ms", "end_ms", "label", "keyframes": [{"t_ms", "box": [x, y, w, h]}],
                 "product": {"id", "title", "brand", "image_url", "variants": [{"id", "sku", "title",
                             "price": "4.99", "currency", "available"}]}}]}
Boxes are normalized to the displayed frame (0..1, top-left origin). Only approved placements that
show a product appear.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from api.brands.models import Brand
from api.catalog.models import Product
from api.catalog.service import product_public
from api.episodes.models import Episode
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings

TIMELINE_VERSION = 1


def build_timeline_document(session: Session, episode: Episode, settings: ApiSettings) -> dict[str, Any]:
    placements = session.exec(
        select(Placement)
        .where(
            Placement.episode_id == episode.id,
            Placement.status == PlacementStatus.APPROVED,
            col(Placement.chosen_product_id).is_not(None),
        )
        .order_by(col(Placement.start_ms), col(Placement.id))
        # Rows this session read before another writer's commit are read again, not taken from memory.
        .execution_options(populate_existing=True)
    ).all()
    brand = session.get(Brand, episode.brand_id)
    products: dict[uuid.UUID, dict[str, Any]] = {}
    items = []
    for placement in placements:
        assert placement.chosen_product_id is not None
        if placement.chosen_product_id not in products:
            product = session.get(Product, placement.chosen_product_id)
            if product is None:
                continue
            public = product_public(session, product, settings.public_base_url)
            if not public.variants:
                # Nothing to buy (its last variant was deleted): no hotspot, as the overlay would show
                # none, so the episode is not public on its account either.
                continue
            products[product.id] = {
                "id": str(public.id),
                "title": public.title,
                "brand": public.vendor or (brand.name if brand else ""),
                "image_url": public.images[0].url if public.images else None,
                "variants": [
                    {
                        "id": str(variant.id),
                        "sku": variant.sku,
                        "title": variant.title,
                        "price": str(variant.price),
                        "currency": variant.currency,
                        "available": variant.available,
                    }
                    for variant in public.variants
                ],
            }
        items.append(
            {
                "id": str(placement.id),
                "start_ms": placement.start_ms,
                "end_ms": placement.end_ms,
                "label": placement.label,
                "keyframes": placement.keyframes,
                "product": products[placement.chosen_product_id],
            }
        )
    return {
        "version": TIMELINE_VERSION,
        "episode": {
            "id": str(episode.id),
            "duration_ms": episode.duration_ms,
            "width": episode.width,
            "height": episode.height,
        },
        "placements": items,
    }


def rebuild_timeline(session: Session, episode: Episode, settings: ApiSettings) -> str:
    """Recompute and store the episode's timeline bytes and ETag; returns the new ETag."""
    # One writer of an episode's timeline at a time (PostgreSQL; SQLite has one writer at all). Without
    # it, two transactions changing two of its placements each build from a read that misses the other's
    # uncommitted change, and the later commit publishes a timeline without the earlier one's: a hotspot
    # missing for players until the next change. Taken after the placements, as every writer takes them
    # (api.episodes.deletion); NO KEY UPDATE, so events and checkouts that key-share the episode go on.
    session.exec(select(Episode.id).where(Episode.id == episode.id).with_for_update(key_share=True)).first()
    document = build_timeline_document(session, episode, settings)
    # allow_nan=False: a NaN written here is not JSON, and every player's parse of the episode would fail;
    # refusing the write keeps the last good timeline published.
    body = json.dumps(document, separators=(",", ":"), sort_keys=True, allow_nan=False)
    episode.timeline_json = body
    episode.timeline_etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    session.add(episode)
    session.flush()
    return episode.timeline_etag


def episodes_showing(session: Session, product_id: uuid.UUID) -> list[uuid.UUID]:
    """Episodes whose public timeline shows the product: an approved placement has it as its choice."""
    return sorted(
        session.exec(
            select(Placement.episode_id)
            .where(Placement.chosen_product_id == product_id, Placement.status == PlacementStatus.APPROVED)
            .distinct()
        ).all()
    )


def rebuild_timelines(session: Session, episode_ids: Iterable[uuid.UUID], settings: ApiSettings) -> None:
    for episode_id in episode_ids:
        episode = session.get(Episode, episode_id)
        if episode is not None:
            rebuild_timeline(session, episode, settings)


def rebuild_timelines_for_product(session: Session, product_id: uuid.UUID, settings: ApiSettings) -> None:
    """Any change to what a timeline shows of a product (title, vendor, variants, prices, availability,
    images) must reach every timeline that shows it, in the same transaction, and no other timeline."""
    rebuild_timelines(session, episodes_showing(session, product_id), settings)


def is_public(timeline_json: str) -> bool:
    """Whether an episode is public: its stored timeline (what the timeline route serves) shows a
    placement, that is an approved one with a product. The demo player and the landing page use this."""
    if not timeline_json:
        return False
    placements = json.loads(timeline_json).get("placements")
    return isinstance(placements, list) and bool(placements)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison over a list of entity tags (or `*`)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))
