"""PATCH semantics shared by every resource: only the fields sent change, and none may be set to null."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.errors import InvalidInput


def non_null_changes(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body sets; a 422 problem naming each one sent as null."""
    changes = body.model_dump(exclude_unset=True)
    nulls = [field for field, value in changes.items() if value is None]
    if nulls:
        raise InvalidInput(
            f"{', '.join(nulls)} cannot be null",
            errors=[{"field": field, "message": "cannot be null"} for field in nulls],
        )
    return changes
