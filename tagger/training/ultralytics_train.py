"""Train, export and card a brand's detector with ultralytics. Runs only inside the `train`
virtualenv (torch, ultralytics: AGPL-3.0): the API and the worker start it as a subprocess
(`python -m tagger.training.run`) and never import this module, so it imports ultralytics lazily."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tagger.training.backgrounds import load_backgrounds
from tagger.training.card import TrainedModel, render_card
from tagger.training.errors import TrainingError
from tagger.training.request import TrainEvent, TrainRequest
from tagger.training.synthetic import SyntheticSummary, build_dataset

Emit = Callable[[TrainEvent], None]
# The one class of a single-class detector (ultralytics calls it "item"; the card names it). Not
# "product": that is the label of products located by their print (tagger.locating), which placements
# keep even when the linker hesitates; a trained detector's boxes must still be explained by a SKU.
SINGLE_CLASS_NAME = "brand-product"
# Share of the run's progress bar per phase (training dominates every measured run).
_SYNTHESISE, _TRAIN, _EXPORT = 0.1, 0.85, 0.05
# Ultralytics draws labels with Arial and downloads it when missing; any local TTF under that name
# serves (no download, YOLO_OFFLINE). Looked for in matplotlib (an ultralytics dependency), then Debian.
_FONT_CANDIDATES = ("DejaVuSans.ttf",)
_SYSTEM_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)


def prepare_offline(config_dir: Path) -> None:
    """Point ultralytics at a project folder with a local font, and keep it off the network."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    target = config_dir / "Ultralytics"
    target.mkdir(parents=True, exist_ok=True)
    font = _local_font()
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if font is not None and not (target / name).exists():
            shutil.copyfile(font, target / name)


def _local_font() -> Path | None:
    try:
        import matplotlib  # noqa: PLC0415 - only present in the train virtualenv

        folders = [Path(matplotlib.get_data_path()) / "fonts" / "ttf", *_SYSTEM_FONT_DIRS]
    except ImportError:
        folders = list(_SYSTEM_FONT_DIRS)
    for folder in folders:
        for name in _FONT_CANDIDATES:
            if (folder / name).is_file():
                return folder / name
    return None


def _device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch  # noqa: PLC0415 - train virtualenv only

    return "0" if torch.cuda.is_available() else "cpu"


def train(request: TrainRequest, emit: Emit) -> Path:
    """Synthesise, train, export; writes `<name>.onnx` and `<name>.toml` into `request.out_dir` only
    when everything succeeded (a failed run leaves nothing there). Returns the card's path."""
    request.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".train-", dir=request.out_dir) as scratch:
        work = Path(scratch)
        emit(TrainEvent("synthesise", 0.0, f"{len(request.products)} products"))
        backgrounds = load_backgrounds(request.backgrounds, request.frames_per_video)
        data = build_dataset(request.products, backgrounds, work / "data", request.synthetic)
        emit(
            TrainEvent(
                "synthesise",
                _SYNTHESISE,
                f"{data.train_images} training and {data.val_images} held-out images "
                f"over {len(backgrounds)} backgrounds",
            )
        )
        prepare_offline(work / "ultralytics-config")
        device = _device(request.options.device)
        started = time.monotonic()
        best, epochs_run, metrics = _fit(request, data, work, device, emit)
        train_seconds = time.monotonic() - started
        emit(TrainEvent("export", _SYNTHESISE + _TRAIN, "exporting ONNX"))
        exported = _export(best, request.synthetic.image_size)
        staged_onnx = work / f"{request.name}.onnx"
        shutil.move(exported, staged_onnx)
        model = TrainedModel(
            name=request.name,
            brand=request.brand,
            onnx_path=staged_onnx,
            image_size=request.synthetic.image_size,
            model_yaml=request.options.model_yaml,
            epochs_run=epochs_run,
            train_seconds=train_seconds,
            device=device,
            metrics=metrics,
            class_names=(SINGLE_CLASS_NAME,) if request.options.single_class else data.classes,
        )
        staged_card = work / f"{request.name}.toml"
        staged_card.write_text(render_card(model, data), encoding="utf-8")
        # The model first, the card last: a card is what makes a model visible, so a crash between
        # the two moves leaves an orphan file, never a card pointing at nothing.
        onnx_path = request.out_dir / staged_onnx.name
        card_path = request.out_dir / staged_card.name
        shutil.move(staged_onnx, onnx_path)
        shutil.move(staged_card, card_path)
    return card_path


