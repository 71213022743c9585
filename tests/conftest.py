"""Suite-wide fixtures, registered once: the database, API and provider fixtures live in
`tests/fixtures/` (plugins below); helpers tests import live in `tests/utils/`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.api", "tests.fixtures.commerce", "tests.fixtures.web"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder (models and real data); tests that need it skip loudly without it."""
    configured = os.environ.get("REELCART_SHARED_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared")
    for candidate in candidates:
        if (candidate / "DESIGN.md").is_file() or (candidate / "models").is_dir():
            return candidate
    pytest.skip(
        "../shared is absent (set REELCART_SHARED_DIR to the folder holding models/ and data/); "
        "this test needs the real model weights or data"
    )
