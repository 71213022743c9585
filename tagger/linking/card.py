"""Load an image-encoder model card (TOML) and find its verified ONNX file.

The card says how to feed the encoder (size, channel order, normalization) and how to read its output
(pooled vector or feature map), so any ONNX encoder with a card works, not only our MobileNetV2.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tagger.exceptions import ModelError
from tagger.models.cards import ModelCard, load_card
from tagger.models.registry import verified_model_path

Pooling = Literal["gem", "mean", "max"]
_POOLINGS: tuple[Pooling, ...] = ("gem", "mean", "max")


@dataclass(frozen=True, slots=True)
class EmbedderCard:
    """What an image encoder needs from its card; values are validated on load."""

    header: ModelCard
    input_name: str
    width: int
    height: int
    rgb: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_name: str
    feature_map: bool
    pooling: Pooling
    gem_p: float
    dim: int
    # Optional local descriptors: an intermediate feature map (named tensor) whose cells are compared
    # one by one ("patch" signal); None when the card has no [patches] table.
    patch_output: str | None = None
    patch_side: int = 224
    patch_dim: int = 0

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def sha256(self) -> str:
        return self.header.sha256


def _require(table: dict[str, Any], key: str, kind: type, card: Path) -> Any:
    value = table.get(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise ModelError(f"model card {card}: `{key}` must be a {kind.__name__}, got {value!r}")
    return value


def _triple(table: dict[str, Any], key: str, card: Path) -> tuple[float, float, float]:
    value = table.get(key)
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int | float) for v in value)):
        raise ModelError(f"model card {card}: `{key}` must be a list of three numbers, got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def load_embedder_card(path: Path) -> EmbedderCard:
    """Parse and validate an embedder card; raises `ModelError` naming the field that is wrong."""
    header = load_card(path)  # shared header rules (name, file, sha256, licence) with detector cards
    if header.kind != "image-embedder":
        raise ModelError(f"model card {path}: kind is {header.kind!r}, not 'image-embedder'")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    inputs = data.get("input")
    outputs = data.get("output")
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise ModelError(f"model card {path}: needs [input] and [output] tables")
    layout = _require(outputs, "layout", str, path)
    if layout not in ("NCHW", "NC"):
        raise ModelError(f"model card {path}: output layout must be NCHW or NC, got {layout!r}")
    pooling = outputs.get("pooling", "mean")
    if pooling not in _POOLINGS:
        raise ModelError(f"model card {path}: pooling must be one of {_POOLINGS}, got {pooling!r}")
    order = _require(inputs, "channel_order", str, path)
    if order not in ("RGB", "BGR"):
        raise ModelError(f"model card {path}: channel_order must be RGB or BGR, got {order!r}")
    return EmbedderCard(
        header=header,
        input_name=_require(inputs, "name", str, path),
        width=_require(inputs, "width", int, path),
        height=_require(inputs, "height", int, path),
        rgb=order == "RGB",
        scale=_require(inputs, "scale", float, path),
        mean=_triple(inputs, "mean", path),
        std=_triple(inputs, "std", path),
        output_name=_require(outputs, "name", str, path),
        feature_map=layout == "NCHW",
        pooling=pooling,
        gem_p=float(outputs.get("gem_p", 3.0)),
        dim=_require(outputs, "dim", int, path),
        **_patches(data.get("patches"), path),
    )


def _patches(table: object, path: Path) -> dict[str, Any]:
    """The optional [patches] table: `output` (tensor name), `side` (longest image side), `dim`."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ModelError(f"model card {path}: [patches] must be a table")
    side = _require(table, "side", int, path)
    dim = _require(table, "dim", int, path)
    if not 32 <= side <= 2048 or dim <= 0:
        raise ModelError(
            f"model card {path}: [patches] needs 32 <= side <= 2048 and dim > 0, got {side}, {dim}"
        )
    return {"patch_output": _require(table, "output", str, path), "patch_side": side, "patch_dim": dim}


def verified_model_file(card: EmbedderCard, model_dir: Path) -> Path:
    """The card's ONNX file under `model_dir`; `ModelError` when missing, `ModelChecksumError` when its
    sha256 differs from the card's (a corrupt or different file is never loaded)."""
    return verified_model_path(card.header, model_dir)