def _fit(
    request: TrainRequest, data: SyntheticSummary, work: Path, device: str, emit: Emit
) -> tuple[Path, int, dict[str, float]]:
    from ultralytics import YOLO  # noqa: PLC0415 - train virtualenv only (AGPL-3.0, torch)

    options = request.options
    model = YOLO(options.model_yaml)
    started = time.monotonic()

    def on_epoch_end(trainer: Any) -> None:
        epochs = max(int(trainer.epochs), 1)
        done = (int(trainer.epoch) + 1) / epochs
        if options.time_hours:  # a time budget ends the run before `epochs` when it is tighter
            done = max(done, (time.monotonic() - started) / (options.time_hours * 3600))
        loss_text = _loss_text(getattr(trainer, "tloss", None))
        emit(
            TrainEvent(
                "train",
                _SYNTHESISE + _TRAIN * min(done, 1.0),
                f"epoch {int(trainer.epoch) + 1}/{epochs}{loss_text}",
            )
        )

    def use_every_core(trainer: Any) -> None:
        threads = _claim_cores(trainer, options.threads)
        where = f"the CPU, {threads} torch threads" if threads else f"device {device}"
        emit(TrainEvent("train", _SYNTHESISE, f"training on {where}"))

    model.add_callback("on_train_epoch_end", on_epoch_end)
    # ultralytics sets torch to cpu_count - 1 threads when it picks the CPU: one thread on a 2-core
    # machine, where a run used one core of two. This runs after that, before the model is built.
    model.add_callback("on_pretrain_routine_start", use_every_core)
    arguments: dict[str, Any] = {
        "data": str(data.data_yaml),
        "epochs": options.epochs,
        "imgsz": request.synthetic.image_size,
        "batch": options.batch,
        "device": device,
        "workers": options.workers,
        "patience": options.patience,
        # Absolute: ultralytics puts a relative project under its own runs/detect/ in the working folder.
        "project": str((work / "runs").resolve()),
        "name": "train",
        "exist_ok": True,
        "pretrained": False,
        "plots": False,
        "seed": request.synthetic.seed,
        "verbose": False,
        # Printed text reads backwards in a mirror: a flipped packshot is a product that does not exist.
        "fliplr": 0.0,
        "single_cls": options.single_class,
    }
    if options.time_hours:
        arguments["time"] = options.time_hours
    try:
        model.train(**arguments)
    except Exception as error:  # ultralytics and torch raise anything; the job reports it
        raise TrainingError(f"ultralytics training failed: {type(error).__name__}: {error}") from error
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    if not best.is_file():
        raise TrainingError("ultralytics finished without writing weights")
    raw = trainer.metrics or {}
    metrics = {
        "precision": float(raw.get("metrics/precision(B)", 0.0)),
        "recall": float(raw.get("metrics/recall(B)", 0.0)),
        "map50": float(raw.get("metrics/mAP50(B)", 0.0)),
        "map50_95": float(raw.get("metrics/mAP50-95(B)", 0.0)),
    }
    return best, int(trainer.epoch) + 1, metrics


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, which a container may narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _claim_cores(trainer: Any, threads: int | None) -> int | None:
    """Sets torch's CPU threads for the run (`threads`, or every available core) and returns how many;
    None on an accelerator. Data loading stays in the training process, as ultralytics chooses on the
    CPU: worker processes beside two torch threads on two cores measured no faster (BENCHMARKS.md)."""
    import torch  # noqa: PLC0415 - train virtualenv only

    if str(getattr(trainer.device, "type", trainer.device)) != "cpu":
        return None
    torch.set_num_threads(threads or available_cores())
    return int(torch.get_num_threads())


def _loss_text(loss: Any) -> str:
    """The epoch's mean training loss, whatever container this ultralytics version keeps it in."""
    try:
        values = loss.values() if isinstance(loss, dict) else [loss]
        total = sum(float(value.sum()) if hasattr(value, "sum") else float(value) for value in values)
    except (TypeError, ValueError):
        return ""
    return f", loss {total:.3f}"


def _export(weights: Path, image_size: int) -> Path:
    from ultralytics import YOLO  # noqa: PLC0415 - train virtualenv only

    try:
        # Dynamic axes: the graph computes its anchor grid from the input's size instead of baking in
        # image_size x image_size, so the card can say `shape = "fit"` and a 9:16 episode frame is read
        # at 192 x 320 rather than letterboxed into 320 x 320 (44 % of it padding).
        exported = YOLO(str(weights)).export(
            format="onnx", imgsz=image_size, dynamic=True, simplify=False, batch=1
        )
    except Exception as error:  # the exporter's own failures (missing onnx, opset) end the job
        raise TrainingError(f"ONNX export failed: {type(error).__name__}: {error}") from error
    path = Path(str(exported))
    if not path.is_file():
        raise TrainingError(f"ONNX export wrote no file (got {exported!r})")
    return path
