"""What the shopper reads when a checkout cannot start, in real Chromium against the REAL API
(tests/web/real_api.py): the server answers each cause with its own problem+json `type` (and `retryable`),
and the sheet says what that means for the shopper, styled as an error (the README's checkout error table)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from api.catalog.models import Variant
from api.review.models import PlacementStatus
from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.media import TestVideo
from tests.web.player import show_frame, wait_for_timeline
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import (
    PlacementSeed,
    SeededBrand,
    SeededProduct,
    seed_brand,
    seed_episode,
    seed_placements,
    seed_product,
)

pytestmark = pytest.mark.browser

PROBLEMS = "https://reelcart.dev/problems/"
CAP = factories.make_product("prod_cap", "Logo Cap", "Headway", price="24.00")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("e2e-checkout"))
    yield api
    api.stop()


@dataclass(frozen=True)
class Shop:
    brand: SeededBrand
    episode_id: uuid.UUID
    product: SeededProduct


@pytest.fixture
def shop(live_api: LiveApi, test_video: TestVideo, demo_timeline: factories.EpisodeTimeline) -> Shop:
    """A brand with nothing connected yet, selling the cap through an approved placement painted into the
    shared test video (from 1000 ms)."""
    brand = seed_brand(live_api.engine, "cap-shop")
    product = seed_product(live_api.engine, brand, CAP)
    episode_id = seed_episode(live_api.engine, brand, test_video)
    cap = demo_timeline.placement("pl_cap")
    seed_placements(
        live_api.engine,
        live_api.settings,
        episode_id,
        [
            PlacementSeed(
                label="hat",
                start_ms=cap.start_ms,
                end_ms=cap.end_ms,
                keyframes=cap.keyframes,
                candidates=((product, 0.91),),
                link_confidence=0.91,
                status=PlacementStatus.APPROVED,
                chosen=product,
            )
        ],
    )
    return Shop(brand, episode_id, product)


@pytest.fixture
def stripe_unreachable(live_api: LiveApi) -> Iterator[None]:
    """Stripe's API at a port nothing listens on (and no SDK retries): every call fails to connect."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    state = live_api.app.state
    original = state.commerce_settings
    state.commerce_settings = original.model_copy(
        update={"stripe_api_base": f"http://127.0.0.1:{dead_port}", "stripe_max_network_retries": 0}
    )
    yield
    state.commerce_settings = original


def connect_stripe(page: Page, live_api: LiveApi, brand: SeededBrand) -> None:
    connected = page.request.put(
        f"{live_api.base_url}/v1/admin/brands/{brand.id}/providers/stripe",
        headers=live_api.operator_headers(),
        data={"account_id": "acct_" + uuid.uuid4().hex[:16]},
    )
    assert connected.status == 200, connected.text()


def open_sheet_and_buy(page: Page, live_api: LiveApi, shop: Shop) -> dict[str, Any]:
    """Open the cap's sheet on the demo page and tap Buy; returns the server's problem+json answer."""
    page.goto(f"{live_api.base_url}/demo/episodes/{shop.episode_id}")
    page.wait_for_function("() => document.querySelector('video').readyState >= 2")
    wait_for_timeline(page)
    show_frame(page, 45)
    page.locator("[data-reelcart-hotspot]").click()
    with page.expect_response(f"{live_api.base_url}/v1/checkout") as answered:
        page.locator("[data-reelcart-buy]").click()
    response = answered.value
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status
    return problem


def status_of(page: Page) -> Any:
    return page.locator("[data-reelcart-sheet] [role=status]")


def assert_styled_as_error(page: Page) -> None:
    status = status_of(page)
    expect(status).to_have_class("rc-err")
    colours = page.evaluate(
        """() => {
             const style = getComputedStyle(document.querySelector('[data-reelcart-sheet] [role=status]'));
             return [style.color, style.backgroundColor];
           }"""
    )
    # dark red on pink, not the sheet's body text
    assert colours == ["rgb(170, 0, 17)", "rgb(255, 221, 238)"], colours


def test_no_provider_connected_says_the_shop_is_not_taking_orders(
    page: Page, live_api: LiveApi, shop: Shop, page_errors: PageErrors
) -> None:
    # Given a brand that has connected neither Stripe nor Shopify
    # When the shopper taps Buy
    problem = open_sheet_and_buy(page, live_api, shop)

    # Then the server answers 409 provider-not-connected, and the sheet asks for no retry (it cannot work)
    assert (problem["status"], problem["type"]) == (409, PROBLEMS + "provider-not-connected")
    expect(status_of(page)).to_have_text("This shop is not taking orders right now.")
    assert_styled_as_error(page)
    # and Buy stays available (the shop may connect later; nothing about the product changed)
    expect(page.locator("[data-reelcart-buy]")).to_be_enabled()
    assert page_errors == []


def test_sold_out_since_the_timeline_was_built_marks_the_variant_sold_out(
    page: Page, live_api: LiveApi, shop: Shop, page_errors: PageErrors, artifacts_dir: Path
) -> None:
    # Given a connected shop whose cap sells out after the player loaded the timeline
    connect_stripe(page, live_api, shop.brand)
    page.goto(f"{live_api.base_url}/demo/episodes/{shop.episode_id}")
    wait_for_timeline(page)
    with Session(live_api.engine) as session:
        variant = session.get(Variant, shop.product.variants[0].id)
        assert variant is not None
        variant.available = False
        session.add(variant)
        session.commit()

    # When the shopper taps Buy on it
    problem = open_sheet_and_buy(page, live_api, shop)

    # Then the server says 409 variant-unavailable, and the sheet says sold out and offers no Buy for it
    assert (problem["status"], problem["type"]) == (409, PROBLEMS + "variant-unavailable")
    expect(status_of(page)).to_have_text("Sorry, this just sold out.")
    assert_styled_as_error(page)
    buy = page.locator("[data-reelcart-buy]")
    expect(buy).to_have_text("Sold out")
    expect(buy).to_be_disabled()
    page.screenshot(path=artifacts_dir / "e2e-checkout-sold-out.png")

    # And picking the other variant clears the message and offers Buy again
    page.get_by_role("combobox", name="Variant").select_option(str(shop.product.variants[1].id))
    expect(status_of(page)).to_have_text("")
    expect(buy).to_have_text("Buy · €1.99")
    assert page_errors == []


@pytest.mark.usefixtures("stripe_unreachable")
def test_a_provider_outage_asks_for_a_retry(
    page: Page, live_api: LiveApi, shop: Shop, page_errors: PageErrors
) -> None:
    # Given a connected Stripe account, and Stripe unreachable
    connect_stripe(page, live_api, shop.brand)

    # When the shopper taps Buy
    problem = open_sheet_and_buy(page, live_api, shop)

    # Then the server answers 502 provider-error, retryable, and the sheet asks to try again
    assert (problem["status"], problem["type"], problem["retryable"]) == (
        502,
        PROBLEMS + "provider-error",
        True,
    )
    expect(status_of(page)).to_have_text("Payment is briefly unavailable. Please try again.")
    assert_styled_as_error(page)
    expect(page.locator("[data-reelcart-buy]")).to_be_enabled()
    assert page_errors == []
