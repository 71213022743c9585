"""`tag_video`: an episode file in, placements out. Decode → shots → sample → detect → track → placements
(→ links, given a catalog).

Decoding and cut detection run in a background thread (see `tagger.prefetch`), scaling the sampled
frames in a second one, while this thread runs the detector and the tracker, so the three overlap; with
a catalog, each shot's placements are linked on link threads from its cut on (`tagger.link_queue`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from tagger.arrays import Image
from tagger.blas_threads import limit_blas_threads
from tagger.crop_store import FileCropStore
from tagger.detection.backend import Detector
from tagger.detection.factory import load_detector
from tagger.detection.merged import MergedDetector
from tagger.detections import Detections
from tagger.exceptions import VideoError
from tagger.link_queue import LinkProgress, LinkQueue
from tagger.placements import Hold, Placement, PlacementBuilder, PlacementRules, placement_order
from tagger.prefetch import Prefetch
from tagger.probe import VideoInfo, probe_video
from tagger.result import Funnel, ModelRef, Shot, TagResult, Timing, VideoSummary
from tagger.sampling import DetectionSchedule
from tagger.settings import TaggerSettings
from tagger.tracking import ShotTracker, TrackerStep
from tagger.video.decode import DecodedFrame, decode_frames, index_packets
from tagger.video.shots import CutDetector

if TYPE_CHECKING:  # linking is optional: tagging alone never imports its models
    from tagger.linking.decision import LinkThresholds
    from tagger.linking.linker import TrackLinker
    from tagger.locating import LocatedFrame, ShotLocator


Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class ChosenFrame:
    """A decoded frame chosen for detection, before it is scaled to the working size (`scaled`)."""

    frame: DecodedFrame
    starts_shot: bool
    change_map: Image | None


@dataclass(frozen=True, slots=True)
class Sample:
    """A frame chosen for detection, already scaled to the working size."""

    index: int
    t_ms: int
    starts_shot: bool
    image: Image
    # Where the picture changed over the last sampling period: the per-pixel change of the tiny luma
    # frame (`change_map`; None at a shot's start), to tell something coming into view
    # (`tagger.locating.LocateSchedule.change_luma`) and where, away from the products already followed.
    change_map: Image | None = None

    @property
    def change(self) -> float:
        """How much the picture changed over the last sampling period (0 at a shot's start)."""
        return mean_change(self.change_map)


@dataclass(slots=True)
class DecodeStats:
    """Filled by the decoding thread; read once it has finished."""

    decoded: int = 0
    last_index: int = -1
    last_t_ms: int = 0
    busy_s: float = 0.0
    # Filled by the scaling thread (`scaled`).
    scale_s: float = 0.0


def sampled_frames(
    path: Path, settings: TaggerSettings, stats: DecodeStats, schedule: DetectionSchedule
) -> Iterator[Sample]:
    """Decode every frame the decoder must, keep only what the detector will see, scaled to the
    working size (in one thread; `tag_video` scales in a second, `scaled`)."""
    return scaled(chosen_frames(path, settings, stats, schedule), settings.work_max_side, stats)


def scaled(chosen: Iterable[ChosenFrame], max_side: int, stats: DecodeStats) -> Iterator[Sample]:
    """The chosen frames as samples, scaled to `max_side`. Scaling is ~10 % of the decoding thread's
    work, and without a catalog that thread is a tag job's slowest (BENCHMARKS.md, Tagging): run in a
    thread of its own, it overlaps decoding the next frames (PyAV's scaler releases the GIL)."""
    for item in chosen:
        started = time.perf_counter()
        frame = item.frame
        sample = Sample(frame.index, frame.t_ms, item.starts_shot, frame.image(max_side), item.change_map)
        stats.scale_s += time.perf_counter() - started
        yield sample


def chosen_frames(
    path: Path, settings: TaggerSettings, stats: DecodeStats, schedule: DetectionSchedule
) -> Iterator[ChosenFrame]:
    """Decode every frame the decoder must, keep only what the detector will see (unscaled)."""
    cuts = CutDetector(settings.cut_threshold)
    packets = index_packets(path)
    frames = decode_frames(path, skip=settings.decode_skip, threads=settings.decode_threads, packets=packets)
    pending_cut = False
    last_sampled_ms = -1
    # This shot's recent samples (time, tiny luma frame), for how much the picture changed over the
    # last sampling period: samples come closer after a cut and while the tracker asks for more, and
    # the change a product coming into view makes is measured over the plain period.
    recent: deque[tuple[int, Image]] = deque()
    change_window_ms = 1000.0 / settings.sample_fps
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
            if pending_cut:
                recent.clear()
            changed = change_map(recent, frame.t_ms, frame.tiny, change_window_ms)
            sample = ChosenFrame(frame, pending_cut, changed)
            pending_cut = False
            last_sampled_ms = frame.t_ms
            recent.append((frame.t_ms, frame.tiny))
            stats.busy_s += time.perf_counter() - started
            yield sample
            started = time.perf_counter()
    stats.busy_s += time.perf_counter() - started
    if stats.decoded == 0:
        raise VideoError(f"{path.name}: no frame decodes", path=str(path))
    stats.last_index = max(stats.last_index, (packets.frames - 1) if packets is not None else -1)


def mean_change(changed: Image | None) -> float:
    """How much the picture changed, 0-255: the mean of a `change_map`; 0 where there was nothing to
    compare with (a shot's first sample)."""
    return float(changed.mean()) if changed is not None else 0.0


def change_map(recent: deque[tuple[int, Image]], t_ms: int, tiny: Image, window_ms: float) -> Image | None:
    """Where the picture at `t_ms` changed over about `window_ms`: the absolute difference of its tiny
    luma frame from the earlier sample of its shot whose age is nearest that (samples fall on frames,
    so not exactly one period apart); None for a shot's first sample, 255 everywhere after a change of
    size. Drops the samples no later call can need."""
    while recent and recent[0][0] < t_ms - 2 * window_ms:
        recent.popleft()
    if not recent:
        return None
    _, reference = min(recent, key=lambda sample: abs(t_ms - sample[0] - window_ms))
    if reference.shape != tiny.shape:
        return np.full(tiny.shape, 255, dtype=np.uint8)
    return np.asarray(cv2.absdiff(reference, tiny), dtype=np.uint8)


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
    limit_blas_threads(settings.blas_threads)
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
    schedule = DetectionSchedule(
        settings.sample_fps,
        settings.frames_after_cut,
        settings.boost_fps,
        boost_ms=settings.boost_ms,
        await_feedback=True,
    )
    crop_store = FileCropStore(thumbnails_dir, background=True) if thumbnails_dir is not None else None
    with ExitStack() as stack:
        if crop_store is not None:
            stack.callback(crop_store.close)
        # A shot's placements are linked from its cut on, beside the rest of the episode's tagging.
        links = (
            stack.enter_context(LinkQueue(linker, thresholds, settings.link_threads))
            if linker is not None
            else None
        )
        work = _DetectionPass(
            detector,
            tracker,
            locator,
            builder,
            schedule,
            crop_store,
            links,
            settings,
            1000.0 / _frame_rate(info),
        )
        try:
            # Each stage, stopped, releases the one before it: a detection error must not leave the
            # decoder waiting for answers (`schedule.close`) nor the scaler waiting for frames.
            decoding = Prefetch(
                chosen_frames(path, settings, stats, schedule), depth=2, release=schedule.close
            )
            stack.callback(decoding.close)
            samples = Prefetch(
                scaled(decoding, settings.work_max_side, stats), depth=2, release=decoding.close
            )
            stack.callback(samples.close)
            for sample in samples:
                work.take(sample)
                if progress is not None and info.duration_ms > 0:
                    progress(min(1.0, sample.t_ms / info.duration_ms))
        finally:
            schedule.close()
        work.finish(stats.last_t_ms, stats.last_index)
        if crop_store is not None:
            # Every placement's crops are on disk before the placements are handed out.
            crop_store.flush()
        if progress is not None:
            progress(1.0)
        tock = time.perf_counter()
        linked = (
            links.linked(link_progress)
            if links is not None
            else tuple(sorted(work.placements, key=placement_order))
        )
    kept = _explained(linked, settings, locator) if linker is not None else linked
    link_s = time.perf_counter() - tock
    total_s = time.perf_counter() - started
    duration_ms = info.duration_ms or stats.last_t_ms
    funnel = Funnel(
        work.detected, work.boxes, builder.tracks_seen, len(kept), unexplained=len(linked) - len(kept)
    )
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
            decode_s=stats.busy_s + stats.scale_s,
            detect_s=work.detect_s,
            track_s=work.track_s - (locator.seconds if locator is not None else 0.0),
            total_s=total_s,
            realtime_factor=(duration_ms / 1000.0) / total_s if total_s > 0 else 0.0,
            detected_frames=work.detected,
            link_s=link_s,
            locate_s=locator.seconds if locator is not None else 0.0,
        ),
        placements=kept,
        funnel=funnel,
        empty_reason=why_empty(funnel, settings),
        shots=tuple(work.shots),
    )


