"""What a change of the brand's linking thresholds would do, before it is made: each placement the
linker decided, decided again from its stored link (`stored_decision`) under the thresholds asked about,
as the settings job decides the placements linked against the brand's current catalog index. Those the
job would link again instead (linked against an older index, or whose stored link cannot say) are only
counted: linking decides them. Reads only; nothing is stored or queued.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from api.catalog.models import ImageFetchJob, ProductImage
from api.catalog.remote_images import pending_image_filter
from api.jobs.models import JobState
from api.linking.models import LinkJob
from api.linking.service import decided_by_linker, stored_decision
from api.review.models import Placement, PlacementStatus
from tagger.linking.decision import LinkThresholds

# Placement ids listed per change; the counts are always complete.
LISTED = 100
_READ = ("id", "status", "chosen_product_id", "sku_candidates", "link_inputs", "index_version")


@dataclass
class ThresholdPreview:
    placements: int = 0  # the placements the linker decided (awaiting review, or approved by it)
    # The job would link these again from their crops, which decides them: linked before the inputs were
    # kept, scored by another model than the linker's now (`scorer`), candidates it did not write, or a
    # level asking for the packshots' opinion never measured.
    not_previewed: int = 0
    # ... or linked against another catalog index than the one saved last (the catalog changed since).
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
    scorer: str,
) -> ThresholdPreview:
    """Each placement the linker decided (oldest first) decided again from its stored link under
    `thresholds` and counted by what would change, where it is linked against `current_index` (the
    brand's index as last saved) and scored as `scorer` (`current_scorer`). `indexed`: the products with
    a stored image; the job keeps an approval of another (`relink_placement`)."""
    rows = session.exec(
        select(Placement)
        # Only what deciding reads, not the keyframes (SQLModel's fields are typed as their values).
        .options(load_only(*(getattr(Placement, name) for name in _READ)))
        .where(col(Placement.brand_id) == brand_id, decided_by_linker())
        .order_by(col(Placement.created_at), col(Placement.id))
    ).all()
    preview = ThresholdPreview(placements=len(rows))
    for placement in rows:
        if placement.index_version != current_index:
            preview.other_index += 1
            continue
        stored = stored_decision(placement, thresholds, scorer)
        if stored is None:
            preview.not_previewed += 1
            continue
        top = stored.candidates[0].product_id if stored.candidates else None
        if placement.status == PlacementStatus.APPROVED:
            if stored.approved or placement.chosen_product_id not in indexed:
                preview.stay_approved += 1
            else:
                preview.would_withdraw += 1
                _listed(preview.withdraw_ids, placement.id)
        # A product a person picked is approved only as that product (`relink_placement`).
        elif stored.approved and placement.chosen_product_id in (None, top):
            preview.would_approve += 1
            _listed(preview.approve_ids, placement.id)
        else:
            preview.stay_for_review += 1
    return preview


def catalog_work_pending(session: Session, brand_id: uuid.UUID) -> bool:
    """Whether the catalog may have changed since its index was last saved: a link job queued or
    running (every change that alters the index queues one, and it saves the index when it runs), an
    image fetch queued or running, or an image URL still to fetch."""
    waiting = [JobState.QUEUED, JobState.RUNNING]
    for statement in (
        select(LinkJob.id).where(col(LinkJob.brand_id) == brand_id, col(LinkJob.state).in_(waiting)),
        select(ImageFetchJob.id).where(
            col(ImageFetchJob.brand_id) == brand_id, col(ImageFetchJob.state).in_(waiting)
        ),
        # A failed fetch due again is not a change under way: nothing queues its retry but the brand's
        # next job, so counting it would say "pending" until then.
        select(ProductImage.id).where(
            col(ProductImage.brand_id) == brand_id, *pending_image_filter(retries=False)
        ),
    ):
        if session.exec(statement.limit(1)).first() is not None:
            return True
    return False


def _listed(ids: list[uuid.UUID], placement_id: uuid.UUID) -> None:
    if len(ids) < LISTED:
        ids.append(placement_id)
