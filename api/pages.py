"""Pages the API serves to people: the operator's landing page, the API docs (Swagger UI and ReDoc from
the installed `fastapi-offline` package, so they render with no network), the overlay SDK, the review
console and the demo player page."""

from __future__ import annotations

import html
import math
import uuid
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlmodel import Session, col, select

from api.brands.models import DEMO_BRAND_SLUG, Brand
from api.deps import SessionDep, SettingsDep
from api.episodes.models import Episode
from api.errors import NotFound
from api.problems import Problem
from api.settings import ApiSettings
from api.signing import sign_path
from api.timeline.service import is_public

WEB_OVERLAY_DIR = Path(__file__).resolve().parents[1] / "web_overlay"
# Swagger UI's bundle and CSS, ReDoc's standalone bundle and a favicon, as the wheel ships them.
DOCS_ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
DOCS_ASSETS_URL = "/docs-assets"
# A signed demo video URL lives for the episode plus this much pausing and seeking; a reload signs anew.
DEMO_VIEWING_SLACK_S = 15 * 60

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


@router.get("/review/")
def review_console(settings: SettingsDep) -> HTMLResponse:
    """The console's page, told whether this server runs the demo player: in production it does not,
    so the console must not offer "Watch in the player" links that would answer 404. (Its scripts and
    styles are plain files under the same prefix, served by `mount_static`.)"""
    page = (WEB_OVERLAY_DIR / "review" / "index.html").read_text(encoding="utf-8")
    player = "on" if demo_enabled(settings) else "off"
    page = page.replace("<body ", f'<body data-demo-player="{player}" ', 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


# ---- the API docs, offline -----------------------------------------------------------------------------


def _openapi_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    # ReDoc's sidebar always asks cdn.redoc.ly for its logo; images from this server only, so the
    # browser never tries (offline it would fail anyway, and nothing leaves the network).
    page.headers["Content-Security-Policy"] = "img-src 'self' data:"
    return page


# ---- public episodes and the demo player ---------------------------------------------------------------


def demo_enabled(settings: ApiSettings) -> bool:
    return settings.environment != "production"


def public_demo_episode(session: Session, settings: ApiSettings) -> uuid.UUID | None:
    """The demo brand's newest public episode, for the landing page; None in production or when none."""
    if not demo_enabled(settings):
        return None
    rows = session.exec(
        select(Episode.id, Episode.timeline_json)
        .join(Brand, col(Episode.brand_id) == col(Brand.id))
        .where(Brand.slug == DEMO_BRAND_SLUG)
        .order_by(col(Episode.created_at).desc())
    ).all()
    return next((episode_id for episode_id, timeline in rows if is_public(timeline)), None)


@router.get("/demo/episodes/{episode_id}")
def demo_player(episode_id: uuid.UUID, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The phone-shaped demo player for a public episode, with the overlay attached. Off in production;
    elsewhere an episode the public timeline shows nothing of answers 404, exactly like a missing one."""
    if not demo_enabled(settings):
        raise Problem(404, "the demo player is off in production (REELCART_ENVIRONMENT=production)")
    # The brand's checkout provider goes into the page too: the SDK must know it is Shopify *before*
    # the tap's fetch, to open the checkout tab inside the tap where popup blockers allow it.
    row = session.exec(
        select(Brand.default_checkout_provider, Episode.duration_ms, Episode.timeline_json)
        .join(Episode, col(Episode.brand_id) == col(Brand.id))
        .where(Episode.id == episode_id)
    ).first()
    if row is None or not is_public(row[2]):
        raise NotFound("episode")
    provider, duration_ms = row[0], row[1]
    media = sign_path(
        settings.secret_key.get_secret_value(),
        f"/v1/episodes/{episode_id}/media",
        ttl_s=math.ceil(duration_ms / 1000) + DEMO_VIEWING_SLACK_S,
    )
    page = (WEB_OVERLAY_DIR / "demo" / "episode.html").read_text(encoding="utf-8")
    page = page.replace('data-episode-id=""', f'data-episode-id="{html.escape(str(episode_id))}"', 1)
    page = page.replace('data-video-url=""', f'data-video-url="{html.escape(media)}"', 1)
    page = page.replace('data-provider=""', f'data-provider="{html.escape(provider)}"', 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


# ---- the operator's landing page -----------------------------------------------------------------------

_LANDING = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{assets}/favicon.png">
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem;
         color: #1d1d1f; }}
  h1 {{ margin-bottom: 0.2rem; }}
  .lede {{ color: #555; margin-top: 0; }}
  ul {{ padding: 0; list-style: none; }}
  li {{ margin: 0.6rem 0; }}
  a {{ font-weight: 600; }}
  code {{ background: #f2f2f4; padding: 0.1rem 0.3rem; border-radius: 4px; }}
  small {{ color: #666; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class="lede">Shoppable short-form drama: catalogs, episodes, tagging, review and public hotspot
timelines. Version {version}, environment <code>{environment}</code>.</p>
<nav aria-label="ReelCart">
<ul>
  <li><a href="{root}/docs">API docs</a> <small>Swagger UI: try every route</small></li>
  <li><a href="{root}/redoc">API reference</a> <small>ReDoc</small></li>
  <li><a href="{root}{openapi}">OpenAPI document</a> <small>JSON</small></li>
  <li><a href="{root}/healthz">Health</a> <small>liveness; <a href="{root}/readyz">readiness</a>
    checks the database</small></li>
  <li><a href="{root}/review/">Review console</a> <small>sign in with a brand's API key</small></li>
{demo}</ul>
</nav>
<p><small>Keys: <code>reelcart keys create --operator</code> makes an operator key,
<code>reelcart keys list</code> and <code>reelcart keys revoke KEY_ID</code> manage them.</small></p>
</main>
</body>
</html>
"""


@router.get("/")
def landing(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """Where an operator lands: links to the docs, health, the review console and, outside production,
    the demo player when the demo brand has a public episode to show."""
    root = html.escape(request.scope.get("root_path", ""))
    episode_id = public_demo_episode(session, settings)
    demo = (
        f'  <li><a href="{root}/demo/episodes/{episode_id}">Demo player</a> '
        "<small>the demo episode with its tap-to-buy overlay</small></li>\n"
        if episode_id is not None
        else ""
    )
    page = _LANDING.format(
        title=html.escape(request.app.title),
        version=html.escape(request.app.version),
        environment=html.escape(settings.environment),
        root=root,
        openapi=html.escape(request.app.openapi_url or "/openapi.json"),
        assets=f"{root}{DOCS_ASSETS_URL}",
        demo=demo,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def mount_static(app: FastAPI) -> None:
    """The review console is plain files; StaticFiles serves index.html for /review/. The docs' assets
    come from the installed package, not a CDN."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    review_dir = WEB_OVERLAY_DIR / "review"
    if review_dir.is_dir():
        app.mount("/review/", StaticFiles(directory=review_dir, html=True), name="review-console")
