"""A detector's training set from a brand's packshots alone: every product cut out of its plain
background and pasted, at random scale, rotation, perspective, lighting, colour, blur and partial
occlusion (hand-like blobs, the frame's edges, other products), onto background pictures. Labels are
YOLO text files; a held-out split is drawn from backgrounds the training split never sees.

Pure numpy/OpenCV and deterministic for a seed: the same packshots, backgrounds and config give the
same bytes, so a model card can say exactly what a detector was trained on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tagger.arrays import FloatArray, Image
from tagger.training.cutout import Cutout, cut_out, read_packshot
from tagger.training.errors import PackshotError, TrainingError

Rng = np.random.Generator
# Every n-th background (by sorted position) is reserved for the held-out split.
_VAL_BACKGROUND_EVERY = 6
_JPEG_QUALITY = 90
_HAND = -1  # owner id of occluder pixels in the ownership map


@dataclass(frozen=True, slots=True)
class ProductShots:
    """One class of the detector: a product (its SKU names the class) and its packshot files."""

    name: str
    packshots: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    image_size: int = 320
    train_per_class: int = 30  # images in which the class is the main object
    val_per_class: int = 4
    max_objects: int = 3  # products per image, main one included
    min_scale: float = 0.25  # longest side of a pasted product / image side
    max_scale: float = 0.9
    max_rotation_deg: float = 25.0
    max_perspective: float = 0.12  # corner jitter / product size
    hand_probability: float = 0.5
    edge_probability: float = 0.2  # the main product is cut by the frame's edge
    blur_probability: float = 0.4
    min_visible: float = 0.35  # a product less visible than this is not labelled (nor kept)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.train_per_class < 1 or self.val_per_class < 0:
            raise ValueError("image_size >= 32, train_per_class >= 1 and val_per_class >= 0 are required")
        if self.image_size % 32:
            # YOLO's largest stride: ultralytics would silently train at the next multiple, and the
            # card (which says the size) would then describe a network that was never trained.
            raise ValueError(f"image_size must be a multiple of 32, got {self.image_size}")
        if not 0.0 < self.min_scale <= self.max_scale <= 1.5:
            raise ValueError("0 < min_scale <= max_scale <= 1.5 is required")
        if self.max_objects < 1:
            raise ValueError("max_objects must be at least 1")


@dataclass(frozen=True, slots=True)
class SyntheticSummary:
    """What was written, for the model card's training-data section."""

    data_yaml: Path
    classes: tuple[str, ...]
    train_images: int
    val_images: int
    train_instances: int
    val_instances: int
    train_backgrounds: int
    val_backgrounds: int
    procedural_backgrounds: bool
    whole_rectangle: tuple[str, ...]  # classes whose packshot had no plain background to cut away
    skipped_packshots: tuple[str, ...] = field(default=())  # unreadable files, skipped with their reason
    config: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True, slots=True)
class _Placed:
    class_id: int
    alpha: Image  # image-sized opacity of this product after warping
    full_area: float  # its area before the frame's edges cut it


def load_cutouts(products: Sequence[ProductShots]) -> tuple[list[list[Cutout]], list[str]]:
    """Cut-outs per class, and the packshots that could not be read (with why). A class left with no
    readable packshot is an error: it could never be learned."""
    cutouts: list[list[Cutout]] = []
    skipped: list[str] = []
    for product in products:
        mine = []
        for path in product.packshots:
            try:
                mine.append(cut_out(*read_packshot(path)))
            except PackshotError as error:
                skipped.append(str(error))
        if not mine:
            raise TrainingError(
                f"product {product.name!r} has no readable packshot ({len(product.packshots)} given)"
            )
        cutouts.append(mine)
    return cutouts, skipped


