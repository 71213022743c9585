"""Browser test helpers: Debian's Chromium and its flags, the page-error collector."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIDEO_DURATION_MS = 4000


class PageErrors(list[str]):
    """Uncaught exceptions the page threw; the overlay must never add to this."""
