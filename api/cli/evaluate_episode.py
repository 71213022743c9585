"""`reelcart eval episode`: run exactly what a brand's tag job runs on a labelled episode and score it
per shot (see `tagger.episode_eval`).

The catalog is imported into a throw-away database (the same all-or-nothing importer as
`reelcart catalog import`), the episode is registered and tagged by the real tag job executor (index,
detector, tracking, linking and the brand's auto-approval rules), then the stored placements are scored
against the truth file. Nothing touches the configured database or media folder.

`--leave-out N` imports the catalog without N of the truth's product SKUs (drawn by `--leave-out-seed`):
their shots then show a product the brand does not sell, and the report counts how many of them got a
placement and how many an approved one (a hotspot selling the wrong product).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.brands.models import Brand
from api.catalog.importing import CatalogImportError
from api.catalog.models import Variant
from api.cli._common import load_settings, load_tagger_settings
from api.cli.catalog import import_catalog_file
from api.cli.evaluate import eval_app
from api.db import create_db_engine, upgrade_database
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.detectors.service import BrandDetectorCards, queue_train_job, training_set
from api.detectors.training import DetectorTrainExecutor
from api.episodes.models import TagJob
from api.episodes.service import register_episode
from api.errors import ApiError
from api.jobs.models import JobState
from api.jobs.queue import run_to_end
from api.jobs.tagger_adapter import PipelineTagFunction
from api.jobs.tagging import TagJobExecutor
from api.linking.service import LinkingService
from api.review.models import Placement, PlacementStatus
from api.review.service import stored_candidates
from api.settings import ApiSettings, get_settings
from commerce.exceptions import CommerceError
from tagger.detection.factory import load_detector_card
from tagger.episode_eval import (
    NEAR_THRESHOLD,
    EpisodeScore,
    ScoredPlacement,
    TruthShot,
    choose_left_out,
    read_truth,
    score_episode,
)
from tagger.exceptions import TaggerError


def register(app: typer.Typer) -> None:
    # A subcommand of `reelcart eval`, which api.cli.evaluate adds to the app.
    eval_app.command("episode")(episode)


def _fail(message: str) -> None:
    typer.echo(f"error: {message.splitlines()[0] if message else 'evaluation failed'}", err=True)
    raise typer.Exit(code=1)


def episode(
    catalog: Annotated[
        Path, typer.Option("--catalog", help="The brand's catalog (.csv or .json), as imported.")
    ],
    video: Annotated[Path, typer.Option("--video", help="The labelled episode.")],
    truth: Annotated[
        Path, typer.Option("--truth", help="JSON list of {start_ms, end_ms, sku} (sku null: no product).")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write the report (JSON) here.")] = None,
    auto_approve: Annotated[
        float | None,
        typer.Option(
            "--auto-approve", min=0.0, max=1.0, help="The brand's threshold (default: a new brand's)."
        ),
    ] = None,
    own_print_approve: Annotated[
        float | None,
        typer.Option(
            "--own-print-approve",
            min=0.0,
            max=1.0,
            help="The brand's own_print_auto_approve: the level for links whose marked own print the crops "
            "confirmed (default: a new brand's).",
        ),
    ] = None,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Train the brand's detector from the catalog first (a train job; REELCART_TRAIN_* "
            "settings), timed as the `train` phase.",
        ),
    ] = False,
    detector_card: Annotated[
        Path | None,
        typer.Option(
            "--detector-card",
            help="Register this trained detector (a card beside its ONNX file) as the brand's, as a "
            "train job would.",
        ),
    ] = None,
    leave_out: Annotated[
        int,
        typer.Option(
            "--leave-out",
            min=0,
            help="Leave this many of the truth's product SKUs out of the catalog: their shots measure "
            "a product the brand does not sell (any approved placement there is wrong).",
        ),
    ] = 0,
    leave_out_seed: Annotated[
        int, typer.Option("--leave-out-seed", help="Which SKUs --leave-out draws (a seeded choice).")
    ] = 0,
) -> None:
    """Tag and link a labelled episode the way a brand's tag job does, and score every shot."""
    if train and detector_card is not None:
        _fail("give --train or --detector-card, not both")
    if detector_card is not None and not detector_card.is_file():
        _fail(f"detector card {detector_card} does not exist")
    for path, what in ((catalog, "catalog"), (video, "video"), (truth, "truth file")):
        if not path.is_file():
            _fail(f"{what} {path} does not exist")
    try:
        shots = read_truth(truth)
        left_out = choose_left_out(shots, leave_out, leave_out_seed)
    except TaggerError as error:
        _fail(str(error))
    # The tag job below reads both; a setting set wrong is said here in one line, not as its traceback.
    load_settings()
    load_tagger_settings()
    console = Console(stderr=True)
    if left_out:
        console.print(
            f"left out of the catalog (seed {leave_out_seed}): {', '.join(sorted(left_out))}",
            markup=False,
            highlight=False,
        )
    with tempfile.TemporaryDirectory(prefix="reelcart-eval-") as scratch:
        brand_detector = BrandDetectorChoice(train=train, card=detector_card)
        levels = ApprovalLevels(auto_approve=auto_approve, own_print=own_print_approve)
        report = _evaluate(catalog, video, shots, Path(scratch), levels, brand_detector, console, left_out)
    if left_out:
        report["left_out"] = {"seed": leave_out_seed, "skus": sorted(left_out)}
    text = json.dumps(report, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"report written to {out}", markup=False, highlight=False)