def build_dataset(
    products: Sequence[ProductShots],
    backgrounds: Sequence[Image],
    out_dir: Path,
    config: SyntheticConfig | None = None,
) -> SyntheticSummary:
    """Write images/{train,val}, labels/{train,val} and data.yaml under `out_dir`."""
    config = config or SyntheticConfig()
    if not products:
        raise TrainingError("no products with packshots: nothing to train a detector on")
    names = [product.name for product in products]
    if len(set(names)) != len(names):
        raise TrainingError("product names must be unique: they are the detector's class names")
    cutouts, skipped = load_cutouts(products)
    train_bg = [bg for i, bg in enumerate(backgrounds) if i % _VAL_BACKGROUND_EVERY != 0]
    val_bg = [bg for i, bg in enumerate(backgrounds) if i % _VAL_BACKGROUND_EVERY == 0]
    if not train_bg:  # one or no background: both splits share it rather than train on nothing
        train_bg = list(backgrounds)
    if not val_bg:
        val_bg = list(backgrounds)
    root = np.random.SeedSequence(config.seed)
    train_seed, val_seed = root.spawn(2)
    counts = {}
    for split, pool, per_class, seed in (
        ("train", train_bg, config.train_per_class, train_seed),
        ("val", val_bg, config.val_per_class, val_seed),
    ):
        counts[split] = _write_split(
            out_dir, split, cutouts, pool, per_class, np.random.default_rng(seed), config
        )
    data_yaml = out_dir / "data.yaml"
    # JSON is YAML: the class names (SKUs may hold any character) need no YAML quoting rules.
    data_yaml.write_text(
        "\n".join(
            (
                f"path: {json.dumps(str(out_dir.resolve()))}",
                'train: "images/train"',
                'val: "images/val"',
                f"names: {json.dumps(names)}",
                "",
            )
        ),
        encoding="utf-8",
    )
    return SyntheticSummary(
        data_yaml=data_yaml,
        classes=tuple(names),
        train_images=counts["train"][0],
        val_images=counts["val"][0],
        train_instances=counts["train"][1],
        val_instances=counts["val"][1],
        train_backgrounds=len(train_bg),
        val_backgrounds=len(val_bg),
        procedural_backgrounds=not backgrounds,
        whole_rectangle=tuple(
            name for name, mine in zip(names, cutouts, strict=True) if all(c.whole_rectangle for c in mine)
        ),
        skipped_packshots=tuple(skipped),
        config=config,
    )


def _write_split(
    out_dir: Path,
    split: str,
    cutouts: list[list[Cutout]],
    backgrounds: Sequence[Image],
    per_class: int,
    rng: Rng,
    config: SyntheticConfig,
) -> tuple[int, int]:
    images_dir, labels_dir = out_dir / "images" / split, out_dir / "labels" / split
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    # Round robin over classes so each is the main object equally often, whatever the catalog size.
    order = [class_id for _ in range(per_class) for class_id in range(len(cutouts))]
    instances = 0
    for index, main in enumerate(order):
        image, labels = compose(main, cutouts, backgrounds, rng, config)
        stem = f"{index:06d}"
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:
            raise TrainingError(f"cannot encode synthetic image {stem}")
        (images_dir / f"{stem}.jpg").write_bytes(encoded.tobytes())
        (labels_dir / f"{stem}.txt").write_text(
            "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels), encoding="utf-8"
        )
        instances += len(labels)
    return len(order), instances


