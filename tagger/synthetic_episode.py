"""Labelled episodes for the end-to-end evaluation, made from still photos: each shot is one photo
under a slow camera zoom and pan, with hard cuts between shots, written as portrait H.264 (PyAV).

A product shot puts a square in-store photo of a hand-held product across the full width of the 9:16
frame, over a blurred, darkened copy of itself (how phone-first players show square footage); a
product-free shot fills the frame with its photo. A product shot may open on the blurred copy alone
and have the photo slide in from the bottom edge mid-shot (`ShotSpec.enter_ms`), as a product picked
up or carried into view. A product shot may also be joined mid-shot by a second product
(`ShotSpec.joined_by`): its photo, and the second photo sliding in below it, each in one half of the
frame, as a second product brought into a shot where the first is already held. A product shot may
instead show its photo smaller, inset in a scene (`ShotSpec.inset`: a frame of the sample videos across
the whole frame), as a product seen in a wider shot rather than held up to the camera: its print is
then a few times smaller in the frame.
`scripts/build_episode_eval.py` chooses the photos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tagger.arrays import Image
from tagger.episode_eval import TruthProduct, TruthShot
from tagger.exceptions import VideoError


@dataclass(frozen=True, slots=True)
class Joining:
    """A second product brought into a product shot: its photo slides in from the bottom edge
    `enter_ms` after the shot starts, into the frame's lower half, below the shot's own photo."""

    image: Path
    sku: str
    enter_ms: int


@dataclass(frozen=True, slots=True)
class Inset:
    """A product shot's photo shown smaller, over a scene: its centre square `share` of the frame's
    width across, centred at `centre` (fractions of the frame's width and height; the square is kept
    inside the frame), over `scene` covering the whole frame."""

    scene: Path
    share: float
    centre: tuple[float, float]

    def __post_init__(self) -> None:
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"an inset's share of the frame width must be in (0, 1], got {self.share}")
        if not all(0.0 <= at <= 1.0 for at in self.centre):
            raise ValueError(f"an inset's centre must lie in the frame (fractions 0-1), got {self.centre}")


@dataclass(frozen=True, slots=True)
class ShotSpec:
    image: Path
    duration_ms: int
    sku: str | None  # None: a product-free shot
    # Camera motion over the shot: zoom (fraction of the window lost by the end) and pan direction.
    zoom: float = 0.08
    pan: tuple[float, float] = (1.0, 1.0)
    # A product shot whose product comes into view this long after its start, sliding in from the
    # bottom edge over ENTRY_MS; None: in view from the first frame.
    enter_ms: int | None = None
    # A second product joining this (product) shot mid-shot; the shot's own product is then in view
    # from the first frame, in the frame's upper half.
    joined_by: Joining | None = None
    # The product shot's photo inset smaller in a scene instead of across the frame's width over its
    # own blurred copy; in view from the first frame (neither entering nor joined).
    inset: Inset | None = None

    def __post_init__(self) -> None:
        # Refused here, when the shot is planned, not when its frames are drawn: a builder's mistake then
        # fails before any episode is rendered.
        if self.inset is not None and (
            self.sku is None or self.joined_by is not None or self.enter_ms is not None
        ):
            raise ValueError(
                f"{self.image.name}: an inset product is in view from its shot's start, alone "
                "(a product shot, neither entering nor joined)"
            )
        if self.joined_by is not None and self.sku is None:
            raise ValueError(f"{self.image.name}: only a product shot can be joined by a second product")
        if self.joined_by is not None and self.enter_ms is not None:
            raise ValueError(f"{self.image.name}: a joined shot's own product is in view from its start")


# How long a product takes to slide into view: about as long as a hand takes to lift a carton into the
# shot. At 0.4 s (the first --enter episodes) the slide changed the frame so fast that the cut detector
# read most entries as a new shot (20 of 24 in seed 0's simulation), each handing the locator a
# whole-frame look at once; a product carried into view is not a cut. At 1 s none of the three seeds'
# entries reads as one (BENCHMARKS.md, End to end).
ENTRY_MS = 1000


def _read(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(f"{path.name}: not a readable image", path=str(path))
    return np.asarray(image, dtype=np.uint8)


def _cover(image: Image, width: int, height: int) -> Image:
    """Scale to cover width x height, then crop the centre."""
    scale = max(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(
        image, (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale)))
    )
    y = (resized.shape[0] - height) // 2
    x = (resized.shape[1] - width) // 2
    return np.asarray(resized[y : y + height, x : x + width], dtype=np.uint8)


def product_layers(photo: Image, width: int, height: int) -> tuple[Image, Image]:
    """(the backdrop: a blurred, darker copy of the photo covering the frame; the photo's centre
    square across the frame's width)."""
    blurred = cv2.GaussianBlur(_cover(photo, width, height), (0, 0), sigmaX=max(width, height) / 40)
    return np.asarray(blurred * 0.6, dtype=np.uint8), centre_square(photo, width)


def centre_square(photo: Image, side: int) -> Image:
    """The photo's centre square, `side` pixels across."""
    crop = min(photo.shape[:2])
    y, x = (photo.shape[0] - crop) // 2, (photo.shape[1] - crop) // 2
    square = cv2.resize(photo[y : y + crop, x : x + crop], (side, side), interpolation=cv2.INTER_AREA)
    return np.asarray(square, dtype=np.uint8)


def with_square(backdrop: Image, square: Image, entered: float = 1.0) -> Image:
    """The square over the backdrop, in the frame's middle when `entered` is 1; below it, that share
    of its way up from just under the bottom edge (eased; 0: not in view)."""
    height, width = backdrop.shape[:2]
    canvas = backdrop.copy()
    rest = (height - width) // 2
    eased = 1 - (1 - min(max(entered, 0.0), 1.0)) ** 2
    top = round(height + (rest - height) * eased)
    visible = min(width, height - top)
    if visible > 0:
        canvas[top : top + visible] = square[:visible]
    return canvas


def pair_layers(photo: Image, second: Image, width: int, height: int) -> tuple[Image, Image, Image]:
    """(the first photo's backdrop, its centre square and the second photo's, each as wide as half
    the frame's height allows)."""
    side = min(width, height // 2)
    backdrop, first = product_layers(photo, width, height)
    # (At the frame's width first, then shrunk, as the held product's square is.)
    joining = centre_square(second, width)
    shrink = (side, side)
    return (
        backdrop,
        np.asarray(cv2.resize(first, shrink, interpolation=cv2.INTER_AREA), dtype=np.uint8),
        np.asarray(cv2.resize(joining, shrink, interpolation=cv2.INTER_AREA), dtype=np.uint8),
    )


def with_pair(backdrop: Image, first: Image, second: Image, entered: float = 1.0) -> Image:
    """The first square in the frame's upper half; the second below it when `entered` is 1, that
    share of its way up from just under the bottom edge otherwise (eased; 0: not in view)."""
    height, width = backdrop.shape[:2]
    side = first.shape[0]
    canvas = backdrop.copy()
    left = (width - side) // 2
    top_first = max(0, height // 2 - side)
    canvas[top_first : top_first + side, left : left + side] = first
    eased = 1 - (1 - min(max(entered, 0.0), 1.0)) ** 2
    top = round(height + (height // 2 - height) * eased)
    visible = min(side, height - top)
    if visible > 0:
        canvas[top : top + visible, left : left + side] = second[:visible]
    return canvas


def product_canvas(photo: Image, width: int, height: int) -> Image:
    """The photo's centre square across the frame's width, over a blurred, darker copy of itself."""
    return with_square(*product_layers(photo, width, height))


def inset_canvas(photo: Image, scene: Image, width: int, height: int, inset: Inset) -> Image:
    """The photo's centre square, `inset.share` of the frame's width across, over the scene covering
    the frame, centred at `inset.centre` as far as the frame allows."""
    canvas = _cover(scene, width, height)
    side = max(1, min(width, height, round(width * inset.share)))
    left = min(max(round(inset.centre[0] * width - side / 2), 0), width - side)
    top = min(max(round(inset.centre[1] * height - side / 2), 0), height - side)
    canvas[top : top + side, left : left + side] = centre_square(photo, side)
    return canvas


def shot_canvas(spec: ShotSpec, width: int, height: int) -> Image:
    photo = _read(spec.image)
    if spec.sku is None:
        return _cover(photo, width, height)
    if spec.inset is not None:
        return inset_canvas(photo, _read(spec.inset.scene), width, height, spec.inset)
    return product_canvas(photo, width, height)


def camera_frame(canvas: Image, progress: float, spec: ShotSpec) -> Image:
    """The camera window at `progress` (0..1) through the shot: it shrinks by `spec.zoom` while
    drifting along `spec.pan`, and is scaled back to the frame size."""
    height, width = canvas.shape[:2]
    crop_w = int(width * (1 - spec.zoom * progress))
    crop_h = int(height * (1 - spec.zoom * progress))
    span_x, span_y = width - crop_w, height - crop_h
    x = int(span_x * (0.5 + 0.5 * spec.pan[0] * (2 * progress - 1)) if spec.pan[0] else span_x / 2)
    y = int(span_y * (0.5 + 0.5 * spec.pan[1] * (2 * progress - 1)) if spec.pan[1] else span_y / 2)
    x, y = min(max(x, 0), span_x), min(max(y, 0), span_y)
    window = canvas[y : y + crop_h, x : x + crop_w]
    return np.asarray(cv2.resize(window, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class _Entry:
    """How a shot's picture changes as something slides into view: `compose(entered)` is the canvas
    with that share of the entry done (1: in place), `before` the canvas before it starts."""

    enter_ms: int
    compose: Callable[[float], Image]
    before: Image


def _entry(spec: ShotSpec, width: int, height: int) -> _Entry | None:
    """The shot's entry, with its photos read and blurred once; None for a shot where nothing
    enters."""
    if spec.sku is None:
        return None
    if spec.joined_by is not None:
        pair = pair_layers(_read(spec.image), _read(spec.joined_by.image), width, height)
        return _Entry(
            spec.joined_by.enter_ms, lambda entered: with_pair(*pair, entered), with_pair(*pair, 0.0)
        )
    if spec.enter_ms is None:
        return None
    layers = product_layers(_read(spec.image), width, height)
    return _Entry(spec.enter_ms, lambda entered: with_square(*layers, entered), layers[0])


def render_episode(
    shots: list[ShotSpec], target: Path, *, size: tuple[int, int] = (1080, 1920), fps: int = 30
) -> list[TruthShot]:
    """Write the episode and return its truth, one span per shot on the frames' times."""
    width, height = size
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    truth: list[TruthShot] = []
    frame_index = 0
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for spec in shots:
            entry = _entry(spec, width, height)
            canvas = entry.compose(1.0) if entry is not None else shot_canvas(spec, width, height)
            frames = max(1, round(spec.duration_ms * fps / 1000))
            if entry is not None and not 0 <= entry.enter_ms < (frames - 1) * 1000 / fps:
                raise ValueError(f"{spec.image.name}: enter_ms {entry.enter_ms} is outside its shot")
            start_ms = round(frame_index * 1000 / fps)
            visible_ms: int | None = None
            for index in range(frames):
                shown, progress, entered = canvas, index / max(frames - 1, 1), 1.0
                if entry is not None:
                    entered = (index * 1000 / fps - entry.enter_ms) / ENTRY_MS
                    shown = canvas if entered >= 1 else entry.compose(entered)
                frame = camera_frame(shown, progress, spec)
                # In view from the first frame the camera's window shows some of it (the window may
                # crop the canvas's bottom rows, where the product rises from).
                if (
                    entry is not None
                    and visible_ms is None
                    and entered > 0
                    and (
                        entered >= 1 or not np.array_equal(frame, camera_frame(entry.before, progress, spec))
                    )
                ):
                    visible_ms = round((frame_index + index) * 1000 / fps)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                    container.mux(packet)
            frame_index += frames
            end_ms = round(frame_index * 1000 / fps)
            if spec.joined_by is not None and visible_ms is not None:
                also = (TruthProduct(spec.joined_by.sku, visible_ms),)
                truth.append(TruthShot(start_ms, end_ms, spec.sku, None, also))
            else:
                truth.append(TruthShot(start_ms, end_ms, spec.sku, visible_ms))
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(target)
    return truth