def _evaluate(
    catalog: Path,
    video: Path,
    shots: list[TruthShot],
    scratch: Path,
    levels: ApprovalLevels,
    brand_detector: BrandDetectorChoice,
    console: Console,
    left_out: frozenset[str],
) -> dict[str, Any]:
    configured = get_settings()
    settings = configured.model_copy(
        update={
            "database_url": f"sqlite:///{scratch / 'eval.db'}",
            "media_dir": scratch / "media",
            "media_import_roots": [video.resolve().parent],
            "worker_threads": 0,
        }
    )
    settings.media_dir.mkdir(parents=True)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    started = time.perf_counter()
    try:
        with Session(engine, expire_on_commit=False) as session:
            brand = Brand(name="Evaluation", slug="evaluation")
            if levels.auto_approve is not None:
                brand.auto_approve_threshold = levels.auto_approve
                brand.link_floor = min(brand.link_floor, levels.auto_approve)
            if levels.own_print is not None:
                brand.own_print_auto_approve = levels.own_print
            session.add(brand)
            session.commit()
            imported = import_catalog_file(session, brand.id, catalog, settings.media_dir, skip_skus=left_out)
            session.commit()
            console.print(f"catalog: {imported[0]} products imported", markup=False, highlight=False)
            episode = register_episode(
                session, settings, brand_id=brand.id, title=video.name, path=video.resolve(), source="path"
            )
            job = TagJob(brand_id=brand.id, episode_id=episode.id)
            session.add(job)
            session.commit()
    except CatalogImportError as error:
        first = error.errors[0] if error.errors else None
        _fail(f"{catalog.name}: {error}" + (f" (first: {first})" if first is not None else ""))
    except (ApiError, CommerceError, TaggerError) as error:
        _fail(str(error))
    train_s, detector_name = _brand_detector(engine, settings, brand.id, brand_detector, console)
    tag_function = PipelineTagFunction(
        settings, linking=LinkingService(engine, settings), brand_detectors=BrandDetectorCards(engine)
    )
    console.print(f"tagging {video.name}: index, detect, track, link", markup=False, highlight=False)
    run_to_end(TagJobExecutor(engine, settings, tag_function), job.id)
    wall_s = time.perf_counter() - started
    with Session(engine) as session:
        done = session.get(TagJob, job.id)
        if done is None or done.state != JobState.DONE:
            _fail(f"the tag job failed: {done.error if done is not None else 'it vanished'}")
        assert done is not None
        placements = scored_placements(session, brand.id, episode.id)
        summary, seconds = done.summary, dict(done.seconds)
    if train_s is not None:
        seconds["train"] = round(train_s, 3)
    score = score_episode(shots, placements, left_out=left_out, auto_approve=brand.auto_approve_threshold)
    duration_s = episode.duration_ms / 1000
    _print(console, score, seconds, duration_s, wall_s, brand.auto_approve_threshold)
    engine.dispose()
    return {
        "video": {
            "file": video.name,
            "duration_s": duration_s,
            "width": episode.width,
            "height": episode.height,
        },
        "catalog": {"file": catalog.name, "products": imported[0]},
        "auto_approve_threshold": brand.auto_approve_threshold,
        "own_print_auto_approve": brand.own_print_auto_approve,
        "brand_detector": detector_name,
        "job_summary": summary,
        "score": score.to_json(),
        "seconds": {**seconds, "wall": round(wall_s, 3)},
        "tag_job_realtime_factor": round(
            duration_s / max(seconds.get("tag_total", 0) + seconds.get("link", 0), 1e-9), 2
        ),
    }


