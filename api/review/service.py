"""Review use cases: the queue, approve, reject, relink, edit span and boxes; each one audited.

Every change bumps the placement's `version` (its ETag) and rebuilds the episode's public timeline in
the same transaction, so players see an approval at once and a stale editor gets a clear 412.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from api.auth import Principal
from api.brands.models import Brand
from api.catalog.models import Product, ProductImage, Variant
from api.catalog.service import has_variant, image_url, product_for_placement
from api.columns import utcnow
from api.episodes.models import Episode
from api.episodes.service import signed_media_url
from api.errors import EditConflict, InvalidInput, PreconditionRequired
from api.linking.service import brand_thresholds
from api.ownership import get_owned
from api.review.exceptions import IdempotencyKeyReused, NoProductChosen
from api.review.models import Placement, PlacementStatus, ReviewAction, history_entry, placement_snapshot
from api.review.schemas import (
    EpisodeShots,
    Keyframe,
    PlacementCreate,
    PlacementPatch,
    PlacementPublic,
    ReviewActionPublic,
    ReviewQueuePage,
    ShotPublic,
    SkuCandidate,
)
from api.settings import ApiSettings
from api.signing import sign_path
from api.timeline.service import rebuild_timelines
from api.types import MAX_OFFSET
from api.versioning import claim_next_version, etag, if_match_names


def placement_etag(placement: Placement) -> str:
    return etag(placement.version)


def get_placement(session: Session, brand_id: uuid.UUID, placement_id: uuid.UUID) -> Placement:
    return get_owned(session, Placement, brand_id, placement_id, "placement")


def key_share_placement(session: Session, placement_id: uuid.UUID) -> bool:
    """Key-share the placement's row until the transaction ends (what a row referring to it needs): a
    deletion of it under way is waited for. False when it is gone."""
    found = session.exec(
        select(Placement.id).where(Placement.id == placement_id).with_for_update(read=True, key_share=True)
    ).first()
    return found is not None


def link_floor(session: Session, brand_id: uuid.UUID) -> float:
    """The brand's link floor now, read as linking reads it (a floor above the auto-approve threshold,
    possible in rows written before the API refused it, is the threshold)."""
    brand = session.get(Brand, brand_id)
    return brand_thresholds(brand).floor if brand is not None else 0.0


def is_unknown_product(placement: Placement, floor: float) -> bool:
    """No candidate, or a link below the floor: the linker does not know what this is. A person's drawing
    names its product: nothing for the linker to know, until that product is gone."""
    if placement.drawn_by_hand and placement.chosen_product_id is not None:
        return False
    confidence = placement.link_confidence
    return top_candidate(placement) is None or confidence is None or confidence < floor


def approve_default(placement: Placement, floor: float) -> uuid.UUID | None:
    """What approving without a product publishes: a person's choice, else the top candidate of a link
    at or above the floor; None when an unknown product needs a person to pick one."""
    if placement.chosen_product_id is not None:
        return placement.chosen_product_id
    return None if is_unknown_product(placement, floor) else top_candidate(placement)


def stored_candidates(placement: Placement) -> list[SkuCandidate]:
    """The linker's stored candidates in the API's shape; entries without a readable product id (no
    approve or relink could use them) are left out."""
    candidates = []
    for stored in placement.sku_candidates:
        try:
            candidates.append(SkuCandidate.model_validate(stored))
        except ValidationError:
            continue
    return candidates


@dataclass(frozen=True)
class _CatalogView:
    """The catalog rows a page of placements shows, read in three queries however long the page."""

    products: dict[uuid.UUID, Product]
    variants: dict[uuid.UUID, Variant]
    first_image: dict[uuid.UUID, str]  # product id -> URL of its first image

    def candidate(self, candidate: SkuCandidate) -> SkuCandidate:
        product = self.products.get(candidate.product_id)
        variant = self.variants.get(candidate.variant_id) if candidate.variant_id else None
        return candidate.model_copy(
            update={
                "title": product.title if product else candidate.title,
                "variant_title": variant.title if variant else None,
                "sku": variant.sku if variant else None,
                "image_url": self.first_image.get(candidate.product_id),
            }
        )


def _catalog_view(session: Session, placements: Sequence[Placement], public_base_url: str) -> _CatalogView:
    product_ids: set[uuid.UUID] = set()
    variant_ids: set[uuid.UUID] = set()
    brand_ids = {placement.brand_id for placement in placements}
    for placement in placements:
        if placement.chosen_product_id is not None:
            product_ids.add(placement.chosen_product_id)
        for candidate in stored_candidates(placement):
            product_ids.add(candidate.product_id)
            if candidate.variant_id is not None:
                variant_ids.add(candidate.variant_id)
    if not product_ids:
        return _CatalogView({}, {}, {})
    products = session.exec(
        select(Product).where(col(Product.id).in_(product_ids), col(Product.brand_id).in_(brand_ids))
    ).all()
    variants = session.exec(
        select(Variant).where(col(Variant.id).in_(variant_ids), col(Variant.brand_id).in_(brand_ids))
    ).all()
    first_image: dict[uuid.UUID, str] = {}
    for image in session.exec(
        select(ProductImage)
        .where(col(ProductImage.product_id).in_(product_ids), col(ProductImage.brand_id).in_(brand_ids))
        .order_by(col(ProductImage.position), col(ProductImage.created_at))
    ).all():
        first_image.setdefault(image.product_id, image_url(image, public_base_url))
    return _CatalogView(
        products={product.id: product for product in products},
        variants={variant.id: variant for variant in variants},
        first_image=first_image,
    )


def placements_public(
    session: Session, placements: Sequence[Placement], settings: ApiSettings
) -> list[PlacementPublic]:
    """Placements as the review console reads them: candidates with their catalog titles and packshots,
    and what approving each one would publish under its brand's floor."""
    secret = settings.secret_key.get_secret_value()
    base = settings.public_base_url
    catalog = _catalog_view(session, placements, base)
    public = []
    for placement in placements:
        thumbnail = (
            base + sign_path(secret, f"/v1/placements/{placement.id}/thumbnail")
            if placement.thumbnail_path
            else None
        )
        chosen = catalog.products.get(placement.chosen_product_id) if placement.chosen_product_id else None
        episode = session.get(Episode, placement.episode_id)
        floor = link_floor(session, placement.brand_id)
        public.append(
            PlacementPublic(
                id=placement.id,
                episode_id=placement.episode_id,
                status=placement.status,
                label=placement.label,
                confidence=placement.confidence,
                link_confidence=placement.link_confidence,
                link_evidence=placement.link_evidence,
                link_contradicted=placement.link_contradicted,
                link_approval_level=placement.link_approval_level,
                approved_by_linker=placement.approved_by_linker,
                start_ms=placement.start_ms,
                end_ms=placement.end_ms,
                start_frame=placement.start_frame,
                end_frame=placement.end_frame,
                keyframes=placement.keyframes,
                thumbnail_url=thumbnail,
                video_url=signed_media_url(placement.episode_id, settings),
                episode_title=episode.title if episode is not None else None,
                sku_candidates=[catalog.candidate(candidate) for candidate in stored_candidates(placement)],
                chosen_product_id=placement.chosen_product_id,
                chosen_product_title=chosen.title if chosen else None,
                chosen_product_image_url=catalog.first_image.get(chosen.id) if chosen else None,
                link_floor=floor,
                unknown_product=is_unknown_product(placement, floor),
                drawn_by_hand=placement.drawn_by_hand,
                approve_product_id=approve_default(placement, floor),
                version=placement.version,
                updated_at=placement.updated_at,
            )
        )
    return public


