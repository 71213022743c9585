"""The review console's "Load more" in real Chromium against the REAL API (tests/web/real_api.py): after the
reviewer approves or rejects part of the first page, the next page still brings every proposal that waits,
and the done screen only comes when none does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.console import queue_ids, sign_in
from tests.web.factories import Keyframe
from tests.web.media import TestVideo
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import PlacementSeed, seed_brand, seed_episode, seed_placements, seed_product

pytestmark = pytest.mark.browser

PAGE_SIZE = 50  # review.js's page
WAITING = 60
REVIEWED = 10


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("load-more-api"))
    yield api
    api.stop()


def _proposed_ids(page: Page, live_api: LiveApi, headers: dict[str, str]) -> list[str]:
    response = page.request.get(
        f"{live_api.base_url}/v1/review/queue?status=proposed&limit=200", headers=headers
    )
    assert response.ok, response.text()
    return [item["id"] for item in response.json()["items"]]


def test_load_more_after_reviewing_part_of_the_first_page_brings_every_proposal_left(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors, artifacts_dir: Path
) -> None:
    page = desk_page
    # Given 60 proposals, each linked above the brand's floor
    brand = seed_brand(live_api.engine, "load-more")
    cola = seed_product(live_api.engine, brand, factories.make_product("prod_cola", "Cola Zero", "Fizz"))
    episode_id = seed_episode(live_api.engine, brand, test_video)
    seed_placements(
        live_api.engine,
        live_api.settings,
        episode_id,
        [
            PlacementSeed(
                label=f"bottle {i}",
                start_ms=0,
                end_ms=1000,
                keyframes=(Keyframe(0, (0.4, 0.4, 0.2, 0.2)),),
                candidates=((cola, 0.31 + 0.01 * i),),
                link_confidence=0.31 + 0.01 * i,
                thumbnail=False,
            )
            for i in range(WAITING)
        ],
    )
    ranked = _proposed_ids(page, live_api, brand.headers)

    # And the reviewer's console showing the first page, with more to load
    sign_in(page, live_api.base_url, brand.key)
    expect(page.locator("#queue li")).to_have_count(PAGE_SIZE)
    assert queue_ids(page) == ranked[:PAGE_SIZE]
    expect(page.locator("#load-more")).to_be_visible()

    # When the reviewer rejects and approves 10 of them
    for n in range(REVIEWED):
        page.locator("body").press("a" if n % 2 else "r")
        expect(page.locator("#queue li")).to_have_count(PAGE_SIZE - n - 1)
    left = _proposed_ids(page, live_api, brand.headers)
    assert len(left) == WAITING - REVIEWED

    # And loads more
    page.locator("#load-more").click()

    # Then the console lists every proposal that waits, in the API's order, and nothing more is to load
    expect(page.locator("#queue li")).to_have_count(WAITING - REVIEWED)
    assert queue_ids(page) == left
    assert queue_ids(page)[-REVIEWED:] == ranked[PAGE_SIZE:]
    expect(page.locator("#load-more")).to_be_hidden()
    expect(page.locator("#done")).to_be_hidden()
    page.screenshot(path=str(artifacts_dir / "review-load-more.png"))
    assert page_errors == []
