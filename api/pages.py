"""Static front ends served by the API: the overlay SDK, the review console and the demo player page."""

from __future__ import annotations

import html
import uuid
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlmodel import col, select

from api.brands.models import Brand
from api.deps import SessionDep, SettingsDep
from api.episodes.models import Episode
from api.errors import NotFound
from api.signing import sign_path

WEB_OVERLAY_DIR = Path(__file__).resolve().parents[1] / "web_overlay"
router = APIRouter(include_in_schema=False)


def _sdk_files() -> dict[str, Path]:
    # Only the shipped ES modules; never package.json, node_modules or tests.
    return {path.name: path for path in WEB_OVERLAY_DIR.glob("*.js")}


@router.get("/overlay/{filename}")
def overlay_module(filename: str) -> FileResponse:
    path = _sdk_files().get(filename)
    if path is None:
        raise NotFound("overlay file")
    return FileResponse(
        path,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


@router.get("/review")
def review_console_redirect() -> RedirectResponse:
    return RedirectResponse("/review/", status_code=308)


@router.get("/demo/episodes/{episode_id}")
def demo_player(episode_id: uuid.UUID, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The phone-shaped demo player for one episode, with the overlay attached."""
    # The brand's checkout provider goes into the page too: the SDK must know it is Shopify *before*
    # the tap's fetch, to open the checkout tab inside the tap where popup blockers allow it.
    provider = session.exec(
        select(Brand.default_checkout_provider)
        .join(Episode, col(Episode.brand_id) == col(Brand.id))
        .where(Episode.id == episode_id)
    ).first()
    if provider is None:
        raise NotFound("episode")
    media = sign_path(
        settings.secret_key.get_secret_value(), f"/v1/episodes/{episode_id}/media", ttl_s=24 * 3600
    )
    page = (WEB_OVERLAY_DIR / "demo" / "episode.html").read_text(encoding="utf-8")
    page = page.replace('data-episode-id=""', f'data-episode-id="{html.escape(str(episode_id))}"', 1)
    page = page.replace('data-video-url=""', f'data-video-url="{html.escape(media)}"', 1)
    page = page.replace('data-provider=""', f'data-provider="{html.escape(provider)}"', 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def mount_static(app: FastAPI) -> None:
    """The review console is plain files; StaticFiles serves index.html for /review/."""
    review_dir = WEB_OVERLAY_DIR / "review"
    if review_dir.is_dir():
        app.mount("/review/", StaticFiles(directory=review_dir, html=True), name="review-console")
