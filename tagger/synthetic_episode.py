"""Labelled episodes for the end-to-end evaluation, made from still photos: each shot is one photo
under a slow camera zoom and pan, with hard cuts between shots, written as portrait H.264 (PyAV).

A product shot puts a square in-store photo of a hand-held product across the full width of the 9:16
frame, over a blurred, darkened copy of itself (how phone-first players show square footage); a
product-free shot fills the frame with its photo. A product shot may open on the blurred copy alone
and have the photo slide in from the bottom edge mid-shot (`ShotSpec.enter_ms`), as a product picked
up or carried into view. `scripts/build_episode_eval.py` chooses the photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tagger.arrays import Image
from tagger.episode_eval import TruthShot
from tagger.exceptions import VideoError


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
    side = min(photo.shape[:2])
    y, x = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    square = cv2.resize(photo[y : y + side, x : x + side], (width, width), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(_cover(photo, width, height), (0, 0), sigmaX=max(width, height) / 40)
    return np.asarray(blurred * 0.6, dtype=np.uint8), np.asarray(square, dtype=np.uint8)


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


def product_canvas(photo: Image, width: int, height: int) -> Image:
    """The photo's centre square across the frame's width, over a blurred, darker copy of itself."""
    return with_square(*product_layers(photo, width, height))


def shot_canvas(spec: ShotSpec, width: int, height: int) -> Image:
    photo = _read(spec.image)
    return product_canvas(photo, width, height) if spec.sku is not None else _cover(photo, width, height)


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
            entering = spec.enter_ms is not None and spec.sku is not None
            # An entering product's layers, read and blurred once; its canvas once it is in place.
            layers = product_layers(_read(spec.image), width, height) if entering else None
            canvas = with_square(*layers) if layers is not None else shot_canvas(spec, width, height)
            frames = max(1, round(spec.duration_ms * fps / 1000))
            if spec.enter_ms is not None and entering and not 0 <= spec.enter_ms < (frames - 1) * 1000 / fps:
                raise ValueError(f"{spec.image.name}: enter_ms {spec.enter_ms} is outside its shot")
            start_ms = round(frame_index * 1000 / fps)
            visible_ms: int | None = None
            for index in range(frames):
                shown, progress, entered = canvas, index / max(frames - 1, 1), 1.0
                if layers is not None and spec.enter_ms is not None:
                    entered = (index * 1000 / fps - spec.enter_ms) / ENTRY_MS
                    shown = canvas if entered >= 1 else with_square(*layers, entered)
                frame = camera_frame(shown, progress, spec)
                # In view from the first frame the camera's window shows some of it (the window may
                # crop the canvas's bottom rows, where the product rises from).
                if (
                    layers is not None
                    and visible_ms is None
                    and entered > 0
                    and (entered >= 1 or not np.array_equal(frame, camera_frame(layers[0], progress, spec)))
                ):
                    visible_ms = round((frame_index + index) * 1000 / fps)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                    container.mux(packet)
            frame_index += frames
            truth.append(TruthShot(start_ms, round(frame_index * 1000 / fps), spec.sku, visible_ms))
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(target)
    return truth
