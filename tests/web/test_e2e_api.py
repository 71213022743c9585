"""End to end in real Chromium against the REAL API (tests/web/real_api.py): uvicorn serving `create_app` on a
migrated SQLite file, rows seeded with SQLModel, the demo player and the review console exactly as served.
What the browser did is read back from the database: events, checkout sessions, review actions."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect
from sqlmodel import Session, select

from api.analytics.models import Event
from api.catalog.models import Product, ProductImage
from api.checkout.models import CheckoutSession
from api.episodes.models import Episode
from api.jobs.models import JobState
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import catalog_items, index_folder
from api.review.models import Placement, PlacementStatus
from tagger.arrays import Image
from tagger.crop_store import FileCropStore
from tagger.linking import FileIndexStore, build_catalog_index
from tagger.linking.decision import DecisionInputs
from tests.api.factories import make_placement
from tests.api.fake_linking import FAKE_SCORER, MATCHED, FakeSource, FixedLinker
from tests.tagger.linking.factories import combined_edition, family_packshot, other_edition, photo_of
from tests.tagger.linking.factories import extractor as linking_extractor
from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.console import current_id, drag_on, pause_clip_at, queue_ids, sign_in, upload_image
from tests.web.factories import JsonObject, Keyframe, expected_dot, interpolate_box, rendered_rect
from tests.web.media import FPS, HEIGHT, WIDTH, TestVideo, packshot_png
from tests.web.player import (
    frame_time_ms,
    hotspot_centres,
    is_paused,
    show_frame,
    video_rect,
    wait_for_timeline,
)
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import (
    PlacementSeed,
    SeededBrand,
    SeededPlacement,
    SeededProduct,
    edit_placement_behind_the_consoles_back,
    revoke_keys,
    rows,
    seed_brand,
    seed_colleague,
    seed_episode,
    seed_placements,
    seed_product,
)

pytestmark = pytest.mark.browser

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TOLERANCE = 0.02
FRAME_1500_MS = 45
FUNNEL = ["hotspot_tap", "sheet_open", "checkout_started"]
T = TypeVar("T")

COLA = factories.make_product("prod_cola", "Cola Zero", "Fizz")
WATER = factories.make_product("prod_water", "Still Water", "Fizz", price="0.99")
CAP = factories.make_product("prod_cap", "Logo Cap", "Headway", price="24.00")
BEANIE = factories.make_product("prod_beanie", "Beanie", "Headway", price="15.00")
TOTE = factories.make_product("prod_tote", "Tote Bag", "Carry", price="9.00")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("e2e-api"))
    yield api
    api.stop()


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 5) -> T:
    """Poll the database for what the browser sends fire-and-forget (beacons)."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def keyframes_of(placement: JsonObject) -> tuple[Keyframe, ...]:
    return tuple(Keyframe(k["t_ms"], tuple(k["box"])) for k in placement["keyframes"])


def _same_geometry(placement: factories.TimelinePlacement, **overrides: Any) -> dict[str, Any]:
    """Span and keyframes of a placement painted into the shared test video, so hotspots land on it."""
    return {
        "start_ms": placement.start_ms,
        "end_ms": placement.end_ms,
        "keyframes": placement.keyframes,
        **overrides,
    }


# ---- the demo player --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoWorld:
    brand: SeededBrand
    episode_id: uuid.UUID
    cola: SeededPlacement
    cap: SeededPlacement
    pending: SeededPlacement
    cap_product: SeededProduct


def _connect_shopify_without_storefront_token(live_api: LiveApi, page: Page, brand: SeededBrand) -> None:
    """Bound as the operator migrates an install: no Storefront token, so checkout is a cart permalink."""
    connected = page.request.put(
        f"{live_api.base_url}/v1/admin/brands/{brand.id}/providers/shopify",
        headers=live_api.operator_headers(),
        data={"shop_domain": f"{brand.slug}.myshopify.com", "access_token": "shpat_" + uuid.uuid4().hex},
    )
    assert connected.status == 200, connected.text()
    assert connected.json()["providers"]["shopify"] == {
        "connected": True,
        "shop_domain": f"{brand.slug}.myshopify.com",
        "storefront_token": False,
    }
    default = page.request.patch(
        f"{live_api.base_url}/v1/brands/me",
        headers=brand.headers,
        data={"default_checkout_provider": "shopify"},
    )
    assert default.status == 200, default.text()


@pytest.fixture
def demo_world(
    live_api: LiveApi, test_video: TestVideo, demo_timeline: factories.EpisodeTimeline
) -> DemoWorld:
    """Two approved placements painted into the video (cola from 500 ms, cap from 1000 ms) and one still
    proposed (a cup of water over the cola's box), which the public timeline must not show."""
    engine = live_api.engine
    brand = seed_brand(engine, "demo-grocer")
    cola, cap = seed_product(engine, brand, COLA), seed_product(engine, brand, CAP)
    # Another product than the cola's: the player gives a product one dot, whichever of its placements.
    water = seed_product(engine, brand, WATER)
    episode_id = seed_episode(engine, brand, test_video)
    approved = PlacementStatus.APPROVED
    seeded = seed_placements(
        engine,
        live_api.settings,
        episode_id,
        [
            PlacementSeed(
                label="bottle",
                candidates=((cola, 0.93),),
                link_confidence=0.93,
                status=approved,
                chosen=cola,
                **_same_geometry(demo_timeline.placement("pl_cola")),
            ),
            PlacementSeed(
                label="hat",
                candidates=((cap, 0.91),),
                link_confidence=0.91,
                status=approved,
                chosen=cap,
                **_same_geometry(demo_timeline.placement("pl_cap")),
            ),
            PlacementSeed(
                label="cup",
                candidates=((water, 0.41),),
                link_confidence=0.41,
                **_same_geometry(demo_timeline.placement("pl_cola"), start_ms=800),
            ),
        ],
    )
    return DemoWorld(brand, episode_id, seeded[0], seeded[1], seeded[2], cap)


def open_real_demo(page: Page, live_api: LiveApi, episode_id: uuid.UUID, **query: str) -> None:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    page.goto(f"{live_api.base_url}/demo/episodes/{episode_id}{suffix}")
    page.wait_for_function("() => document.querySelector('video').readyState >= 2")
    wait_for_timeline(page)


