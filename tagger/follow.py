"""Following a box a person drew through its span: `follow_box`.

A brand adds a product the tagger missed by drawing its box on one frame (`POST
/v1/episodes/{id}/placements`). Held in a hand, zoomed or panned past, the product moves while the box
stays, so the hotspot drifts off it. The drawn box is its own template: its keypoints (RootSIFT, as the
linker's) are matched in each sampled frame around where the product last was, forward and backward from
the drawn frame, and one similarity (scale, rotation, shift: a held pack faces the camera roughly
square-on) maps the drawn box to the frame. Where the match fails (the product turned, covered, gone) the
box holds where it was last seen; after `lost_after_ms` without it, following that way stops. Matching
always against the drawn frame, never the last found one, cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tagger.arrays import DoubleArray, Image
from tagger.keyframes import simplify
from tagger.linking.keypoints import LocalFeatures, MatchingQuery, extract_local_features
from tagger.linking.locate import project_affine, similarity_fit
from tagger.locating import widened_box
from tagger.settings import DecodeSkip
from tagger.video.decode import DecodedFrame, decode_frames, index_packets

# (x, y, w, h) in fractions of the displayed frame, as placements' keyframes hold boxes.
Box = tuple[float, float, float, float]
Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class FollowSettings:
    """How a drawn box is followed; the defaults are what BENCHMARKS.md ("A drawn box followed") measured."""

    # Frames are looked at this often, and at most `max_looks` times in all (a long span looks less often).
    sample_ms: int = 100
    max_looks: int = 300
    # Frames are matched at this longest side (the tagger's work size).
    max_side: int = 960
    # Where the product is searched for: its last box widened by this share of its size on each side.
    search_margin: float = 0.75
    # Keypoints of the drawn box below this are too little texture to follow (a plain carton side).
    min_template_keypoints: int = 12
    # Inliers of one similarity for a frame to show the product: chance reaches ~6 on unrelated pictures
    # (`tagger.linking.locate.LocateConfig.tentative_inliers`).
    min_inliers: int = 8
    max_keypoints: int = 1500
    reprojection_px: float = 6.0
    # A box that grows or shrinks past this factor of the drawn one in one step is a chance fit.
    max_scale_step: float = 1.6
    lost_after_ms: int = 1000
    # Keyframes kept: the fewest whose interpolation stays within this share of the frame of every look.
    tolerance: float = 0.01
    decode_skip: DecodeSkip = "nonref"


@dataclass(frozen=True, slots=True)
class Followed:
    """What following found: keyframes (t_ms, box) in time order, within the span; how many frames were
    looked at and showed the product; and, when the box could not be followed at all, why."""

    keyframes: tuple[tuple[int, Box], ...]
    looks: int
    found: int
    reason: str | None = None


class FollowError(ValueError):
    """A request that cannot be followed (a box outside the frame, a time outside the span)."""


def follow_box(
    path: Path,
    *,
    box: Box,
    at_ms: int,
    start_ms: int,
    end_ms: int,
    settings: FollowSettings | None = None,
    progress: Progress | None = None,
) -> Followed:
    """The box drawn at `at_ms` followed through [start_ms, end_ms] of the video at `path`. Raises
    `tagger.exceptions.VideoError` for a video that does not decode, FollowError for a request that
    cannot be."""
    settings = settings or FollowSettings()
    _check(box, at_ms, start_ms, end_ms)
    frames = list(_sampled(path, start_ms, end_ms, at_ms, settings, progress))
    if not frames:
        return Followed(((at_ms, box),), 0, 0, "no frame of the video falls within the span")
    drawn = min(range(len(frames)), key=lambda i: abs(frames[i][0] - at_ms))
    grey = frames[drawn][1]
    height, width = grey.shape[:2]
    template = _features_in(grey, _pixels(box, width, height), settings)
    if len(template) < settings.min_template_keypoints:
        return Followed(
            ((at_ms, box),),
            len(frames),
            1,
            f"too little texture in the box to follow ({len(template)} keypoints, needs "
            f"{settings.min_template_keypoints})",
        )
    corners = _corners(_pixels(box, width, height))
    seen: dict[int, Box] = {frames[drawn][0]: box}
    for order in (range(drawn + 1, len(frames)), range(drawn - 1, -1, -1)):
        seen.update(
            _follow_one_way([frames[i] for i in order], template, corners, box, frames[drawn][0], settings)
        )
    times = sorted(seen)
    boxes = np.asarray([seen[t] for t in times], dtype=np.float64)
    kept = simplify(times, boxes, settings.tolerance)
    return Followed(tuple((times[i], seen[times[i]]) for i in kept), len(frames), len(seen))


def _check(box: Box, at_ms: int, start_ms: int, end_ms: int) -> None:
    x, y, w, h = box
    if not all(np.isfinite(box)) or w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > 1.0001 or y + h > 1.0001:
        raise FollowError(f"the box {box} does not lie inside the frame")
    if not 0 <= start_ms < end_ms:
        raise FollowError(f"the span {start_ms}-{end_ms} ms is empty")
    if not start_ms <= at_ms <= end_ms:
        raise FollowError(f"the box was drawn at {at_ms} ms, outside its span {start_ms}-{end_ms} ms")


def _sampled(
    path: Path, start_ms: int, end_ms: int, at_ms: int, settings: FollowSettings, progress: Progress | None
) -> Iterator[tuple[int, Image]]:
    """Grey work-size frames of the span, one per look, the frame nearest `at_ms` always among them."""
    step = max(settings.sample_ms, (end_ms - start_ms) // max(settings.max_looks - 1, 1))
    packets = index_packets(path)
    next_ms = start_ms
    drawn_taken = False
    # The span's last frame is looked at too, so the box ends where the product is at the end.
    skipped: DecodedFrame | None = None
    for frame in decode_frames(path, skip=settings.decode_skip, packets=packets, from_ms=start_ms):
        if frame.t_ms > end_ms:
            break
        if progress is not None and end_ms > start_ms:
            progress(min(1.0, max(0.0, (frame.t_ms - start_ms) / (end_ms - start_ms))))
        if frame.t_ms < start_ms:
            continue
        # The drawn frame is the template: taken even between two looks.
        drawn_now = not drawn_taken and frame.t_ms >= at_ms
        if frame.t_ms >= next_ms or drawn_now:
            drawn_taken = drawn_taken or drawn_now
            next_ms = frame.t_ms + step
            skipped = None
            yield frame.t_ms, _grey(frame.image(settings.max_side))
        else:
            skipped = frame
    if skipped is not None:
        yield skipped.t_ms, _grey(skipped.image(settings.max_side))


def _grey(image: Image) -> Image:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def _pixels(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return x * width, y * height, (x + w) * width, (y + h) * height


def _corners(xyxy: tuple[float, float, float, float]) -> DoubleArray:
    x0, y0, x1, y1 = xyxy
    return np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _features_in(
    grey: Image, xyxy: tuple[float, float, float, float], settings: FollowSettings
) -> LocalFeatures:
    """Keypoints of the picture inside `xyxy` (pixels), their positions in the whole frame's pixels."""
    height, width = grey.shape[:2]
    x0, y0 = max(0, int(np.floor(xyxy[0]))), max(0, int(np.floor(xyxy[1])))
    x1, y1 = min(width, int(np.ceil(xyxy[2]))), min(height, int(np.ceil(xyxy[3])))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return LocalFeatures.empty()
    crop = np.ascontiguousarray(grey[y0:y1, x0:x1])
    local = extract_local_features(
        np.asarray(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR), dtype=np.uint8),
        upscale_to=0,
        max_features=settings.max_keypoints,
    )
    if len(local) == 0:
        return local
    return LocalFeatures(local.points + np.asarray([x0, y0], dtype=np.float32), local.descriptors)


