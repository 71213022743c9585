"""The brand review console in real Chromium against the in-memory fake of the review routes
(tests/web/fake_review.py, kept to the real API's contract), for fast, deterministic edge cases; the same
console against the real API is tests/web/test_e2e_api.py. Tests talk to the backend only through
`ReviewBackend`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.utils.web import PageErrors
from tests.web.console import current_id, pause_clip_at, queue_ids, sign_in
from tests.web.factories import (
    JsonObject,
    Product,
    expected_dot,
    make_product,
    rendered_rect,
    review_placement,
)
from tests.web.fake_review import FakeReviewApi
from tests.web.loopback import LoopbackServer, LoopbackState
from tests.web.media import HEIGHT, WIDTH
from tests.web.player import video_rect
from tests.web.review_backend import LoopbackReviewBackend, ReviewBackend

pytestmark = pytest.mark.browser

COLA = make_product("prod_cola", "Cola Zero", "Fizz")
WATER = make_product("prod_water", "Still Water", "Fizz", price="0.99")
CAP = make_product("prod_cap", "Logo Cap", "Headway", price="24.00")
BEANIE = make_product("prod_beanie", "Beanie", "Headway", price="15.00")
TOTE = make_product("prod_tote", "Tote Bag", "Carry", price="9.00")
CATALOG: list[Product] = [COLA, WATER, CAP, BEANIE, TOTE]


def review_queue() -> list[JsonObject]:
    return [
        review_placement(
            "rp_high",
            label="bag",
            confidence=0.95,
            start_ms=0,
            end_ms=2000,
            box=(0.1, 0.6, 0.3, 0.2),
            candidates=((TOTE, 0.95),),
        ),
        review_placement(
            "rp_mid",
            label="hat",
            confidence=0.55,
            start_ms=1000,
            end_ms=3000,
            box=(0.6, 0.12, 0.25, 0.12),
            candidates=((BEANIE, 0.55), (CAP, 0.5)),
        ),
        review_placement(
            "rp_low_short",
            label="cup",
            confidence=0.42,
            start_ms=1200,
            end_ms=1800,
            box=(0.3, 0.7, 0.1, 0.1),
            candidates=((COLA, 0.42),),
        ),
        review_placement(
            "rp_low",
            label="bottle",
            confidence=0.42,
            start_ms=500,
            end_ms=3500,
            box=(0.15, 0.30, 0.20, 0.15),
            end_box=(0.55, 0.50, 0.20, 0.15),
            candidates=((COLA, 0.42), (WATER, 0.40)),
        ),
    ]


@pytest.fixture
def page(browser: Browser, page_errors: PageErrors) -> Iterator[Page]:
    """The console is a desk tool: a laptop-sized window, not the phone viewport of the player tests."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    desk_page = context.new_page()
    desk_page.on("pageerror", lambda error: page_errors.append(str(error)))
    yield desk_page
    context.close()


@pytest.fixture
def review(loopback: LoopbackState, loopback_server: LoopbackServer) -> ReviewBackend:
    """The in-memory fake on the loopback server (test_e2e_api.py covers the real API)."""
    fake = FakeReviewApi(review_queue(), CATALOG)
    loopback.review = fake
    loopback.timelines["ep_review"] = lambda: fake.public_timeline("ep_review", WIDTH, HEIGHT, 4000)
    return LoopbackReviewBackend(fake=fake, base_url=loopback_server.base_url)