def test_demo_page_draws_the_published_timeline_on_time_on_the_box_and_in_tab_order(
    page: Page, live_api: LiveApi, demo_world: DemoWorld, page_errors: PageErrors, artifacts_dir: Path
) -> None:
    # Given the demo page the API serves for the episode (signed video URL filled in by the server)
    open_real_demo(page, live_api, demo_world.episode_id, flush_ms="300")
    timeline = page.request.get(f"{live_api.base_url}/v1/episodes/{demo_world.episode_id}/timeline").json()
    assert [p["id"] for p in timeline["placements"]] == [str(demo_world.cola.id), str(demo_world.cap.id)]
    video_src = page.evaluate("() => new URL(document.querySelector('video').currentSrc).pathname")
    assert video_src == f"/v1/episodes/{demo_world.episode_id}/media"
    show_frame(page, 3)
    assert hotspot_centres(page) == {}

    # When it plays, the first hotspot appears at its start time (within a couple of frames)
    appeared_ms = page.evaluate(
        """(id) => new Promise((resolve) => {
             const video = document.querySelector('video');
             new MutationObserver((_, observer) => {
               if (document.querySelector(`[data-reelcart-hotspot="${id}"]`)) {
                 observer.disconnect();
                 resolve(video.currentTime * 1000);
               }
             }).observe(document.body, { childList: true, subtree: true });
             video.play();
           })""",
        str(demo_world.cola.id),
    )
    assert 500 - 1000 / FPS <= appeared_ms <= 800

    # Then, paused on a frame, each hotspot sits within 2% of where the served timeline puts it
    t_ms = frame_time_ms(FRAME_1500_MS)
    show_frame(page, FRAME_1500_MS)
    element = video_rect(page)
    picture = rendered_rect(element, WIDTH, HEIGHT, "cover")
    centres = hotspot_centres(page)
    assert sorted(centres) == sorted(p["id"] for p in timeline["placements"])
    for placement in timeline["placements"]:
        want_x, want_y = expected_dot(interpolate_box(keyframes_of(placement), t_ms), element, picture)
        x, y = centres[placement["id"]]
        assert abs(x - want_x) <= TOLERANCE * element.width, (placement["label"], x, want_x)
        assert abs(y - want_y) <= TOLERANCE * element.height, (placement["label"], y, want_y)
    page.screenshot(path=artifacts_dir / "e2e-demo-player.png")

    # And a keyboard user reaches them in time order, each a button named for screen readers
    page.locator("video").focus()
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.getAttribute('data-reelcart-hotspot')"))
    assert list(dict.fromkeys(f for f in focused if f)) == [str(demo_world.cola.id), str(demo_world.cap.id)]
    expect(page.get_by_role("button", name="Buy: Cola Zero, €1.49")).to_have_attribute(
        "data-reelcart-hotspot", str(demo_world.cola.id)
    )
    expect(page.get_by_role("button", name="Buy: Logo Cap, €24.00")).to_have_attribute(
        "data-reelcart-hotspot", str(demo_world.cap.id)
    )

    # And the impressions the SDK beaconed (after a second on screen) are stored as events of the episode
    def impressions() -> list[Event]:
        return rows(
            live_api.engine,
            Event,
            Event.episode_id == demo_world.episode_id,
            Event.type == "hotspot_impression",
        )

    stored = eventually(impressions, lambda found: len(found) >= 2)
    assert sorted((e.placement_id, e.brand_id) for e in stored) == sorted(
        [(demo_world.cola.id, demo_world.brand.id), (demo_world.cap.id, demo_world.brand.id)]
    )
    assert all(e.t_ms is not None and 500 <= e.t_ms < 3500 for e in stored)

    # When the player revalidates an unchanged timeline, the API answers 304 and the hotspots stay
    def refresh() -> int:
        with page.expect_response(re.compile(r"/v1/episodes/[^/]+/timeline$")) as revalidated:
            page.evaluate("() => window.reelcart.refresh()")
        return revalidated.value.status

    assert refresh() == 304
    assert sorted(hotspot_centres(page)) == sorted(centres)

    # When the brand approves the pending cup, the player's next refresh draws it too (new ETag)
    cup_id = str(demo_world.pending.id)
    loaded = page.request.get(f"{live_api.base_url}/v1/placements/{cup_id}", headers=demo_world.brand.headers)
    approved = page.request.post(
        f"{live_api.base_url}/v1/placements/{cup_id}/approve",
        headers={**demo_world.brand.headers, "If-Match": loaded.headers["etag"]},
    )
    assert approved.status == 200, approved.text()
    assert refresh() == 200
    assert sorted(hotspot_centres(page)) == sorted([*centres, cup_id])
    assert page_errors == []


def _fake_shop(route: Route) -> None:
    """The shop's cart page; nothing here may reach the internet."""
    route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>Shopify cart</title><h1>Cart</h1>"
    )


