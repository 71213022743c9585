"""Browser-test fixtures: Debian's Chromium (never a downloaded browser), a loopback server, a known video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.web.factories import EpisodeTimeline, demo_placements
from tests.web.loopback import LoopbackServer, LoopbackState
from tests.web.media import HEIGHT, WIDTH, TestVideo, write_test_video

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


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.is_file():
        pytest.skip(
            "/usr/bin/chromium is absent; install Debian's browser with `apt-get install -y chromium` "
            "(the browser tests never download one)"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_timeline() -> EpisodeTimeline:
    return EpisodeTimeline(
        episode_id="ep_demo",
        duration_ms=VIDEO_DURATION_MS,
        width=WIDTH,
        height=HEIGHT,
        placements=demo_placements(),
    )


@pytest.fixture(scope="session")
def test_video(tmp_path_factory: pytest.TempPathFactory, demo_timeline: EpisodeTimeline) -> TestVideo:
    path = tmp_path_factory.mktemp("media") / "episode.mp4"
    return write_test_video(path, demo_timeline.placements, VIDEO_DURATION_MS)


@pytest.fixture(scope="session")
def loopback_server(test_video: TestVideo) -> Iterator[LoopbackServer]:
    server = LoopbackServer(test_video).start()
    yield server
    server.stop()


@pytest.fixture
def loopback(loopback_server: LoopbackServer) -> LoopbackState:
    """Fresh fake state per test: no timelines, no recorded requests."""
    return loopback_server.reset()


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # en-US pins price formatting; a phone-sized viewport matches what the demo is for.
    ctx = browser.new_context(locale="en-US", viewport={"width": 480, "height": 900}, device_scale_factor=2)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(context: BrowserContext, page_errors: PageErrors) -> Page:
    new_page = context.new_page()
    new_page.on("pageerror", lambda error: page_errors.append(str(error)))
    return new_page
