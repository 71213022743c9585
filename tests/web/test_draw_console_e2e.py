"""A hotspot drawn by hand in the review console, in real Chromium against the REAL API
(tests/web/real_api.py): a brand adds a product the tagger missed by pausing the episode on it, dragging its
box and picking it from the catalog, and the hotspot is approved and on the public timeline at once; the API's
refusal of a product it could not sell is shown and nothing is stored; an episode that does not play yet
offers no drawing; a drawn hotspot whose product was deleted comes back to review told apart as drawn."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

from api.episodes.models import EpisodeStatus
from api.review.follow_job import FollowJobExecutor
from api.review.models import FollowJob, Placement, PlacementStatus
from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.console import sign_in
from tests.web.media import TestVideo
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import rows, seed_brand, seed_episode, seed_product

pytestmark = pytest.mark.browser

COLA = factories.make_product("prod_cola", "Cola Zero", "Fizz")
CLASSIC = factories.make_product("prod_classic", "Cola Classic", "Fizz")
# In the catalog, but nothing to sell yet: its hotspot could not be bought.
LIMITED = replace(factories.make_product("prod_limited", "Cola Limited", "Fizz"), variants=())
TASTE_TEST = "Episode 1: The Taste Test"
# What the console's box math may lose to pixels: the picture is about 225 px wide here, so a pixel is 0.005.
BOX_TOLERANCE = 0.01
EN_DASH = "\u2013"  # between the two ends of a shot's span, as the console writes it


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("draw-console-api"))
    yield api
    api.stop()


@dataclass(frozen=True)
class Picture:
    """Where the video's picture is drawn in the page (object-fit: contain letterboxes it), in page pixels."""

    x: float
    y: float
    width: float
    height: float

    def at(self, fx: float, fy: float) -> tuple[float, float]:
        return self.x + fx * self.width, self.y + fy * self.height


def picture_of(page: Page, video: TestVideo) -> tuple[Picture, float]:
    """The picture's place, worked out here from the element and the video's own size (not with the
    console's math), and the element's width."""
    element = page.locator("#draw-video").bounding_box()
    assert element is not None
    scale = min(element["width"] / video.width, element["height"] / video.height)
    width, height = video.width * scale, video.height * scale
    x = element["x"] + (element["width"] - width) / 2
    y = element["y"] + (element["height"] - height) / 2
    return Picture(x, y, width, height), element["width"]


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def open_drawing(page: Page, episode_title: str) -> Locator:
    page.get_by_role("button", name="Episodes…").click()
    episodes = page.get_by_role("dialog", name="Episodes")
    episodes.get_by_role("button", name=f"Add a hotspot to “{episode_title}”…").click()
    dialog = page.get_by_role("dialog", name=f"Add a hotspot to “{episode_title}”")
    expect(dialog).to_be_visible()
    return dialog


def pause_at(page: Page, dialog: Locator, seconds: float) -> None:
    """Scrub to `seconds` and wait until the browser shows that frame (not a timer's guess)."""
    dialog.get_by_label("Time in the episode (seconds)").fill(str(seconds))
    page.wait_for_function(
        """(seconds) => {
             const video = document.getElementById('draw-video');
             return video.readyState >= 2 && !video.seeking && video.paused && video.currentTime === seconds;
           }""",
        arg=seconds,
    )


def drag_a_box(page: Page, video: TestVideo) -> None:
    """A box dragged over the frame shown, from 20 % to 50-60 % of the picture."""
    picture, _ = picture_of(page, video)
    drag(page, picture.at(0.2, 0.2), picture.at(0.5, 0.6))


def box_drawn_at(page: Page, dialog: Locator, video: TestVideo, seconds: float) -> None:
    """The frame at `seconds` shown, and a box dragged over it."""
    pause_at(page, dialog, seconds)
    drag_a_box(page, video)


def pick(dialog: Locator, query: str, title: str) -> None:
    dialog.get_by_label("Find the product in your catalog").fill(query)
    dialog.get_by_role("button", name="Find").click()
    dialog.get_by_role("button", name=f"Pick “{title}”").click()
    expect(dialog.locator("#draw-product")).to_have_text(f"Product: {title}")


def drawn_box(dialog: Locator) -> list[float]:
    return [float(dialog.locator(f"#draw-{name}").input_value()) for name in "xywh"]


def placement_posts(page: Page) -> list[Request]:
    """The hotspots the page sends, as they are sent."""
    posts: list[Request] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/placements"):
            posts.append(request)

    page.on("request", record)
    return posts


