"""`reelcart tag VIDEO`: run the tagging pipeline on one file, no database, and write its JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli._common import load_tagger_settings
from tagger.detection.factory import load_detector
from tagger.detection.onnx_backend import DEVICE_PROVIDERS
from tagger.exceptions import TaggerError
from tagger.linking import FusionModel, Linker, LinkThresholds, build_catalog_index, load_extractor
from tagger.linking.dataset import read_catalog_csv
from tagger.linking.decision import DEFAULT_AUTO_APPROVE, DEFAULT_FLOOR, DEFAULT_OWN_PRINT_APPROVE
from tagger.pipeline import tag_video
from tagger.settings import TaggerSettings


def register(app: typer.Typer) -> None:
    app.command("tag", help="Find, follow and time the products in a video; writes placements as JSON.")(tag)


def tag(
    video: Annotated[Path, typer.Argument(help="The episode file (any format FFmpeg reads).")],
    *,
    model: Annotated[
        str | None, typer.Option("--model", help="Detector card name, card file, or a carded .onnx file.")
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            help="Also link each placement to this catalog (CSV with sku,title,image; images relative to it; "
            "the import CSV of `reelcart catalog import` works): placements then carry sku_candidates.",
        ),
    ] = None,
    auto_approve: Annotated[
        float,
        typer.Option("--auto-approve", min=0.0, max=1.0, help="With --catalog: the approval threshold."),
    ] = DEFAULT_AUTO_APPROVE,
    floor: Annotated[
        float, typer.Option("--floor", min=0.0, max=1.0, help="With --catalog: below it a link is unknown.")
    ] = DEFAULT_FLOOR,
    own_print_approve: Annotated[
        float,
        typer.Option(
            "--own-print-approve",
            min=0.0,
            max=1.0,
            help="With --catalog: the approval level of a link whose marked own print (the catalog's "
            "own_print column) the crops confirmed; at or above --auto-approve it changes nothing.",
        ),
    ] = DEFAULT_OWN_PRINT_APPROVE,
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON here instead of stdout.")] = None,
    sample_fps: Annotated[
        float | None, typer.Option("--sample-fps", min=0.01, max=120.0, help="Detector runs per second.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or coreml.")] = "cpu",
    thumbnails: Annotated[
        Path, typer.Option("--thumbnails", help="Folder for the placements' thumbnails.")
    ] = Path("var/thumbnails"),
) -> None:
    err = Console(stderr=True)
    if device not in DEVICE_PROVIDERS:
        _fail(f"unknown device {device!r}; use one of {', '.join(DEVICE_PROVIDERS)}")
    if floor > auto_approve:
        _fail(f"--floor ({floor}) must not exceed --auto-approve ({auto_approve})")
    updates: dict[str, object] = {"execution_providers": DEVICE_PROVIDERS[device]}
    if sample_fps is not None:
        updates["sample_fps"] = sample_fps
    settings = load_tagger_settings(**updates)
    try:
        detector = load_detector(settings, model)
        linker = _catalog_linker(catalog, settings, err) if catalog is not None else None
        thresholds = LinkThresholds(
            auto_approve=auto_approve, floor=floor, own_print_approve=own_print_approve
        )
        with _bars(err) as bar:
            detecting = bar.add_task(f"tagging {video.name}", total=1.0)
            linking = bar.add_task("linking placements", total=None, visible=linker is not None)
            result = tag_video(
                video,
                settings=settings,
                thumbnails_dir=thumbnails,
                detector=detector,
                progress=lambda done: bar.update(detecting, completed=done),
                linker=linker,
                thresholds=thresholds,
                link_progress=lambda done, total: bar.update(linking, completed=done, total=total),
            )
    except TaggerError as error:
        _fail(str(error))
    text = json.dumps(result.to_json(), indent=2)
    if result.empty_reason is not None:
        typer.echo(f"no placements: {result.empty_reason}", err=True)
    if out is None:
        sys.stdout.write(text + "\n")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    timing = result.timing
    typer.echo(
        f"{len(result.placements)} placements in {timing.total_s:.1f} s "
        f"({timing.realtime_factor:.1f}x real time) -> {out}",
        err=True,
    )


def _bars(err: Console) -> Progress:
    """Progress bars on the terminal's stderr; nothing when it is not a terminal (JSON may go to stdout)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def _catalog_linker(catalog: Path, settings: TaggerSettings, err: Console) -> Linker:
    """A linker over `catalog`'s images, indexed in memory for this run (the API keeps its indexes)."""
    items = read_catalog_csv(catalog)
    extractor = load_extractor(settings.model_dir)
    with _bars(err) as bar:
        task = bar.add_task(f"indexing {len(items)} catalog products", total=len(items))
        index = build_catalog_index(
            items, extractor, on_progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    for skipped in index.skipped:
        err.print(f"skipped {skipped.sku} {skipped.source}: {skipped.reason}", markup=False, highlight=False)
    return Linker(index, extractor, FusionModel.load())


def _fail(message: str) -> NoReturn:
    # One line, never wrapped to the terminal width, no markup read into paths or brackets.
    typer.echo(f"error: {message.splitlines()[0] if message else 'tagging failed'}", err=True)
    raise typer.Exit(code=1)