def placement_public(session: Session, placement: Placement, settings: ApiSettings) -> PlacementPublic:
    (public,) = placements_public(session, [placement], settings)
    return public


def check_if_match(placement: Placement, if_match: str | None) -> None:
    """Optimistic concurrency (`api.versioning`): a write must name the version it was made against
    (`If-Match`), and a stale one is refused so the last writer cannot clobber. This is the early,
    friendly check; the write itself is conditional too (`_claim_next_version`)."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "send If-Match with the placement's ETag (from GET /v1/placements/{id}), so an edit made "
            "since you loaded it is not overwritten",
            headers={"ETag": placement_etag(placement)},
        )
    if not if_match_names(if_match, placement.version):
        raise _conflict(placement.version)


def _conflict(current: int) -> EditConflict:
    return EditConflict(
        f"placement changed since you loaded it (now version {current}); reload and try again",
        headers={"ETag": etag(current)},
    )


def _claim_next_version(session: Session, placement: Placement) -> None:
    """Move the row from the version this request read to the next one; a request that lost the race
    gets the 412 (its transaction, history row and timeline rebuild included, is rolled back)."""
    current = claim_next_version(session, Placement, placement.id, placement.version)
    if current is not None:
        raise _conflict(current)
    placement.version += 1


def _own_product(session: Session, brand_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    product = product_for_placement(session, brand_id, product_id)
    if product is None:
        raise InvalidInput(
            "product not found in your catalog",
            errors=[{"field": "product_id", "message": "not in this brand's catalog"}],
        )
    return product


def _sellable(session: Session, product: Product, doing: str = "approving it") -> Product:
    """The product, or a 422 when it has no variant: its hotspot would have nothing to buy (the player
    shows no hotspot for it, while the console would count it live). `doing`: what waits for the variant,
    in the message."""
    if not has_variant(session, product.id):
        raise InvalidInput(
            f"{product.title!r} has no variant to sell, so its hotspot could not be bought: add one "
            f"(POST /v1/products/{product.id}/variants) before {doing}",
            errors=[{"field": "product_id", "message": "has no variant to sell"}],
        )
    return product


def record_change(
    session: Session,
    placement: Placement,
    actor: str,
    action: str,
    before: dict[str, Any],
    settings: ApiSettings,
    *,
    rebuild: bool = True,
) -> None:
    """A change made to `placement` (from `before`) stored as its next version, with `actor`'s history
    entry, and its episode's timeline rebuilt (`rebuild`). A stale version is a 412."""
    _claim_next_version(session, placement)
    # Whatever a person did, the decision is theirs from now on: no re-link withdraws or changes it.
    placement.approved_by_linker = False
    placement.updated_at = utcnow()
    session.add(placement)
    session.add(history_entry(placement, actor, action, before))
    session.flush()
    if rebuild:
        rebuild_timelines(session, [placement.episode_id], settings)