def compose(
    main: int,
    cutouts: list[list[Cutout]],
    backgrounds: Sequence[Image],
    rng: Rng,
    config: SyntheticConfig,
) -> tuple[Image, list[tuple[int, float, float, float, float]]]:
    """One synthetic picture and its YOLO labels (class, cx, cy, w, h normalised)."""
    size = config.image_size
    canvas = _background(backgrounds, size, rng).astype(np.float32)
    owner = np.full((size, size), _HAND, dtype=np.int16)
    extra = int(rng.integers(0, config.max_objects)) if len(cutouts) > 1 else 0
    others = [int(c) for c in rng.choice(len(cutouts), size=extra)] if extra else []
    # Other products are pasted first, so the main one (the held product) is on top, as in a shot.
    placed: list[_Placed] = []
    for slot, class_id in enumerate([*others, main]):
        is_main = slot == len(others)
        variants = cutouts[class_id]
        cutout = variants[int(rng.integers(len(variants)))]
        at_edge = is_main and rng.random() < config.edge_probability
        scale = rng.uniform(config.min_scale, config.max_scale) * (1.0 if is_main else 0.7)
        warped = _warp(_recolour(cutout, rng), scale, at_edge, size, rng, config)
        if warped is None:
            continue
        pixels, alpha, full_area = warped
        weight = alpha.astype(np.float32)[:, :, None] / 255.0
        canvas = canvas * (1.0 - weight) + pixels.astype(np.float32) * weight
        owner[alpha >= 128] = len(placed)
        placed.append(_Placed(class_id=class_id, alpha=alpha, full_area=full_area))
    if placed and rng.random() < config.hand_probability:
        canvas = _hand(canvas, owner, placed[-1].alpha, rng)
    image = _finish(canvas, rng, config)
    labels = []
    for index, item in enumerate(placed):
        visible = owner == index
        count = int(np.count_nonzero(visible))
        if count == 0 or count / max(item.full_area, 1.0) < config.min_visible:
            continue
        ys, xs = np.nonzero(visible)
        left, right, top, bottom = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        if right - left < 4 or bottom - top < 4:
            continue
        labels.append(
            (
                item.class_id,
                (left + right) / 2 / size,
                (top + bottom) / 2 / size,
                (right - left) / size,
                (bottom - top) / size,
            )
        )
    return image, labels


