"""`reelcart demo`: a brand, a catalog and an episode on this machine, offline, then the server.

With ../shared present the catalog is the 31 packaged products of GroceryStoreDataset (real packshots
and descriptions) and the episode is a portrait clip cut from in-store photos of those products.
Without it, the demo draws its own packshots (and cuts the episode from them) so it runs anywhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.auth import IssuedKey, issue_api_key
from api.brands.models import DEMO_BRAND_SLUG, ApiKeyScope, Brand
from api.brands.service import revoke_live_keys
from api.catalog.models import Product, ProductImage
from api.cli.catalog import import_catalog_file
from api.cli.demo_review import DemoDecision, ReviewedPlacement, review_demo_episode
from api.columns import utcnow
from api.db import create_db_engine, session_scope, upgrade_database
from api.episodes.models import Episode, EpisodeStatus, TagJob
from api.episodes.service import register_episode
from api.jobs.models import JobPhase, JobState
from api.jobs.queue import run_to_end
from api.jobs.tagger_adapter import PipelineTagFunction
from api.jobs.tagging import ProgressCallback, TagFunction, TagJobExecutor, TagOutcome
from api.linking.service import LinkingService
from api.settings import ApiSettings
from api.timeline.service import is_public
from tagger.demo_media import (
    SHOT_SECONDS,
    build_demo_episode,
    demo_scenes,
    readable_scenes,
    write_drawn_catalog,
    write_grocery_catalog,
)
from tagger.exceptions import ModelError
from tagger.linking import CatalogIndexError
from tagger.models.cards import find_card, load_card
from tagger.models.registry import ModelState, model_status, pull
from tagger.settings import TaggerSettings

console = Console()

DEMO_DETECTOR = "yolox-nano"
# The demo's keys are rotated on every run: the previous ones of these names are revoked.
DEMO_KEY_NAME = "demo"
DEMO_OPERATOR_KEY_NAME = "demo operator"
STEPS = 7


@dataclass(frozen=True)
class DemoResult:
    brand_slug: str
    api_key: str
    operator_key: str
    episode_id: str
    products: int
    # Whether the episode's public timeline shows a placement (the demo player plays only then).
    public: bool
    revoked_keys: int = 0


def find_shared_dir() -> Path | None:
    configured = os.environ.get("REELCART_SHARED_DIR")
    for candidate in ([Path(configured)] if configured else []) + [Path.cwd().parent / "shared"]:
        if (candidate / "data" / "grocery-dev" / "classes.csv").is_file():
            return candidate.resolve()
    return None


def _say(step: int | None, message: str) -> None:
    label = f"{step}/{STEPS}" if step is not None else "   "
    console.print(f"[bold cyan]{label}[/] {message}", highlight=False)


@contextmanager
def _progress(description: str, total: float | None) -> Iterator[tuple[Progress, TaskID]]:
    """One step's bar (a spinner when the amount of work is unknown) that stays on screen when done,
    with the time the step took, as `reelcart tag` shows its own."""
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("    {task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total is not None and total > 1 else TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total)
        yield bar, task
        if bar.tasks[0].total is not None:
            bar.update(task, completed=bar.tasks[0].total)
        else:
            bar.update(task, total=1, completed=1)


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


def _import_catalog(session: Session, brand: Brand, settings: ApiSettings) -> Sequence[ProductImage]:
    images = session.exec(
        select(ProductImage).where(ProductImage.brand_id == brand.id).order_by(col(ProductImage.created_at))
    ).all()
    if images:
        _say(3, f"catalog already imported ({len(images)} product images)")
        return images
    demo_dir = settings.media_dir / "demo"
    shared = find_shared_dir()
    if shared is not None:
        _say(3, f"importing the GroceryStoreDataset packaged products from {shared}/data/grocery-dev")
        catalog_file = write_grocery_catalog(shared, demo_dir)
    else:
        _say(3, "../shared not found: importing a small drawn catalog instead")
        catalog_file = write_drawn_catalog(demo_dir)
    with _progress("storing packshots", None) as (bar, task):
        import_catalog_file(
            session,
            brand.id,
            catalog_file,
            settings.media_dir,
            on_image=lambda done, total: bar.update(task, completed=done, total=total),
        )
    session.commit()
    return session.exec(select(ProductImage).where(ProductImage.brand_id == brand.id)).all()


def _register_episode(
    session: Session, brand: Brand, settings: ApiSettings, scenes: list[list[Path]]
) -> Episode:
    episode = session.exec(select(Episode).where(Episode.brand_id == brand.id)).first()
    if episode is not None:
        _say(4, f"demo episode already registered ({episode.id})")
        return episode
    seconds = len(scenes) * SHOT_SECONDS
    _say(4, f"cutting a {seconds} s portrait demo episode (in-store photos, pans, zooms, cuts; PyAV H.264)")
    with _progress("encoding frames", None) as (bar, task):
        video = build_demo_episode(
            scenes,
            settings.media_dir / "demo" / "demo-episode.mp4",
            shot_seconds=SHOT_SECONDS,
            on_frame=lambda done, total: bar.update(task, completed=done, total=total),
        )
    episode = register_episode(
        session,
        settings,
        brand_id=brand.id,
        title="Demo episode: the breakfast table",
        path=video,
        source="path",
    )
    session.commit()
    return episode


def rotate_key(
    session: Session, *, scope: ApiKeyScope, brand_id: uuid.UUID | None, name: str
) -> tuple[IssuedKey, int]:
    """Revoke the live keys of this name and issue a fresh one: each run leaves one live demo key of
    each kind, not one more. The new key and how many were revoked."""
    revoked = revoke_live_keys(session, scope=scope, brand_id=brand_id, name=name)
    issued = issue_api_key(session, scope=scope, brand_id=brand_id, name=name)
    return issued, len(revoked)


def prepare_demo(settings: ApiSettings) -> DemoResult:
    """Everything but serving; idempotent apart from rotating the demo's two keys each run."""
    _say(1, f"database {settings.database_url} (migrating to the latest schema)")
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    with Session(engine, expire_on_commit=False) as session:
        brand = session.exec(select(Brand).where(Brand.slug == DEMO_BRAND_SLUG)).first()
        if brand is None:
            brand = Brand(name="Demo Grocer", slug=DEMO_BRAND_SLUG)
            session.add(brand)
            session.commit()
        _say(2, f"brand {brand.name!r} ({brand.slug})")
        images = _import_catalog(session, brand, settings)
        packshots = [Path(image.path) for image in images if image.path]
        scenes = readable_scenes(demo_scenes(find_shared_dir(), packshots))
        shown = scene_products(session, brand.id, scenes, list(images))
        episode = _register_episode(session, brand, settings, scenes)
        issued, revoked = rotate_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=DEMO_KEY_NAME)
        operator, revoked_operator = rotate_key(
            session, scope=ApiKeyScope.OPERATOR, brand_id=None, name=DEMO_OPERATOR_KEY_NAME
        )
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
        _say(5, "demo episode already tagged")
    with Session(engine) as session:
        stored = session.get(Episode, episode_id)
        public = stored is not None and is_public(stored.timeline_json)
    engine.dispose()
    return DemoResult(
        brand_slug=DEMO_BRAND_SLUG,
        api_key=issued.secret,
        operator_key=operator.secret,
        episode_id=str(episode_id),
        products=product_count,
        public=public,
        revoked_keys=revoked + revoked_operator,
    )


