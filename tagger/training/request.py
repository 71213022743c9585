"""What the trainer subprocess is asked to do and what it says back: plain JSON both ways, so the API
and the worker (which never import torch) talk to the `train` virtualenv through a file and stdout."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tagger.training.errors import TrainingError
from tagger.training.synthetic import ProductShots, SyntheticConfig

# A line the trainer prints starts with this, so ultralytics' own log lines are told apart.
EVENT_PREFIX = "@reelcart "


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """How long and how big: the knobs that trade training time for accuracy."""

    model_yaml: str = "yolov8n.yaml"  # built from its yaml: no pretrained weights are fetched
    epochs: int = 30
    time_hours: float | None = None  # ultralytics stops at this wall time whatever `epochs` says
    batch: int = 16
    device: str = "auto"  # "auto": the first CUDA device when there is one, else the CPU
    workers: int = 2  # data-loading processes on CUDA (ultralytics loads in-process on the CPU)
    # Torch threads on the CPU; None: every core this process may use.
    threads: int | None = None
    patience: int = 100
    # One class, "product", for every SKU: the linker, not the detector, says which SKU a placement is,
    # and one class shares every label's training signal (what a short CPU budget needs). Off: one
    # class per product (the card names them).
    single_class: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1 or self.workers < 0:
            raise ValueError("epochs and batch must be positive, workers not negative")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be positive (or None for every core)")
        if self.time_hours is not None and self.time_hours <= 0:
            raise ValueError("time_hours must be positive")


@dataclass(frozen=True, slots=True)
class TrainRequest:
    """Everything one training run needs; `out_dir` receives `<name>.onnx` and `<name>.toml`."""

    name: str  # the detector card's name, e.g. "brand-acme-3"
    brand: str
    products: tuple[ProductShots, ...]
    backgrounds: tuple[Path, ...]
    out_dir: Path
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    options: TrainOptions = field(default_factory=TrainOptions)
    frames_per_video: int = 24

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, default=str, indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainRequest:
        try:
            data: dict[str, Any] = json.loads(text)
            return cls(
                name=str(data["name"]),
                brand=str(data["brand"]),
                products=tuple(
                    ProductShots(name=str(p["name"]), packshots=tuple(Path(s) for s in p["packshots"]))
                    for p in data["products"]
                ),
                backgrounds=tuple(Path(p) for p in data["backgrounds"]),
                out_dir=Path(data["out_dir"]),
                synthetic=SyntheticConfig(**data.get("synthetic", {})),
                options=TrainOptions(**data.get("options", {})),
                frames_per_video=int(data.get("frames_per_video", 24)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise TrainingError(f"malformed training request: {error}") from error


@dataclass(frozen=True, slots=True)
class TrainEvent:
    """One progress report: `phase` is synthesise, train, export, done or error."""

    phase: str
    fraction: float  # of the whole run, 0-1
    message: str = ""
    result: dict[str, Any] | None = None

    def line(self) -> str:
        return EVENT_PREFIX + json.dumps(asdict(self))


def parse_event(line: str) -> TrainEvent | None:
    """The event on a line of the trainer's output, or None for any other line."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        data = json.loads(line[len(EVENT_PREFIX) :])
        return TrainEvent(
            phase=str(data["phase"]),
            fraction=float(data["fraction"]),
            message=str(data.get("message", "")),
            result=data.get("result"),
        )
    except (ValueError, KeyError, TypeError):
        return None
