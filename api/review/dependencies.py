"""Ready objects for review routes: the brand's placement, already checked against `If-Match`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header

from api.deps import BrandIdDep, SessionDep
from api.review import service as review
from api.review.models import Placement

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The placement's ETag, to refuse stale edits")
]


def _editable_placement(
    placement_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep, if_match: IfMatch = None
) -> Placement:
    # Another brand's placement is a 404, like a missing one; a stale ETag is a 412 (EditConflict).
    placement = review.get_placement(session, brand_id, placement_id)
    review.check_if_match(placement, if_match)
    return placement


# Approve, reject and patch take this: the version check lives in one place.
EditablePlacement = Annotated[Placement, Depends(_editable_placement)]