def tag_demo_episode(
    settings: ApiSettings, engine: Engine, brand_id: uuid.UUID, episode_id: uuid.UUID
) -> bool:
    """Pull the detector from ../shared (checksum enforced), index the catalog, and run a real tag job on
    the episode, each step with its progress on screen; whether the job finished."""
    cards_dir = TaggerSettings().model_cards_dir
    shared = find_shared_dir()
    try:
        card = load_card(find_card(cards_dir, DEMO_DETECTOR))
        if model_status(card, settings.model_dir).state is ModelState.OK:
            _say(5, f"detector {card.name} already in {settings.model_dir} (sha256 checked)")
        else:
            origin = f"{shared}/models" if shared else (card.url or "the URL on its card")
            _say(5, f"pulling the detector {card.name} from {origin} (sha256 checked)")
            with _progress(f"{card.name} → {settings.model_dir}", None):
                pull(card, settings.model_dir, source_dir=shared / "models" if shared else None)
    except ModelError as error:
        _say(None, f"skipping tagging: {error}")
        return False
    linking = LinkingService(engine, settings)
    _say(6, "indexing the catalog for the linker (embeddings, text, keypoints of each packshot)")
    try:
        with _progress("indexing products", None) as (bar, task):
            linking.brand_linker(
                brand_id, on_progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
    except (ModelError, CatalogIndexError) as error:
        # The tag job still runs; it says in its summary why its placements stay unlinked.
        _say(None, f"the catalog cannot be indexed, placements will stay unlinked: {error}")
    _say(7, f"tagging the episode with {card.name}: decode, cuts, detect, track, then link to the catalog")
    with session_scope(engine) as session:
        _drop_interrupted_tag_jobs(session, episode_id)
        # Run here, below: a service sharing the database leaves it to this process.
        job = TagJob(brand_id=brand_id, episode_id=episode_id, published_at=utcnow())
        session.add(job)
    with _progress("tag job", 1.0) as (bar, task):
        shown = ShownTagFunction(PipelineTagFunction(settings, linking=linking), bar, task)
        run_to_end(TagJobExecutor(engine, settings, shown), job.id)
    with Session(engine) as session:
        done = session.get(TagJob, job.id)
        if done is not None and done.state == JobState.DONE:
            _say(None, done.summary or f"{done.placements_found} placements found")
            return True
        _say(None, f"tagging failed: {done.error if done is not None else 'the job vanished'}")
        return False


def _drop_interrupted_tag_jobs(session: Session, episode_id: uuid.UUID) -> None:
    """A demo interrupted while it tagged (Ctrl-C) left its job queued or running, and the demo runs its
    own jobs (no service takes them): it is failed, so this run may tag the episode (one active tag job
    per episode)."""
    for job in session.exec(
        select(TagJob).where(
            TagJob.episode_id == episode_id, col(TagJob.state).in_([JobState.QUEUED, JobState.RUNNING])
        )
    ).all():
        job.state, job.phase, job.finished_at = JobState.FAILED, JobPhase.FINISHED, utcnow()
        job.error = job.summary = "interrupted: the demo was stopped while it tagged"
        session.add(job)
    session.flush()


class ShownTagFunction:
    """A tag function that also draws the job's progress, naming the phase it is in (detect and track,
    then link placement by placement), while the job stores it as usual."""

    PHASES: ClassVar[dict[JobPhase, str]] = {
        JobPhase.INDEX: "tag job: catalog index",
        JobPhase.DETECT: "tag job: decode, detect, track",
        JobPhase.LINK: "tag job: link placements to SKUs",
        JobPhase.STORE: "tag job: store placements",
    }

    def __init__(self, inner: TagFunction, bar: Progress, task: TaskID) -> None:
        self._inner, self._bar, self._task = inner, bar, task

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        def shown(fraction: float, phase: JobPhase | None = None) -> None:
            progress(fraction, phase)
            described = None if phase is None else self.PHASES.get(phase, f"tag job: {phase}")
            self._bar.update(self._task, completed=fraction, description=described)

        return self._inner(media_path, brand_id=brand_id, thumbnails_dir=thumbnails_dir, progress=shown)


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
        None,
        f"{counts[DemoDecision.AUTO_APPROVED]} auto-approved by the linker, "
        f"{counts[DemoDecision.APPROVED_BY_REVIEWER]} approved by the demo's reviewer (the shot shows the "
        f"product the linker put first), {counts[DemoDecision.LEFT_FOR_REVIEW]} left for the review console",
    )


