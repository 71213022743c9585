"""Brand scoping in one place: another brand's row answers exactly like a missing one (404)."""

from __future__ import annotations

import uuid
from typing import Protocol, TypeVar

from sqlmodel import Session

from api.errors import NotFound


class BrandOwned(Protocol):
    brand_id: uuid.UUID


Row = TypeVar("Row", bound=BrandOwned)


def get_owned(session: Session, model: type[Row], brand_id: uuid.UUID, row_id: uuid.UUID, what: str) -> Row:
    """The row `row_id` of `model` if `brand_id` owns it; a 404 problem naming `what` otherwise."""
    row = session.get(model, row_id)
    if row is None or row.brand_id != brand_id:
        raise NotFound(what)
    return row
