"""The brand review console in real Chromium against the in-memory fake of the review routes
(tests/web/fake_review.py, kept to the real API's contract), for fast, deterministic edge cases; the same
console against the real API is tests/web/test_e2e_api.py. Tests talk to the backend only through
`ReviewBackend`."""

from __future__ import annotations

import re
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


def packshot(product_id: str) -> str:
    """A loopback-served SVG standing in for the product's first catalog image."""
    return f"/media/thumbs/{product_id}.svg"


COLA = make_product("prod_cola", "Cola Zero", "Fizz", image_url=packshot("prod_cola"))
WATER = make_product("prod_water", "Still Water", "Fizz", price="0.99", image_url=packshot("prod_water"))
CAP = make_product("prod_cap", "Logo Cap", "Headway", price="24.00")
BEANIE = make_product("prod_beanie", "Beanie", "Headway", price="15.00")
TOTE = make_product("prod_tote", "Tote Bag", "Carry", price="9.00")
OAT_MILK = make_product("prod_oat", "Oatly Oat Milk", "Oatly", price="2.49", image_url=packshot("prod_oat"))
CHAIR = make_product("prod_chair", "Desk Chair", "Sit Co", price="89.00", image_url=packshot("prod_chair"))
CATALOG: list[Product] = [COLA, WATER, CAP, BEANIE, TOTE, OAT_MILK, CHAIR]
EN_DASH = "\u2013"  # the console writes key ranges with an en dash, as in print
EPISODES = {"ep_review": "Episode 1: The Taste Test", "ep_older": "Episode 0: The Pilot"}


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
            evidence="its print was not seen (no catalog text read, too few keypoints)",
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


def serve_review(
    loopback: LoopbackState, loopback_server: LoopbackServer, placements: list[JsonObject]
) -> ReviewBackend:
    """The in-memory fake on the loopback server (test_e2e_api.py covers the real API)."""
    fake = FakeReviewApi(placements, CATALOG, EPISODES)
    loopback.review = fake
    loopback.timelines["ep_review"] = lambda: fake.public_timeline("ep_review", WIDTH, HEIGHT, 4000)
    return LoopbackReviewBackend(fake=fake, base_url=loopback_server.base_url)


