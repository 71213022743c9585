"""The overlay SDK in real Chromium, on the demo page, against the loopback fakes of the timeline, checkout
and events routes (tests/web/loopback.py)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.utils.web import PageErrors
from tests.web.factories import (
    EpisodeTimeline,
    JsonObject,
    Keyframe,
    Product,
    Rect,
    TimelinePlacement,
    Variant,
    expected_dot,
    interpolate_box,
    make_product,
    rendered_rect,
)
from tests.web.loopback import WEB_ROOT, LoopbackServer, LoopbackState
from tests.web.media import FPS, HEIGHT, WIDTH, TestVideo, write_test_video
from tests.web.player import (
    FAKE_STRIPE_JS,
    current_ms,
    frame_time_ms,
    hotspot_centres,
    is_paused,
    label_rects,
    open_demo,
    resize_player,
    show_frame,
    tab_walk,
    video_rect,
    wait_for_timeline,
)

pytestmark = pytest.mark.browser

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
FRAME_1500_MS = 45
TOLERANCE = 0.02


@pytest.fixture
def demo(loopback: LoopbackState, demo_timeline: EpisodeTimeline) -> LoopbackState:
    loopback.timelines["ep_demo"] = demo_timeline.to_json()
    return loopback


def wait_for_events(
    state: LoopbackState, count: int, types: set[str], timeout_s: float = 5
) -> list[JsonObject]:
    """Beacons are fire-and-forget: poll the fake until `count` events of `types` arrived, and no more."""

    def matching() -> list[JsonObject]:
        return [event for event in state.events() if event["type"] in types]

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(matching()) < count:
        time.sleep(0.05)
    events = matching()
    assert len(events) == count, events
    return events


def assert_hotspots_on_their_boxes(
    page: Page, timeline: EpisodeTimeline, t_ms: float, fit: Literal["contain", "cover"]
) -> None:
    element = video_rect(page)
    picture = rendered_rect(element, WIDTH, HEIGHT, fit)
    centres = hotspot_centres(page)
    assert sorted(centres) == ["pl_cap", "pl_cola"], "skipped placements must not be drawn"
    for placement_id, (x, y) in centres.items():
        box = interpolate_box(timeline.placement(placement_id).keyframes, t_ms)
        want_x, want_y = expected_dot(box, element, picture)
        assert abs(x - want_x) <= TOLERANCE * element.width, (
            f"{placement_id} x {x:.1f} vs {want_x:.1f} ({fit})"
        )
        assert abs(y - want_y) <= TOLERANCE * element.height, (
            f"{placement_id} y {y:.1f} vs {want_y:.1f} ({fit})"
        )


def test_hotspot_appears_on_time_and_on_its_box_through_cover_contain_and_resize(
    page: Page,
    demo: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given the demo playing an episode whose first placement starts at 500 ms (fit pinned: this is about the
    # SDK following whatever fit the integrator sets)
    open_demo(page, loopback_server.base_url, fit="cover")
    wait_for_timeline(page)
    show_frame(page, 3)
    assert hotspot_centres(page) == {}

    # When it plays on, the first hotspot appears at its start time (within a couple of frames)
    appeared_ms = page.evaluate(
        """() => new Promise((resolve) => {
             const video = document.querySelector('video');
             new MutationObserver((_, observer) => {
               if (document.querySelector('[data-reelcart-hotspot="pl_cola"]')) {
                 observer.disconnect();
                 resolve(video.currentTime * 1000);
               }
             }).observe(document.body, { childList: true, subtree: true });
             video.play();
           })"""
    )
    # (currentTime may trail the presented frame's timestamp by up to one frame when the callback runs)
    assert 500 - 1000 / FPS <= appeared_ms <= 800

    # Then, paused on a frame, each hotspot sits on its interpolated box (phone player: object-fit cover)
    show_frame(page, FRAME_1500_MS)
    assert_hotspots_on_their_boxes(page, demo_timeline, frame_time_ms(FRAME_1500_MS), "cover")
    page.screenshot(path=artifacts_dir / "overlay-demo-cover.png")

    # And after the player is resized into a landscape box with object-fit contain (pillarboxed)
    resize_player(page, 460, 300, "contain")
    assert_hotspots_on_their_boxes(page, demo_timeline, frame_time_ms(FRAME_1500_MS), "contain")

    # And into a square box with cover, where the picture overflows vertically
    resize_player(page, 300, 300, "cover")
    element = video_rect(page)
    picture = rendered_rect(element, WIDTH, HEIGHT, "cover")
    for placement_id, (x, y) in hotspot_centres(page).items():
        box = interpolate_box(demo_timeline.placement(placement_id).keyframes, frame_time_ms(FRAME_1500_MS))
        want_x, want_y = expected_dot(box, element, picture)
        assert abs(x - want_x) <= TOLERANCE * element.width
        assert abs(y - want_y) <= TOLERANCE * element.height
    page.screenshot(path=artifacts_dir / "overlay-demo-resized-cover.png")
    assert page_errors == []


def test_hotspots_are_named_buttons_focusable_in_time_order(
    page: Page, demo: LoopbackState, loopback_server: LoopbackServer, page_errors: PageErrors
) -> None:
    # Given two placements on screen, the cola (from 500 ms) and the cap (from 1000 ms)
    open_demo(page, loopback_server.base_url)
    wait_for_timeline(page)
    show_frame(page, FRAME_1500_MS)

    # When a keyboard user tabs from the video
    page.locator("video").focus()
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.getAttribute('data-reelcart-hotspot')"))

    # Then they reach the hotspots in time order (after the native controls), each a button named for
    # screen readers
    assert list(dict.fromkeys(f for f in focused if f)) == ["pl_cola", "pl_cap"]
    expect(page.get_by_role("button", name="Buy: Cola Zero, €1.49")).to_have_attribute(
        "data-reelcart-hotspot", "pl_cola"
    )
    expect(page.get_by_role("button", name="Buy: Logo Cap, €24.00")).to_have_attribute(
        "data-reelcart-hotspot", "pl_cap"
    )

    # And their labels, short enough, show whole (no ellipsis from a rounded-down measurement)
    truncated = page.evaluate(
        """() => [...document.querySelectorAll('[data-reelcart-hotspot] span')]
             .filter((s) => s.scrollWidth > s.clientWidth).map((s) => s.textContent)"""
    )
    assert truncated == []

    # And the dots pulse, unless the viewer asked for reduced motion
    pulse = (
        "() => getComputedStyle(document.querySelector('[data-reelcart-hotspot]'), '::before').animationName"
    )
    assert page.evaluate(pulse) == "rc-p"
    page.emulate_media(reduced_motion="reduce")
    assert page.evaluate(pulse) == "none"
    assert page_errors == []


def test_hotspots_stay_clear_of_the_native_controls_and_follow_the_player_into_fullscreen(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given a placement low in the frame, where the native control bar sits
    low = {
        **demo_timeline.to_json()["placements"][1],
        "id": "pl_low",
        "keyframes": [{"t_ms": 1000, "box": [0.40, 0.93, 0.20, 0.06]}],
    }
    loopback.timelines["ep_demo"] = {**demo_timeline.to_json(), "placements": [low]}
    open_demo(page, loopback_server.base_url)
    wait_for_timeline(page)
    show_frame(page, FRAME_1500_MS)

    # Then its dot and 44 px target are lifted above the bottom 64 px of the player
    element = video_rect(page)
    (x, y) = hotspot_centres(page)["pl_low"]
    assert y + 22 <= element.y + element.height - 64 + 0.5
    assert abs(x - (element.x + element.width / 2)) <= TOLERANCE * element.width

    # When the viewer takes the phone player fullscreen, the overlay follows the new size
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function("() => document.fullscreenElement !== null")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    fullscreen = video_rect(page)
    (x, y) = hotspot_centres(page)["pl_low"]
    assert fullscreen.width > element.width
    assert abs(x - (fullscreen.x + fullscreen.width / 2)) <= TOLERANCE * fullscreen.width
    assert y + 22 <= fullscreen.y + fullscreen.height - 64 + 0.5
    page.screenshot(path=artifacts_dir / "overlay-demo-fullscreen.png")
    assert page_errors == []


def test_tap_opens_the_sheet_pausing_the_episode_and_closing_resumes_it(
    page: Page,
    demo: LoopbackState,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given the episode playing with the (static) cap hotspot on screen
    open_demo(page, loopback_server.base_url)
    wait_for_timeline(page)
    show_frame(page, 40)
    page.evaluate("() => document.querySelector('video').play()")
    hotspot = page.locator('[data-reelcart-hotspot="pl_cap"]')

    # When the shopper taps it
    hotspot.click()

    # Then the product sheet opens with the product and price, and the episode pauses
    sheet = page.locator("[data-reelcart-sheet]")
    expect(sheet).to_be_visible()
    expect(sheet).to_have_attribute("data-reelcart-sheet", "pl_cap")
    expect(sheet.get_by_role("heading")).to_have_text("Logo Cap")
    expect(sheet.locator("img")).to_have_attribute("src", "/media/thumbs/cap.svg")
    expect(sheet.locator("[data-reelcart-buy]")).to_have_text("Buy · €24.00")
    expect(sheet.get_by_role("combobox", name="Variant")).to_have_value("prod_cap_330")
    assert is_paused(page)
    page.screenshot(path=artifacts_dir / "overlay-demo-sheet.png")

    # And focus starts on the dialog itself (its name read out first), Tab walks Close, the variant picker and
    # Buy, and wraps inside the sheet both ways: it never reaches the video or the page behind the aria-modal
    expect(sheet).to_be_focused()
    assert tab_walk(page, "Tab", 5) == ["Close", "Variant", "Buy · €24.00", "Close", "Variant"]
    assert tab_walk(page, "Shift+Tab", 4) == ["Close", "Buy · €24.00", "Variant", "Close"]

    # And even with focus lost to the page (a click outside the sheet), Tab comes back into it
    page.evaluate("() => document.activeElement.blur()")
    assert tab_walk(page, "Tab", 1) == ["Close"]

    # And picking the other variant reprices the Buy button
    sheet.get_by_role("combobox", name="Variant").select_option("prod_cap_500")
    expect(sheet.locator("[data-reelcart-buy]")).to_have_text("Buy · €1.99")

    # When the shopper presses Escape, the sheet goes, focus returns to the hotspot, the episode resumes
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)
    assert page.evaluate("() => document.activeElement.dataset.reelcartHotspot") == "pl_cap"
    page.wait_for_function("() => !document.querySelector('video').paused")
    assert page_errors == []


CHECKOUT_URL = "https://checkout.example.test/c/pay/cs_1"


def _open_cap_sheet(page: Page, base_url: str, **query: str) -> float:
    open_demo(page, base_url, **query)
    wait_for_timeline(page)
    paused_at = show_frame(page, FRAME_1500_MS)
    page.locator('[data-reelcart-hotspot="pl_cap"]').click()
    expect(page.locator("[data-reelcart-sheet]")).to_be_visible()
    return paused_at


def test_buy_with_stripe_posts_a_click_id_and_mounts_embedded_checkout_in_the_sheet(
    page: Page, demo: LoopbackState, loopback_server: LoopbackServer, page_errors: PageErrors
) -> None:
    # Given Stripe.js served by a test double (it only loads once checkout starts)
    stripe_loads: list[str] = []

    def fake_stripe(route: Route) -> None:
        stripe_loads.append(route.request.url)
        route.fulfill(status=200, content_type="text/javascript", body=FAKE_STRIPE_JS)

    page.route("https://js.stripe.com/**", fake_stripe)
    paused_at = _open_cap_sheet(page, loopback_server.base_url)
    assert stripe_loads == []

    # When the shopper taps Buy
    page.locator("[data-reelcart-buy]").click()

    # Then checkout is created with a fresh click id and Stripe's embedded checkout mounts inside the sheet
    mounted = page.locator("[data-reelcart-sheet] [data-fake-stripe]")
    expect(mounted).to_be_visible()
    (checkout,) = demo.recorded("POST", "/v1/checkout")
    body = checkout.json()
    assert UUID.match(body["click_id"])
    assert body == {
        "placement_id": "pl_cap",
        "variant_id": "prod_cap_330",
        "quantity": 1,
        "click_id": body["click_id"],
    }
    expect(mounted).to_have_attribute("data-fake-stripe", f"cs_{body['click_id'][:8]}_secret_test")
    # Direct charges live on the brand's connected account, so Stripe.js is started with it
    expect(mounted).to_have_attribute("data-stripe-account", "acct_loopback")
    assert stripe_loads == ["https://js.stripe.com/v3/"]

    # And the episode keeps its place, paused under the sheet
    assert is_paused(page)
    assert abs(current_ms(page) - paused_at) < 1

    # And tap, sheet_open and checkout_started (with the same click id) were beaconed to /v1/events
    events = wait_for_events(demo, 3, {"hotspot_tap", "sheet_open", "checkout_started"})
    assert [(e["type"], e["placement_id"], e.get("click_id")) for e in events] == [
        ("hotspot_tap", "pl_cap", None),
        ("sheet_open", "pl_cap", None),
        ("checkout_started", "pl_cap", body["click_id"]),
    ]
    assert page_errors == []


def test_buy_with_shopify_opens_the_checkout_url_in_a_new_tab(
    page: Page,
    context: BrowserContext,
    demo: LoopbackState,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given a Shopify-backed player
    _open_cap_sheet(page, loopback_server.base_url, provider="shopify")

    # When the shopper taps Buy, a tab opened inside the tap navigates to the provider's checkout URL
    with context.expect_page() as new_tab:
        page.locator("[data-reelcart-buy]").click()
    tab = new_tab.value
    tab.wait_for_url(re.compile(r"/fake-provider/shopify/cs_[0-9a-f]{8}$"))

    # Then the request named the provider, and the sheet offers the link again in case the tab was lost
    (checkout,) = demo.recorded("POST", "/v1/checkout")
    assert checkout.json()["provider"] == "shopify"
    expect(page.locator("[data-reelcart-sheet] a")).to_have_attribute(
        "href", tab.url.removeprefix(loopback_server.base_url)
    )
    assert is_paused(page)
    assert page_errors == []


def test_stripe_js_failing_to_load_falls_back_to_the_checkout_url(
    page: Page,
    context: BrowserContext,
    demo: LoopbackState,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given js.stripe.com unreachable
    page.route("https://js.stripe.com/**", lambda route: route.abort())
    _open_cap_sheet(page, loopback_server.base_url)

    # When the shopper taps Buy, the hosted checkout URL opens instead
    with context.expect_page() as new_tab:
        page.locator("[data-reelcart-buy]").click()
    new_tab.value.wait_for_url(re.compile(r"/fake-provider/stripe/cs_[0-9a-f]{8}$"))
    assert page_errors == []


def test_impressions_after_one_second_on_screen_are_batched_with_send_beacon(
    page: Page,
    demo: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given a player flushing analytics every 300 ms
    open_demo(page, loopback_server.base_url, flush_ms="300")
    wait_for_timeline(page)

    # When two hotspots stay on screen for more than a second
    show_frame(page, FRAME_1500_MS)
    events = wait_for_events(demo, 2, {"hotspot_impression"})

    # Then the beacons carry one impression per placement, as JSON, for this episode
    assert {r.headers["Content-Type"] for r in demo.recorded("POST", "/v1/events")} == {"application/json"}
    assert sorted((e["type"], e["placement_id"], e["episode_id"]) for e in events) == [
        ("hotspot_impression", "pl_cap", "ep_demo"),
        ("hotspot_impression", "pl_cola", "ep_demo"),
    ]
    # stamped with a video time inside the placement's span and a UTC wall-clock time
    for event in events:
        placement = demo_timeline.placement(event["placement_id"])
        assert placement.start_ms <= event["t_ms"] < placement.end_ms
        assert event["ts"].endswith("Z")
    assert page_errors == []


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("server_error", 500),
        ("not_json", b"<html>oops</html>"),
        ("wrong_shape", b'{"version": 1, "episode": null, "placements": "x"}'),
    ],
)
def test_a_failed_or_malformed_timeline_leaves_the_video_playing_without_page_errors(
    page: Page,
    loopback: LoopbackState,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    name: str,
    source: int | bytes,
) -> None:
    # Given a timeline route that fails or returns garbage
    loopback.timelines["ep_demo"] = source
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)

    # When the demo loads and plays
    open_demo(page, loopback_server.base_url)
    page.wait_for_function("() => window.reelcart !== undefined")
    start = current_ms(page)
    page.wait_for_function(f"() => document.querySelector('video').currentTime * 1000 > {start + 300}")

    # Then the episode plays untouched: no hotspots, nothing thrown, one warning for integrators
    assert not is_paused(page)
    assert hotspot_centres(page) == {}
    assert page.evaluate("() => window.reelcart.timeline") is None
    assert page_errors == [], name
    assert any("[reelcart]" in w for w in warnings)


def test_refresh_revalidates_with_the_etag_and_picks_up_a_changed_timeline(
    page: Page, loopback: LoopbackState, demo_timeline: EpisodeTimeline, loopback_server: LoopbackServer
) -> None:
    # Given a player showing the demo timeline
    current = {"timeline": demo_timeline.to_json()}
    loopback.timelines["ep_demo"] = lambda: current["timeline"]
    open_demo(page, loopback_server.base_url)
    wait_for_timeline(page)
    show_frame(page, FRAME_1500_MS)

    # When it refreshes an unchanged timeline, it revalidates and the server answers 304
    page.evaluate("() => window.reelcart.refresh()")
    first, second = loopback.recorded("GET", "/v1/episodes/ep_demo/timeline")
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"].startswith('"')
    assert sorted(hotspot_centres(page)) == ["pl_cap", "pl_cola"]

    # When a brand edit drops the cap, the next refresh shows only the cola
    current["timeline"] = {
        **demo_timeline.to_json(),
        "placements": [p for p in demo_timeline.to_json()["placements"] if p["id"] != "pl_cap"],
    }
    page.evaluate("() => window.reelcart.refresh()")
    assert sorted(hotspot_centres(page)) == ["pl_cola"]


# ---- refresh() with a changed timeline: what is on screen sells the new data -----------------------------

LEMON = make_product("prod_lemon", "Lemon Soda", "Zest", price="2.10")
BEANIE = make_product("prod_beanie", "Wool Beanie", "Headway", price="12.00")


def _edit(timeline: JsonObject, placement_id: str, product: Product) -> JsonObject:
    """The timeline after a brand edit: `placement_id` now sells `product` (a new price, or relinked)."""
    placements = [
        {**p, "product": product.to_json()} if p["id"] == placement_id else p for p in timeline["placements"]
    ]
    return {**timeline, "placements": placements}


def _checkout_like_the_api(page: Page, live: dict[str, JsonObject]) -> list[JsonObject]:
    """Checkout as the API answers it: a variant that is not (any more) the placement's product's is a 422
    `variant-not-in-placement`; anything else goes on to the loopback fake. Returns the bodies sent."""
    sent: list[JsonObject] = []

    def handle(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        sent.append(body)
        (placement,) = [p for p in live["timeline"]["placements"] if p["id"] == body["placement_id"]]
        if body["variant_id"] in {v["id"] for v in placement["product"]["variants"]}:
            route.continue_()
            return
        problem = {
            "type": "https://reelcart.dev/problems/variant-not-in-placement",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "The variant is not sold by this placement.",
        }
        route.fulfill(status=422, content_type="application/problem+json", body=json.dumps(problem))

    page.route("**/v1/checkout", handle)
    page.route(
        "https://js.stripe.com/**",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=FAKE_STRIPE_JS),
    )
    return sent


def _served_live(loopback: LoopbackState, demo_timeline: EpisodeTimeline) -> dict[str, JsonObject]:
    """The demo timeline as the loopback serves it at each refresh: the test edits `live["timeline"]`."""
    live = {"timeline": demo_timeline.to_json()}
    loopback.timelines["ep_demo"] = lambda: live["timeline"]
    return live


def _player_of_a_live_timeline(
    page: Page, loopback: LoopbackState, demo_timeline: EpisodeTimeline, loopback_server: LoopbackServer
) -> tuple[dict[str, JsonObject], list[JsonObject]]:
    """The demo player on a timeline the test edits (`live["timeline"]`, served at each refresh), with
    checkout answering as the API would for it; returns that timeline and the checkout bodies sent."""
    live = _served_live(loopback, demo_timeline)
    sent = _checkout_like_the_api(page, live)
    open_demo(page, loopback_server.base_url, flush_ms="300")
    wait_for_timeline(page)
    return live, sent


def _refresh(page: Page) -> None:
    page.evaluate("() => window.reelcart.refresh()")


def test_refresh_with_a_new_price_or_product_updates_the_hotspots_on_screen_and_what_buy_sends(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given a paused player showing the cola and the cap, both counted as seen, a keyboard user on the cap
    live, sent = _player_of_a_live_timeline(page, loopback, demo_timeline, loopback_server)
    show_frame(page, FRAME_1500_MS)
    wait_for_events(loopback, 2, {"hotspot_impression"})
    cap = page.locator('[data-reelcart-hotspot="pl_cap"]')
    cola = page.locator('[data-reelcart-hotspot="pl_cola"]')
    cap.focus()
    expect(cap).to_have_attribute("aria-label", "Buy: Logo Cap, €24.00")

    # When the brand lowers the cap's price and relinks the cola placement to another product, and the
    # player refreshes (a 200 with a new ETag)
    cap_product = demo_timeline.placement("pl_cap").product
    cheaper_cap = replace(
        cap_product, variants=(replace(cap_product.variants[0], price="19.50"), cap_product.variants[1])
    )
    live["timeline"] = _edit(_edit(live["timeline"], "pl_cap", cheaper_cap), "pl_cola", LEMON)
    _refresh(page)

    # Then the hotspots on screen say so at once, read out and shown, without waiting to leave the screen
    expect(cap).to_have_attribute("aria-label", "Buy: Logo Cap, €19.50")
    expect(cola).to_have_attribute("aria-label", "Buy: Lemon Soda, €2.10")
    expect(cola.locator("span")).to_have_text("Lemon Soda")
    # and they were updated in place: the keyboard user is still on the cap
    assert page.evaluate("() => document.activeElement.dataset.reelcartHotspot") == "pl_cap"

    # And tapping the relinked hotspot opens the new product, whose Buy checks out its variant
    cola.click()
    sheet = page.locator("[data-reelcart-sheet]")
    expect(sheet.get_by_role("heading")).to_have_text("Lemon Soda")
    expect(sheet.locator("[data-reelcart-buy]")).to_have_text("Buy · €2.10")
    sheet.locator("[data-reelcart-buy]").click()
    expect(sheet.locator("[data-fake-stripe]")).to_be_visible()
    assert [(b["placement_id"], b["variant_id"]) for b in sent] == [("pl_cola", "prod_lemon_330")]
    expect(sheet.locator(".rc-err")).to_have_count(0)

    # And each placement still counts one impression: updating a hotspot does not count it again
    time.sleep(1.5)
    wait_for_events(loopback, 2, {"hotspot_impression"})
    assert page_errors == []


def test_refresh_re_opens_an_open_sheet_with_the_new_data_keeping_the_pick_and_the_episode_state(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given a shopper who tapped the cap while the episode played and picked its 500 ml variant
    live, sent = _player_of_a_live_timeline(page, loopback, demo_timeline, loopback_server)
    show_frame(page, 40)
    page.evaluate("() => document.querySelector('video').play()")
    page.locator('[data-reelcart-hotspot="pl_cap"]').click()
    sheet = page.locator("[data-reelcart-sheet]")
    picker = sheet.get_by_role("combobox", name="Variant")
    buy = sheet.locator("[data-reelcart-buy]")
    picker.select_option("prod_cap_500")
    expect(buy).to_have_text("Buy · €1.99")
    assert is_paused(page)

    # When the brand reprices both variants and the player refreshes
    cap = demo_timeline.placement("pl_cap").product
    repriced = replace(
        cap, variants=(replace(cap.variants[0], price="22.00"), replace(cap.variants[1], price="2.49"))
    )
    live["timeline"] = _edit(live["timeline"], "pl_cap", repriced)
    _refresh(page)

    # Then the open sheet shows the new prices, still on the shopper's pick, still pausing the episode
    expect(sheet).to_have_count(1)
    expect(sheet).to_have_attribute("data-reelcart-sheet", "pl_cap")
    expect(picker).to_have_value("prod_cap_500")
    expect(buy).to_have_text("Buy · €2.49")
    expect(sheet).to_be_focused()
    assert is_paused(page)

    # When the brand then relinks the cap placement to another product
    live["timeline"] = _edit(live["timeline"], "pl_cap", BEANIE)
    _refresh(page)

    # Then the sheet sells that product, and its Buy sends that product's variant (no "no longer for sale")
    expect(sheet.get_by_role("heading")).to_have_text("Wool Beanie")
    expect(buy).to_have_text("Buy · €12.00")
    buy.click()
    expect(sheet.locator("[data-fake-stripe]")).to_be_visible()
    assert [(b["placement_id"], b["variant_id"]) for b in sent] == [("pl_cap", "prod_beanie_330")]
    expect(sheet.locator(".rc-err")).to_have_count(0)

    # And the re-opens were not taps: one tap, one sheet open, one checkout
    events = wait_for_events(loopback, 3, {"hotspot_tap", "sheet_open", "checkout_started"})
    assert [e["type"] for e in events] == ["hotspot_tap", "sheet_open", "checkout_started"]

    # And closing it returns focus to the hotspot and resumes the episode the tap paused
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)
    assert page.evaluate("() => document.activeElement.dataset.reelcartHotspot") == "pl_cap"
    page.wait_for_function("() => !document.querySelector('video').paused")
    assert page_errors == []


def _cap_becomes_a_beanie(page: Page, live: dict[str, JsonObject]) -> None:
    """A brand edit relinks the cap's placement to the beanie, the player refreshes: its hotspot says so."""
    live["timeline"] = _edit(live["timeline"], "pl_cap", BEANIE)
    _refresh(page)
    expect(page.locator('[data-reelcart-hotspot="pl_cap"]')).to_have_attribute(
        "aria-label", "Buy: Wool Beanie, €12.00"
    )