def approve(
    session: Session,
    placement: Placement,
    actor: Principal,
    settings: ApiSettings,
    *,
    product_id: uuid.UUID | None,
    rebuild: bool = True,
) -> Placement:
    """Approve the placement as `product_id`, else as what `approve_default` publishes; `rebuild`: its
    episode's timeline now (a bulk approval rebuilds each episode once, after all its placements)."""
    before = placement_snapshot(placement)
    floor = link_floor(session, placement.brand_id)
    chosen = product_id or approve_default(placement, floor)
    if chosen is None:
        raise NoProductChosen(
            f"choose a product before approving: {_why_unknown(placement, floor)}, so approving would "
            "publish a guess; send product_id (or relink with PATCH chosen_product_id first)",
            errors=[{"field": "product_id", "message": "required: no product is known for this placement"}],
        )
    placement.chosen_product_id = _sellable(session, _own_product(session, placement.brand_id, chosen)).id
    placement.status = PlacementStatus.APPROVED
    record_change(session, placement, actor.actor, "approve", before, settings, rebuild=rebuild)
    return placement


def _why_unknown(placement: Placement, floor: float) -> str:
    if top_candidate(placement) is None:
        return "this placement has no candidate"
    if placement.link_confidence is None:
        return "this placement is not linked"
    return (
        f"its link ({placement.link_confidence:.0%}) is below your link floor ({floor:.0%}), "
        "so it is an unknown product"
    )


