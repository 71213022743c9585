"""Review use cases: the queue, approve, reject, relink, edit span and boxes; each one audited.

Every change bumps the placement's `version` (its ETag) and rebuilds the episode's public timeline in
the same transaction, so players see an approval at once and a stale editor gets a clear 412.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.auth import Principal
from api.catalog.models import Product
from api.columns import utcnow
from api.episodes.models import Episode
from api.errors import InvalidInput
from api.ownership import get_owned
from api.review.exceptions import EditConflict, NoProductChosen
from api.review.models import Placement, PlacementStatus, ReviewAction
from api.review.schemas import PlacementPatch, PlacementPublic, ReviewActionPublic, ReviewQueuePage
from api.settings import ApiSettings
from api.signing import sign_path
from api.timeline.service import rebuild_timeline


def placement_etag(placement: Placement) -> str:
    return f'"{placement.version}"'


def get_placement(session: Session, brand_id: uuid.UUID, placement_id: uuid.UUID) -> Placement:
    return get_owned(session, Placement, brand_id, placement_id, "placement")


def placement_public(session: Session, placement: Placement, settings: ApiSettings) -> PlacementPublic:
    secret = settings.secret_key.get_secret_value()
    base = settings.public_base_url
    thumbnail = (
        base + sign_path(secret, f"/v1/placements/{placement.id}/thumbnail")
        if placement.thumbnail_path
        else None
    )
    chosen = session.get(Product, placement.chosen_product_id) if placement.chosen_product_id else None
    return PlacementPublic(
        id=placement.id,
        episode_id=placement.episode_id,
        status=placement.status,
        label=placement.label,
        confidence=placement.confidence,
        link_confidence=placement.link_confidence,
        start_ms=placement.start_ms,
        end_ms=placement.end_ms,
        start_frame=placement.start_frame,
        end_frame=placement.end_frame,
        keyframes=placement.keyframes,
        thumbnail_url=thumbnail,
        video_url=base + sign_path(secret, f"/v1/episodes/{placement.episode_id}/media"),
        sku_candidates=placement.sku_candidates,
        chosen_product_id=placement.chosen_product_id,
        chosen_product_title=chosen.title if chosen else None,
        version=placement.version,
        updated_at=placement.updated_at,
    )


def check_if_match(placement: Placement, if_match: str | None) -> None:
    """Optimistic concurrency: a stale `If-Match` is refused so the last writer cannot clobber."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = placement_etag(placement)
    if all(tag.strip().removeprefix("W/") != wanted for tag in if_match.split(",")):
        raise EditConflict(
            f"placement changed since you loaded it (now version {placement.version}); reload and try again",
            headers={"ETag": wanted},
        )


def _snapshot(placement: Placement) -> dict[str, Any]:
    return {
        "status": str(placement.status),
        "start_ms": placement.start_ms,
        "end_ms": placement.end_ms,
        "chosen_product_id": str(placement.chosen_product_id) if placement.chosen_product_id else None,
        "keyframes": placement.keyframes,
    }


