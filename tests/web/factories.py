"""Factories for timeline and review payloads that follow the API contracts, plus an independent Python
version of the overlay geometry, so browser tests compute expected positions without trusting the SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Box = tuple[float, float, float, float]
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Keyframe:
    t_ms: int
    box: Box


@dataclass(frozen=True)
class Variant:
    id: str
    sku: str
    title: str
    price: str
    currency: str = "EUR"
    available: bool = True

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "sku": self.sku,
            "title": self.title,
            "price": self.price,
            "currency": self.currency,
            "available": self.available,
        }


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    brand: str
    variants: tuple[Variant, ...]
    image_url: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "title": self.title,
            "brand": self.brand,
            "image_url": self.image_url,
            "variants": [variant.to_json() for variant in self.variants],
        }


@dataclass(frozen=True)
class TimelinePlacement:
    id: str
    start_ms: int
    end_ms: int
    label: str
    keyframes: tuple[Keyframe, ...]
    product: Product
    color: tuple[int, int, int] = (235, 235, 235)
    # False for placements the overlay must skip (zero length, box outside the frame).
    drawable: bool = True

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "label": self.label,
            "keyframes": [{"t_ms": k.t_ms, "box": list(k.box)} for k in self.keyframes],
            "product": self.product.to_json(),
        }


def make_product(
    product_id: str = "prod_cola",
    title: str = "Cola Zero",
    brand: str = "Fizz",
    price: str = "1.49",
    image_url: str | None = None,
) -> Product:
    variants = (
        Variant(id=f"{product_id}_330", sku=f"{product_id.upper()}-330", title="330 ml", price=price),
        Variant(id=f"{product_id}_500", sku=f"{product_id.upper()}-500", title="500 ml", price="1.99"),
    )
    return Product(id=product_id, title=title, brand=brand, variants=variants, image_url=image_url)


@dataclass(frozen=True)
class EpisodeTimeline:
    episode_id: str
    duration_ms: int
    width: int
    height: int
    placements: tuple[TimelinePlacement, ...] = field(default=())

    def to_json(self) -> JsonObject:
        return {
            "version": 1,
            "episode": {
                "id": self.episode_id,
                "duration_ms": self.duration_ms,
                "width": self.width,
                "height": self.height,
            },
            "placements": [placement.to_json() for placement in self.placements],
        }

    def placement(self, placement_id: str) -> TimelinePlacement:
        return next(p for p in self.placements if p.id == placement_id)


def demo_placements() -> tuple[TimelinePlacement, ...]:
    """Two drawable placements overlapping in time (tab order matters) and two the overlay must skip."""
    cola = TimelinePlacement(
        id="pl_cola",
        start_ms=500,
        end_ms=3500,
        label="bottle",
        keyframes=(Keyframe(500, (0.15, 0.30, 0.20, 0.15)), Keyframe(3500, (0.55, 0.50, 0.20, 0.15))),
        product=make_product(),
        color=(230, 40, 60),
    )
    cap = TimelinePlacement(
        id="pl_cap",
        start_ms=1000,
        end_ms=3000,
        label="hat",
        keyframes=(Keyframe(1000, (0.60, 0.12, 0.25, 0.12)),),
        product=make_product(
            "prod_cap", "Logo Cap", "Headway", price="24.00", image_url="/media/thumbs/cap.svg"
        ),
        color=(40, 200, 120),
    )
    out_of_frame = TimelinePlacement(
        id="pl_out_of_frame",
        start_ms=500,
        end_ms=3500,
        label="bag",
        keyframes=(Keyframe(500, (0.1, 0.1, 0.1, 0.1)), Keyframe(1500, (0.95, 0.2, 0.2, 0.1))),
        product=make_product("prod_bag", "Tote Bag", "Carry"),
        drawable=False,
    )
    zero_length = TimelinePlacement(
        id="pl_zero_length",
        start_ms=1200,
        end_ms=1200,
        label="cup",
        keyframes=(Keyframe(1200, (0.3, 0.7, 0.1, 0.1)),),
        product=make_product("prod_cup", "Cup", "Mug Co"),
        drawable=False,
    )
    return (cola, cap, out_of_frame, zero_length)


def interpolate_box(keyframes: tuple[Keyframe, ...], t_ms: float) -> Box:
    """Linear interpolation between surrounding keyframes, held outside them (the timeline contract)."""
    ordered = sorted(keyframes, key=lambda k: k.t_ms)
    if t_ms <= ordered[0].t_ms:
        return ordered[0].box
    if t_ms >= ordered[-1].t_ms:
        return ordered[-1].box
    after = next(i for i, k in enumerate(ordered) if k.t_ms > t_ms)
    a, b = ordered[after - 1], ordered[after]
    f = (t_ms - a.t_ms) / (b.t_ms - a.t_ms)
    return (
        a.box[0] + (b.box[0] - a.box[0]) * f,
        a.box[1] + (b.box[1] - a.box[1]) * f,
        a.box[2] + (b.box[2] - a.box[2]) * f,
        a.box[3] + (b.box[3] - a.box[3]) * f,
    )


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float


def rendered_rect(
    element: Rect, media_width: int, media_height: int, fit: Literal["contain", "cover"]
) -> Rect:
    """Where a centred object-fit picture lands inside the element, in the same coordinates as `element`."""
    pick = max if fit == "cover" else min
    scale = pick(element.width / media_width, element.height / media_height)
    width, height = media_width * scale, media_height * scale
    return Rect(
        x=element.x + (element.width - width) / 2,
        y=element.y + (element.height - height) / 2,
        width=width,
        height=height,
    )


def expected_dot(box: Box, element: Rect, picture: Rect) -> tuple[float, float]:
    """Centre of the visible part of a box: the SDK puts the dot there."""
    x0 = max(element.x, picture.x + box[0] * picture.width)
    y0 = max(element.y, picture.y + box[1] * picture.height)
    x1 = min(element.x + element.width, picture.x + (box[0] + box[2]) * picture.width)
    y1 = min(element.y + element.height, picture.y + (box[1] + box[3]) * picture.height)
    return ((x0 + x1) / 2, (y0 + y1) / 2)


def review_placement(
    placement_id: str,
    *,
    label: str,
    confidence: float,
    start_ms: int,
    end_ms: int,
    box: Box,
    candidates: tuple[tuple[Product, float], ...],
    end_box: Box | None = None,
    episode_id: str = "ep_review",
    evidence: str | None = None,
    contradicted: bool = False,
) -> JsonObject:
    """A placement as the review API stores it (the fake serves it as `PlacementPublic`): proposed, version
    1, no product chosen yet, candidates best first as the linker writes them, the link confidence (what the
    queue sorts on) that of the top candidate; the box moves linearly to `end_box`."""
    return {
        "id": placement_id,
        "episode_id": episode_id,
        "status": "proposed",
        "label": label,
        "confidence": confidence,
        "link_confidence": candidates[0][1] if candidates else None,
        "link_evidence": evidence,
        "link_contradicted": contradicted,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "keyframes": [{"t_ms": start_ms, "box": list(box)}, {"t_ms": end_ms, "box": list(end_box or box)}],
        "thumbnail_url": f"/media/thumbs/{placement_id}.svg",
        "video_url": "/media/episode.mp4",
        "sku_candidates": [
            {
                "product_id": product.id,
                "variant_id": product.variants[0].id,
                "title": product.title,
                "confidence": score,
            }
            for product, score in candidates
        ],
        "chosen_product_id": None,
        "version": 1,
    }