def top_candidate(placement: Placement) -> uuid.UUID | None:
    """The product of the placement's first candidate with a readable product id."""
    candidates = stored_candidates(placement)
    return candidates[0].product_id if candidates else None


def _relink(session: Session, placement: Placement, product_id: uuid.UUID | None) -> None:
    """A person's choice of product (None: none, and an approved placement goes back to review)."""
    if product_id is None:
        placement.chosen_product_id = None
        if placement.status == PlacementStatus.APPROVED:
            placement.status = PlacementStatus.PROPOSED
        return
    product = _own_product(session, placement.brand_id, product_id)
    # An approved placement stays on the timeline: as what it is relinked to, that must sell.
    if placement.status == PlacementStatus.APPROVED:
        _sellable(session, product)
    placement.chosen_product_id = product.id


def frame_at(t_ms: int, fps: float) -> int:
    """The index of the frame shown at `t_ms` in a video of `fps` frames a second."""
    return max(0, round(t_ms * fps / 1000))


def reject(session: Session, placement: Placement, actor: Principal, settings: ApiSettings) -> Placement:
    before = placement_snapshot(placement)
    placement.status = PlacementStatus.REJECTED
    record_change(session, placement, actor.actor, "reject", before, settings)
    return placement


def patch(
    session: Session, placement: Placement, body: PlacementPatch, actor: Principal, settings: ApiSettings
) -> Placement:
    before = placement_snapshot(placement)
    fields = body.model_fields_set
    start = body.start_ms if body.start_ms is not None else placement.start_ms
    end = body.end_ms if body.end_ms is not None else placement.end_ms
    episode = session.get(Episode, placement.episode_id)
    _check_span(start, end, body.keyframes, episode)
    actions = []
    if {"start_ms", "end_ms"} & fields:
        placement.start_ms, placement.end_ms = start, end
        if episode is not None:
            placement.start_frame, placement.end_frame = _frame_span(start, end, episode, placement)
        actions.append("retime")
    if body.keyframes is not None:
        placement.keyframes = [frame.model_dump() for frame in sorted(body.keyframes, key=lambda f: f.t_ms)]
        actions.append("reshape")
    if "chosen_product_id" in fields:
        _relink(session, placement, body.chosen_product_id)
        actions.append("relink")
    if not actions:
        raise InvalidInput("nothing to change: send start_ms, end_ms, keyframes or chosen_product_id")
    record_change(session, placement, actor.actor, "+".join(actions), before, settings)
    return placement