def test_refresh_leaves_a_sheet_alone_once_stripe_checkout_is_mounted_in_it(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given a shopper paying for the cap in Stripe's embedded checkout, inside the sheet
    live = _served_live(loopback, demo_timeline)
    _checkout_like_the_api(page, live)
    _open_cap_sheet(page, loopback_server.base_url)
    page.locator("[data-reelcart-buy]").click()
    mounted = page.locator("[data-reelcart-sheet] [data-fake-stripe]")
    expect(mounted).to_be_visible()
    frame = mounted.element_handle()

    # When a brand edit changes the cap and the player refreshes
    _cap_becomes_a_beanie(page, live)

    # Then the hotspot shows the new product, but the checkout the shopper is in stays mounted, untouched
    assert frame is not None
    assert page.evaluate("(f) => f.isConnected", frame)
    expect(page.locator("[data-reelcart-sheet] h2")).to_have_text("Logo Cap")
    assert page_errors == []


def test_refresh_leaves_a_sheet_alone_while_its_checkout_is_starting(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given a shopper who pressed Buy on the cap, whose checkout the API has not answered yet
    live = _served_live(loopback, demo_timeline)
    held: list[Route] = []
    # (a function, not the bound method: Playwright wraps the handler it is given)
    page.route("**/v1/checkout", lambda route: held.append(route))  # noqa: PLW0108
    _open_cap_sheet(page, loopback_server.base_url)
    page.locator("[data-reelcart-buy]").click()
    expect(page.locator("[data-reelcart-sheet] [role=status]")).to_have_text("Starting checkout…")

    # When a brand edit changes the cap and the player refreshes before the answer comes
    _cap_becomes_a_beanie(page, live)
    hosted = {"checkout_session_id": "cs_1", "provider": "stripe", "client_secret": None, "url": CHECKOUT_URL}
    held[0].fulfill(status=201, content_type="application/json", body=json.dumps(hosted))

    # Then the sheet the shopper started checkout in is the one that shows its link (a re-opened sheet
    # used to take its place, empty, with Buy enabled again, while the checkout went on out of sight)
    sheet = page.locator("[data-reelcart-sheet]")
    expect(sheet.locator("h2")).to_have_text("Logo Cap")
    expect(sheet.get_by_role("link", name="Open checkout")).to_have_attribute("href", CHECKOUT_URL)
    assert page_errors == []


def test_the_demo_page_takes_episode_and_video_from_attributes_the_server_fills(
    page: Page, demo: LoopbackState, loopback_server: LoopbackServer, page_errors: PageErrors
) -> None:
    # Given the API serving the demo with its data attributes filled in (no query string at all)
    html = (WEB_ROOT / "demo" / "episode.html").read_text()
    filled = html.replace('data-episode-id=""', 'data-episode-id="ep_demo"').replace(
        'data-video-url=""', 'data-video-url="/media/episode.mp4"'
    )
    page.route(
        "**/demo/episodes/ep_from_server", lambda route: route.fulfill(body=filled, content_type="text/html")
    )

    # When the page loads under an id its path does not carry
    page.goto(f"{loopback_server.base_url}/demo/episodes/ep_from_server")
    wait_for_timeline(page)

    # Then it plays the filled-in video with the filled-in episode's timeline
    assert page.evaluate("() => window.reelcart.timeline.episode.id") == "ep_demo"
    assert [r.path for r in demo.recorded("GET", "/v1/episodes/")] == ["/v1/episodes/ep_demo/timeline"]
    assert (
        page.evaluate("() => new URL(document.querySelector('video').src).pathname") == "/media/episode.mp4"
    )
    assert page_errors == []


# ---- a crowded moment: which dots, and where their labels go ---------------------------------------------


def _static(
    placement_id: str,
    title: str,
    box: tuple[float, float, float, float],
    start_ms: int,
    product_id: str | None = None,
) -> JsonObject:
    product = make_product(product_id or f"prod_{placement_id}", title, "Shelf")
    return TimelinePlacement(
        id=placement_id,
        start_ms=start_ms,
        end_ms=3000,
        label="carton",
        keyframes=(Keyframe(start_ms, box),),
        product=product,
    ).to_json()


def _pause_among(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    placements: list[JsonObject],
    fit: Literal["contain", "cover"],
) -> None:
    """The demo with `placements` as its timeline, paused at 1.5 s (every `_static` placement live)."""
    loopback.timelines["ep_demo"] = {**demo_timeline.to_json(), "placements": placements}
    open_demo(page, loopback_server.base_url, fit=fit)
    wait_for_timeline(page)
    show_frame(page, FRAME_1500_MS)


def test_a_crowded_moment_shows_the_most_prominent_dots_with_labels_that_neither_overlap_nor_clip(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given seven placements live at once (the demo's shelf shot at 7.0 s): three small or half-cropped ones
    # started first, the large central carton a little later, in the phone's cover-cropped frame
    placements = [
        _static("pl_half_cropped", "God Morgon Orange Juice 1 l", (0.0, 0.40, 0.18, 0.14), 1000),
        _static("pl_shelf_a", "Tropicana Apple Juice", (0.62, 0.08, 0.08, 0.05), 1000),
        _static("pl_shelf_b", "Bravo Orange Juice", (0.20, 0.10, 0.08, 0.05), 1000),
        _static("pl_arla_central", "Arla Mild Vanilla Yoghurt 1 kg", (0.34, 0.38, 0.32, 0.26), 1200),
        _static("pl_right_medium", "Oatly Oat Milk Barista Edition", (0.70, 0.62, 0.16, 0.12), 1200),
        _static("pl_low_small", "Valio Vanilla Yoghurt", (0.45, 0.80, 0.08, 0.05), 1200),
        _static("pl_left_medium", "Garant Ecological Medium Fat Milk", (0.14, 0.62, 0.16, 0.12), 1200),
    ]

    # When the viewer pauses there
    _pause_among(page, loopback, demo_timeline, loopback_server, placements, "cover")
    page.screenshot(path=artifacts_dir / "overlay-crowded.png")

    # Then three dots show: the large central carton and the two medium ones, not the early or cropped ones
    assert sorted(hotspot_centres(page)) == ["pl_arla_central", "pl_left_medium", "pl_right_medium"]

    # And every label shown lies inside the video, overlaps no other label and covers no dot
    element = video_rect(page)
    labels = label_rects(page)
    assert "pl_arla_central" in labels, "the most prominent dot gets its label"
    for placement_id, r in labels.items():
        assert r.x >= element.x - 0.5, placement_id
        assert r.x + r.width <= element.x + element.width + 0.5, placement_id
        assert r.y >= element.y - 0.5, placement_id
        assert r.y + r.height <= element.y + element.height + 0.5, placement_id
    ids = sorted(labels)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            assert not _overlap(labels[a], labels[b]), (a, b)
    for placement_id, (x, y) in hotspot_centres(page).items():
        dot = Rect(x - 12, y - 12, 24, 24)
        for owner, r in labels.items():
            assert not _overlap(r, dot), (owner, placement_id)
    assert page_errors == []


def test_a_shelf_row_of_one_carton_gets_one_dot_and_leaves_the_other_slots_to_other_products(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    page_errors: PageErrors,
) -> None:
    # Given three placements of one juice carton side by side (tagging a shelf row gives one a carton) and
    # two other products, all live at once, and room for three dots
    row = "prod_god_morgon_orange"
    placements = [
        _static("pl_row_left", "God Morgon Orange Juice", (0.08, 0.40, 0.22, 0.30), 1000, row),
        _static("pl_row_middle", "God Morgon Orange Juice", (0.36, 0.40, 0.26, 0.32), 1000, row),
        _static("pl_row_right", "God Morgon Orange Juice", (0.68, 0.40, 0.22, 0.30), 1000, row),
        _static("pl_yoghurt", "Arla Mild Vanilla Yoghurt", (0.40, 0.06, 0.18, 0.14), 1000),
        _static("pl_milk", "Garant Ecological Medium Fat Milk", (0.10, 0.78, 0.12, 0.10), 1000),
    ]

    # When the viewer pauses there
    _pause_among(page, loopback, demo_timeline, loopback_server, placements, "contain")

    # Then the juice gets one dot, on its most prominent (central, largest) carton, and the two other
    # products get the remaining slots
    assert sorted(hotspot_centres(page)) == ["pl_milk", "pl_row_middle", "pl_yoghurt"]
    assert page.get_by_role("button", name=re.compile("^Buy: God Morgon Orange Juice")).count() == 1
    assert page_errors == []


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


# ---- prices in the shopper's locale ----------------------------------------------------------------------

KRONOR = Product(
    id="prod_juice",
    title="God Morgon Orange Juice",
    brand="God Morgon",
    variants=(
        Variant(id="prod_juice_crate", sku="GS-31-C", title="Crate of 50", price="1249.50", currency="SEK"),
        Variant(id="prod_juice_1l", sku="GS-31", title="1 l", price="24.90", currency="SEK"),
    ),
)


def _swedish_timeline(demo_timeline: EpisodeTimeline) -> JsonObject:
    cap = replace(demo_timeline.placement("pl_cap"), product=KRONOR)
    return {**demo_timeline.to_json(), "placements": [cap.to_json()]}


@pytest.mark.parametrize("how", ["browser_language", "locale_option"])
def test_prices_read_as_the_shopper_reads_them(
    browser: Browser,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    how: str,
) -> None:
    # Given a Swedish catalog, and a shopper whose browser speaks Swedish (or a player that says sv-SE)
    loopback.timelines["ep_demo"] = _swedish_timeline(demo_timeline)
    context = browser.new_context(
        locale="sv-SE" if how == "browser_language" else "en-US", viewport={"width": 480, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        open_demo(page, loopback_server.base_url, **({"locale": "sv-SE"} if how == "locale_option" else {}))
        wait_for_timeline(page)
        show_frame(page, FRAME_1500_MS)

        # Then the hotspot, the sheet and the Buy button say "1 249,50 kr", not "SEK 1,249.50"
        hotspot = page.locator('[data-reelcart-hotspot="pl_cap"]')
        assert hotspot.get_attribute("aria-label") == "Buy: God Morgon Orange Juice, 1\u00a0249,50\u00a0kr"
        hotspot.click()
        sheet = page.locator("[data-reelcart-sheet]")
        assert sheet.locator("p").nth(1).text_content() == "1\u00a0249,50\u00a0kr"
        assert sheet.locator("[data-reelcart-buy]").text_content() == "Buy · 1\u00a0249,50\u00a0kr"
        sheet.get_by_role("combobox", name="Variant").select_option("prod_juice_1l")
        assert sheet.locator("[data-reelcart-buy]").text_content() == "Buy · 24,90\u00a0kr"

        # And the vendor is the catalog's brand, whole
        assert sheet.locator("p").first.text_content() == "God Morgon"
        assert errors == []
    finally:
        context.close()


def test_the_variant_picker_is_a_full_width_touch_target(
    page: Page, demo: LoopbackState, loopback_server: LoopbackServer
) -> None:
    _open_cap_sheet(page, loopback_server.base_url)
    sheet = page.locator("[data-reelcart-sheet]").bounding_box()
    picker = page.get_by_role("combobox", name="Variant").bounding_box()
    assert sheet is not None
    assert picker is not None
    assert picker["height"] >= 44
    assert picker["width"] >= sheet["width"] - 2 * 16 - 1  # the sheet's padding either side


# ---- the demo player: fit, and a video that cannot play --------------------------------------------------

LANDSCAPE = (640, 360)


@pytest.fixture(scope="module")
def landscape_video(tmp_path_factory: pytest.TempPathFactory, demo_timeline: EpisodeTimeline) -> TestVideo:
    path = tmp_path_factory.mktemp("landscape") / "landscape.mp4"
    return write_test_video(path, (), 2000, width=LANDSCAPE[0], height=LANDSCAPE[1])


def object_fit(page: Page) -> str:
    return str(page.evaluate("() => getComputedStyle(document.querySelector('video')).objectFit"))


@pytest.mark.parametrize(
    ("video", "box", "query", "fit"),
    [
        # a landscape episode in the portrait phone: cover would show only its middle quarter
        ("landscape", (0.45, 0.40, 0.10, 0.20), {}, "contain"),
        # a portrait episode with every hotspot inside what cover shows: the phone is filled
        ("portrait", (0.40, 0.40, 0.20, 0.10), {}, "cover"),
        # a portrait episode with a product at its left edge, which cover would crop away
        ("portrait", (0.00, 0.40, 0.12, 0.10), {}, "contain"),
        # ?fit= pins the fit whatever the episode
        ("landscape", (0.45, 0.40, 0.10, 0.20), {"fit": "cover"}, "cover"),
    ],
)
def test_the_demo_picks_the_fit_that_keeps_hotspots_on_screen(
    page: Page,
    loopback: LoopbackState,
    demo_timeline: EpisodeTimeline,
    loopback_server: LoopbackServer,
    landscape_video: TestVideo,
    page_errors: PageErrors,
    video: str,
    box: tuple[float, float, float, float],
    query: dict[str, str],
    fit: str,
) -> None:
    # Given an episode (the landscape one served from its own URL) with one placement on `box`
    width, height = LANDSCAPE if video == "landscape" else (WIDTH, HEIGHT)
    placement = replace(demo_timeline.placement("pl_cap"), keyframes=(Keyframe(0, box),), start_ms=0)
    loopback.timelines["ep_demo"] = {
        **demo_timeline.to_json(),
        "episode": {"id": "ep_demo", "duration_ms": 2000, "width": width, "height": height},
        "placements": [placement.to_json()],
    }
    if video == "landscape":
        page.route(
            "**/media/landscape.mp4",
            lambda route: route.fulfill(path=landscape_video.path, content_type="video/mp4"),
        )
        query = {"video": "/media/landscape.mp4", **query}

    # When the demo loads it
    open_demo(page, loopback_server.base_url, **query)
    wait_for_timeline(page)
    show_frame(page, 15)

    # Then it picked the expected fit, and the hotspot sits on its box in that fit
    assert object_fit(page) == fit
    element = video_rect(page)
    picture = rendered_rect(element, width, height, "contain" if fit == "contain" else "cover")
    (x, y) = hotspot_centres(page)["pl_cap"]
    want_x, want_y = expected_dot(box, element, picture)
    assert abs(x - want_x) <= TOLERANCE * element.width
    assert abs(y - want_y) <= TOLERANCE * element.height
    assert page_errors == []


def test_a_video_that_cannot_play_says_so(
    page: Page, demo: LoopbackState, loopback_server: LoopbackServer, page_errors: PageErrors
) -> None:
    # Given a video URL that answers 404
    page.goto(f"{loopback_server.base_url}/demo/episodes/ep_demo?video=/media/missing.mp4")

    # Then the player says why nothing plays, as an alert, instead of showing a silent grey box
    notice = page.locator("#notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(
        "This episode cannot be played: the file is missing or its format is not supported."
    )
    expect(notice).to_have_attribute("role", "alert")
    assert page_errors == []
