"""Page helpers for driving the brand review console: sign in, read the queue, hold the clip on a frame."""

from __future__ import annotations

from playwright.sync_api import Page


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/review/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def pause_clip_at(page: Page, seconds: float) -> None:
    """Hold the review clip on one frame and let the console redraw the box for it."""
    page.evaluate(
        """(seconds) => new Promise((resolve) => {
             const video = document.getElementById('clip-video');
             video.pause();
             const redrawn = () => requestAnimationFrame(() => requestAnimationFrame(resolve));
             video.addEventListener('seeked', redrawn, { once: true });
             video.currentTime = seconds;
           })""",
        seconds,
    )


def queue_ids(page: Page) -> list[str]:
    return [li.get_attribute("data-placement") or "" for li in page.locator("#queue li").all()]


def current_id(page: Page) -> str | None:
    return page.locator('#queue li[aria-current="true"]').get_attribute("data-placement")


def drag_on(page: Page, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with the mouse between two points given as fractions of the element."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=8)
    page.mouse.up()


def upload_image(page: Page, base_url: str, headers: dict[str, str], product_id: object, png: bytes) -> str:
    """Upload a PNG to a product through the API, as a brand would; returns the new image's id."""
    uploaded = page.request.post(
        f"{base_url}/v1/products/{product_id}/images",
        headers=headers,
        multipart={"file": {"name": "pack.png", "mimeType": "image/png", "buffer": png}},
    )
    assert uploaded.status == 201, uploaded.text()
    return str(uploaded.json()["id"])