class _DetectionPass:
    """Detection, locating and tracking of the sampled frames, one at a time; each shot's placements
    are built at its cut and handed to linking (`links`) while the next shots are tagged."""

    def __init__(
        self,
        detector: Detector,
        tracker: ShotTracker,
        locator: ShotLocator | None,
        builder: PlacementBuilder,
        schedule: DetectionSchedule,
        crop_store: FileCropStore | None,
        links: LinkQueue | None,
        settings: TaggerSettings,
        frame_ms: float,
    ) -> None:
        self._detector, self._tracker, self._locator = detector, tracker, locator
        self._builder, self._schedule, self._crop_store = builder, schedule, crop_store
        self._links, self._settings, self._frame_ms = links, settings, frame_ms
        # The general detector alone, where a brand's may sit out while the locator follows (`_detect`).
        self._general_only = (
            detector.detect_general
            if isinstance(detector, MergedDetector)
            and locator is not None
            and not settings.brand_detector_while_following
            else None
        )
        self._previous: Sample | None = None
        self.shot = self.detected = self.boxes = 0
        # The shots ended so far, and where the current one started (the video's start for the first).
        self.shots: list[Shot] = []
        self._shot_start_ms = 0
        # track_s includes the locator's seconds (the caller takes them out: they are locate_s).
        self.detect_s = self.track_s = 0.0
        self.placements: list[Placement] = []

    def take(self, sample: Sample) -> None:
        tick = time.perf_counter()
        if sample.starts_shot:
            # The ended shot's last frame is the one before this one.
            self._shot_done(round(sample.t_ms - self._frame_ms), sample.index - 1)
            self._tracker.reset()
            self.shot += 1
            if self._previous is not None:
                self._shot_start_ms = sample.t_ms
        tock = time.perf_counter()
        detections = _plausible(self._detect(sample), sample.image, self._settings.max_box_area)
        detected = time.perf_counter()
        # Located products are tracked by their SKU, the rest by the tracker (`tagger.locating`).
        detections, located = _with_located(self._locator, detections, sample)
        self.boxes += len(detections) + (len(located.located) if located is not None else 0)
        step = self._tracker.update(detections, sample.t_ms, sample.image)
        self._schedule.done(sample.t_ms, unsettled=step.unsettled)
        _observe(self._builder, self.shot, sample, self._previous, step, located)
        self._previous = sample
        self.track_s += (tock - tick) + (time.perf_counter() - detected)
        self.detect_s += detected - tock
        self.detected += 1

    def _detect(self, sample: Sample) -> Detections:
        """The sample's proposals. A brand's trained detector sits out while the locator follows a
        product of this shot (it was located by its own print; the general detector still looks for
        anything else); a cut ends the following, so a shot's first frame runs both."""
        locator, general_only = self._locator, self._general_only
        if general_only is not None and locator is not None and locator.following and not sample.starts_shot:
            return general_only([sample.image])[0]
        return self._detector.detect([sample.image])[0]

    def finish(self, last_t_ms: int, last_index: int) -> None:
        """The last shot has ended, at the video's last frame (`last_t_ms`, `last_index`)."""
        tick = time.perf_counter()
        self._shot_done(last_t_ms, last_index)
        self.track_s += time.perf_counter() - tick

    def _shot_done(self, end_ms: int, end_index: int) -> None:
        """The ended shot's placements, handed to linking; the shot's last frame is `end_index`,
        shown at `end_ms`."""
        if self._previous is not None:
            self.shots.append(Shot(self._shot_start_ms, max(self._shot_start_ms, end_ms)))
        shot = self._builder.take_shot(self.shot, self._crop_store, self._holds(end_ms, end_index))
        placements = _single_views(tuple(shot), self._locator)
        if self._links is not None:
            self._links.submit(placements)
        self.placements.extend(placements)

    def _holds(self, end_ms: int, end_index: int) -> dict[int, Hold]:
        """The located products still followed when the shot ended, each shown until its next look
        was due or the shot's end (`ShotLocator.held_until`)."""
        last = self._previous
        if self._locator is None or last is None or end_ms <= last.t_ms:
            return {}
        holds = {}
        for track_id, until_ms in self._locator.held_until(end_ms).items():
            # Frames between samples are not all decoded (`decode_skip`), so the hold's frame is
            # counted from the last sample at the stream's rate: at most a frame off on a variable
            # rate, and never past the shot's last frame.
            frames = round((until_ms - last.t_ms) / self._frame_ms)
            holds[track_id] = Hold(until_ms, min(end_index, last.index + max(0, frames)))
        return holds


def _frame_rate(info: VideoInfo) -> float:
    """The stream's frames per second (30 when it does not say)."""
    return info.fps if info.fps > 0 else 30.0


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
    frame = locator.proposals(
        detections,
        sample.image,
        sample.t_ms,
        sample.starts_shot,
        sample.index,
        sample.change,
        sample.change_map,
    )
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
        frame_rate=_frame_rate(info),
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