def _check_span(start: int, end: int, keyframes: Sequence[Keyframe] | None, episode: Episode | None) -> None:
    """A 422 naming every field of a span a player could not show: empty or reversed, past the
    episode's end, or with a box outside it."""
    errors = []
    if end <= start:
        errors.append({"field": "end_ms", "message": f"must be after start_ms ({start})"})
    if episode is not None and episode.duration_ms and end > episode.duration_ms:
        errors.append({"field": "end_ms", "message": f"episode is only {episode.duration_ms} ms long"})
    if keyframes is not None:
        outside = [frame.t_ms for frame in keyframes if not start <= frame.t_ms <= end]
        if outside:
            errors.append({"field": "keyframes", "message": f"at {outside[:3]} ms lie outside {start}-{end}"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']} {e['message']}" for e in errors), errors=errors)


def _frame_span(start: int, end: int, episode: Episode, placement: Placement) -> tuple[int, int]:
    """The frame span that says the same as the ms span, at the episode's average rate (a person's span
    is not a decoded frame); the placement's own frames where the rate is unknown."""
    if episode.fps <= 0:
        return placement.start_frame, placement.end_frame
    return frame_at(start, episode.fps), frame_at(end, episode.fps)


# What a drawn placement's `label` says where the tagger's say what its detector saw ("bottle", "product").
DRAWN_LABEL = "drawn by hand"


def _drawing(body: PlacementCreate) -> dict[str, Any]:
    """What a drawing asked for, as its history's first entry records it (`placement_snapshot`)."""
    return {
        "start_ms": body.start_ms,
        "end_ms": body.end_ms,
        "chosen_product_id": str(body.product_id),
        "keyframes": [frame.model_dump() for frame in sorted(body.keyframes, key=lambda f: f.t_ms)],
    }


def drawn_under(
    session: Session, episode_id: uuid.UUID, key: str | None, body: PlacementCreate
) -> Placement | None:
    """The placement an earlier drawing of the episode sent with this `Idempotency-Key` stored, as it
    stands now; a 409 when that drawing asked for something else (a key reused by mistake must not answer
    another hotspot as this one's)."""
    if key is None:
        return None
    first = session.exec(
        select(Placement).where(Placement.episode_id == episode_id, Placement.idempotency_key == key)
    ).first()
    if first is None:
        return None
    drawn = session.exec(
        select(ReviewAction.after)
        .where(ReviewAction.placement_id == first.id, ReviewAction.action == "draw")
        .order_by(col(ReviewAction.at))
    ).first()
    asked = _drawing(body)
    if drawn is None or any(drawn.get(field) != value for field, value in asked.items()):
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used for another hotspot of this episode (placement "
            f"{first.id}); send a new key for a new one"
        )
    return first


def draw(
    session: Session,
    episode: Episode,
    body: PlacementCreate,
    actor: Principal,
    settings: ApiSettings,
    idempotency_key: str | None = None,
) -> Placement:
    """A product the tagger did not find, added by a person: approved as `body.product_id` (theirs, with
    a variant to sell) over the span and boxes they drew, on the episode's timeline at once. It is the
    person's from the start (`drawn_by_hand`): no re-link touches it, and a re-tag keeps it."""
    _check_span(body.start_ms, body.end_ms, body.keyframes, episode)
    product = _sellable(
        session, _own_product(session, episode.brand_id, body.product_id), "drawing its hotspot"
    )
    placement = Placement(
        brand_id=episode.brand_id,
        episode_id=episode.id,
        start_ms=body.start_ms,
        end_ms=body.end_ms,
        start_frame=0,
        end_frame=0,
        label=DRAWN_LABEL,
        # The detector's confidence on the tagger's placements; a person's box is certain.
        confidence=1.0,
        keyframes=[frame.model_dump() for frame in sorted(body.keyframes, key=lambda f: f.t_ms)],
        chosen_product_id=product.id,
        status=PlacementStatus.APPROVED,
        drawn_by_hand=True,
        idempotency_key=idempotency_key,
    )
    placement.start_frame, placement.end_frame = _frame_span(body.start_ms, body.end_ms, episode, placement)
    session.add(placement)
    session.flush()
    session.add(history_entry(placement, actor.actor, "draw", before={}))
    session.flush()
    rebuild_timelines(session, [episode.id], settings)
    return placement


def shot_counts(shots: Sequence[Sequence[int]], placements: Sequence[Placement]) -> list[ShotPublic]:
    """Each shot with its approved and proposed placements, each counted in the shot it overlaps most
    (the first of equals); a rejected one counts nowhere."""
    approved = [0] * len(shots)
    proposed = [0] * len(shots)
    for placement in placements:
        if placement.status == PlacementStatus.REJECTED:
            continue
        overlaps = [min(end, placement.end_ms) - max(start, placement.start_ms) for start, end in shots]
        if not overlaps or max(overlaps) < 0:
            continue
        shot = overlaps.index(max(overlaps))
        if placement.status == PlacementStatus.APPROVED:
            approved[shot] += 1
        else:
            proposed[shot] += 1
    return [
        ShotPublic(start_ms=start, end_ms=end, approved=approved[i], proposed=proposed[i])
        for i, (start, end) in enumerate(shots)
    ]


def episode_shots(session: Session, episode: Episode) -> EpisodeShots:
    """The episode's shots as its last tag job found them, with the placements in each."""
    if episode.shots is None:
        return EpisodeShots(episode_id=episode.id, shots=None, without_hotspot=0)
    placements = session.exec(select(Placement).where(Placement.episode_id == episode.id)).all()
    shots = shot_counts(episode.shots, placements)
    return EpisodeShots(
        episode_id=episode.id, shots=shots, without_hotspot=sum(1 for shot in shots if not shot.approved)
    )


def bulk_approve(
    session: Session,
    brand_id: uuid.UUID,
    actor: Principal,
    settings: ApiSettings,
    *,
    min_confidence: float,
    episode_id: uuid.UUID | None,
) -> tuple[list[Placement], int]:
    """Approve the proposals linked at least `min_confidence` (to what `approve_default` publishes);
    returns them and how many at that confidence were left for a person because their crops showed
    another product (`link_contradicted`): a confident link to a sibling is the one a click must not
    publish."""
    floor = link_floor(session, brand_id)
    if min_confidence < floor:
        raise InvalidInput(
            f"min_confidence ({min_confidence:.2f}) is below your link floor ({floor:.2f}): links below it "
            "are unknown products, and each needs a product picked by a person",
            errors=[{"field": "min_confidence", "message": f"must be at least the link floor, {floor:.2f}"}],
        )
    statement = select(Placement).where(
        Placement.brand_id == brand_id,
        Placement.status == PlacementStatus.PROPOSED,
        col(Placement.link_confidence) >= min_confidence,
    )
    if episode_id is not None:
        statement = statement.where(Placement.episode_id == episode_id)
    # The products first, in id order, as a deletion takes them: a deletion under way is waited for
    # before any placement or timeline is locked, never while holding them (two waiting on each other).
    products = {approve_default(placement, floor) for placement in session.exec(statement).all()}
    in_catalog = {
        product_id
        for product_id in sorted(product_id for product_id in products if product_id is not None)
        if product_for_placement(session, brand_id, product_id) is not None
        and has_variant(session, product_id)
    }
    approved = []
    contradicted = 0
    # Then the placements, read again locked in id order (a deletion waited for has taken its product off
    # some; a link job's or a reviewer's change lands before or after this), and the timelines last, each
    # once, in id order: every lock in the order a deletion and a link job take theirs. A product deleted,
    # one not seen in the first read, or one with no variant to sell, is left out: its placements stay for
    # review.
    locked = statement.order_by(col(Placement.id)).with_for_update().execution_options(populate_existing=True)
    for placement in session.exec(locked).all():
        if placement.link_contradicted and placement.chosen_product_id is None:
            contradicted += 1
            continue
        if approve_default(placement, floor) not in in_catalog:
            continue
        approved.append(approve(session, placement, actor, settings, product_id=None, rebuild=False))
    rebuild_timelines(session, sorted({placement.episode_id for placement in approved}), settings)
    return approved, contradicted


def history(session: Session, placement: Placement) -> list[ReviewActionPublic]:
    actions = session.exec(
        select(ReviewAction).where(ReviewAction.placement_id == placement.id).order_by(col(ReviewAction.at))
    ).all()
    return [ReviewActionPublic.model_validate(action, from_attributes=True) for action in actions]


@dataclass(frozen=True)
class _QueuePosition:
    """Where a queue page ended: its last placement's place in the queue's order (link confidence, null
    when unlinked; time on screen in ms; id). The next page starts after it, wherever the placements
    before it went meanwhile (approved, rejected), so a page never skips one still waiting."""

    link_confidence: float | None
    duration_ms: int
    id: uuid.UUID


def _queue_duration() -> Any:
    return col(Placement.end_ms) - col(Placement.start_ms)


def _queue_order() -> tuple[Any, ...]:
    """Unlinked first, then lowest link confidence, then longest on screen, then id (unique: total)."""
    return (
        col(Placement.link_confidence).is_not(None),
        col(Placement.link_confidence),
        _queue_duration().desc(),
        col(Placement.id),
    )


def _after(position: _QueuePosition) -> Any:
    """The placements after `position` in `_queue_order`, whether or not its placement still waits."""
    confidence = col(Placement.link_confidence)
    duration = _queue_duration()
    later_in_tie = or_(
        duration < position.duration_ms,
        and_(duration == position.duration_ms, col(Placement.id) > position.id),
    )
    if position.link_confidence is None:
        return or_(confidence.is_not(None), and_(confidence.is_(None), later_in_tie))
    return and_(
        confidence.is_not(None),
        or_(
            confidence > position.link_confidence,
            and_(confidence == position.link_confidence, later_in_tie),
        ),
    )


def _decode_cursor(cursor: str | None) -> _QueuePosition | None:
    """The position a cursor this API issued holds; anything else (not base64 JSON, another shape, a
    confidence that is not a finite number, `Infinity`, a duration past what the database's integers hold,
    an id that is not a UUID) is a 422 on `cursor`, never an error in the query."""
    if not cursor:
        return None
    invalid = InvalidInput(
        "cursor is not one this API issued", errors=[{"field": "cursor", "message": "invalid"}]
    )

    def refuse_constant(name: str) -> Any:
        raise invalid  # NaN, Infinity, -Infinity: Python's JSON reads them, JSON does not have them

    try:
        document = json.loads(
            base64.urlsafe_b64decode(cursor.encode()).decode(), parse_constant=refuse_constant
        )
    except (ValueError, TypeError) as error:
        raise invalid from error
    if not isinstance(document, dict) or set(document) != {"c", "d", "i"}:
        raise invalid
    confidence, duration, placement_id = document["c"], document["d"], document["i"]
    # An issued confidence is a float as JSON writes one (`0.5`, `1.0`), never an integer or `true`.
    if confidence is not None and (type(confidence) is not float or not math.isfinite(confidence)):
        raise invalid
    # A duration is the difference of two int4 columns: what the query compares it with fits int4 too.
    if type(duration) is not int or not -MAX_OFFSET <= duration <= MAX_OFFSET:
        raise invalid
    if type(placement_id) is not str:
        raise invalid
    try:
        parsed_id = uuid.UUID(hex=placement_id)
    except ValueError as error:
        raise invalid from error
    return _QueuePosition(link_confidence=confidence, duration_ms=duration, id=parsed_id)


def _encode_cursor(placement: Placement) -> str:
    document = {
        "c": placement.link_confidence,
        "d": placement.end_ms - placement.start_ms,
        "i": placement.id.hex,
    }
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def review_queue(
    session: Session,
    brand_id: uuid.UUID,
    settings: ApiSettings,
    *,
    status: PlacementStatus,
    limit: int,
    cursor: str | None,
    episode_id: uuid.UUID | None,
) -> ReviewQueuePage:
    """Most in need of a human first: unlinked, then lowest link confidence, then longest on screen.

    The cursor is a keyset: the last item's place in that order, not a count of items to skip, so
    approving or rejecting items of one page never hides the next page's from the following one."""
    position = _decode_cursor(cursor)
    statement = select(Placement).where(Placement.brand_id == brand_id, Placement.status == status)
    if episode_id is not None:
        statement = statement.where(Placement.episode_id == episode_id)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    if position is not None:
        statement = statement.where(_after(position))
    # One more than the page: whether anything follows it, without a second count.
    fetched: Sequence[Placement] = session.exec(statement.order_by(*_queue_order()).limit(limit + 1)).all()
    rows = fetched[:limit]
    next_cursor = _encode_cursor(rows[-1]) if len(fetched) > limit else None
    return ReviewQueuePage(
        items=placements_public(session, rows, settings), next_cursor=next_cursor, total=total
    )
