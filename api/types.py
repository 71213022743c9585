"""Constrained types for what a request claims, shared by every domain's bodies and query parameters.

Bad input is refused at the boundary, field by field, before a use case or the database sees it:
PostgreSQL refuses a NUL character in any text column and the filesystem in any path (both used to
answer 500), and an offset past what the database's integers hold overflowed the query. The JSON schema
carries the same rules, so clients (and the API fuzz test) know them.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator, Field

# JSON Schema (ECMA-262) and Python both read this: any string without U+0000.
NUL_FREE_PATTERN = r"^[^\x00]*$"

# Offsets are page positions, not row counts a client may invent: int4's maximum fits every database's
# OFFSET and every Python int the query builder binds.
MAX_OFFSET = 2**31 - 1


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    return value


Text = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": NUL_FREE_PATTERN})]
"""A string without NUL characters: every text a request may store, search for or use as a path."""

PageOffset = Annotated[int, Ge(0), Le(MAX_OFFSET)]
"""How many items a page skips (a query parameter)."""