def test_a_brand_draws_a_missed_product_and_it_is_approved_and_on_the_timeline_at_once(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors, artifacts_dir: Path
) -> None:
    page = desk_page
    # Given a tagged episode of a brand selling two colas, the tagger having found nothing in it
    brand = seed_brand(live_api.engine, "hotspot-drawer")
    cola = seed_product(live_api.engine, brand, COLA)
    seed_product(live_api.engine, brand, CLASSIC)
    episode = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    posts = placement_posts(page)
    sign_in(page, live_api.base_url, brand.key)

    # When the brand opens the episode's drawing and pauses it at 2 s
    dialog = open_drawing(page, TASTE_TEST)
    pause_at(page, dialog, 2)
    expect(dialog.locator("#draw-time")).to_have_text("2.00 s of 4.00 s")
    send = dialog.get_by_role("button", name="Add hotspot")
    expect(send).to_be_disabled()
    picture, element_width = picture_of(page, test_video)
    # (the portrait video is letterboxed in its wider element: the bars are what the mapping must skip)
    assert element_width - picture.width > 100

    # And a first drag strays in from the bar left of the picture: the box starts at the frame's edge
    drag(page, (picture.x - 40, picture.y + 0.2 * picture.height), picture.at(0.5, 0.5))
    assert drawn_box(dialog) == pytest.approx([0.0, 0.2, 0.5, 0.3], abs=BOX_TOLERANCE)

    # And the brand draws the box again, around the product
    drag(page, picture.at(0.25, 0.3), picture.at(0.65, 0.55))
    expected_box = [0.25, 0.3, 0.4, 0.25]
    assert drawn_box(dialog) == pytest.approx(expected_box, abs=BOX_TOLERANCE)
    expect(dialog.locator("#draw-kf")).to_have_text("Box drawn at 2.00 s; the player holds it over the span.")
    # Then the span runs from the frame it was drawn on for 3 s, cut at the episode's end
    expect(dialog.get_by_label("Start s")).to_have_value("2")
    expect(dialog.get_by_label("End s")).to_have_value("4")
    expect(send).to_be_disabled()

    # When the brand finds the product, picks it and adds the hotspot
    pick(dialog, "cola", "Cola Zero")
    expect(dialog.get_by_role("button", name="Pick “Cola Classic”")).to_have_attribute(
        "aria-pressed", "false"
    )
    page.screenshot(path=artifacts_dir / "review-draw-hotspot.png")
    send.click()

    # Then the console says it is live and being followed, and the same box cannot be added twice
    added = "Added “Cola Zero” from 2.0 s to 4.0 s: it is on the timeline."
    status = dialog.get_by_role("status").filter(has_text="Added")
    expect(status).to_have_text(f"{added} Following the product through the span…")
    expect(send).to_be_disabled()
    assert len(posts) == 1
    # (sent under a key of its own: pressed again after a lost answer, it would not add a second)
    assert re.fullmatch(r"[0-9a-f]{32}", posts[0].headers["idempotency-key"])

    # And the database holds one placement, drawn by hand and approved as Cola Zero, with the box drawn at 2 s
    [stored] = rows(live_api.engine, Placement, Placement.episode_id == episode)
    assert (stored.status, stored.drawn_by_hand, stored.chosen_product_id, stored.label) == (
        PlacementStatus.APPROVED,
        True,
        cola.id,
        "drawn by hand",
    )
    assert (stored.start_ms, stored.end_ms) == (2000, 4000)
    [keyframe] = stored.keyframes
    assert keyframe["t_ms"] == 2000
    assert keyframe["box"] == pytest.approx(expected_box, abs=BOX_TOLERANCE)

    # And the public timeline players read shows it, selling Cola Zero
    timeline = page.request.get(f"{live_api.base_url}/v1/episodes/{episode}/timeline").json()
    [live] = timeline["placements"]
    assert (live["id"], live["product"]["id"], live["start_ms"], live["end_ms"]) == (
        str(stored.id),
        str(cola.id),
        2000,
        4000,
    )
    assert [k["t_ms"] for k in live["keyframes"]] == [2000]
    assert live["keyframes"][0]["box"] == pytest.approx(expected_box, abs=BOX_TOLERANCE)

    # When a worker runs the follow job: this test video's flat blocks have nothing to match
    [job] = rows(live_api.engine, FollowJob, FollowJob.placement_id == stored.id)
    assert (job.at_ms, job.box) == (2000, stored.keyframes[0]["box"])
    FollowJobExecutor(live_api.engine, live_api.settings)(job.id)

    # Then the console says the box stays where it was drawn, and why
    expect(status).to_have_text(
        re.compile(
            re.escape(f"{added} Its box stays where it was drawn: too little texture in the box to follow (")
            + r"\d+ keypoints, needs 12\)\.$"
        )
    )
    assert page_errors == []


