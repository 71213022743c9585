"""Page helpers for driving the demo player: load it, show an exact frame, read where hotspots landed."""

from __future__ import annotations

from typing import Literal, cast
from urllib.parse import urlencode

from playwright.sync_api import Page

from tests.web.factories import Rect
from tests.web.media import FPS

FAKE_STRIPE_JS = """
window.Stripe = (publishableKey, options) => ({
  initEmbeddedCheckout: async ({ fetchClientSecret }) => {
    const secret = await fetchClientSecret();
    return {
      mount(element) {
        const frame = document.createElement('div');
        frame.setAttribute('data-fake-stripe', secret);
        frame.dataset.publishableKey = publishableKey;
        frame.dataset.stripeAccount = (options && options.stripeAccount) || '';
        frame.textContent = 'Stripe embedded checkout (test double)';
        element.append(frame);
      },
      destroy() {},
    };
  },
});
"""


def open_demo(page: Page, base_url: str, episode_id: str = "ep_demo", **query: str) -> None:
    """Load the demo page for an episode and wait until the video can show frames."""
    params = urlencode({"video": "/media/episode.mp4", **query})
    page.goto(f"{base_url}/demo/episodes/{episode_id}?{params}")
    page.wait_for_function("() => document.querySelector('video').readyState >= 2")


def wait_for_timeline(page: Page) -> None:
    page.wait_for_function("() => window.reelcart && window.reelcart.timeline !== null")


def frame_time_ms(frame_index: int) -> int:
    return frame_index * 1000 // FPS


def show_frame(page: Page, frame_index: int) -> float:
    """Pause on an exact frame and let the overlay draw it; returns the video's currentTime in ms."""
    return cast(
        float,
        page.evaluate(
            """async (seconds) => {
              const video = document.querySelector('video');
              video.pause();
              await new Promise((resolve) => {
                video.addEventListener('seeked', resolve, { once: true });
                video.currentTime = seconds;
              });
              await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
              return video.currentTime * 1000;
            }""",
            frame_index / FPS,
        ),
    )


def video_rect(page: Page) -> Rect:
    # The first: the player's only one, or the review console's clip (its drawing dialog has another).
    box = page.locator("video").first.bounding_box()
    assert box is not None
    return Rect(box["x"], box["y"], box["width"], box["height"])


def hotspot_centres(page: Page) -> dict[str, tuple[float, float]]:
    raw = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-reelcart-hotspot]')].map((b) => {
             const r = b.getBoundingClientRect();
             return [b.dataset.reelcartHotspot, [r.x + r.width / 2, r.y + r.height / 2]];
           }))"""
    )
    return {key: (float(value[0]), float(value[1])) for key, value in raw.items()}


def resize_player(page: Page, width_px: int, height_px: int, fit: Literal["contain", "cover"]) -> None:
    """Reshape the phone and switch object-fit, as an integrator's layout change would."""
    page.evaluate(
        """([width, height, fit]) => {
             const phone = document.getElementById('player');
             Object.assign(phone.style, { width: `${width}px`, height: `${height}px`, aspectRatio: 'auto' });
             document.querySelector('video').style.objectFit = fit;
           }""",
        [width_px, height_px, fit],
    )
    # The overlay re-measures from a ResizeObserver callback; give it two frames.
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def is_paused(page: Page) -> bool:
    return cast(bool, page.evaluate("() => document.querySelector('video').paused"))


def current_ms(page: Page) -> float:
    return cast(float, page.evaluate("() => document.querySelector('video').currentTime * 1000"))


def focused_name(page: Page) -> str:
    """What a screen reader would call the focused element: its aria-label, else its text."""
    return cast(
        str,
        page.evaluate(
            "() => document.activeElement.getAttribute('aria-label') || document.activeElement.textContent"
        ),
    )


def tab_walk(page: Page, key: Literal["Tab", "Shift+Tab"], presses: int) -> list[str]:
    """Press Tab (or Shift+Tab) `presses` times; the name focused after each press."""
    names = []
    for _ in range(presses):
        page.keyboard.press(key)
        names.append(focused_name(page))
    return names


def label_rects(page: Page) -> dict[str, Rect]:
    """The on-screen box of each hotspot's visible label (hidden labels left out), page coordinates."""
    raw = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-reelcart-hotspot]')]
             .map((b) => [b.dataset.reelcartHotspot, b.querySelector('span')])
             .filter(([, s]) => getComputedStyle(s).visibility !== 'hidden')
             .map(([id, s]) => [id, s.getBoundingClientRect()])
             .map(([id, r]) => [id, [r.x, r.y, r.width, r.height]]))"""
    )
    return {key: Rect(*value) for key, value in raw.items()}
