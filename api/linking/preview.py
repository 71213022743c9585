"""What a change of the brand's linking thresholds would do, before it is made: each placement the
linker decided, decided again from its stored link (`tagger.linking.decision.decided`) under the
thresholds asked about, exactly as the settings job would decide it when the catalog has not changed
since it was linked. Reads only; nothing is stored or queued.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from api.linking.service import decided_by_linker
from api.review.models import Placement, PlacementStatus
from tagger.linking.decision import Decision, DecisionInputs, LinkThresholds, decided

# Placement ids listed per change; the counts are always complete.
LISTED = 100


@dataclass
class ThresholdPreview:
    placements: int = 0  # the placements the linker decided (awaiting review, or approved by it)
    # Their stored link cannot say (linked before the inputs were kept, or the new level asks for the
    # packshots' opinion no earlier level asked for): the settings job would link these again.
    not_previewed: int = 0
    # Previewed, but linked against another catalog index than the one saved last: the job would link
    # these again, and the catalog's changes since may decide them otherwise.
    other_index: int = 0
    would_approve: int = 0
    would_withdraw: int = 0
    stay_approved: int = 0
    stay_for_review: int = 0
    approve_ids: list[uuid.UUID] = field(default_factory=list)
    withdraw_ids: list[uuid.UUID] = field(default_factory=list)


def preview_thresholds(
    session: Session,
    brand_id: uuid.UUID,
    thresholds: LinkThresholds,
    current_index: str | None,
    indexed: frozenset[uuid.UUID],
) -> ThresholdPreview:
    """Each placement the linker decided, decided again from its stored link under `thresholds`, oldest
    first, and counted by what would change. `indexed`: the products with a stored image; an approval
    of another stays, as the job keeps it (`relink_placement`)."""
    rows = session.exec(
        select(Placement)
        .where(col(Placement.brand_id) == brand_id, decided_by_linker())
        .order_by(col(Placement.created_at), col(Placement.id))
    ).all()
    preview = ThresholdPreview(placements=len(rows))
    for placement in rows:
        inputs = DecisionInputs.from_stored(placement.link_inputs)
        again = decided(inputs, thresholds) if inputs is not None else None
        if again is None:
            preview.not_previewed += 1
            continue
        preview.other_index += int(placement.index_version != current_index)
        top = _top_product(placement.sku_candidates)
        approved = again.decision is Decision.APPROVED and top is not None
        if placement.status == PlacementStatus.APPROVED:
            if approved or placement.chosen_product_id not in indexed:
                preview.stay_approved += 1
            else:
                preview.would_withdraw += 1
                _listed(preview.withdraw_ids, placement.id)
        # A product a person picked is approved only as that product (`relink_placement`).
        elif approved and placement.chosen_product_id in (None, top):
            preview.would_approve += 1
            _listed(preview.approve_ids, placement.id)
        else:
            preview.stay_for_review += 1
    return preview


def _top_product(candidates: object) -> uuid.UUID | None:
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return None
    try:
        return uuid.UUID(str(candidates[0].get("product_id")))
    except ValueError:
        return None


def _listed(ids: list[uuid.UUID], placement_id: uuid.UUID) -> None:
    if len(ids) < LISTED:
        ids.append(placement_id)