@dataclass(frozen=True, slots=True)
class ApprovalLevels:
    """The evaluation brand's approval levels; None keeps a new brand's."""

    auto_approve: float | None = None
    own_print: float | None = None


@dataclass(frozen=True, slots=True)
class BrandDetectorChoice:
    train: bool = False
    card: Path | None = None


def _brand_detector(
    engine: Engine,
    settings: ApiSettings,
    brand_id: uuid.UUID,
    choice: BrandDetectorChoice,
    console: Console,
) -> tuple[float | None, str | None]:
    """(train seconds, detector name): trains one through a real train job, or registers a given card
    (after the checks a train job makes: it loads and matches its sha256); (None, None) for neither."""
    if choice.card is not None:
        card = choice.card.resolve()
        try:
            detector = load_detector_card(card)
        except TaggerError as error:
            _fail(f"detector card {card}: {error}")
        with Session(engine) as session:
            fingerprint = training_set(session, brand_id).fingerprint
            session.add(
                BrandDetector(
                    brand_id=brand_id,
                    name=detector.spec.card.name,
                    card_path=str(card),
                    sha256=detector.sha256,
                    classes=len(detector.spec.class_names),
                    catalog_fingerprint=fingerprint,
                )
            )
            session.commit()
        console.print(f"brand detector: {detector.spec.card.name} (given)", markup=False, highlight=False)
        return None, detector.spec.card.name
    if not choice.train:
        return None, None
    with Session(engine) as session:
        try:
            job = queue_train_job(session, None, brand_id)
        except ApiError as error:
            _fail(error.detail)
        job_id = job.id
    console.print("training the brand's detector", markup=False, highlight=False)
    started = time.perf_counter()
    run_to_end(DetectorTrainExecutor(engine, settings), job_id)
    train_s = time.perf_counter() - started
    with Session(engine) as session:
        trained = session.get(DetectorTrainJob, job_id)
        if trained is None or trained.state != JobState.DONE:
            _fail(f"the train job failed: {trained.error if trained is not None else 'it vanished'}")
        assert trained is not None
        detector_row = session.get(BrandDetector, trained.detector_id)
        name = detector_row.name if detector_row is not None else None
    console.print(f"brand detector: {name} trained in {train_s:.0f} s", markup=False, highlight=False)
    return train_s, name


def sku_by_product(session: Session, brand_id: uuid.UUID) -> dict[str, str]:
    """Each product id (as a string) of the brand to its variant's SKU, the name a truth file uses (with
    several variants, the last SKU in order)."""
    return {
        str(product_id): sku
        for product_id, sku in session.exec(
            select(Variant.product_id, Variant.sku)
            .where(Variant.brand_id == brand_id)
            .order_by(col(Variant.sku))
        ).all()
        if sku
    }