def _own_product(session: Session, brand_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.brand_id != brand_id:
        raise InvalidInput(
            "product not found in your catalog",
            errors=[{"field": "product_id", "message": "not in this brand's catalog"}],
        )
    return product


def _record(
    session: Session,
    placement: Placement,
    actor: Principal,
    action: str,
    before: dict[str, Any],
    settings: ApiSettings,
) -> None:
    placement.version += 1
    placement.updated_at = utcnow()
    session.add(placement)
    session.add(
        ReviewAction(
            brand_id=placement.brand_id,
            placement_id=placement.id,
            actor=actor.actor,
            action=action,
            before=before,
            after=_snapshot(placement),
        )
    )
    session.flush()
    episode = session.get(Episode, placement.episode_id)
    if episode is not None:
        rebuild_timeline(session, episode, settings)


def approve(
    session: Session,
    placement: Placement,
    actor: Principal,
    settings: ApiSettings,
    *,
    product_id: uuid.UUID | None,
) -> Placement:
    before = _snapshot(placement)
    chosen = product_id or placement.chosen_product_id or top_candidate(placement)
    if chosen is None:
        raise NoProductChosen(
            "choose a product before approving: this placement has no candidate",
            errors=[{"field": "product_id", "message": "required"}],
        )
    placement.chosen_product_id = _own_product(session, placement.brand_id, chosen).id
    placement.status = PlacementStatus.APPROVED
    _record(session, placement, actor, "approve", before, settings)
    return placement


def top_candidate(placement: Placement) -> uuid.UUID | None:
    """The product of the placement's first candidate with a readable product id."""
    for candidate in placement.sku_candidates:
        try:
            return uuid.UUID(str(candidate.get("product_id")))
        except ValueError:
            continue
    return None


def reject(session: Session, placement: Placement, actor: Principal, settings: ApiSettings) -> Placement:
    before = _snapshot(placement)
    placement.status = PlacementStatus.REJECTED
    _record(session, placement, actor, "reject", before, settings)
    return placement


def patch(
    session: Session, placement: Placement, body: PlacementPatch, actor: Principal, settings: ApiSettings
) -> Placement:
    before = _snapshot(placement)
    fields = body.model_fields_set
    start = body.start_ms if body.start_ms is not None else placement.start_ms
    end = body.end_ms if body.end_ms is not None else placement.end_ms
    errors = []
    if end <= start:
        errors.append({"field": "end_ms", "message": f"must be after start_ms ({start})"})
    episode = session.get(Episode, placement.episode_id)
    if episode is not None and episode.duration_ms and end > episode.duration_ms:
        errors.append({"field": "end_ms", "message": f"episode is only {episode.duration_ms} ms long"})
    if body.keyframes is not None:
        outside = [frame.t_ms for frame in body.keyframes if not start <= frame.t_ms <= end]
        if outside:
            errors.append({"field": "keyframes", "message": f"at {outside[:3]} ms lie outside {start}-{end}"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']} {e['message']}" for e in errors), errors=errors)
    actions = []
    if {"start_ms", "end_ms"} & fields:
        placement.start_ms, placement.end_ms = start, end
        actions.append("retime")
    if body.keyframes is not None:
        placement.keyframes = [frame.model_dump() for frame in sorted(body.keyframes, key=lambda f: f.t_ms)]
        actions.append("reshape")
    if "chosen_product_id" in fields:
        if body.chosen_product_id is None:
            placement.chosen_product_id = None
            if placement.status == PlacementStatus.APPROVED:
                placement.status = PlacementStatus.PROPOSED
        else:
            placement.chosen_product_id = _own_product(session, placement.brand_id, body.chosen_product_id).id
        actions.append("relink")
    if not actions:
        raise InvalidInput("nothing to change: send start_ms, end_ms, keyframes or chosen_product_id")
    _record(session, placement, actor, "+".join(actions), before, settings)
    return placement


def bulk_approve(
    session: Session,
    brand_id: uuid.UUID,
    actor: Principal,
    settings: ApiSettings,
    *,
    min_confidence: float,
    episode_id: uuid.UUID | None,
) -> list[Placement]:
    statement = select(Placement).where(
        Placement.brand_id == brand_id,
        Placement.status == PlacementStatus.PROPOSED,
        col(Placement.link_confidence) >= min_confidence,
    )
    if episode_id is not None:
        statement = statement.where(Placement.episode_id == episode_id)
    approved = []
    for placement in session.exec(statement).all():
        if placement.chosen_product_id is None and top_candidate(placement) is None:
            continue
        approved.append(approve(session, placement, actor, settings, product_id=None))
    return approved


def history(session: Session, placement: Placement) -> list[ReviewActionPublic]:
    actions = session.exec(
        select(ReviewAction).where(ReviewAction.placement_id == placement.id).order_by(col(ReviewAction.at))
    ).all()
    return [ReviewActionPublic.model_validate(action, from_attributes=True) for action in actions]


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())["o"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInput(
            "cursor is not one this API issued",
            errors=[{"field": "cursor", "message": "invalid"}],
        ) from error
    if offset < 0:
        raise InvalidInput("cursor is not one this API issued")
    return offset


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


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
    """Most in need of a human first: unlinked, then lowest link confidence, then longest on screen."""
    offset = _decode_cursor(cursor)
    statement = select(Placement).where(Placement.brand_id == brand_id, Placement.status == status)
    if episode_id is not None:
        statement = statement.where(Placement.episode_id == episode_id)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows: Sequence[Placement] = session.exec(
        statement.order_by(
            col(Placement.link_confidence).is_not(None),
            col(Placement.link_confidence),
            (col(Placement.end_ms) - col(Placement.start_ms)).desc(),
            col(Placement.id),
        )
        .offset(offset)
        .limit(limit)
    ).all()
    next_cursor = _encode_cursor(offset + limit) if offset + limit < total else None
    return ReviewQueuePage(
        items=[placement_public(session, row, settings) for row in rows], next_cursor=next_cursor, total=total
    )
