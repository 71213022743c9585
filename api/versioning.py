"""Optimistic concurrency for rows with a `version` column, shared by placements and products.

A row's ETag is its version in quotes. A write made against a version names it in `If-Match`; a stale
one is refused with a 412 so the last writer cannot silently undo an edit made since the client loaded
the row. The check before the write is the friendly one (it says what changed); the write itself is a
conditional UPDATE (`claim_next_version`), since two requests can both pass the check.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, SQLModel


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_names(if_match: str, version: int) -> bool:
    """Whether an `If-Match` header value names this version: `*`, or one of its comma-separated tags
    (weak tags compared by their value, as the review console's ETags come back from proxies)."""
    if if_match.strip() == "*":
        return True
    wanted = etag(version)
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_match.split(","))


def claim_next_version(
    session: Session, model: type[SQLModel], row_id: uuid.UUID, expected: int
) -> int | None:
    """Move the row from `expected` to the next version in one conditional UPDATE; None when it did,
    else the version the row is at now (another request got there first).

    Of several requests that read the same version, exactly one matches `WHERE version = :expected`; on
    PostgreSQL the others wait for its row lock, then match nothing. The caller refuses with a 412, and
    its uncommitted transaction is rolled back with everything else it wrote."""
    table: Any = model.__table__  # type: ignore[attr-defined]  # SQLModel declares it on table models only
    result = session.execute(
        update(table)
        .where(table.c.id == row_id, table.c.version == expected)
        .values(version=expected + 1)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0)) == 1:
        return None
    current = session.execute(select(table.c.version).where(table.c.id == row_id)).scalar_one_or_none()
    return int(current) if current is not None else expected
