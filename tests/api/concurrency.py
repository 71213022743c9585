"""Tests of concurrent writers: they need PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine


def skip_unless_postgres(engine: Engine) -> None:
    """Skip the calling test unless `engine` is PostgreSQL: concurrent writers need connections of their
    own, and the in-memory SQLite of the default run shares one."""
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")
