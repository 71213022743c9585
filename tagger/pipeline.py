"""`tag_video`: an episode file in, placements out. Decode → shots → sample → detect → track → placements.

Decoding, cut detection and scaling of the sampled frames run in a background thread (see
`tagger.prefetch`) while this thread runs the detector and the tracker, so the two overlap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tagger.arrays import Image
from tagger.crop_store import FileCropStore
from tagger.detection.backend import Detector
from tagger.detection.factory import load_detector
from tagger.detections import Detections
from tagger.exceptions import VideoError
from tagger.placements import PlacementBuilder, PlacementRules
from tagger.prefetch import Prefetch
from tagger.probe import VideoInfo, probe_video
from tagger.result import Funnel, ModelRef, TagResult, Timing, VideoSummary
from tagger.sampling import DetectionSchedule
from tagger.settings import TaggerSettings
from tagger.tracking import ShotTracker, TrackerStep
from tagger.video.decode import decode_frames, index_packets
from tagger.video.shots import CutDetector

if TYPE_CHECKING:  # linking is optional: tagging alone never imports its models
    from tagger.linking.linker import LinkResult, LinkThresholds, TrackLinker
    from tagger.locating import LocatedFrame, ShotLocator
    from tagger.placements import Placement


Progress = Callable[[float], None]
LinkProgress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Sample:
    """A frame chosen for detection, already scaled to the working size."""

    index: int
    t_ms: int
    starts_shot: bool
    image: Image


@dataclass(slots=True)
class DecodeStats:
    """Filled by the decoding thread; read once it has finished."""

    decoded: int = 0
    last_index: int = -1
    last_t_ms: int = 0
    busy_s: float = 0.0


def sampled_frames(
    path: Path, settings: TaggerSettings, stats: DecodeStats, schedule: DetectionSchedule
) -> Iterator[Sample]:
    """Decode every frame the decoder must, keep only what the detector will see."""
    cuts = CutDetector(settings.cut_threshold)
    packets = index_packets(path)
    frames = decode_frames(path, skip=settings.decode_skip, packets=packets)
    pending_cut = False
    last_sampled_ms = -1
    started = time.perf_counter()
    for frame in frames:
        stats.decoded += 1
        stats.last_index = max(stats.last_index, frame.index)
        stats.last_t_ms = max(stats.last_t_ms, frame.t_ms)
        # A cut found on a frame that is not detected still resets tracking at the next sample.
        pending_cut = cuts.update(frame.tiny) or pending_cut
        # Two frames at one timestamp (variable frame rate) are never both detected.
        wanted = frame.t_ms > last_sampled_ms and schedule.wants(frame.t_ms, pending_cut)
        if wanted:
            sample = Sample(frame.index, frame.t_ms, pending_cut, frame.image(settings.work_max_side))
            pending_cut = False
            last_sampled_ms = frame.t_ms
            stats.busy_s += time.perf_counter() - started
            yield sample
            started = time.perf_counter()
    stats.busy_s += time.perf_counter() - started
    if stats.decoded == 0:
        raise VideoError(f"{path.name}: no frame decodes", path=str(path))
    stats.last_index = max(stats.last_index, (packets.frames - 1) if packets is not None else -1)


def tag_video(
    path: Path,
    *,
    settings: TaggerSettings | None = None,
    thumbnails_dir: Path | None = None,
    progress: Progress | None = None,
    detector: Detector | None = None,
    linker: TrackLinker | None = None,
    thresholds: LinkThresholds | None = None,
    link_progress: LinkProgress | None = None,
) -> TagResult:
    """Tag one episode; raises `VideoError` / `ModelError` with a one-line message, never half a result.

    Given a `linker` (a catalog index's `Linker`), each placement is linked from its best crops under
    `thresholds` (the brand's auto-approval rules) and carries the answer in `placement.link`;
    `link_progress(done, total)` follows that phase, `progress` the detection pass.
    """
    settings = settings or TaggerSettings()
    started = time.perf_counter()
    info = probe_video(path)
    _check_size(path, info, settings)
    detector = detector or load_detector(settings)
    spec = detector.spec
    tracker = _tracker(settings, info)
    locator = _locator(linker, settings, len(spec.class_names))
    builder = PlacementBuilder(
        (*spec.class_names, locator.class_name) if locator is not None else spec.class_names, _rules(settings)
    )
    stats = DecodeStats()
    detect_s = track_s = 0.0
    detected = boxes = shot = 0
    schedule = DetectionSchedule(
        settings.sample_fps,
        settings.frames_after_cut,
        settings.boost_fps,
        boost_ms=settings.boost_ms,
        await_feedback=True,
    )
    previous: Sample | None = None
    try:
        for sample in Prefetch(sampled_frames(path, settings, stats, schedule), depth=2):
            if sample.starts_shot:
                tracker.reset()
                shot += 1
            tick = time.perf_counter()
            detections = _plausible(detector.detect([sample.image])[0], sample.image, settings.max_box_area)
            tock = time.perf_counter()
            # Located products are tracked by their SKU, the rest by the tracker (`tagger.locating`).
            detections, located = _with_located(locator, detections, sample)  # seconds: locator.seconds
            boxes += len(detections) + (len(located.located) if located is not None else 0)
            step = tracker.update(detections, sample.t_ms, sample.image)
            schedule.done(sample.t_ms, unsettled=step.unsettled)
            _observe(builder, shot, sample, previous, step, located)
            previous = sample
            track_s += time.perf_counter() - tock
            detect_s += tock - tick
            detected += 1
            if progress is not None and info.duration_ms > 0:
                progress(min(1.0, sample.t_ms / info.duration_ms))
    finally:
        schedule.close()
    tock = time.perf_counter()
    placements = _single_views(
        tuple(builder.build(FileCropStore(thumbnails_dir) if thumbnails_dir is not None else None)), locator
    )
    track_s += time.perf_counter() - tock - (locator.seconds if locator is not None else 0.0)
    if progress is not None:
        progress(1.0)
    tock = time.perf_counter()
    linked = (
        _linked(placements, linker, thresholds, link_progress, settings.link_threads)
        if linker is not None
        else placements
    )
    kept = _explained(linked, settings, locator) if linker is not None else linked
    link_s = time.perf_counter() - tock
    total_s = time.perf_counter() - started
    duration_ms = info.duration_ms or stats.last_t_ms
    funnel = Funnel(detected, boxes, builder.tracks_seen, len(kept), unexplained=len(linked) - len(kept))
    return TagResult(
        video=VideoSummary(
            duration_ms=duration_ms,
            fps=info.fps,
            width=info.display_width,
            height=info.display_height,
            frames=stats.last_index + 1,
        ),
        model=ModelRef(name=spec.card.name, sha256=detector.sha256),
        timing=Timing(
            decode_s=stats.busy_s,
            detect_s=detect_s,
            track_s=track_s,
            total_s=total_s,
            realtime_factor=(duration_ms / 1000.0) / total_s if total_s > 0 else 0.0,
            detected_frames=detected,
            link_s=link_s,
            locate_s=locator.seconds if locator is not None else 0.0,
        ),
        placements=kept,
        funnel=funnel,
        empty_reason=why_empty(funnel, settings),
    )


def _linked(
    placements: tuple[Placement, ...],
    linker: TrackLinker,
    thresholds: LinkThresholds | None,
    progress: LinkProgress | None,
    threads: int,
) -> tuple[Placement, ...]:
    """Each placement with its link, in the placements' order, `threads` placements at a time. A
    failing link stops the phase: links not yet started are cancelled and the error is raised."""
    if threads <= 1 or len(placements) <= 1:
        results: Iterator[LinkResult] = (linker.link_track(p.crops, thresholds) for p in placements)
        return _with_links(placements, results, progress)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reelcart-link")
    try:
        futures = [pool.submit(linker.link_track, p.crops, thresholds) for p in placements]
        return _with_links(placements, (future.result() for future in futures), progress)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _with_links(
    placements: tuple[Placement, ...], results: Iterator[LinkResult], progress: LinkProgress | None
) -> tuple[Placement, ...]:
    linked = []
    for done, (placement, result) in enumerate(zip(placements, results, strict=True), start=1):
        linked.append(replace(placement, link=result))
        if progress is not None:
            progress(done, len(placements))
    return tuple(linked)


def _locator(linker: TrackLinker | None, settings: TaggerSettings, class_id: int) -> ShotLocator | None:
    if linker is None or not settings.locate_products:
        return None
    from tagger.locating import locator_for  # noqa: PLC0415 - tagging without a catalog never loads linking

    return locator_for(linker, settings, class_id)


def _observe(
    builder: PlacementBuilder,
    shot: int,
    sample: Sample,
    previous: Sample | None,
    step: TrackerStep,
    located: LocatedFrame | None,
) -> None:
    """Give the builder this sample's tracked boxes and located products. A track confirmed only
    now is credited with its first sighting, in the frame it was seen in: the tracker's from the
    previous sample, a located product's from the look that first saw it."""
    if step.first_sightings and previous is not None:
        builder.observe(shot, previous.t_ms, previous.index, step.first_sightings, previous.image)
    for earlier in located.earlier if located is not None else ():
        builder.observe(shot, earlier.t_ms, earlier.frame_index, earlier.located, earlier.image)
    builder.observe(shot, sample.t_ms, sample.index, step.boxes, sample.image)
    if located is not None:
        builder.observe(shot, sample.t_ms, sample.index, located.located, sample.image)


def _with_located(
    locator: ShotLocator | None, detections: Detections, sample: Sample
) -> tuple[Detections, LocatedFrame | None]:
    """(the general detector's boxes for the tracker, the located products and their sightings)."""
    if locator is None:
        return detections, None
    frame = locator.proposals(detections, sample.image, sample.t_ms, sample.starts_shot, sample.index)
    return frame.general, frame


def _single_views(placements: tuple[Placement, ...], locator: ShotLocator | None) -> tuple[Placement, ...]:
    if locator is None:
        return placements
    from tagger.locating import without_doubles  # noqa: PLC0415 - only with a catalog

    return without_doubles(placements, locator.class_name)


def _explained(
    placements: tuple[Placement, ...], settings: TaggerSettings, locator: ShotLocator | None
) -> tuple[Placement, ...]:
    if not settings.drop_unexplained:
        return placements
    from tagger.locating import explained  # noqa: PLC0415 - only with a catalog

    return explained(placements, keep_labels=(locator.class_name,) if locator is not None else ())


def why_empty(funnel: Funnel, settings: TaggerSettings) -> str | None:
    """Where the funnel closed, in words a brand can act on; None when placements were found."""
    if funnel.placements > 0:
        return None
    if funnel.unexplained > 0:
        return (
            f"{funnel.unexplained} possible placements, but no catalog product explains any of them "
            "(the linker called each an unknown product)"
        )
    if funnel.sampled_frames == 0:
        return "no frame of the video could be decoded for detection"
    if funnel.detections == 0:
        return (
            f"the detector found nothing above its confidence threshold ({settings.confidence_threshold:g}) "
            f"in {funnel.sampled_frames} sampled frames"
        )
    if funnel.tracks == 0:
        return (
            f"{funnel.detections} detections in {funnel.sampled_frames} sampled frames, "
            "but none was confirmed as a track "
            f"(a track needs a detection above {settings.track_high_confidence:g} to start)"
        )
    return (
        f"{funnel.tracks} tracks, none long enough to become a placement (at least "
        f"{settings.min_placement_ms} ms and {settings.min_placement_detections} detections)"
    )


def _plausible(detections: Detections, image: Image, max_area: float) -> Detections:
    """Drop boxes too large to be a product hotspot (a fraction of the frame's area)."""
    if len(detections) == 0:
        return detections
    height, width = image.shape[:2]
    sides = detections.xyxy[:, 2:] - detections.xyxy[:, :2]
    return detections[sides[:, 0] * sides[:, 1] <= max_area * width * height]


def _tracker(settings: TaggerSettings, info: VideoInfo) -> ShotTracker:
    return ShotTracker(
        settings.tracker,
        activation_threshold=settings.track_activation_threshold,
        lost_track_s=settings.lost_track_s,
        frame_rate=info.fps if info.fps > 0 else 30.0,
        iou_buffer=settings.track_iou_buffer,
        regular_period_ms=1000.0 / settings.sample_fps,
        camera_motion_compensation=settings.camera_motion_compensation,
        high_threshold=settings.track_high_confidence,
    )


def _check_size(path: Path, info: VideoInfo, settings: TaggerSettings) -> None:
    if max(info.width, info.height) > settings.max_side_px:
        raise VideoError(
            f"{path.name} is {info.width}x{info.height}; "
            f"tagging accepts at most {settings.max_side_px} px a side",
            path=str(path),
        )


def _rules(settings: TaggerSettings) -> PlacementRules:
    return PlacementRules(
        min_duration_ms=settings.min_placement_ms,
        min_detections=settings.min_placement_detections,
        keyframe_tolerance=settings.keyframe_tolerance,
        merge_gap_ms=settings.merge_gap_ms,
        merge_min_iou=settings.merge_min_iou,
        crops_per_placement=settings.crops_per_placement,
    )
