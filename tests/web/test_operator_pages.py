"""The operator's pages in real Chromium against the real API (tests/web/real_api.py), with every request
that would leave this machine refused: the landing page, Swagger UI at /docs and ReDoc at /redoc."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlmodel import Session

from api.auth import issue_api_key
from api.brands.models import DEMO_BRAND_SLUG, ApiKeyScope, Brand
from api.review.models import PlacementStatus
from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.media import TestVideo
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import PlacementSeed, SeededBrand, seed_episode, seed_placements, seed_product

pytestmark = pytest.mark.browser


@dataclass
class Offline:
    """Requests the page tried to send off this machine (each one refused)."""

    refused: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("operator-pages"))
    yield api
    api.stop()


@pytest.fixture
def offline_page(
    browser: Browser, live_api: LiveApi, page_errors: PageErrors
) -> Iterator[tuple[Page, Offline]]:
    """A desk-sized page that may reach the API under test and nothing else."""
    context: BrowserContext = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    offline = Offline()

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(live_api.base_url + "/"):
            route.continue_()
        else:
            offline.refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    yield page, offline
    context.close()


def _operations(live_api: LiveApi, page: Page) -> list[tuple[str, str, str]]:
    """(tag, method, path) of every operation the OpenAPI document lists, once under each of its tags
    (both UIs show an operation under every tag it has)."""
    document = page.request.get(f"{live_api.base_url}/openapi.json").json()
    return [
        (tag, method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for tag in operation.get("tags") or ["default"]
    ]


def test_swagger_ui_renders_every_operation_with_no_network(
    live_api: LiveApi, offline_page: tuple[Page, Offline], page_errors: PageErrors
) -> None:
    page, offline = offline_page
    operations = _operations(live_api, page)
    page.goto(f"{live_api.base_url}/docs")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations))
    revoke = page.locator(".opblock-post", has_text="/v1/admin/keys/{key_id}/revoke")
    expect(revoke).to_be_visible()
    expect(revoke.locator(".opblock-summary-description")).to_have_text(
        "Revoke a key: its next request gets 401 (revoking twice keeps the first time)"
    )
    # Opening an operation shows its parameters: the UI is live, not only painted
    revoke.locator(".opblock-summary").click()
    expect(revoke.locator(".parameters-container")).to_contain_text("key_id")
    assert offline.refused == []
    assert page_errors == []


def test_redoc_renders_the_reference_with_no_network(
    live_api: LiveApi, offline_page: tuple[Page, Offline], page_errors: PageErrors
) -> None:
    page, offline = offline_page
    operations = _operations(live_api, page)
    page.goto(f"{live_api.base_url}/redoc")
    expect(page.locator("h1").first).to_contain_text("ReelCart API")
    # ReDoc's menu has one entry per operation, titled by its summary
    menu = page.locator("li[data-item-id*='operation/']")
    expect(menu).to_have_count(len(operations))
    expect(page.get_by_text("Approved placements of an episode as a hotspot timeline").first).to_be_attached()
    assert offline.refused == []
    assert page_errors == []


def _public_demo_episode(live_api: LiveApi, test_video: TestVideo) -> uuid.UUID:
    """The demo brand (the slug `reelcart demo` uses) with one approved placement on an episode."""
    with Session(live_api.engine, expire_on_commit=False) as session:
        row = Brand(name="Demo Grocer", slug=DEMO_BRAND_SLUG)
        session.add(row)
        session.flush()
        issued = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=row.id, name="demo")
        session.commit()
    brand = SeededBrand(id=row.id, slug=row.slug, key=issued.secret, key_name="demo")
    juice = seed_product(live_api.engine, brand, factories.make_product("prod_oj", "Orange Juice", "Bravo"))
    episode_id = seed_episode(live_api.engine, brand, test_video)
    seed_placements(
        live_api.engine,
        live_api.settings,
        episode_id,
        [
            PlacementSeed(
                label="bottle",
                start_ms=500,
                end_ms=2500,
                keyframes=(factories.Keyframe(500, (0.2, 0.3, 0.2, 0.3)),),
                candidates=((juice, 0.9),),
                link_confidence=0.9,
                status=PlacementStatus.APPROVED,
                chosen=juice,
            )
        ],
    )
    return episode_id


def test_landing_page_takes_the_operator_to_docs_health_console_and_demo(
    live_api: LiveApi, offline_page: tuple[Page, Offline], test_video: TestVideo, page_errors: PageErrors
) -> None:
    page, offline = offline_page
    # Given no public demo episode yet: the landing page has no demo link
    page.goto(f"{live_api.base_url}/")
    expect(page).to_have_title("ReelCart API")
    nav = page.get_by_role("navigation", name="ReelCart")
    expect(nav.get_by_role("link", name="Demo player")).to_have_count(0)

    # Each link leads where it says
    nav.get_by_role("link", name="API docs").click()
    expect(page).to_have_url(f"{live_api.base_url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    page.go_back()
    nav.get_by_role("link", name="Health").click()
    expect(page.locator("body")).to_contain_text('"status":"ok"')
    page.go_back()
    nav.get_by_role("link", name="Review console").click()
    expect(page).to_have_url(f"{live_api.base_url}/review/")
    page.go_back()

    # When the demo brand has an approved placement, the page links its player, which plays the episode
    episode_id = _public_demo_episode(live_api, test_video)
    page.reload()
    nav.get_by_role("link", name="Demo player").click()
    expect(page).to_have_url(f"{live_api.base_url}/demo/episodes/{episode_id}")
    page.wait_for_function("() => document.querySelector('video').readyState >= 2")
    assert offline.refused == []
    assert page_errors == []