def _follow_one_way(
    frames: Sequence[tuple[int, Image]],
    template: LocalFeatures,
    corners: DoubleArray,
    drawn: Box,
    drawn_ms: int,
    settings: FollowSettings,
) -> dict[int, Box]:
    """The box in each frame that shows the product, going away from the drawn frame; stops once it was
    not seen for `lost_after_ms`."""
    found: dict[int, Box] = {}
    candidate = template.compact()
    last_box, last_seen_ms = drawn, drawn_ms
    for t_ms, grey in frames:
        height, width = grey.shape[:2]
        region = _widened(_pixels(last_box, width, height), settings.search_margin, width, height)
        fitted = similarity_fit(
            MatchingQuery.of(_features_in(grey, region, settings)), candidate, settings.reprojection_px
        )
        box = _fitted_box(fitted, corners, last_box, width, height, settings) if fitted is not None else None
        if box is None:
            if abs(t_ms - last_seen_ms) > settings.lost_after_ms:
                break
            continue
        found[t_ms] = box
        last_box, last_seen_ms = box, t_ms
    return found


def _widened(
    xyxy: tuple[float, float, float, float], margin: float, width: int, height: int
) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = widened_box(xyxy, margin)
    return max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)


def _fitted_box(
    fitted: tuple[DoubleArray, int],
    corners: DoubleArray,
    last_box: Box,
    width: int,
    height: int,
    settings: FollowSettings,
) -> Box | None:
    """The drawn box mapped by the fit, clipped to the frame; None for too few inliers, a jump in size
    no hand makes between two looks, or a box left with no area inside the frame."""
    matrix, inliers = fitted
    if inliers < settings.min_inliers:
        return None
    mapped = project_affine(matrix, corners)
    if mapped is None:
        return None
    x0, y0 = np.clip(mapped.min(axis=0), 0, [width, height])
    x1, y1 = np.clip(mapped.max(axis=0), 0, [width, height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    box = (float(x0 / width), float(y0 / height), float((x1 - x0) / width), float((y1 - y0) / height))
    step = (box[2] * box[3]) / max(last_box[2] * last_box[3], 1e-9)
    if not 1 / settings.max_scale_step**2 <= step <= settings.max_scale_step**2:
        return None
    return tuple(round(value, 4) for value in box)  # type: ignore[return-value]