def test_review_session_relinks_approves_and_rejects_and_the_public_timeline_follows(
    page: Page,
    review: ReviewBackend,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given a brand signed in with its key
    sign_in(page, review.base_url, review.api_key)

    # Then the queue lists what most needs a human first: low confidence, then longer on screen
    expect(page.locator("#queue li")).to_have_count(4)
    assert queue_ids(page) == ["rp_low", "rp_low_short", "rp_mid", "rp_high"]
    expect(page.locator("#detail-title")).to_have_text("bottle")
    expect(page.locator("#candidates button")).to_have_text(["1 Cola Zero 42%", "2 Still Water 40%"])

    # And the looped clip, paused on its first frame, shows the box where the keyframes put it
    clip_box = page.locator("#clip-box")
    expect(clip_box).to_be_visible()
    page.wait_for_function("() => document.getElementById('clip-video').readyState >= 2")
    pause_clip_at(page, 0.5)
    clip = video_rect(page)
    picture = rendered_rect(clip, WIDTH, HEIGHT, "contain")
    want_x, want_y = expected_dot((0.15, 0.30, 0.20, 0.15), clip, picture)
    drawn = clip_box.bounding_box()
    assert drawn is not None
    assert abs(drawn["x"] + drawn["width"] / 2 - want_x) <= 0.02 * clip.width
    assert abs(drawn["y"] + drawn["height"] / 2 - want_y) <= 0.02 * clip.height
    page.screenshot(path=artifacts_dir / "review-console.png", full_page=True)

    # When the reviewer relinks to candidate 2 with the keyboard, then approves
    page.locator("body").press("2")
    expect(page.locator("#message")).to_contain_text("Linked “bottle” to Still Water")
    expect(page.locator("#history")).to_contain_text(f"{review.reviewer} relink")
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “bottle”.")

    # And rejects the next one
    assert current_id(page) == "rp_low_short"
    page.locator("body").press("r")
    expect(page.locator("#message")).to_have_text("Rejected “cup”.")

    # And links the hat to a product found by catalog search, then approves it
    assert current_id(page) == "rp_mid"
    page.locator("body").press("/")
    page.keyboard.type("logo")
    page.keyboard.press("Enter")
    page.locator('#search-results [data-product="prod_cap"]').click()
    expect(page.locator("#message")).to_contain_text("Linked “hat” to Logo Cap")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#message")).to_have_text("Approved “hat”.")

    # Then only the untouched placement is left, and every action is a ReviewAction by this brand
    assert queue_ids(page) == ["rp_high"]
    assert [(a["actor"], a["action"], a["after"]) for a in review.history("rp_low")] == [
        (review.reviewer, "relink", {"chosen_product_id": "prod_water"}),
        (review.reviewer, "approve", {"status": "approved"}),
    ]
    assert [(a["action"], a["before"], a["after"]) for a in review.history("rp_low_short")] == [
        ("reject", {"status": "proposed"}, {"status": "rejected"}),
    ]

    # And the public timeline carries exactly the approved placements with the chosen products
    timeline = page.request.get(f"{review.base_url}/v1/episodes/ep_review/timeline").json()
    assert [(p["id"], p["product"]["id"]) for p in timeline["placements"]] == [
        ("rp_low", "prod_water"),
        ("rp_mid", "prod_cap"),
    ]
    assert page_errors == []


def test_a_stale_write_is_refused_with_a_clear_conflict_and_the_latest_version_is_shown(
    page: Page, review: ReviewBackend, page_errors: PageErrors
) -> None:
    # Given the console showing "bottle" at version 1
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#detail-meta")).to_contain_text("v1")

    # When a colleague edits it meanwhile and this reviewer approves the stale copy
    review.edit_behind_the_consoles_back("rp_low", end_ms=3000)
    page.locator("body").press("a")

    # Then the approve is refused with a conflict, nothing changed, and the latest version is loaded
    expect(page.locator("#message")).to_contain_text("Conflict: someone else changed “bottle”")
    assert review.placement("rp_low")["status"] == "proposed"
    expect(page.locator("#detail-meta")).to_contain_text("v2")
    expect(page.locator("#edit-end")).to_have_value("3000")

    # When the reviewer approves again, against the current version, it goes through
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “bottle”.")
    assert review.placement("rp_low")["status"] == "approved"
    assert page_errors == []


def test_an_expired_key_sends_the_reviewer_back_to_the_key_prompt(
    page: Page, review: ReviewBackend, page_errors: PageErrors
) -> None:
    # Given an unknown key is refused at sign in
    sign_in(page, review.base_url, review.unknown_key)
    expect(page.locator("#sign-in-error")).to_contain_text("refused or has expired")
    assert page.evaluate("() => sessionStorage.length") == 0

    # And a good key gets in, and survives a reload (session storage)
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#queue li")).to_have_count(4)
    page.reload()
    expect(page.locator("#queue li")).to_have_count(4)

    # When the key expires mid-session and the reviewer acts
    review.expire_keys()
    page.locator("body").press("a")

    # Then the console asks for the key again instead of failing silently
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#sign-in-error")).to_contain_text("refused or has expired")
    assert review.placement("rp_low")["status"] == "proposed"
    assert page_errors == []


def test_adjusting_span_and_box_and_bulk_approving_above_a_confidence(
    page: Page, review: ReviewBackend, page_errors: PageErrors
) -> None:
    # Given the console on "bottle"
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#detail-title")).to_have_text("bottle")

    # When the reviewer trims the span and moves the box, then saves with S
    page.wait_for_function("() => document.getElementById('clip-video').readyState >= 2")
    pause_clip_at(page, 0.5)
    page.get_by_label("Start ms").fill("700")
    page.get_by_label("End ms").fill("3200")
    page.get_by_label("x", exact=True).fill("0.2")
    page.locator("body").press("Escape")
    page.locator("body").press("s")

    # Then one PATCH carries the new span and the edited keyframes, moved inside the trimmed span (the API
    # refuses keyframes outside it)
    expect(page.locator("#message")).to_contain_text("Saved start_ms, end_ms, keyframes")
    saved = review.placement("rp_low")
    assert (saved["start_ms"], saved["end_ms"], saved["version"]) == (700, 3200, 2)
    assert saved["keyframes"] == [
        {"t_ms": 700, "box": [0.2, 0.3, 0.2, 0.15]},
        {"t_ms": 3200, "box": [0.55, 0.5, 0.2, 0.15]},
    ]

    # When the reviewer bulk approves everything at 90% or above
    page.get_by_label("Minimum confidence").fill("0.9")
    page.get_by_role("button", name="Bulk approve").click()

    # Then only the 95% bag is approved and leaves the queue
    expect(page.locator("#message")).to_have_text("Bulk approved 1 placement(s) at ≥ 90%.")
    assert review.placement("rp_high")["status"] == "approved"
    assert queue_ids(page) == ["rp_low", "rp_low_short", "rp_mid"]
    assert page_errors == []
