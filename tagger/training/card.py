"""The model card of a trained detector, in the format of `models/*.toml` (`tagger.models.cards`):
what the runtime needs to feed and read it, and what it was trained on and how well it did."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tagger.models.registry import sha256_file
from tagger.training.synthetic import SyntheticSummary

LICENCE = "AGPL-3.0 (trained with ultralytics)"
# The largest stride of a YOLOv8 head: a "fit" input is padded to a multiple of it.
STRIDE_MULTIPLE = 32


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """What the trainer reports about one finished run, for the card."""

    name: str
    brand: str
    onnx_path: Path
    image_size: int
    model_yaml: str
    epochs_run: int
    train_seconds: float
    device: str
    metrics: Mapping[str, float]  # on the held-out synthetic split
    class_names: tuple[str, ...]  # the model's output classes: the products, or "product" alone


def _toml(value: object) -> str:
    # JSON strings, numbers and lists of them are valid TOML values.
    return json.dumps(value)


def render_card(model: TrainedModel, data: SyntheticSummary) -> str:
    """TOML text for the card; the sha256 is taken from the exported file itself."""
    config = data.config
    lines = [
        f"# A detector trained by ReelCart for brand {model.brand!r} from its packshots alone (synthetic",
        "# composites, no hand annotation), from scratch: no pretrained weights are fetched offline.",
        f"name = {_toml(model.name)}",
        'kind = "detector"',
        f"file = {_toml(model.onnx_path.name)}",
        f"sha256 = {_toml(sha256_file(model.onnx_path))}",
        f"size_bytes = {model.onnx_path.stat().st_size}",
        f"licence = {_toml(LICENCE)}",
        f"brand = {_toml(model.brand)}",
        "",
        "[input]",
        'name = "images"',
        f"width = {model.image_size}",
        f"height = {model.image_size}",
        'channel_order = "RGB"',
        f"scale = {1 / 255!r}              # pixels / 255",
        "pad_value = 114",
        'letterbox = "center"',
        'shape = "fit"                # exported with dynamic axes: no padding beyond the next multiple',
        f"multiple = {STRIDE_MULTIPLE}",
        "",
        "[output]",
        'layout = "ultralytics"        # 1 x (4 + nc) x N: cx, cy, w, h (input pixels), class scores',
        "",
        "[classes]",
        f"names = {_toml(list(model.class_names))}",
        f"trained_products = {len(data.classes)}",
        "",
        "[training]",
        f"model = {_toml(model.model_yaml)}",
        'weights = "none (from scratch)"',
        f"epochs = {model.epochs_run}",
        f"seconds = {model.train_seconds:.0f}",
        f"device = {_toml(model.device)}",
        f"image_size = {model.image_size}",
        f"seed = {config.seed}",
        f"train_images = {data.train_images}",
        f"train_instances = {data.train_instances}",
        f"val_images = {data.val_images}",
        f"val_instances = {data.val_instances}",
        f"train_backgrounds = {data.train_backgrounds}",
        f"val_backgrounds = {data.val_backgrounds}  # held out: the training split never sees them",
        f"procedural_backgrounds = {str(data.procedural_backgrounds).lower()}",
        f"whole_rectangle_classes = {_toml(list(data.whole_rectangle))}",
        f"skipped_packshots = {len(data.skipped_packshots)}",
        "",
        "[metrics]  # on the held-out synthetic split",
        *(f"{key} = {value:.4f}" for key, value in sorted(model.metrics.items())),
        "",
    ]
    return "\n".join(lines)