def demo_summary(result: DemoResult, base: str) -> str:
    """What the demo prints when it is ready: where everything is, and the two keys (shown once)."""
    player = (
        f"{base}/demo/episodes/{result.episode_id}"
        if result.public
        else "none yet: no placement is approved (approve one in the review console to publish it)"
    )
    rotated = (
        f"  (the {result.revoked_keys} demo keys of the previous run are revoked)\n"
        if result.revoked_keys
        else ""
    )
    return (
        f"\n  start here   {base}/\n"
        f"  API docs     {base}/docs\n"
        f"  health       {base}/healthz\n"
        f"  demo key     {result.api_key}   (brand {result.brand_slug}, shown once)\n"
        f"  operator key {result.operator_key}   (admin routes: brands and keys, shown once)\n"
        f"{rotated}"
        f"  catalog      curl -H 'Authorization: Bearer {result.api_key}' {base}/v1/products\n"
        f"  keys         curl -H 'Authorization: Bearer {result.operator_key}' {base}/v1/admin/keys\n"
        f"  timeline     {base}/v1/episodes/{result.episode_id}/timeline\n"
        f"  demo player  {player}\n"
        f"  review       {base}/review/   (sign in with the demo key)\n"
    )


def run_demo(settings: ApiSettings, *, host: str | None, port: int | None, serve: bool) -> DemoResult:
    # Served on --host/--port, the links it hands out (thumbnails, the video) name that address.
    settings = settings.serving_at(host, port)
    result = prepare_demo(settings)
    _say(None, "ready")
    console.print(demo_summary(result, settings.public_base_url), highlight=False, soft_wrap=True)
    if serve:
        import uvicorn  # noqa: PLC0415

        from api.app import create_app  # noqa: PLC0415

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return result