@pytest.fixture
def review(loopback: LoopbackState, loopback_server: LoopbackServer) -> ReviewBackend:
    return serve_review(loopback, loopback_server, review_queue())


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
    expect(page.locator("#detail-title")).to_have_text("Cola Zero")
    expect(page.locator("#candidates button")).to_have_text(
        ["1 Cola Zero 330 ml · PROD_COLA-330 42% A publishes", "2 Still Water 330 ml · PROD_WATER-330 40%"]
    )

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
    expect(page.locator("#message")).to_have_text("Approved “Still Water” (bottle).")

    # And rejects the next one
    assert current_id(page) == "rp_low_short"
    page.locator("body").press("r")
    expect(page.locator("#message")).to_have_text("Rejected “Cola Zero” (cup).")

    # And links the hat to a product found by catalog search, then approves it
    assert current_id(page) == "rp_mid"
    page.locator("body").press("/")
    page.keyboard.type("logo")
    page.keyboard.press("Enter")
    page.locator('#search-results [data-product="prod_cap"]').click()
    expect(page.locator("#message")).to_contain_text("Linked “hat” to Logo Cap")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#message")).to_have_text("Approved “Logo Cap” (hat).")

    # Then only the untouched placement is left, and every action is a ReviewAction by this brand
    assert queue_ids(page) == ["rp_high"]
    assert [(a["actor"], a["action"], a["after"]) for a in review.history("rp_low")] == [
        (review.reviewer, "relink", {"chosen_product_id": "prod_water"}),
        (review.reviewer, "approve", {"status": "approved", "chosen_product_id": "prod_water"}),
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
    expect(page.locator("#message")).to_contain_text("Conflict: someone else changed “Cola Zero” (bottle)")
    assert review.placement("rp_low")["status"] == "proposed"
    expect(page.locator("#detail-meta")).to_contain_text("v2")
    expect(page.locator("#edit-end")).to_have_value("3000")

    # When the reviewer approves again, against the current version, it goes through
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Cola Zero” (bottle).")
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
    expect(page.locator("#detail-label")).to_have_text("Detected as “bottle”")

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


def test_items_are_titled_by_product_and_candidates_show_their_packshots(
    page: Page, review: ReviewBackend, page_errors: PageErrors
) -> None:
    # Given the console on the bottle, linked at 42% (above the brand's 30% floor) to Cola Zero
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#queue li")).to_have_count(4)

    # Then each queue item is titled by the product approving would publish, the detector class below it
    expect(page.locator("#queue .q-title")).to_have_text(["Cola Zero", "Cola Zero", "Beanie", "Tote Bag"])
    expect(page.locator("#queue .q-label")).to_have_text(["bottle", "cup", "hat", "bag"])
    expect(page.locator("#detail-title")).to_have_text("Cola Zero")
    expect(page.locator("#detail-label")).to_have_text("Detected as “bottle”")
    expect(page.locator("#detail-unknown")).to_be_hidden()

    # And the meta line names the episode by its title, not its id
    meta = page.locator("#detail-meta")
    expect(meta).to_contain_text("Episode 1: The Taste Test")
    expect(meta).not_to_contain_text("ep_review")

    # And each candidate shows its product's packshot (loaded), variant and SKU next to the crop
    candidates = page.locator("#candidates li")
    images = page.locator("#candidates img.packshot")
    expect(images).to_have_count(2)
    assert [images.nth(i).get_attribute("src") for i in range(2)] == [
        packshot("prod_cola"),
        packshot("prod_water"),
    ]
    page.wait_for_function(
        "() => [...document.querySelectorAll('#candidates img.packshot')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    expect(candidates.locator(".c-variant")).to_have_text(
        ["330 ml · PROD_COLA-330", "330 ml · PROD_WATER-330"]
    )

    # And what A publishes is highlighted: the top candidate, named beside the Approve button
    expect(page.locator("#candidates li.publishes")).to_have_count(1)
    expect(candidates.first).to_have_class(re.compile(r"\bpublishes\b"))
    expect(page.locator("#approve-target")).to_have_text("A publishes Cola Zero")

    # And under the candidates, the linker's reason for leaving the link to a person
    expect(page.locator("#link-evidence")).to_have_text(
        "Linker: its print was not seen (no catalog text read, too few keypoints)"
    )

    # And with no action yet the history says so in plain text, not as a numbered item
    expect(page.locator("#history-note")).to_have_text("No actions yet.")
    expect(page.locator("#history li")).to_have_count(0)

    # When the reviewer picks candidate 2, the highlight, the title and the queue item follow the pick
    page.locator("body").press("2")
    expect(page.locator("#message")).to_contain_text("Linked “bottle” to Still Water")
    expect(page.locator("#detail-title")).to_have_text("Still Water")
    expect(page.locator("#candidates li.publishes")).to_have_text(re.compile(r"^2 Still Water"))
    expect(page.locator("#approve-target")).to_have_text("A publishes Still Water")
    expect(page.locator("#queue .q-title").first).to_have_text("Still Water")
    expect(page.locator("#history li")).to_have_count(1)
    expect(page.locator("#history-note")).to_be_hidden()
    assert page_errors == []


def test_a_link_the_crops_contradicted_is_flagged_and_bulk_approval_leaves_it(
    page: Page, loopback: LoopbackState, loopback_server: LoopbackServer, page_errors: PageErrors
) -> None:
    # Given a confident link whose print named another variant, and a plainly confident one
    review = serve_review(
        loopback,
        loopback_server,
        [
            review_placement(
                "rp_sibling",
                label="product",
                confidence=0.9,
                start_ms=0,
                end_ms=2000,
                box=(0.2, 0.2, 0.4, 0.5),
                candidates=((OAT_MILK, 0.98),),
                evidence="its print reads 'chocolate', which its catalog text lacks (another variant?)",
                contradicted=True,
            ),
            review_placement(
                "rp_plain",
                label="bottle",
                confidence=0.9,
                start_ms=1000,
                end_ms=3000,
                box=(0.5, 0.2, 0.2, 0.3),
                candidates=((COLA, 0.95),),
                evidence="crop 1: its print matched (40 keypoints)",
            ),
        ],
    )
    sign_in(page, review.base_url, review.api_key)

    # Then the contradicted one says what to check, in the warning style; the plain one reads as a note
    page.locator("#queue li", has_text="Oatly Oat Milk").click()
    evidence = page.locator("#link-evidence")
    expect(evidence).to_have_text(
        "Check the product: its print reads 'chocolate', which its catalog text lacks (another variant?)"
    )
    expect(evidence).to_have_class(re.compile(r"\bcontradicted\b"))
    page.locator("#queue li", has_text="Cola Zero").click()
    expect(evidence).to_have_text("Linker: crop 1: its print matched (40 keypoints)")
    expect(evidence).not_to_have_class(re.compile(r"\bcontradicted\b"))

    # When the reviewer bulk approves everything at 90 % or above
    page.get_by_label("Minimum confidence").fill("0.9")
    page.get_by_role("button", name="Bulk approve").click()

    # Then the plain link is published and the contradicted one waits, and the message says why
    expect(page.locator("#message")).to_have_text(
        "Bulk approved 1 placement(s) at ≥ 90%. 1 left for you: the linker saw another product's print."
    )
    assert review.placement("rp_plain")["status"] == "approved"
    assert review.placement("rp_sibling")["status"] == "proposed"
    assert queue_ids(page) == ["rp_sibling"]
    assert page_errors == []


def test_an_unknown_product_is_labelled_and_a_alone_does_not_publish_it(
    page: Page,
    loopback: LoopbackState,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given a chair linked at 12% to oat milk (under the brand's 30% floor) and a mug with no candidate
    review = serve_review(
        loopback,
        loopback_server,
        [
            review_placement(
                "rp_chair",
                label="chair",
                confidence=0.7,
                start_ms=0,
                end_ms=3000,
                box=(0.2, 0.4, 0.4, 0.4),
                candidates=((OAT_MILK, 0.12), (CHAIR, 0.1)),
            ),
            review_placement(
                "rp_mug",
                label="mug",
                confidence=0.6,
                start_ms=1000,
                end_ms=2000,
                box=(0.5, 0.5, 0.1, 0.1),
                candidates=(),
            ),
        ],
    )
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#queue li")).to_have_count(2)
    assert queue_ids(page) == ["rp_mug", "rp_chair"]

    # Then neither is titled by a guess: both are unknown products, the chair's best guess below its class
    expect(page.locator("#queue .q-title")).to_have_text(["Unknown product", "Unknown product"])
    expect(page.locator("#queue .q-sku")).to_have_text(["no candidate", "best guess Oatly Oat Milk (12%)"])

    # And the mug says it needs a pick, and A does not approve it
    expect(page.locator("#detail-unknown")).to_have_text("Unknown product: the linker found no candidate")
    expect(page.locator("#approve-target")).to_have_text("A needs a pick: / search")
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text(
        "Not approved: “mug” is an unknown product (the linker found no candidate). "
        "Pick the product first: / to search the catalog."
    )

    # When the reviewer moves to the chair, nothing is highlighted as what A publishes
    page.locator("body").press("j")
    expect(page.locator("#detail-title")).to_have_text("Unknown product")
    expect(page.locator("#detail-label")).to_have_text("Detected as “chair”")
    expect(page.locator("#detail-unknown")).to_have_text(
        "Unknown product: its link (12%) is below your floor (30%)"
    )
    expect(page.locator("#candidates li.publishes")).to_have_count(0)
    expect(page.locator("#approve-target")).to_have_text(f"A needs a pick: 1{EN_DASH}5 or / search")

    # And A alone explains it needs a pick, and changes nothing
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text(
        "Not approved: “chair” is an unknown product (its link (12%) is below your floor (30%)). "
        f"Pick the product first: 1{EN_DASH}5 for a candidate, or / to search the catalog."
    )
    assert (review.placement("rp_chair")["status"], review.placement("rp_chair")["version"]) == (
        "proposed",
        1,
    )
    assert review.history("rp_chair") == []
    page.screenshot(path=artifacts_dir / "review-unknown-product.png", full_page=True)

    # When the reviewer picks the chair (candidate 2), A publishes exactly that pick
    page.locator("body").press("2")
    expect(page.locator("#approve-target")).to_have_text("A publishes Desk Chair")
    expect(page.locator("#candidates li.publishes")).to_have_text(re.compile(r"^2 Desk Chair"))
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Desk Chair” (chair).")
    assert [(a["action"], a["after"]) for a in review.history("rp_chair")] == [
        ("relink", {"chosen_product_id": "prod_chair"}),
        ("approve", {"status": "approved", "chosen_product_id": "prod_chair"}),
    ]

    # And the mug, linked through catalog search, is approved as the product found
    page.locator("body").press("/")
    page.keyboard.type("oat")
    page.keyboard.press("Enter")
    page.locator('#search-results [data-product="prod_oat"]').click()
    expect(page.locator("#candidates .from-search")).to_contain_text("Linked from search: Oatly Oat Milk")
    expect(page.locator("#candidates .from-search img.packshot")).to_have_attribute(
        "src", packshot("prod_oat")
    )
    expect(page.locator("#approve-target")).to_have_text("A publishes Oatly Oat Milk")
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Oatly Oat Milk” (mug).")
    assert page_errors == []


def test_the_server_refuses_a_floor_raised_behind_the_consoles_back_and_the_console_explains(
    page: Page, review: ReviewBackend, page_errors: PageErrors
) -> None:
    # Given the console showing the bottle at 42%, above the 30% floor, ready to publish Cola Zero
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#approve-target")).to_have_text("A publishes Cola Zero")

    # When the brand raises its floor to 50% meanwhile and the reviewer presses A on the stale view
    review.set_link_floor(0.5)
    page.locator("body").press("a")

    # Then the API refuses, the console says why and shows the placement as the API sees it now
    expect(page.locator("#message")).to_contain_text("Not approved: choose a product before approving")
    expect(page.locator("#approve-target")).to_have_text(f"A needs a pick: 1{EN_DASH}5 or / search")
    expect(page.locator("#detail-unknown")).to_have_text(
        "Unknown product: its link (42%) is below your floor (50%)"
    )
    assert review.placement("rp_low")["status"] == "proposed"

    # And bulk approving below the floor is refused with the API's reason
    page.get_by_label("Minimum confidence").fill("0.4")
    page.get_by_role("button", name="Bulk approve").click()
    expect(page.locator("#message")).to_contain_text("is below your link floor (0.50)")
    assert review.placement("rp_high")["status"] == "proposed"
    assert page_errors == []


def serve_last_tote(loopback: LoopbackState, loopback_server: LoopbackServer) -> ReviewBackend:
    """A queue with one placement left (a tote bag in episode 1), and an older episode with nothing live."""
    review = serve_review(
        loopback,
        loopback_server,
        [
            review_placement(
                "rp_only",
                label="bag",
                confidence=0.9,
                start_ms=0,
                end_ms=2000,
                box=(0.1, 0.6, 0.3, 0.2),
                candidates=((TOTE, 0.9),),
            )
        ],
    )
    loopback.timelines["ep_older"] = {
        "version": 1,
        "episode": {"id": "ep_older", "duration_ms": 4000, "width": WIDTH, "height": HEIGHT},
        "placements": [],
    }
    return review


def test_an_empty_queue_says_so_and_links_each_episodes_player_and_timeline(
    page: Page,
    loopback: LoopbackState,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given one placement left to review
    review = serve_last_tote(loopback, loopback_server)
    sign_in(page, review.base_url, review.api_key)
    expect(page.locator("#done")).to_be_hidden()

    # When the reviewer approves it
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Tote Bag” (bag).")

    # Then the pane says the queue is empty instead of going blank, with the episode reviewed first, each
    # episode with what its public timeline shows
    done = page.locator("#done")
    expect(done).to_be_visible()
    expect(done.get_by_role("heading")).to_have_text("Nothing left to review")
    episodes = page.locator("#done-episodes li")
    expect(episodes).to_have_text(
        [
            "Episode 1: The Taste Test 1 placement live Watch in the player · Public timeline",
            "Episode 0: The Pilot nothing published yet Public timeline",
        ]
    )
    # (the player serves only an episode with something live, so the unpublished one links its timeline only)
    expect(episodes.nth(1).get_by_role("link")).to_have_count(1)
    player = episodes.first.get_by_role("link", name="Watch in the player")
    timeline = episodes.first.get_by_role("link", name="Public timeline")
    expect(player).to_have_attribute("href", "/demo/episodes/ep_review")
    expect(timeline).to_have_attribute("href", "/v1/episodes/ep_review/timeline")
    page.screenshot(path=artifacts_dir / "review-queue-empty.png", full_page=True)

    # And the timeline link serves the approved placement, and the player link opens the episode's player
    served = page.request.get(f"{review.base_url}/v1/episodes/ep_review/timeline").json()
    assert [(p["id"], p["product"]["title"]) for p in served["placements"]] == [("rp_only", "Tote Bag")]
    with page.expect_popup() as opened:
        player.click()
    assert opened.value.url == f"{review.base_url}/demo/episodes/ep_review"
    opened.value.close()

    # And a reviewer who signs in to an empty queue sees the same, from the brand's episode list
    page.reload()
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#done-episodes li")).to_have_text(
        [re.compile(r"^Episode 1: The Taste Test 1 placement live"), re.compile(r"^Episode 0: The Pilot")]
    )
    expect(page.locator("#detail")).to_be_hidden()
    assert page_errors == []


def test_an_empty_queue_on_a_production_server_links_timelines_but_no_player(
    page: Page, loopback: LoopbackState, loopback_server: LoopbackServer
) -> None:
    # Given a production server: its console page says the demo player is off
    review = serve_last_tote(loopback, loopback_server)
    sign_in(page, review.base_url, review.api_key)
    page.evaluate("() => { document.body.dataset.demoPlayer = 'off'; }")

    # When the reviewer approves the last item
    page.locator("body").press("a")

    # Then the live episode links its public timeline only, never the player that would answer 404
    live = page.locator("#done-episodes li").first
    expect(live).to_have_text("Episode 1: The Taste Test 1 placement live Public timeline")
    expect(live.get_by_role("link")).to_have_count(1)