def _background(backgrounds: Sequence[Image], size: int, rng: Rng) -> Image:
    """A random square crop of a random background, flipped half the time; noise and a gradient when
    there are no backgrounds at all (a detector must not learn "product = anything but black")."""
    if not backgrounds:
        colours = rng.integers(0, 256, size=(2, 3)).astype(np.float32)
        ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        gradient = colours[0] * (1 - ramp) + colours[1] * ramp
        noise = rng.normal(0.0, 12.0, size=(size, size, 3)).astype(np.float32)
        return np.clip(np.broadcast_to(gradient, (size, size, 3)) + noise, 0, 255).astype(np.uint8)
    frame = backgrounds[int(rng.integers(len(backgrounds)))]
    height, width = frame.shape[:2]
    side = max(8, int(min(height, width) * rng.uniform(0.35, 1.0)))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    window = frame[top : top + side, left : left + side]
    crop = np.asarray(cv2.resize(window, (size, size), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return np.ascontiguousarray(crop[:, ::-1]) if rng.random() < 0.5 else crop


def _recolour(cutout: Cutout, rng: Rng) -> Cutout:
    """Lighting (gain, offset) and a small colour shift (hue, saturation): shop light is not studio light."""
    hsv = np.asarray(cv2.cvtColor(cutout.image, cv2.COLOR_BGR2HSV), dtype=np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + rng.uniform(-6.0, 6.0)) % 180.0
    hsv[:, :, 1] *= rng.uniform(0.7, 1.3)
    hsv[:, :, 2] = hsv[:, :, 2] * rng.uniform(0.6, 1.3) + rng.uniform(-25.0, 25.0)
    # A light falling off across the product: real shots are never evenly lit.
    height, width = hsv.shape[:2]
    angle = rng.uniform(0.0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xs / max(width, 1) - 0.5) * math.cos(angle) + (ys / max(height, 1) - 0.5) * math.sin(angle)
    hsv[:, :, 2] *= 1.0 + ramp * rng.uniform(0.0, 0.5)
    hsv = np.clip(hsv, 0.0, [179.0, 255.0, 255.0])
    image = np.asarray(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR), dtype=np.uint8)
    return Cutout(image=image, alpha=cutout.alpha, whole_rectangle=cutout.whole_rectangle)


def _warp(
    cutout: Cutout, scale: float, at_edge: bool, size: int, rng: Rng, config: SyntheticConfig
) -> tuple[Image, Image, float] | None:
    """Scale, rotate and tilt the product onto an image-sized canvas; None if it falls off it."""
    height, width = cutout.image.shape[:2]
    target = scale * size / max(height, width)
    half = np.array([width, height], np.float32) * target / 2
    angle = math.radians(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * half
    jitter = rng.uniform(-1.0, 1.0, size=(4, 2)).astype(np.float32) * config.max_perspective * half.max()
    shape = (corners + jitter) @ rotation.T
    extent = np.abs(shape).max(axis=0)
    if at_edge:  # centre near an edge: up to about half the product leaves the frame
        centre = rng.uniform(0.0, size, size=2).astype(np.float32)
        axis = int(rng.integers(2))
        centre[axis] = size if rng.random() < 0.5 else 0.0
        centre[axis] += (-1 if centre[axis] else 1) * extent[axis] * rng.uniform(0.1, 0.6)
    else:
        low = np.minimum(extent, size / 2)
        centre = np.array(
            [rng.uniform(low[0], size - low[0]), rng.uniform(low[1], size - low[1])], np.float32
        )
    destination = (shape + centre).astype(np.float32)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, destination)
    pixels = np.asarray(
        cv2.warpPerspective(cutout.image, matrix, (size, size), flags=cv2.INTER_LINEAR), np.uint8
    )
    alpha = np.asarray(
        cv2.warpPerspective(cutout.alpha, matrix, (size, size), flags=cv2.INTER_LINEAR), np.uint8
    )
    full_area = abs(float(cv2.contourArea(destination))) * float(np.mean(cutout.alpha >= 128))
    if not np.any(alpha >= 128):
        return None
    return pixels, alpha, full_area


def _hand(canvas: FloatArray, owner: np.ndarray[Any, Any], product: Image, rng: Rng) -> FloatArray:
    """Fingers and a palm in a skin tone across one side of the held product: the commonest occluder."""
    ys, xs = np.nonzero(product >= 128)
    if ys.size == 0:
        return canvas
    left, right, top, bottom = xs.min(), xs.max(), ys.min(), ys.max()
    width, height = max(right - left, 8), max(bottom - top, 8)
    mask = np.zeros(owner.shape, np.uint8)
    from_left = rng.random() < 0.5
    edge_x = left if from_left else right
    palm_y = int(rng.uniform(top + 0.3 * height, bottom - 0.1 * height))
    finger = max(3, int(width * rng.uniform(0.05, 0.09)))
    # Palm outside the product, fingers reaching over a quarter of its width.
    cv2.ellipse(mask, (int(edge_x), palm_y), (int(width * 0.18), int(height * 0.16)), 0, 0, 360, 255, -1)
    reach = int(width * rng.uniform(0.12, 0.3))
    for i in range(4):
        y = int(palm_y - 1.5 * finger * (i - 1.5) * 1.4)
        x = int(edge_x + (reach if from_left else -reach) / 2)
        cv2.ellipse(mask, (x, y), (max(reach // 2, 2), finger), 0, 0, 360, 255, -1)
    skin_hsv = np.array([[[rng.uniform(5, 20), rng.uniform(60, 160), rng.uniform(90, 240)]]], dtype=np.uint8)
    skin = np.asarray(cv2.cvtColor(skin_hsv, cv2.COLOR_HSV2BGR), dtype=np.float32)[0, 0]
    blurred = cv2.GaussianBlur(mask, (0, 0), sigmaX=max(1.0, finger / 2))
    shade = np.asarray(blurred, dtype=np.float32) / 255.0
    weight = shade[:, :, None]
    shaded = canvas * (1.0 - weight) + skin * (0.75 + 0.25 * weight) * weight
    owner[shade >= 0.5] = _HAND
    return np.asarray(shaded, dtype=np.float32)


def _finish(canvas: FloatArray, rng: Rng, config: SyntheticConfig) -> Image:
    """Camera effects over the whole picture: defocus or motion blur, sensor noise."""
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    if rng.random() < config.blur_probability:
        if rng.random() < 0.5:
            image = np.asarray(cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(0.6, 2.0)), np.uint8)
        else:
            length = int(rng.integers(3, 9))
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2, :] = 1.0 / length
            rotation = cv2.getRotationMatrix2D((length / 2, length / 2), rng.uniform(0, 180), 1.0)
            turned = np.asarray(cv2.warpAffine(kernel, rotation, (length, length)), dtype=np.float32)
            image = np.asarray(cv2.filter2D(image, -1, turned / max(float(turned.sum()), 1e-6)), np.uint8)
    noise = rng.normal(0.0, rng.uniform(0.0, 6.0), size=image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