def test_tap_opens_the_sheet_and_buy_opens_the_shopify_step_with_a_stored_checkout_session(
    page: Page,
    context: BrowserContext,
    live_api: LiveApi,
    demo_world: DemoWorld,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    # Given the brand sells through Shopify, and the shop's pages are served locally (nothing leaves the box)
    _connect_shopify_without_storefront_token(live_api, page, demo_world.brand)
    context.route(re.compile(r"^https://[^/]+\.myshopify\.com/"), _fake_shop)

    # And the demo playing with the cap hotspot on screen
    open_real_demo(page, live_api, demo_world.episode_id)
    show_frame(page, 40)
    page.evaluate("() => document.querySelector('video').play()")
    cap_id = str(demo_world.cap.id)

    # When the shopper taps it, the product sheet opens with the catalog's price and the episode pauses
    page.locator(f'[data-reelcart-hotspot="{cap_id}"]').click()
    sheet = page.locator("[data-reelcart-sheet]")
    expect(sheet).to_be_visible()
    expect(sheet).to_have_attribute("data-reelcart-sheet", cap_id)
    expect(sheet.get_by_role("heading")).to_have_text("Logo Cap")
    expect(sheet.locator("[data-reelcart-buy]")).to_have_text("Buy · €24.00")
    assert is_paused(page)
    paused_at = page.evaluate("() => document.querySelector('video').currentTime")
    page.screenshot(path=artifacts_dir / "e2e-demo-sheet.png")

    # And taps Buy
    with (
        page.expect_response(f"{live_api.base_url}/v1/checkout") as answered,
        context.expect_page() as new_tab,
    ):
        sheet.locator("[data-reelcart-buy]").click()

    # Then the real /v1/checkout got a fresh click id and the provider the demo page was served with
    response = answered.value
    assert response.status == 201, response.text()
    body = response.request.post_data_json
    assert isinstance(body, dict)
    click_id = body["click_id"]
    assert UUID.match(click_id)
    variant = demo_world.cap_product.variants[0]
    assert body == {
        "placement_id": cap_id,
        "variant_id": str(variant.id),
        "quantity": 1,
        "click_id": click_id,
        "provider": "shopify",
    }

    # And the provider step (a cart permalink: no Storefront token, no network call) opened in a new tab,
    # with a link in the sheet in case the tab was lost
    tab = new_tab.value
    tab.wait_for_url(re.compile(rf"^https://{re.escape(demo_world.brand.slug)}\.myshopify\.com/cart/"))
    assert response.json()["url"] == tab.url
    expect(sheet.locator("a")).to_have_attribute("href", tab.url)

    # And the API stored the checkout session for this tap, priced from the catalog
    (session,) = rows(live_api.engine, CheckoutSession, CheckoutSession.click_id == click_id)
    assert (
        session.brand_id,
        session.placement_id,
        session.episode_id,
        session.variant_id,
        session.quantity,
        session.provider,
        session.amount,
        session.currency,
    ) == (
        demo_world.brand.id,
        demo_world.cap.id,
        demo_world.episode_id,
        variant.id,
        1,
        "shopify",
        Decimal("24.000"),
        "EUR",
    )

    # And the episode kept its place under the sheet
    assert is_paused(page)
    assert page.evaluate("() => document.querySelector('video').currentTime") == paused_at

    # And tap, sheet_open and checkout_started (with the click id) landed in the event table
    def funnel() -> list[Event]:
        found = rows(
            live_api.engine,
            Event,
            Event.episode_id == demo_world.episode_id,
            Event.type != "hotspot_impression",
        )
        return sorted(found, key=lambda e: FUNNEL.index(e.type))

    stored = eventually(funnel, lambda found: len(found) >= 3)
    assert [(e.type, e.placement_id, e.click_id) for e in stored] == [
        ("hotspot_tap", demo_world.cap.id, None),
        ("sheet_open", demo_world.cap.id, None),
        ("checkout_started", demo_world.cap.id, click_id),
    ]
    assert page_errors == []


# ---- the review console -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewWorld:
    brand: SeededBrand
    episode_id: uuid.UUID
    products: dict[str, SeededProduct]
    placements: dict[str, SeededPlacement]

    def id(self, label: str) -> str:
        return str(self.placements[label].id)

    def labels(self, ids: list[str]) -> list[str]:
        by_id = {str(p.id): label for label, p in self.placements.items()}
        return [by_id[i] for i in ids]


@pytest.fixture
def review_world(
    live_api: LiveApi, test_video: TestVideo, demo_timeline: factories.EpisodeTimeline
) -> ReviewWorld:
    """Five proposed placements: one the linker could not link, two tied on link confidence (the longer
    first), one middling, one almost sure. The bottle and the hat are painted into the video."""
    engine = live_api.engine
    brand = seed_brand(engine, "fizz-and-headway")
    products = {p.id: seed_product(engine, brand, p) for p in (COLA, WATER, CAP, BEANIE, TOTE)}
    cola, water, cap, beanie, tote = (products[p.id] for p in (COLA, WATER, CAP, BEANIE, TOTE))
    episode_id = seed_episode(engine, brand, test_video)
    seeds = {
        "mug": PlacementSeed(
            label="mug",
            start_ms=2000,
            end_ms=2600,
            keyframes=(Keyframe(2000, (0.5, 0.5, 0.1, 0.1)),),
            candidates=(),
            link_confidence=None,
        ),
        "bottle": PlacementSeed(
            label="bottle",
            candidates=((cola, 0.42), (water, 0.40)),
            link_confidence=0.42,
            **_same_geometry(demo_timeline.placement("pl_cola")),
        ),
        "cup": PlacementSeed(
            label="cup",
            start_ms=1200,
            end_ms=1800,
            keyframes=(Keyframe(1200, (0.3, 0.7, 0.1, 0.1)),),
            candidates=((cola, 0.42),),
            link_confidence=0.42,
        ),
        "hat": PlacementSeed(
            label="hat",
            candidates=((beanie, 0.55), (cap, 0.50)),
            link_confidence=0.55,
            **_same_geometry(demo_timeline.placement("pl_cap")),
        ),
        "bag": PlacementSeed(
            label="bag",
            start_ms=0,
            end_ms=2000,
            keyframes=(Keyframe(0, (0.1, 0.6, 0.3, 0.2)),),
            candidates=((tote, 0.95),),
            link_confidence=0.95,
        ),
    }
    seeded = seed_placements(engine, live_api.settings, episode_id, list(seeds.values()))
    return ReviewWorld(brand, episode_id, products, {p.label: p for p in seeded})


def api_get(page: Page, live_api: LiveApi, path: str, brand: SeededBrand | None = None) -> Any:
    response = page.request.get(f"{live_api.base_url}{path}", headers=brand.headers if brand else None)
    assert response.ok, response.text()
    return response


def history(page: Page, live_api: LiveApi, world: ReviewWorld, label: str) -> list[JsonObject]:
    found: list[JsonObject] = api_get(
        page, live_api, f"/v1/placements/{world.id(label)}/history", world.brand
    ).json()
    return found


def test_review_session_relinks_approves_and_rejects_and_the_public_timeline_follows(
    desk_page: Page,
    live_api: LiveApi,
    review_world: ReviewWorld,
    page_errors: PageErrors,
    artifacts_dir: Path,
) -> None:
    page, world = desk_page, review_world
    timeline_url = f"/v1/episodes/{world.episode_id}/timeline"
    before = api_get(page, live_api, timeline_url)
    assert before.json()["placements"] == []

    # Given the brand signed in with its real key
    sign_in(page, live_api.base_url, world.brand.key)

    # Then the console lists the queue in exactly the API's order: unlinked, lowest link confidence, longest
    expect(page.locator("#queue li")).to_have_count(5)
    served = api_get(page, live_api, "/v1/review/queue?status=proposed", world.brand).json()
    assert queue_ids(page) == [item["id"] for item in served["items"]]
    assert world.labels(queue_ids(page)) == ["mug", "bottle", "cup", "hat", "bag"]
    expect(page.locator("#queue li").first).to_contain_text("unlinked")

    # And the unlinked mug is an unknown product: A explains it needs a pick instead of approving it
    expect(page.locator("#detail-title")).to_have_text("Unknown product")
    expect(page.locator("#detail-meta")).to_contain_text("Episode 1: The Taste Test")
    expect(page.locator("#approve-target")).to_have_text("A needs a pick: / search")
    page.locator("body").press("a")
    expect(page.locator("#message")).to_contain_text("Not approved: “mug” is an unknown product")
    (mug,) = rows(live_api.engine, Placement, Placement.id == world.placements["mug"].id)
    assert (mug.status, mug.version) == (PlacementStatus.PROPOSED, 1)

    # When the reviewer moves to the bottle, the looped clip (the signed episode video) shows its box
    page.locator("body").press("j")
    expect(page.locator("#detail-title")).to_have_text("Cola Zero")
    expect(page.locator("#detail-label")).to_have_text("Detected as “bottle”")
    expect(page.locator("#candidates button")).to_have_text(
        ["1 Cola Zero 330 ml · PROD_COLA-330 42% A publishes", "2 Still Water 330 ml · PROD_WATER-330 40%"]
    )
    page.wait_for_function("() => document.getElementById('clip-video').readyState >= 2")
    pause_clip_at(page, 0.5)
    clip = video_rect(page)
    want_x, want_y = expected_dot(
        (0.15, 0.30, 0.20, 0.15), clip, rendered_rect(clip, WIDTH, HEIGHT, "contain")
    )
    drawn = page.locator("#clip-box").bounding_box()
    assert drawn is not None
    assert abs(drawn["x"] + drawn["width"] / 2 - want_x) <= TOLERANCE * clip.width
    assert abs(drawn["y"] + drawn["height"] / 2 - want_y) <= TOLERANCE * clip.height

    # And relinks it to candidate 2 and approves it, all from the keyboard
    page.locator("body").press("2")
    expect(page.locator("#message")).to_contain_text("Linked “bottle” to Still Water")
    # (the history names who did what, and only what changed, though the API keeps whole snapshots)
    expect(page.locator("#history li")).to_have_text(
        re.compile(
            rf"{re.escape(world.brand.actor)} relink "
            rf'chosen_product_id: null → "{world.products["prod_water"].id}"$'
        )
    )
    page.screenshot(path=artifacts_dir / "e2e-review-console.png", full_page=True)
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Still Water” (bottle).")

    # And rejects the cup
    assert current_id(page) == world.id("cup")
    page.locator("body").press("r")
    expect(page.locator("#message")).to_have_text("Rejected “Cola Zero” (cup).")

    # And links the hat to a product found by catalog search, then approves it
    assert current_id(page) == world.id("hat")
    page.locator("body").press("/")
    page.keyboard.type("logo")
    page.keyboard.press("Enter")
    found = page.locator(f'#search-results [data-product="{world.products["prod_cap"].id}"]')
    expect(found.locator("xpath=..")).to_contain_text("Logo Cap · Headway")
    found.click()
    expect(page.locator("#message")).to_contain_text("Linked “hat” to Logo Cap")
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Logo Cap” (hat).")

    # Then only the untouched placements are left, and the hat's search results went with the hat
    assert world.labels(queue_ids(page)) == ["mug", "bag"]
    expect(page.locator("#search-results li")).to_have_count(0)

    # And the public timeline holds exactly the approved placements with the chosen products, new ETag
    after = api_get(page, live_api, timeline_url)
    assert after.headers["etag"] != before.headers["etag"]
    water, cap = world.products["prod_water"], world.products["prod_cap"]
    assert [(p["id"], p["product"]["id"], p["product"]["title"]) for p in after.json()["placements"]] == [
        (world.id("bottle"), str(water.id), "Still Water"),
        (world.id("hat"), str(cap.id), "Logo Cap"),
    ]

    # And every action is a ReviewAction by this key, with what changed before and after
    actor = world.brand.actor
    bottle = history(page, live_api, world, "bottle")
    assert [(a["actor"], a["action"]) for a in bottle] == [(actor, "relink"), (actor, "approve")]
    assert (bottle[0]["before"]["chosen_product_id"], bottle[0]["after"]["chosen_product_id"]) == (
        None,
        str(water.id),
    )
    assert (bottle[1]["before"]["status"], bottle[1]["after"]["status"]) == ("proposed", "approved")
    cup = history(page, live_api, world, "cup")
    assert [(a["actor"], a["action"], a["before"]["status"], a["after"]["status"]) for a in cup] == [
        (actor, "reject", "proposed", "rejected")
    ]
    hat = history(page, live_api, world, "hat")
    assert [(a["action"], a["after"]["chosen_product_id"], a["after"]["status"]) for a in hat] == [
        ("relink", str(cap.id), "proposed"),
        ("approve", str(cap.id), "approved"),
    ]

    # When the reviewer approves the bag and rejects the mug, the emptied queue says so and links the
    # episode's player (which serves it now that placements are live) and its public timeline
    assert current_id(page) == world.id("bag")
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Tote Bag” (bag).")
    page.locator("body").press("r")
    expect(page.locator("#message")).to_have_text("Rejected “Unknown product” (mug).")
    episodes = page.locator("#done-episodes li")
    expect(episodes).to_have_count(1)
    expect(episodes).to_contain_text("Episode 1: The Taste Test 3 placements live")
    player_url = f"/demo/episodes/{world.episode_id}"
    expect(episodes.get_by_role("link", name="Watch in the player")).to_have_attribute("href", player_url)
    expect(episodes.get_by_role("link", name="Public timeline")).to_have_attribute("href", timeline_url)
    assert "reelcart-overlay" in api_get(page, live_api, player_url).text()
    assert len(api_get(page, live_api, timeline_url).json()["placements"]) == 3
    assert page_errors == []


def test_a_trimmed_span_and_moved_box_save_and_a_stale_write_gets_the_412_conflict(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors
) -> None:
    page, world = desk_page, review_world
    sign_in(page, live_api.base_url, world.brand.key)
    expect(page.locator("#queue li")).to_have_count(5)
    page.locator("body").press("j")
    expect(page.locator("#detail-label")).to_have_text("Detected as “bottle”")
    expect(page.locator("#detail-meta")).to_contain_text("v1")

    # When the reviewer trims the span past both keyframes and moves the first box, then saves with S
    page.wait_for_function("() => document.getElementById('clip-video').readyState >= 2")
    pause_clip_at(page, 0.5)
    page.get_by_label("Start ms").fill("700")
    page.get_by_label("End ms").fill("3200")
    page.get_by_label("x", exact=True).fill("0.2")
    page.locator("body").press("Escape")
    page.locator("body").press("s")

    # Then the API stores the new span with the keyframes moved inside it, as one retime+reshape
    expect(page.locator("#message")).to_contain_text("Saved start_ms, end_ms, keyframes")
    (saved,) = rows(live_api.engine, Placement, Placement.id == world.placements["bottle"].id)
    assert (saved.start_ms, saved.end_ms, saved.version, saved.keyframes) == (
        700,
        3200,
        2,
        [{"t_ms": 700, "box": [0.2, 0.3, 0.2, 0.15]}, {"t_ms": 3200, "box": [0.55, 0.5, 0.2, 0.15]}],
    )
    expect(page.locator("#detail-meta")).to_contain_text("v2")

    # When a colleague shortens it through the API meanwhile and this reviewer approves the stale copy
    colleague = seed_colleague(live_api.engine, world.brand, "colleague")
    edited = page.request.patch(
        f"{live_api.base_url}/v1/placements/{world.id('bottle')}",
        headers={**colleague.headers, "If-Match": '"2"'},
        data={"end_ms": 3000},
    )
    assert edited.status == 200, edited.text()
    page.locator("body").press("a")

    # Then the approve is refused with a clear conflict, nothing changed, the latest version is shown
    expect(page.locator("#message")).to_contain_text("Conflict: someone else changed “Cola Zero” (bottle)")
    expect(page.locator("#detail-meta")).to_contain_text("v3")
    expect(page.locator("#edit-end")).to_have_value("3000")
    (stale,) = rows(live_api.engine, Placement, Placement.id == world.placements["bottle"].id)
    assert (stale.status, stale.version) == (PlacementStatus.PROPOSED, 3)

    # And a change made straight in the database is caught the same way
    edit_placement_behind_the_consoles_back(live_api.engine, world.placements["bottle"].id, end_ms=2900)
    page.locator("body").press("a")
    expect(page.locator("#message")).to_contain_text("Conflict: someone else changed “Cola Zero” (bottle)")
    expect(page.locator("#edit-end")).to_have_value("2900")

    # When the reviewer approves again, against the current version, it goes through
    page.locator("body").press("a")
    expect(page.locator("#message")).to_have_text("Approved “Cola Zero” (bottle).")
    assert [(a["actor"], a["action"]) for a in history(page, live_api, world, "bottle")] == [
        (world.brand.actor, "retime+reshape"),
        (colleague.actor, "retime"),
        (world.brand.actor, "approve"),
    ]
    assert page_errors == []


def _sign_in_at_the_tote_bag(page: Page, live_api: LiveApi, world: ReviewWorld) -> None:
    """Sign in and move to the tote bag's placement, the queue's fifth (loaded in full first, so the
    keys move through all of it)."""
    sign_in(page, live_api.base_url, world.brand.key)
    expect(page.locator("#queue li")).to_have_count(5)
    for _ in range(4):
        page.locator("body").press("j")
    expect(page.locator("#detail-label")).to_have_text("Detected as “bag”")


def test_a_brand_draws_a_products_own_print_over_its_packshot_and_the_api_keeps_it_on_that_image(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors
) -> None:
    page, world = desk_page, review_world
    tote = world.products[TOTE.id]
    # Given the tote bag has two images, uploaded through the API
    front, back, side = (
        upload_image(page, live_api.base_url, world.brand.headers, tote.id, packshot_png(colour))
        for colour in ((40, 120, 200), (200, 120, 40), (90, 160, 90))
    )
    _sign_in_at_the_tote_bag(page, live_api, world)

    # When the reviewer opens the own-print editor of the product approving would publish
    page.get_by_role("button", name="Mark the own print of Tote Bag…").click()
    dialog = page.get_by_role("dialog", name="Own print of Tote Bag")
    expect(dialog).to_be_visible()
    expect(page.locator("#marks-message")).to_contain_text("No marks yet")
    expect(page.locator("#marks-image")).to_have_attribute("src", f"{live_api.base_url}/v1/images/{front}")
    page.wait_for_function("() => document.getElementById('marks-image').naturalWidth > 0")
    # and drags a box over the packshot, then a click that draws nothing
    drag_on(page, "#marks-image", (0.2, 0.3), (0.6, 0.7))
    drag_on(page, "#marks-image", (0.5, 0.5), (0.505, 0.505))
    expect(page.locator("#marks-message")).to_have_text(
        "Drag over the packshot to draw a box (a click draws none)."
    )
    expect(page.locator("#marks-list li")).to_have_count(1)
    # A shortcut pressed in the dialog does not approve the placement behind it
    page.keyboard.press("a")
    page.get_by_role("button", name="Save marks").click()

    # Then the API keeps the box, on the image it was drawn on
    # (and queues the re-link of the placements those marks decide: this server's queue runs no job)
    expect(page.locator("#marks-message")).to_have_text(
        "Saved 1 box on image 1. Linking this product's placements the linker decided again with them…"
    )
    (product,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert str(product.own_print_image_id) == front
    ((x0, y0, x1, y1),) = product.own_print
    assert max(abs(x0 - 0.2), abs(y0 - 0.3), abs(x1 - 0.6), abs(y1 - 0.7)) < 0.02
    (bag,) = rows(live_api.engine, Placement, Placement.id == world.placements["bag"].id)
    assert bag.status == PlacementStatus.PROPOSED

    # When the reviewer moves the marks to the second image, then removes them
    page.get_by_role("button", name="Mark image 2").click()
    expect(page.locator("#marks-image")).to_have_attribute("src", f"{live_api.base_url}/v1/images/{back}")
    page.get_by_role("button", name="Save marks").click()
    expect(page.locator("#marks-message")).to_contain_text("Saved 1 box on image 2.")
    (moved,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert (str(moved.own_print_image_id), moved.own_print) == (back, product.own_print)
    # and a colleague deletes the third image while the reviewer is about to put the marks on it
    page.get_by_role("button", name="Mark image 3").click()
    deleted = page.request.delete(f"{live_api.base_url}/v1/images/{side}", headers=world.brand.headers)
    assert deleted.status == 204, deleted.text()
    page.get_by_role("button", name="Save marks").click()
    # Then the save is refused (the product changed since the editor loaded it), and the reviewer's box
    # is kept, on the image the stored marks are on
    expect(page.locator("#marks-message")).to_have_text(
        "Not saved: someone changed this product since you opened it; it now has 1 box on image 2. Yours are "
        "kept here, on image 2 (the one you chose was removed): save again to put them in place of those, or "
        "close to keep them."
    )
    expect(page.locator("#marks-image")).to_have_attribute("src", f"{live_api.base_url}/v1/images/{back}")
    expect(page.get_by_role("button", name="Mark image 3")).to_have_count(0)
    (kept,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert str(kept.own_print_image_id) == back

    # When a colleague saves other marks through the API while the reviewer redraws
    colleague = page.request.patch(
        f"{live_api.base_url}/v1/products/{tote.id}",
        headers={**world.brand.headers, "If-Match": f'"{kept.version}"'},
        data={"own_print": [[0.0, 0.0, 0.1, 0.1]]},
    )
    assert colleague.status == 200, colleague.text()
    drag_on(page, "#marks-image", (0.5, 0.1), (0.9, 0.4))
    page.get_by_role("button", name="Save marks").click()

    # Then the reviewer's save does not overwrite the colleague's unseen: refused, both boxes still drawn
    expect(page.locator("#marks-message")).to_have_text(
        "Not saved: someone changed this product since you opened it; it now has 1 box on image 2. Yours are "
        "kept here: save again to put them in place of those, or close to keep them."
    )
    expect(page.locator("#marks-list li")).to_have_count(2)
    (theirs,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert theirs.own_print == [[0.0, 0.0, 0.1, 0.1]]
    # and saving again, having seen it, keeps the reviewer's boxes
    page.get_by_role("button", name="Save marks").click()
    expect(page.locator("#marks-message")).to_contain_text("Saved 2 boxes on image 2.")
    (mine,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert (len(mine.own_print), mine.version) == (2, theirs.version + 1)
    page.get_by_role("button", name="Remove box 2").click()
    page.get_by_role("button", name="Remove box 1").click()
    page.get_by_role("button", name="Save marks").click()

    # Then the product has no marks left, and Esc closes the editor
    expect(page.locator("#marks-message")).to_contain_text("Marks removed")
    (cleared,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert (cleared.own_print, cleared.own_print_image_id) == ([], None)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # And a product with no image yet says what it needs instead of offering a blank canvas
    page.locator("body").press("k")
    expect(page.locator("#detail-label")).to_have_text("Detected as “hat”")
    page.get_by_role("button", name="Mark the own print of Beanie…").click()
    expect(page.locator("#marks-message")).to_have_text(
        "This product has no image yet: add its packshot to the catalog, then mark it."
    )
    expect(page.get_by_role("button", name="Save marks")).to_be_disabled()
    assert page_errors == []


def test_saved_marks_relink_the_placements_they_decide_and_the_console_says_what_went_live(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors, tmp_path: Path
) -> None:
    page, world = desk_page, review_world
    tote = world.products[TOTE.id]
    # Given the tote bag has a packshot, and its placement awaiting review kept its crops at tagging time
    upload_image(page, live_api.base_url, world.brand.headers, tote.id, packshot_png((40, 120, 200)))
    crop = tmp_path / "bag-crop.jpg"
    cv2.imwrite(str(crop), np.full((80, 60, 3), 120, np.uint8))
    with Session(live_api.engine) as session:
        bag = session.get(Placement, world.placements["bag"].id)
        assert bag is not None
        bag.thumbnail_path = str(crop)
        session.add(bag)
        session.commit()
    _sign_in_at_the_tote_bag(page, live_api, world)

    # When the brand marks the tote bag's own print and saves
    page.get_by_role("button", name="Mark the own print of Tote Bag…").click()
    page.wait_for_function("() => document.getElementById('marks-image').naturalWidth > 0")
    drag_on(page, "#marks-image", (0.2, 0.3), (0.6, 0.7))
    page.get_by_role("button", name="Save marks").click()

    # Then the console says the placements those marks decide are being linked again
    expect(page.locator("#marks-message")).to_have_text(
        "Saved 1 box on image 1. Linking this product's placements the linker decided again with them…"
    )
    (job,) = rows(live_api.engine, LinkJob, LinkJob.product_id == tote.id)
    assert job.state == JobState.QUEUED
    job_id = job.id
    # When a worker runs the job (a linker that now approves the bag as the tote bag)
    LinkJobExecutor(live_api.engine, live_api.settings, FakeSource(FixedLinker(str(tote.id), 0.93)))(job_id)

    # Then the console reports what went live, and the queue no longer offers the approved placement
    expect(page.locator("#marks-message")).to_have_text(
        "Saved 1 box on image 1. 1 placement the linker decided linked again with them: 1 approved and on "
        "the timeline."
    )
    expect(page.locator("#queue li")).to_have_count(4)
    timeline = api_get(page, live_api, f"/v1/episodes/{world.episode_id}/timeline").json()
    assert [placement["id"] for placement in timeline["placements"]] == [world.id("bag")]
    (others,) = rows(live_api.engine, Placement, Placement.id == world.placements["hat"].id)
    assert others.status == PlacementStatus.PROPOSED

    # When the brand draws a second box, saves and closes the editor before the job has run
    drag_on(page, "#marks-image", (0.65, 0.1), (0.9, 0.3))
    page.get_by_role("button", name="Save marks").click()
    expect(page.locator("#marks-message")).to_contain_text("Saved 2 boxes on image 1. Linking")
    page.keyboard.press("Escape")
    second = next(
        job for job in rows(live_api.engine, LinkJob, LinkJob.product_id == tote.id) if job.id != job_id
    )
    # (a linker that is no longer sure of the bag under the new marks)
    LinkJobExecutor(live_api.engine, live_api.settings, FakeSource(FixedLinker(str(tote.id), 0.6)))(second.id)

    # Then the console itself says what the re-link did: the linker's approval of the bag is withdrawn,
    # the bag is back in the queue and off the public timeline
    expect(page.locator("#message")).to_have_text(
        "Marks of Tote Bag: 1 placement the linker decided linked again with them: 1 machine approval "
        "withdrawn from the timeline and back in review."
    )
    expect(page.locator("#queue li")).to_have_count(5)
    timeline = api_get(page, live_api, f"/v1/episodes/{world.episode_id}/timeline").json()
    assert timeline["placements"] == []
    # And the bag says it was live, and its history why the linker approved it and took that back
    page.locator(f'#queue li[data-placement="{world.id("bag")}"]').click()
    expect(page.locator("#was-live")).to_have_text(
        re.compile(
            r"^Was on the timeline until the linker withdrew its approval \(.+\): "
            r"60\.0% against 80\.0% needed\.$"
        )
    )
    expect(page.locator("#history li")).to_have_count(2)
    expect(page.locator("#history li .why")).to_have_text(
        ["93.0% against 80.0% needed: crop 1: its print matched (40 keypoints)", "60.0% against 80.0% needed"]
    )
    assert page_errors == []


def test_a_hotspot_whose_product_was_deleted_comes_back_to_the_queue_saying_it_was_live(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors
) -> None:
    page, world = desk_page, review_world
    tote = world.products[TOTE.id]
    # Given the bag approved as the tote bag, live on the timeline
    bag = api_get(page, live_api, f"/v1/placements/{world.id('bag')}", world.brand)
    approved = page.request.post(
        f"{live_api.base_url}/v1/placements/{world.id('bag')}/approve",
        headers={**world.brand.headers, "If-Match": bag.headers["etag"]},
        data={"product_id": str(tote.id)},
    )
    assert approved.ok, approved.text()
    # When the brand deletes the tote bag from its catalog
    deleted = page.request.delete(f"{live_api.base_url}/v1/products/{tote.id}", headers=world.brand.headers)
    assert deleted.status == 204, deleted.text()
    # Then the bag is back in the queue, saying it was live until its product was deleted, and by whom
    _sign_in_at_the_tote_bag(page, live_api, world)
    expect(page.locator("#was-live")).to_have_text(
        re.compile(r"^Was on the timeline until its product was deleted from the catalog \(key:.+, .+\)\.$")
    )
    # And a placement that was never live says nothing of the kind
    page.locator("body").press("k")
    expect(page.locator("#detail-label")).to_have_text("Detected as “hat”")
    expect(page.locator("#was-live")).to_be_hidden()
    assert page_errors == []


def test_a_brand_previews_a_lower_auto_approve_level_saves_it_and_the_console_says_what_went_live(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors
) -> None:
    page, world = desk_page, review_world
    beanie = world.products[BEANIE.id]
    # Given a catalog with a packshot, indexed (its index saved) before the episode was tagged, and the
    # hat's link (the beanie, 0.55 with its print seen) kept with what its decision weighed
    folder = index_folder(live_api.settings, world.brand.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "CURRENT").write_text("index-v7", encoding="utf-8")  # the fake source's index, below
    packshot = folder / "beanie.png"
    packshot.write_bytes(packshot_png((200, 40, 40)))
    with Session(live_api.engine) as session:
        session.add(ProductImage(product_id=beanie.id, brand_id=world.brand.id, path=str(packshot)))
        hat = session.get_one(Placement, world.placements["hat"].id)
        hat.link_inputs = DecisionInputs(0.55, True, MATCHED, scorer=FAKE_SCORER).stored()
        hat.index_version = "index-v7"
        session.add(hat)
        session.commit()
    sign_in(page, live_api.base_url, world.brand.key)
    expect(page.locator("#queue li")).to_have_count(5)

    # When the brand opens the linking settings
    page.get_by_role("button", name="Linking settings…").click()
    expect(page.get_by_label("Auto-approve from")).to_have_value("0.8")
    expect(page.locator("#linking-preview")).to_have_text("These are the saved settings.")
    # And tries a level of 0.5: the preview says what saving would do, before anything changes
    page.get_by_label("Auto-approve from").fill("0.5")
    expect(page.locator("#linking-preview")).to_have_text(
        "Saving would approve 1 placement and put them on the timeline, take 0 of the linker's approvals "
        "off it, leave 0 for review. 4 placements will be linked again, which decides them."
    )
    # And a floor over it, or an empty box, is refused in words
    page.get_by_label("Unknown product below").fill("0.6")
    expect(page.locator("#linking-preview")).to_have_text(
        "Not possible: link_floor (0.6) must not exceed auto_approve_threshold (0.5)"
    )
    page.get_by_label("Unknown product below").fill("")
    expect(page.locator("#linking-preview")).to_have_text("Enter a number from 0 to 1 in each box.")
    page.get_by_label("Unknown product below").fill("0.3")
    assert api_get(page, live_api, "/v1/brands/me", world.brand).json()["auto_approve_threshold"] == 0.8

    # When it saves, and a worker runs the job the change queued
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#linking-message")).to_have_text(
        "Saved. Deciding the placements the linker decided again…"
    )
    (job,) = rows(live_api.engine, LinkJob, LinkJob.decide_only == True)  # noqa: E712
    tote = world.products[TOTE.id]
    linker = FakeSource(FixedLinker(str(tote.id), 0.3), engine=live_api.engine)
    LinkJobExecutor(live_api.engine, live_api.settings, linker)(job.id)

    # Then the console says what went live (the others kept no crops to link again), the hat leaves the
    # queue and is on the timeline
    expect(page.locator("#linking-message")).to_have_text(
        "Saved. 1 placement decided again: 1 approved and on the timeline."
    )
    expect(page.locator("#queue li")).to_have_count(4)
    timeline = api_get(page, live_api, f"/v1/episodes/{world.episode_id}/timeline").json()
    assert [placement["id"] for placement in timeline["placements"]] == [world.id("hat")]
    assert api_get(page, live_api, "/v1/brands/me", world.brand).json()["auto_approve_threshold"] == 0.5
    assert page_errors == []


def test_the_marks_editor_checks_each_box_against_the_catalog_and_shows_print_a_sibling_shares(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors, tmp_path: Path
) -> None:
    page, world = desk_page, review_world
    tote = world.products[TOTE.id]
    # Given the tote bag and a sibling share a family card (the bottom of their packs), each with its
    # own picture on top, and the catalog index the last link job saved
    created = page.request.post(
        f"{live_api.base_url}/v1/products",
        headers=world.brand.headers,
        data={"title": "Tote Bag Vanilla", "variants": [{"sku": "TOTE-V", "price": "9", "currency": "EUR"}]},
    )
    assert created.status == 201, created.text()
    for product_id, flavour in ((str(tote.id), 101), (created.json()["id"], 202)):
        ok, png = cv2.imencode(".png", family_packshot(flavour))
        assert ok
        upload_image(page, live_api.base_url, world.brand.headers, product_id, png.tobytes())
    with Session(live_api.engine) as session:
        items = catalog_items(session, world.brand.id)
    FileIndexStore(index_folder(live_api.settings, world.brand.id)).save(
        build_catalog_index(items, linking_extractor())
    )
    _sign_in_at_the_tote_bag(page, live_api, world)
    page.get_by_role("button", name="Mark the own print of Tote Bag…").click()
    page.wait_for_function("() => document.getElementById('marks-image').naturalWidth > 0")

    # When the reviewer draws a box over the bag's own picture
    drag_on(page, "#marks-image", (0.24, 0.09), (0.76, 0.43))

    # Then the editor says it can confirm the product and nothing else prints it, and counts its keypoints
    expect(page.locator("#marks-check")).to_contain_text(
        "these boxes hold enough print to confirm this product"
    )
    expect(page.locator("#marks-list li").first).to_contain_text("keypoints")
    expect(page.locator("#marks-shared .shared-dot")).to_have_count(0)

    # When a second box takes in the family card too
    drag_on(page, "#marks-image", (0.24, 0.57), (0.76, 0.91))

    # Then the check names the sibling, and its shared print shows as dots on the packshot
    expect(page.locator("#marks-check")).to_contain_text("Tote Bag Vanilla matches")
    expect(page.locator("#marks-check")).to_contain_text("in box 2")
    assert page.locator("#marks-shared .shared-dot").count() >= 10
    assert (
        page.locator("#marks-shared .shared-dot").first.get_attribute("title") == "Also on Tote Bag Vanilla"
    )

    # And removing it leaves a clean check again; nothing was saved by checking
    page.get_by_role("button", name="Remove box 2").click()
    expect(page.locator("#marks-check")).to_contain_text(
        "these boxes hold enough print to confirm this product"
    )
    expect(page.locator("#marks-shared .shared-dot")).to_have_count(0)
    (product,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert product.own_print == []

    # When an episode shows Tote Bag Vanilla's "tote & vanilla" edition, which prints the bag's own
    # picture too: a placement approved as Tote Bag Vanilla, with the tote bag among its candidates
    with Session(live_api.engine, expire_on_commit=False) as session:
        episode = session.get(Episode, world.episode_id)
        vanilla = session.get(Product, uuid.UUID(created.json()["id"]))
        bag = session.get(Product, tote.id)
    assert episode is not None
    assert vanilla is not None
    assert bag is not None
    crops = FileCropStore(tmp_path / "crops")

    def approved_as(shown: Product, other: Product, key: str, images: list[Image]) -> None:
        """A placement of the episode approved as `shown`, with `other` among its candidates."""
        make_placement(
            live_api.engine,
            episode,
            status=PlacementStatus.APPROVED,
            candidates=[shown, other],
            chosen_product_id=shown.id,
            thumbnail_path=str(crops.save(key, images)),
        )

    approved_as(
        vanilla, bag, "tote-and-vanilla", [photo_of(combined_edition(202, 101), seed) for seed in (1, 2)]
    )
    page.get_by_role("button", name="Remove box 1").click()
    drag_on(page, "#marks-image", (0.24, 0.09), (0.76, 0.43))

    # Then the check names that placement, and where the pack in the episode prints what the box holds
    expect(page.locator("#marks-check")).to_contain_text("approved as Tote Bag Vanilla, matches")
    assert page.locator("#marks-shared .shared-dot").count() >= 5
    assert (
        page.locator("#marks-shared .shared-dot").first.get_attribute("title")
        == "Also on Tote Bag Vanilla, as an episode shows it"
    )

    # When an episode shows another edition of the tote bag itself, with another picture on top: a
    # placement approved as the tote bag
    approved_as(bag, vanilla, "other-edition", [photo_of(other_edition(101, 303), 1)])
    page.get_by_role("button", name="Remove box 1").click()
    drag_on(page, "#marks-image", (0.24, 0.09), (0.76, 0.43))

    # Then the check says the box misses that pack, and shows in green where its print matched
    expect(page.locator("#marks-check")).to_contain_text("approved as this product, matches its print")
    own_dots = page.locator("#marks-shared .own-dot")
    assert own_dots.count() >= 5
    assert own_dots.first.get_attribute("title") == "This product as an episode shows it: draw on these"

    # When the reviewer asks for boxes learnt from the episodes: the bag's own picture is printed by
    # Tote Bag Vanilla's edition too, and the card by its packshot, so the console says why there are none
    page.get_by_role("button", name="Suggest boxes from your episodes").click()
    expect(page.locator("#marks-message")).to_contain_text("No boxes to suggest: no boxes hold enough")
    expect(page.locator("#marks-list li")).to_have_count(1)

    # When two more placements show the bag as its packshot does, and the vanilla edition's placement is
    # no longer approved
    for seed in (2, 3):
        approved_as(bag, vanilla, f"bag-{seed}", [photo_of(family_packshot(101), seed)])
    with Session(live_api.engine) as session:
        for placement in session.exec(select(Placement).where(Placement.chosen_product_id == vanilla.id)):
            placement.status = PlacementStatus.PROPOSED
            session.add(placement)
        session.commit()
    drawn = page.locator("#marks-list li code").first.inner_text()
    page.get_by_role("button", name="Suggest boxes from your episodes").click()

    # Then the suggested boxes replace the drawn one, unsaved, from the three placements (the other
    # edition's, a minority, still misses them, and the check says so)
    expect(page.locator("#marks-message")).to_contain_text("Suggested")
    expect(page.locator("#marks-message")).to_contain_text("from 3 placements approved as this product")
    expect(page.locator("#marks-list li code").first).not_to_have_text(drawn)
    expect(page.locator("#marks-check")).to_contain_text("approved as this product, matches its print")
    expect(page.locator("#marks-check")).not_to_contain_text("approved as Tote Bag Vanilla")
    (unsaved,) = rows(live_api.engine, Product, Product.id == tote.id)
    assert unsaved.own_print == []
    assert page_errors == []


def test_a_bad_or_revoked_key_sends_the_reviewer_back_to_the_key_prompt(
    desk_page: Page, live_api: LiveApi, review_world: ReviewWorld, page_errors: PageErrors
) -> None:
    page, world = desk_page, review_world

    # Given a key the API does not know, the console refuses it and keeps nothing
    sign_in(page, live_api.base_url, "rc_" + uuid.uuid4().hex)
    expect(page.locator("#sign-in-error")).to_contain_text("refused or has expired")
    assert page.evaluate("() => sessionStorage.length") == 0

    # And the real key gets in, and survives a reload (session storage)
    sign_in(page, live_api.base_url, world.brand.key)
    expect(page.locator("#queue li")).to_have_count(5)
    page.reload()
    expect(page.locator("#queue li")).to_have_count(5)

    # And bulk approving at 90% or above approves only the linked bag (95%), not the unlinked mug
    page.get_by_label("Minimum confidence").fill("0.9")
    page.get_by_role("button", name="Bulk approve").click()
    expect(page.locator("#message")).to_have_text("Bulk approved 1 placement(s) at ≥ 90%.")
    assert world.labels(queue_ids(page)) == ["mug", "bottle", "cup", "hat"]
    (bag,) = rows(live_api.engine, Placement, Placement.id == world.placements["bag"].id)
    assert (bag.status, bag.chosen_product_id) == (PlacementStatus.APPROVED, world.products["prod_tote"].id)

    # When the key is revoked mid-session and the reviewer acts
    revoke_keys(live_api.engine, world.brand)
    page.locator("body").press("j")
    page.locator("body").press("a")

    # Then the console asks for the key again, and nothing was approved
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#sign-in-error")).to_contain_text("refused or has expired")
    (bottle,) = rows(live_api.engine, Placement, Placement.id == world.placements["bottle"].id)
    assert bottle.status == PlacementStatus.PROPOSED
    assert page_errors == []