def test_the_shots_without_a_hotspot_are_listed_and_a_box_drawn_in_one_spans_it(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given an episode its tag job cut in three shots, none with a hotspot
    brand = seed_brand(live_api.engine, "hotspot-shots")
    seed_product(live_api.engine, brand, COLA)
    episode = seed_episode(
        live_api.engine, brand, test_video, title=TASTE_TEST, shots=[[0, 1467], [1500, 2467], [2500, 3967]]
    )
    sign_in(page, live_api.base_url, brand.key)

    # When the brand opens the drawing, it is told where to look
    dialog = open_drawing(page, TASTE_TEST)
    shots = dialog.locator("#draw-shots")
    expect(shots).to_have_text(
        f"3 of its 3 shots have no hotspot: 0.0{EN_DASH}1.5 s 1.5{EN_DASH}2.5 s 2.5{EN_DASH}4.0 s"
    )

    # And the second shot's button shows that shot's middle frame
    dialog.get_by_role("button", name=f"Show the shot 1.5{EN_DASH}2.5 s").click()
    page.wait_for_function(
        """() => {
             const video = document.getElementById('draw-video');
             return video.readyState >= 2 && !video.seeking && Math.abs(video.currentTime - 1.9835) < 0.001;
           }"""
    )
    # Then a box drawn there spans that shot
    drag_a_box(page, test_video)
    expect(dialog.get_by_label("Start s")).to_have_value("1.5")
    expect(dialog.get_by_label("End s")).to_have_value("2.467")

    # When it is added (not followed), the shot leaves the list
    dialog.get_by_label("Follow the product through the span").uncheck()
    pick(dialog, "cola", "Cola Zero")
    dialog.get_by_role("button", name="Add hotspot").click()
    expect(dialog.get_by_role("status").filter(has_text="Added")).to_have_text(
        "Added “Cola Zero” from 1.5 s to 2.5 s: it is on the timeline."
    )
    expect(shots).to_have_text(f"2 of its 3 shots have no hotspot: 0.0{EN_DASH}1.5 s 2.5{EN_DASH}4.0 s")
    [stored] = rows(live_api.engine, Placement, Placement.episode_id == episode)
    assert (stored.start_ms, stored.end_ms) == (1500, 2467)
    assert page_errors == []


def test_a_lost_answer_then_a_changed_drawing_keeps_the_first_and_adds_the_second_once(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a connection that drops after the API stored the first drawing, before its answer came back
    brand = seed_brand(live_api.engine, "hotspot-lost-answer")
    cola = seed_product(live_api.engine, brand, COLA)
    classic = seed_product(live_api.engine, brand, CLASSIC)
    episode = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)

    def drop_the_answer(route: Route) -> None:
        route.fetch()
        route.abort("connectionreset")

    page.route("**/placements", drop_the_answer, times=1)
    posts = placement_posts(page)
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_drawing(page, TASTE_TEST)
    dialog.get_by_label("Follow the product through the span").uncheck()
    box_drawn_at(page, dialog, test_video, 1)
    pick(dialog, "cola", "Cola Zero")
    send = dialog.get_by_role("button", name="Add hotspot")
    send.click()
    message = dialog.locator("#draw-message")
    expect(message).to_have_class(re.compile(r"\berror\b"))

    # When the brand, thinking it failed, picks the other cola and presses again
    pick(dialog, "classic", "Cola Classic")
    send.click()

    # Then the console says the first one was stored, and a third press adds this one, once
    expect(message).to_have_text(re.compile(r"^An earlier press already added this drawing as it was then"))
    send.click()
    expect(message).to_have_text("Added “Cola Classic” from 1.0 s to 4.0 s: it is on the timeline.")
    stored = rows(live_api.engine, Placement, Placement.episode_id == episode)
    assert sorted(str(p.chosen_product_id) for p in stored) == sorted([str(cola.id), str(classic.id)])
    keys = [request.headers["idempotency-key"] for request in posts]
    assert len(keys) == 3
    assert keys[0] == keys[1] != keys[2]
    assert page_errors == []


def test_a_span_typed_away_from_the_drawn_frame_is_refused_in_the_console(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    brand = seed_brand(live_api.engine, "hotspot-moved-span")
    seed_product(live_api.engine, brand, COLA)
    episode = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    posts = placement_posts(page)
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_drawing(page, TASTE_TEST)
    box_drawn_at(page, dialog, test_video, 1)
    pick(dialog, "cola", "Cola Zero")

    # When the span is typed so that it no longer holds the frame the box was drawn on
    dialog.get_by_label("Start s").fill("2")
    dialog.get_by_role("button", name="Add hotspot").click()

    # Then nothing is sent, and the console says why
    expect(dialog.locator("#draw-message")).to_have_text(
        "The box was drawn at 1.00 s, outside the span: draw it on a frame between 2.00 s and 4.00 s, "
        "or widen the span."
    )
    assert posts == []
    assert rows(live_api.engine, Placement, Placement.episode_id == episode) == []
    assert page_errors == []


def test_a_product_with_nothing_to_sell_is_refused_and_nothing_is_stored(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a tagged episode, and a product in the catalog with no variant yet
    brand = seed_brand(live_api.engine, "hotspot-refused")
    seed_product(live_api.engine, brand, LIMITED)
    episode = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    sign_in(page, live_api.base_url, brand.key)

    # When the brand draws a box at 1 s and adds it as that product
    dialog = open_drawing(page, TASTE_TEST)
    box_drawn_at(page, dialog, test_video, 1)
    pick(dialog, "limited", "Cola Limited")
    send = dialog.get_by_role("button", name="Add hotspot")
    send.click()

    # Then the console shows the API's refusal, naming the product, and the box can be added once fixed
    message = dialog.locator("#draw-message")
    expect(message).to_have_text("Not added. “Cola Limited”: has no variant to sell.")
    expect(message).to_have_class(re.compile(r"\berror\b"))
    expect(send).to_be_enabled()

    # And nothing is stored, nor published (the episode, never published, still has no public timeline)
    assert rows(live_api.engine, Placement, Placement.episode_id == episode) == []
    assert page.request.get(f"{live_api.base_url}/v1/episodes/{episode}/timeline").status == 404
    assert page_errors == []


def test_an_episode_that_does_not_play_yet_offers_no_drawing(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given an episode being made playable, one that could not be, and a tagged one
    brand = seed_brand(live_api.engine, "hotspot-unplayable")
    processing = seed_episode(
        live_api.engine, brand, test_video, title="Processing", status=EpisodeStatus.PROCESSING
    )
    unplayable = seed_episode(
        live_api.engine,
        brand,
        test_video,
        title="Unplayable",
        status=EpisodeStatus.UNPLAYABLE,
        media_error="No space left on device",
    )
    tagged = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    sign_in(page, live_api.base_url, brand.key)

    # When the brand opens its episodes
    page.get_by_role("button", name="Episodes…").click()
    dialog = page.get_by_role("dialog", name="Episodes")

    # Then only the tagged one, which plays, offers a hotspot to be drawn
    def row(episode_id: uuid.UUID) -> Locator:
        return dialog.locator(f'li[data-episode="{episode_id}"]')

    expect(row(tagged)).to_have_text(f"{TASTE_TEST} tagged · 4.0 s Tag again Results Add a hotspot… Delete…")
    expect(row(processing)).to_have_text("Processing being made playable · 4.0 s Delete…")
    expect(row(unplayable)).to_have_text(
        "Unplayable unplayable (No space left on device) · 4.0 s Transcode again Delete…"
    )
    expect(dialog.get_by_role("button", name=re.compile("^Add a hotspot"))).to_have_count(1)
    assert page_errors == []


def test_a_drawn_hotspot_whose_product_is_deleted_comes_back_to_review_as_drawn_by_hand(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a hotspot drawn by hand as Cola Zero, and Cola Zero then deleted from the catalog (its hotspot
    # comes down and back to review, with no product and, never linked, no candidate)
    brand = seed_brand(live_api.engine, "hotspot-orphaned")
    cola = seed_product(live_api.engine, brand, COLA)
    episode = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    drawn = page.request.post(
        f"{live_api.base_url}/v1/episodes/{episode}/placements",
        headers=brand.headers,
        data={
            "product_id": str(cola.id),
            "start_ms": 1000,
            "end_ms": 3000,
            "keyframes": [{"t_ms": 1000, "box": [0.2, 0.2, 0.3, 0.3]}],
        },
    )
    assert drawn.status == 201, drawn.text()
    deleted = page.request.delete(f"{live_api.base_url}/v1/products/{cola.id}", headers=brand.headers)
    assert deleted.ok, deleted.text()

    # When the brand opens the console
    sign_in(page, live_api.base_url, brand.key)

    # Then the placement is in the queue, told apart as drawn by hand, asking for a product from search
    expect(page.locator("#queue li")).to_have_count(1)
    assert page.locator("#queue li").get_attribute("data-placement") == drawn.json()["id"]
    expect(page.locator("#detail-label")).to_have_text("Drawn by hand")
    expect(page.locator("#detail-unknown")).to_have_text(
        "Unknown product: it was drawn by hand and its product is gone"
    )
    expect(page.locator("#candidates li")).to_have_text(
        ["No candidate: search the catalog (/) for the product."]
    )
    assert page_errors == []
