"""`reelcart tag VIDEO`: run the tagging pipeline on one file, no database, and write its JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tagger.detection.factory import load_detector
from tagger.detection.onnx_backend import DEVICE_PROVIDERS
from tagger.exceptions import TaggerError
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
    updates: dict[str, object] = {"execution_providers": DEVICE_PROVIDERS[device]}
    if sample_fps is not None:
        updates["sample_fps"] = sample_fps
    settings = TaggerSettings().model_copy(update=updates)
    try:
        detector = load_detector(settings, model)
        if err.is_terminal:
            with Progress(
                TextColumn("tagging {task.description}"), BarColumn(), TimeElapsedColumn(), console=err
            ) as bar:
                task = bar.add_task(video.name, total=1.0)
                result = tag_video(
                    video,
                    settings=settings,
                    thumbnails_dir=thumbnails,
                    detector=detector,
                    progress=lambda done: bar.update(task, completed=done),
                )
        else:
            result = tag_video(video, settings=settings, thumbnails_dir=thumbnails, detector=detector)
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


def _fail(message: str) -> NoReturn:
    # One line, never wrapped to the terminal width, no markup read into paths or brackets.
    typer.echo(f"error: {message.splitlines()[0] if message else 'tagging failed'}", err=True)
    raise typer.Exit(code=1)
