"""`reelcart demo`: a brand, a catalog and an episode on this machine, offline, then the server.

With ../shared present the catalog is the 31 packaged products of GroceryStoreDataset (real packshots
and descriptions) and the episode is a portrait clip cut from in-store photos of those products.
Without it, the demo draws its own packshots (and cuts the episode from them) so it runs anywhere.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.catalog.models import Product, ProductImage
from api.cli.catalog import import_catalog_file
from api.cli.demo_review import DemoDecision, ReviewedPlacement, review_demo_episode
from api.db import create_db_engine, session_scope, upgrade_database
from api.episodes.models import Episode, EpisodeStatus, TagJob
from api.episodes.service import register_episode
from api.jobs.models import JobState
from api.jobs.tagger_adapter import PipelineTagFunction
from api.jobs.tagging import TagJobExecutor
from api.linking.service import LinkingService
from api.settings import ApiSettings
from tagger.demo_media import (
    SHOT_SECONDS,
    build_demo_episode,
    demo_scenes,
    readable_scenes,
    write_drawn_catalog,
    write_grocery_catalog,
)
from tagger.exceptions import ModelError
from tagger.models.cards import find_card, load_card
from tagger.models.registry import pull
from tagger.settings import TaggerSettings

console = Console()

DEMO_SLUG = "demo-grocer"
DEMO_DETECTOR = "yolox-nano"


@dataclass(frozen=True)
class DemoResult:
    brand_slug: str
    api_key: str
    episode_id: str
    products: int


def find_shared_dir() -> Path | None:
    configured = os.environ.get("REELCART_SHARED_DIR")
    for candidate in ([Path(configured)] if configured else []) + [Path.cwd().parent / "shared"]:
        if (candidate / "data" / "grocery-dev" / "classes.csv").is_file():
            return candidate.resolve()
    return None


def _say(step: str, message: str) -> None:
    console.print(f"[bold cyan]{step}[/] {message}", highlight=False)


def scene_products(
    session: Session, brand_id: uuid.UUID, scenes: list[list[Path]], images: list[ProductImage]
) -> list[frozenset[uuid.UUID]]:
    """The catalog products each scene shows: a packshot's own product, or (for an in-store photo,
    filed under its class name) the product titled after that class, as `write_grocery_catalog` names it."""
    by_image = {Path(image.path): image.product_id for image in images if image.path}
    by_title = dict(session.exec(select(Product.title, Product.id).where(Product.brand_id == brand_id)).all())
    shown: list[frozenset[uuid.UUID]] = []
    for scene in scenes:
        products = {by_image.get(path) or by_title.get(path.parent.name.replace("-", " ")) for path in scene}
        shown.append(frozenset(product for product in products if product is not None))
    return shown


def prepare_demo(settings: ApiSettings) -> DemoResult:
    """Everything but serving; idempotent apart from issuing a fresh demo key each run."""
    _say("1/6", f"database {settings.database_url} (migrating to the latest schema)")
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    demo_dir = settings.media_dir / "demo"
    with Session(engine, expire_on_commit=False) as session:
        brand = session.exec(select(Brand).where(Brand.slug == DEMO_SLUG)).first()
        if brand is None:
            brand = Brand(name="Demo Grocer", slug=DEMO_SLUG)
            session.add(brand)
            session.commit()
        _say("2/6", f"brand {brand.name!r} ({brand.slug})")

        images = session.exec(
            select(ProductImage)
            .where(ProductImage.brand_id == brand.id)
            .order_by(col(ProductImage.created_at))
        ).all()
        if not images:
            shared = find_shared_dir()
            if shared is not None:
                _say(
                    "3/6",
                    f"importing the GroceryStoreDataset packaged products from {shared}/data/grocery-dev",
                )
                catalog_file = write_grocery_catalog(shared, demo_dir)
            else:
                _say("3/6", "../shared not found: importing a small drawn catalog instead")
                catalog_file = write_drawn_catalog(demo_dir)
            import_catalog_file(session, brand.id, catalog_file, settings.media_dir)
            session.commit()
            images = session.exec(select(ProductImage).where(ProductImage.brand_id == brand.id)).all()
        else:
            _say("3/6", f"catalog already imported ({len(images)} product images)")

        packshots = [Path(image.path) for image in images if image.path]
        scenes = readable_scenes(demo_scenes(find_shared_dir(), packshots))
        shown = scene_products(session, brand.id, scenes, list(images))
        episode = session.exec(select(Episode).where(Episode.brand_id == brand.id)).first()
        if episode is None:
            _say(
                "4/6", "cutting a 15 s portrait demo episode (in-store photos, pans, zooms, cuts; PyAV H.264)"
            )
            video = build_demo_episode(scenes, demo_dir / "demo-episode.mp4", shot_seconds=SHOT_SECONDS)
            episode = register_episode(
                session,
                settings,
                brand_id=brand.id,
                title="Demo episode: the breakfast table",
                path=video,
                source="path",
            )
            session.commit()
        else:
            _say("4/6", f"demo episode already registered ({episode.id})")
        issued = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name="demo")
        session.commit()
        product_count = len({image.product_id for image in images})
        episode_id, tagged = episode.id, episode.status == EpisodeStatus.TAGGED
    if not tagged:
        if tag_demo_episode(settings, engine, brand.id, episode_id):
            reviewed = review_demo_episode(
                engine,
                settings,
                brand_id=brand.id,
                episode_id=episode_id,
                shot_products=shown,
                shot_ms=SHOT_SECONDS * 1000,
                key=issued,
            )
            _report_review(reviewed)
    else:
        _say("5/6", "demo episode already tagged")
    engine.dispose()
    return DemoResult(
        brand_slug=DEMO_SLUG, api_key=issued.secret, episode_id=str(episode.id), products=product_count
    )


def tag_demo_episode(
    settings: ApiSettings, engine: Engine, brand_id: uuid.UUID, episode_id: uuid.UUID
) -> bool:
    """Pull the detector from ../shared (checksum enforced) and run a real tag job on the episode;
    whether it finished."""
    cards_dir = TaggerSettings().model_cards_dir
    shared = find_shared_dir()
    try:
        card = load_card(find_card(cards_dir, DEMO_DETECTOR))
        pull(card, settings.model_dir, source_dir=shared / "models" if shared else None)
    except ModelError as error:
        _say("5/6", f"skipping tagging: {error}")
        return False
    _say(
        "5/6", f"tagging the episode with {card.name}: decode, cuts, detect, track, then link to the catalog"
    )
    with session_scope(engine) as session:
        job = TagJob(brand_id=brand_id, episode_id=episode_id)
        session.add(job)
    linking = LinkingService(engine, settings)
    executor = TagJobExecutor(engine, settings, PipelineTagFunction(settings, linking=linking))
    executor(job.id)
    with Session(engine) as session:
        done = session.get(TagJob, job.id)
        if done is not None and done.state == JobState.DONE:
            _say("   ", f"{done.placements_found} placements found")
            return True
        _say("   ", f"tagging failed: {done.error if done is not None else 'the job vanished'}")
        return False


def _report_review(reviewed: list[ReviewedPlacement]) -> None:
    table = Table(title="the demo episode's placements", title_justify="left", highlight=False)
    for heading in ("time", "first candidate", "link", "decision", "why"):
        table.add_column(heading)
    for item in reviewed:
        confidence = "-" if item.confidence is None else f"{item.confidence:.2f}"
        span = f"{item.start_ms / 1000:.1f}-{item.end_ms / 1000:.1f} s"
        table.add_row(span, item.product, confidence, item.decision.value, item.why)
    console.print(table)
    counts = {decision: sum(item.decision is decision for item in reviewed) for decision in DemoDecision}
    _say(
        "   ",
        f"{counts[DemoDecision.AUTO_APPROVED]} auto-approved by the linker, "
        f"{counts[DemoDecision.APPROVED_BY_REVIEWER]} approved by the demo's reviewer (the shot shows the "
        f"product the linker put first), {counts[DemoDecision.LEFT_FOR_REVIEW]} left for the review console",
    )


def run_demo(settings: ApiSettings, *, host: str | None, port: int | None, serve: bool) -> DemoResult:
    result = prepare_demo(settings)
    base = f"http://{host or settings.host}:{port or settings.port}"
    _say("6/6", "ready")
    console.print(
        f"\n  API docs     {base}/docs\n"
        f"  health       {base}/healthz\n"
        f"  demo key     {result.api_key}   (brand {result.brand_slug}, shown once)\n"
        f"  catalog      curl -H 'Authorization: Bearer {result.api_key}' {base}/v1/products\n"
        f"  timeline     {base}/v1/episodes/{result.episode_id}/timeline\n"
        f"  demo player  {base}/demo/episodes/{result.episode_id}\n"
        f"  review       {base}/review/   (sign in with the demo key)\n",
        highlight=False,
        soft_wrap=True,
    )
    if serve:
        import uvicorn  # noqa: PLC0415

        from api.app import create_app  # noqa: PLC0415

        uvicorn.run(
            create_app(settings), host=host or settings.host, port=port or settings.port, log_level="info"
        )
    return result
