"""Parse model cards: one TOML file per model in the repository's `models/` folder.

Every card shares a header (name, kind, file, sha256, licence, optional url). Detector cards also
say how to feed the network and read its output, so the layout is never guessed at run time.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tagger.exceptions import ModelError

OutputLayout = Literal["yolox", "ultralytics"]
_LAYOUTS: tuple[OutputLayout, ...] = ("yolox", "ultralytics")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ModelCard:
    """The header every card carries, whatever the model does."""

    name: str
    kind: str
    file: str
    sha256: str
    licence: str
    url: str | None
    card_path: Path


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """How to run a detector: input geometry and colour, output layout, classes."""

    card: ModelCard
    input_name: str | None
    width: int
    height: int
    rgb: bool
    scale: float
    pad_value: int
    # YOLOX pads right/bottom ("top-left"); ultralytics centres the image ("center").
    letterbox_center: bool
    layout: OutputLayout
    strides: tuple[int, ...]
    class_names: tuple[str, ...]
    product_classes: frozenset[str]
    # "fixed": every frame is letterboxed into width x height. "fit": the network is fully
    # convolutional, so a frame is scaled to fit width x height and padded only up to the next
    # multiple of `shape_multiple` (a 9:16 episode frame becomes 256x416 instead of 416x416,
    # ~40% less detector time, same pixels on the object).
    fit_shape: bool = False
    shape_multiple: int = 32

    @property
    def product_class_ids(self) -> frozenset[int]:
        return frozenset(i for i, name in enumerate(self.class_names) if name in self.product_classes)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelError(f"model card not found: {path}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"model card {path} is not valid TOML: {error}") from error


def _field(table: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    value = table.get(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ModelError(f"model card {path}: `{key}` must be a {kind.__name__}, got {value!r}")
    return value


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ModelError(f"model card {path}: needs a [{key}] table")
    return value


def _header(data: dict[str, Any], path: Path) -> ModelCard:
    sha256 = _field(data, "sha256", str, path).lower()
    if not _SHA256.match(sha256):
        raise ModelError(f"model card {path}: `sha256` must be 64 hex digits, got {sha256!r}")
    file = _field(data, "file", str, path)
    if Path(file).name != file:
        raise ModelError(f"model card {path}: `file` must be a bare file name, got {file!r}")
    url = data.get("url")
    if url is not None and not isinstance(url, str):
        raise ModelError(f"model card {path}: `url` must be a string, got {url!r}")
    return ModelCard(
        name=_field(data, "name", str, path),
        kind=_field(data, "kind", str, path),
        file=file,
        sha256=sha256,
        licence=_field(data, "licence", str, path),
        url=url,
        card_path=path,
    )


def load_card(path: Path) -> ModelCard:
    """The header of any card (detector, image embedder, …)."""
    return _header(_read_toml(path), path)


def load_detector_spec(path: Path) -> DetectorSpec:
    """Parse a detector card; raises `ModelError` naming the field that is wrong."""
    data = _read_toml(path)
    card = _header(data, path)
    if card.kind != "detector":
        raise ModelError(f"model card {path}: kind is {card.kind!r}, not 'detector'")
    inputs = _table(data, "input", path)
    outputs = _table(data, "output", path)
    classes = _table(data, "classes", path)
    order = _field(inputs, "channel_order", str, path)
    if order not in ("RGB", "BGR"):
        raise ModelError(f"model card {path}: channel_order must be RGB or BGR, got {order!r}")
    layout = _field(outputs, "layout", str, path)
    if layout not in _LAYOUTS:
        raise ModelError(f"model card {path}: output layout must be one of {_LAYOUTS}, got {layout!r}")
    strides = outputs.get("strides", [])
    if layout == "yolox" and not (
        isinstance(strides, list) and strides and all(isinstance(s, int) and s > 0 for s in strides)
    ):
        raise ModelError(f"model card {path}: a yolox card needs positive integer `strides`, got {strides!r}")
    names = classes.get("names")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise ModelError(f"model card {path}: [classes] names must be a non-empty list of strings")
    products = classes.get("products", names)
    unknown = sorted(set(products) - set(names)) if isinstance(products, list) else ["<not a list>"]
    if unknown:
        raise ModelError(f"model card {path}: product classes not among the class names: {unknown}")
    width, height = _field(inputs, "width", int, path), _field(inputs, "height", int, path)
    if width <= 0 or height <= 0:
        raise ModelError(f"model card {path}: input size must be positive, got {width}x{height}")
    input_name = inputs.get("name")
    fit_shape, multiple = _input_shape(inputs, strides if layout == "yolox" else [], path)
    return DetectorSpec(
        card=card,
        input_name=input_name if isinstance(input_name, str) else None,
        width=width,
        height=height,
        rgb=order == "RGB",
        scale=_field(inputs, "scale", float, path),
        pad_value=int(inputs.get("pad_value", 114)),
        letterbox_center=_letterbox_anchor(inputs, path) == "center",
        layout=layout,
        strides=tuple(strides),
        class_names=tuple(names),
        product_classes=frozenset(products),
        fit_shape=fit_shape,
        shape_multiple=multiple,
    )


def _input_shape(inputs: dict[str, Any], strides: list[int], path: Path) -> tuple[bool, int]:
    """`shape = "fixed" | "fit"` and the multiple a "fit" input is padded to (default: largest stride)."""
    shape = inputs.get("shape", "fixed")
    if shape not in ("fixed", "fit"):
        raise ModelError(f"model card {path}: input shape must be 'fixed' or 'fit', got {shape!r}")
    multiple = inputs.get("multiple", max(strides, default=32))
    if not isinstance(multiple, int) or isinstance(multiple, bool) or multiple <= 0:
        raise ModelError(f"model card {path}: input `multiple` must be a positive integer, got {multiple!r}")
    width, height = inputs["width"], inputs["height"]
    if shape == "fit" and (width % multiple or height % multiple):
        raise ModelError(
            f"model card {path}: a 'fit' input needs width and height divisible by {multiple}, "
            f"got {width}x{height}"
        )
    return shape == "fit", multiple


def _letterbox_anchor(inputs: dict[str, Any], path: Path) -> str:
    anchor = inputs.get("letterbox", "top-left")
    if anchor not in ("top-left", "center"):
        raise ModelError(f"model card {path}: letterbox must be 'top-left' or 'center', got {anchor!r}")
    return str(anchor)


def card_files(cards_dir: Path) -> list[Path]:
    """Every card in the folder, sorted by file name."""
    if not cards_dir.is_dir():
        raise ModelError(f"model cards folder not found: {cards_dir}")
    return sorted(cards_dir.glob("*.toml"))


def find_card(cards_dir: Path, name: str) -> Path:
    """The card whose `name` is `name`; raises `ModelError` listing the names that exist."""
    names = []
    for path in card_files(cards_dir):
        card = load_card(path)
        if card.name == name:
            return path
        names.append(card.name)
    raise ModelError(f"no model card named {name!r} in {cards_dir} (known: {', '.join(names) or 'none'})")