def scored_placements(session: Session, brand_id: uuid.UUID, episode_id: uuid.UUID) -> list[ScoredPlacement]:
    """An episode's stored placements as the scorer reads them, products named by their SKUs."""
    sku_of = sku_by_product(session, brand_id)
    rows = session.exec(select(Placement).where(Placement.episode_id == episode_id)).all()
    scored = []
    for row in rows:
        candidates = tuple(sku_of.get(str(candidate.product_id), "?") for candidate in stored_candidates(row))
        approved = (
            sku_of.get(str(row.chosen_product_id))
            if row.status == PlacementStatus.APPROVED and row.chosen_product_id is not None
            else None
        )
        scored.append(
            ScoredPlacement(
                row.start_ms,
                row.end_ms,
                candidates,
                approved,
                confidence=row.link_confidence,
                contradicted=row.link_contradicted,
                approval_level=row.link_approval_level,
            )
        )
    return scored


def _print(
    console: Console,
    score: EpisodeScore,
    seconds: dict[str, float],
    duration_s: float,
    wall_s: float,
    auto_approve: float,
) -> None:
    rates = score.rates()
    table = Table(title="episode evaluation (per product shot)", title_justify="left")
    for column in ("measure", "count", "rate"):
        table.add_column(column, justify="right")
    table.add_row("product shots", str(score.product_shots), "")
    table.add_row("found (a placement in the shot)", str(score.found), f"{rates['found']:.2f}")
    table.add_row("linked right, top-1", str(score.top1_right), f"{rates['top1']:.2f}")
    table.add_row("linked right, top-5", str(score.top5_right), f"{rates['top5']:.2f}")
    table.add_row("auto-approved shots", str(score.auto_approved_shots), f"{rates['auto_approved']:.2f}")
    table.add_row(
        "auto-approved placements right / wrong",
        f"{score.auto_approved_right} / {score.auto_approved_wrong}",
        "",
    )
    delays = score.delays_ms()
    if delays:
        table.add_row(
            "time to a found product's first placement, median / max",
            _median_and_max(delays),
            "",
        )
    shown = score.shown_share()
    if shown is not None:
        table.add_row("time a product is in view with a placement on screen", "", f"{shown:.2f}")
    if score.later_products:
        # (The measure column is right-aligned: these rows name what they count in full.)
        table.add_row("products brought into a shot later", str(score.later_products), "")
        table.add_row(
            "later products linked right, top-1", str(score.later_linked), f"{rates['later_linked']:.2f}"
        )
        table.add_row("later products auto-approved", str(score.later_approved), "")
        later_delays = score.later_delays_ms()
        if later_delays:
            table.add_row(
                "time to a linked later product's first placement, median / max",
                _median_and_max(later_delays),
                "",
            )
    table.add_row(
        f"placements on {score.product_free_shots} product-free shots",
        str(score.placements_on_product_free_shots),
        "",
    )
    if score.left_out_shots:
        table.add_row("shots of products left out of the catalog", str(score.left_out_shots), "")
        table.add_row(
            "  with a placement (some other SKU)",
            str(score.left_out_with_placements),
            f"{rates['left_out_with_placements']:.2f}",
        )
        table.add_row(
            "  auto-approved (wrong product)",
            str(score.left_out_auto_approved),
            f"{rates['left_out_auto_approved']:.2f}",
        )
    edge = score.near_threshold
    bars = " or ".join(f"{bar:g}" for bar in sorted({n.level for n in edge} | {auto_approve}))
    table.add_row(
        f"links within {NEAR_THRESHOLD:g} of their bar ({bars}): approved / not",
        f"{sum(n.approved for n in edge)} / {sum(not n.approved for n in edge)}",
        "",
    )
    table.add_row(
        "  of those not approved, a wrong product",
        str(sum(not n.approved and n.right is not True for n in edge)),
        "",
    )
    console.print(table)
    phases = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    console.print(f"{duration_s:.1f} s episode; {phases}; wall {wall_s:.1f} s", markup=False, highlight=False)


def _median_and_max(delays: list[int]) -> str:
    """Waits (ms, shortest first) as "median / max" seconds."""
    return f"{statistics.median(delays) / 1000:.1f} / {delays[-1] / 1000:.1f} s"
