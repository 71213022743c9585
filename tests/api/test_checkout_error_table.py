"""The README's checkout error table (what the overlay's sheet says per cause) names exactly the problem types
`POST /v1/checkout` can answer with, each with the status the server sends. (What the sheet says per row is
held to the SDK by web_overlay/tests/timeline-math.test.mjs; three rows run end to end in
tests/web/test_overlay_checkout_e2e.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import api.checkout.exceptions as checkout_exceptions
from api.brands.exceptions import ProviderNotConnected
from api.errors import ApiError, CommerceNotConfigured, NotFound, StoredTokenUnreadable

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| cause | status | `type` slug | `retryable` | the sheet says |"
# api/problems.py answers every provider failure with a 502 of one of these two types.
PROVIDER_PROBLEMS = {"provider-error": 502, "provider-timeout": 502}


def _table() -> list[tuple[list[int], list[str]]]:
    """(statuses, slugs) of each row."""
    lines = README.read_text(encoding="utf-8").split(HEADER, 1)[1].strip().splitlines()[1:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(([int(s) for s in re.findall(r"\d{3}", cells[1])], re.findall(r"`([a-z-]+)`", cells[2])))
    return rows


def _checkout_kinds() -> dict[str, int]:
    """Slug -> status of every ApiError the checkout use case raises."""
    own: list[type[ApiError]] = [
        kind
        for kind in vars(checkout_exceptions).values()
        if isinstance(kind, type) and issubclass(kind, ApiError) and kind is not ApiError
    ]
    shared: list[type[ApiError]] = [
        ProviderNotConnected,
        NotFound,
        CommerceNotConfigured,
        StoredTokenUnreadable,
    ]
    return {kind.slug: kind.status for kind in [*own, *shared]}


def test_the_table_lists_every_problem_the_checkout_answers_and_nothing_else() -> None:
    # (provider-error has two rows: one per `retryable`)
    listed = {slug for _, slugs in _table() for slug in slugs}
    assert listed == {*_checkout_kinds(), *PROVIDER_PROBLEMS}


def test_each_row_gives_the_status_the_server_sends() -> None:
    statuses = {**_checkout_kinds(), **PROVIDER_PROBLEMS}
    for row_statuses, slugs in _table():
        sent = [statuses[slug] for slug in slugs]
        expected = row_statuses if len(row_statuses) == len(slugs) else row_statuses * len(slugs)
        assert sent == expected, slugs
