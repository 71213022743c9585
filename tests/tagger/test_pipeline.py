"""`tag_video` end to end on synthetic episodes, with a simple colour detector standing in for ONNX."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tagger import pipeline
from tagger.arrays import Image
from tagger.crop_store import FileCropStore
from tagger.detection.merged import MergedDetector
from tagger.detections import Detections
from tagger.linking.decision import Decision, LinkThresholds
from tagger.linking.errors import LinkingError
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.linker import CropLike, LinkResult, SkuCandidate
from tagger.linking.locate import Located
from tagger.models.cards import DetectorSpec
from tagger.pipeline import DecodeStats, change_map, mean_change, sampled_frames, tag_video
from tagger.placements import Keyframe, Placement
from tagger.prefetch import Prefetch
from tagger.result import Shot, TagResult, VideoSummary
from tagger.sampling import DetectionSchedule
from tagger.settings import TaggerSettings
from tagger.synthetic_episode import ShotSpec, render_episode
from tagger.video.decode import decode_frames
from tests.tagger.factories import (
    BLUE,
    ColourDetector,
    FixedDetector,
    Square,
    frame_with,
    link_result,
    tiny_spec,
    write_video,
)
from tests.tagger.linking.factories import catalog, extractor
from tests.tagger.linking.test_locate import _holding


@dataclass(frozen=True)
class Tagged:
    result: TagResult
    detector: ColourDetector
    thumbnails: Path
    progress: list[float]


@pytest.fixture(scope="module")
def two_shot_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s of a red square sliding right, a hard cut, then 1.5 s of a red and a blue square.

    The red square after the cut sits where the first one ended, so only the cut keeps the tracker
    from following "the same" box across it.
    """
    frames = [frame_with(160, 96, [Square(10 + i, 30, 20)], background=60) for i in range(45)]
    frames += [
        frame_with(160, 96, [Square(54, 30, 20), Square(110, 40, 24, BLUE)], background=170)
        for _ in range(45)
    ]
    return write_video(tmp_path_factory.mktemp("video") / "two-shots.mp4", frames)


def settings(**changes: Any) -> TaggerSettings:
    base = TaggerSettings(sample_fps=10, work_max_side=160, min_placement_ms=300, decode_skip="none")
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
def tagged(two_shot_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Tagged:
    """The two-shot video tagged once with the test settings; most tests only read the result."""
    folder = tmp_path_factory.mktemp("tagged")
    detector = ColourDetector(tiny_spec(folder))
    progress: list[float] = []
    result = tag_video(
        two_shot_video,
        settings=settings(),
        detector=detector,
        thumbnails_dir=folder / "t",
        progress=progress.append,
    )
    return Tagged(result, detector, folder / "t", progress)


def summary(placement: Placement) -> tuple[object, ...]:
    return (placement.label, placement.start_ms, placement.end_ms, placement.start_frame, placement.end_frame)


def test_given_two_shots_when_tagged_then_one_placement_per_object_per_shot(tagged: Tagged) -> None:
    result = tagged.result

    assert result.video == VideoSummary(duration_ms=3000, fps=30.0, width=160, height=96, frames=90)
    assert [summary(p) for p in result.placements] == [
        ("bottle", 0, 1433, 0, 43),
        ("bottle", 1500, 2933, 45, 88),
        ("cup", 1500, 2933, 45, 88),
    ]
    assert [p.shot for p in result.placements] == [0, 1, 1]
    # Detected at 10 fps plus a denser start after the cut: far fewer than the 90 frames.
    assert tagged.detector.calls == result.timing.detected_frames
    assert 30 <= tagged.detector.calls <= 34


def test_the_result_names_each_shot_from_its_first_frame_to_its_last(tagged: Tagged) -> None:
    # The cut is at frame 45 (1500 ms); the video's last frame is 89 (2967 ms).
    assert tagged.result.shots == (Shot(0, 1467), Shot(1500, 2967))
    assert tagged.result.to_json()["shots"] == [
        {"start_ms": 0, "end_ms": 1467},
        {"start_ms": 1500, "end_ms": 2967},
    ]


def test_given_cut_detection_off_when_tagged_then_the_tracker_follows_across_the_cut(
    two_shot_video: Path, tmp_path: Path
) -> None:
    result = tag_video(
        two_shot_video, settings=settings(cut_threshold=255), detector=ColourDetector(tiny_spec(tmp_path))
    )

    assert result.shots == (Shot(0, 2967),)
    # No cut: one "bottle" across both shots; the cup is found at the first sample after the cut
    # (no denser start without a cut, but its first sighting is credited to its track).
    assert [summary(p) for p in result.placements] == [
        ("bottle", 0, 2933, 0, 88),
        ("cup", 1533, 2933, 46, 88),
    ]


def test_given_a_static_object_when_tagged_then_two_keyframes_suffice(tagged: Tagged) -> None:
    cup = tagged.result.placements[2]

    assert cup.keyframes == (
        Keyframe(t_ms=1500, box=(0.6875, 0.4167, 0.15, 0.25)),
        Keyframe(t_ms=2933, box=(0.6875, 0.4167, 0.15, 0.25)),
    )


def test_given_a_moving_object_when_tagged_then_keyframes_follow_it(tagged: Tagged) -> None:
    moving = tagged.result.placements[0]
    xs = [k.box[0] for k in moving.keyframes]

    # The square moves 1 px a frame: 10 px -> 53 px over the shot, i.e. x 0.0625 -> ~0.33.
    assert xs[0] == pytest.approx(10 / 160, abs=0.01)
    assert xs[-1] == pytest.approx(53 / 160, abs=0.015)
    assert xs == sorted(xs)
    assert 2 < len(moving.keyframes) < 16


def test_given_thumbnails_dir_when_tagged_then_best_crop_saved_and_crops_kept_in_memory(
    tagged: Tagged,
) -> None:
    for placement in tagged.result.placements:
        assert placement.thumbnail == tagged.thumbnails / f"{placement.id}.jpg"
        thumbnail = cv2.imread(str(placement.thumbnail))
        assert thumbnail is not None
        assert 1 <= len(placement.crops) <= 3
        best = placement.crops[0]
        assert thumbnail.shape == best.image.shape
        # Every linking crop is stored (best first) so a later re-link votes over the same crops.
        assert [image.shape for image in FileCropStore.load(placement.thumbnail)] == [
            c.image.shape for c in placement.crops
        ]
        assert best.image.dtype == np.uint8
        assert placement.start_frame <= best.frame_index <= placement.end_frame
        assert placement.link is None
    cup_crop = tagged.result.placements[2].crops[0].image
    assert cup_crop[..., 0].mean() > 180  # the blue square, in BGR


def test_given_skipping_non_reference_frames_when_tagged_then_same_placements(
    two_shot_video: Path, tagged: Tagged, tmp_path: Path
) -> None:
    skipping = tag_video(
        two_shot_video, settings=settings(decode_skip="nonref"), detector=ColourDetector(tiny_spec(tmp_path))
    )

    assert [p.label for p in skipping.placements] == [p.label for p in tagged.result.placements]
    for ours, reference in zip(skipping.placements, tagged.result.placements, strict=True):
        assert abs(ours.start_ms - reference.start_ms) <= 70
        assert abs(ours.end_ms - reference.end_ms) <= 70


@pytest.mark.parametrize("threads", [0, 2])
def test_given_more_decoder_threads_when_tagged_then_the_very_same_placements(
    two_shot_video: Path, tagged: Tagged, tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoder threads change speed only: frame order, times and pixels are the decoder's, whatever
    its threading (the default is one thread, `TaggerSettings.decode_threads`)."""
    asked: list[int] = []

    def counting_decoder(*args: Any, threads: int, **kwargs: Any) -> Any:
        asked.append(threads)
        return decode_frames(*args, threads=threads, **kwargs)

    monkeypatch.setattr("tagger.pipeline.decode_frames", counting_decoder)
    threaded = tag_video(
        two_shot_video,
        settings=settings(decode_threads=threads),
        detector=ColourDetector(tiny_spec(tmp_path)),
    )

    assert asked == [threads]
    assert TaggerSettings().decode_threads == 1
    assert [(summary(p), p.keyframes) for p in threaded.placements] == [
        (summary(p), p.keyframes) for p in tagged.result.placements
    ]


@pytest.mark.parametrize("threads", [0, 3])
def test_a_tag_job_holds_blas_to_its_settings_thread_count(
    two_shot_video: Path, tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy's BLAS is capped before the job's threads start (one thread by default: its idle threads
    spun beside the tagger's own, `tagger.blas_threads`)."""
    asked: list[int] = []
    monkeypatch.setattr("tagger.pipeline.limit_blas_threads", asked.append)

    tag_video(
        two_shot_video, settings=settings(blas_threads=threads), detector=ColourDetector(tiny_spec(tmp_path))
    )

    assert asked == [threads]
    assert TaggerSettings().blas_threads == 1


def test_progress_goes_from_zero_to_one_in_order(tagged: Tagged) -> None:
    assert tagged.progress[0] == 0.0
    assert tagged.progress[-1] == 1.0
    assert tagged.progress == sorted(tagged.progress)


def test_json_has_exactly_the_fields_the_issue_names(tagged: Tagged) -> None:
    document = tagged.result.to_json()
    cup = document["placements"][2]
    box = [0.6875, 0.4167, 0.15, 0.25]

    assert document["video"] == {"duration_ms": 3000, "fps": 30.0, "width": 160, "height": 96, "frames": 90}
    assert document["model"] == {"name": "tiny", "sha256": "0" * 64}
    assert set(document["timing"]) == {
        "decode_s",
        "detect_s",
        "track_s",
        "link_s",
        "total_s",
        "realtime_factor",
    }
    assert cup == {
        "id": tagged.result.placements[2].id,
        "label": "cup",
        "confidence": 0.9,
        "start_ms": 1500,
        "end_ms": 2933,
        "start_frame": 45,
        "end_frame": 88,
        "keyframes": [{"t_ms": 1500, "box": box}, {"t_ms": 2933, "box": box}],
        "thumbnail": str(tagged.thumbnails / f"{cup['id']}.jpg"),
        "sku_candidates": [],
        "link": None,
    }


def test_a_result_with_placements_has_no_empty_reason_and_counts_its_funnel(tagged: Tagged) -> None:
    funnel = tagged.result.funnel
    assert tagged.result.empty_reason is None
    assert funnel.placements == len(tagged.result.placements) == 3
    assert funnel.sampled_frames >= 30
    assert funnel.detections >= funnel.tracks >= funnel.placements


def test_given_nothing_to_detect_when_tagged_then_the_result_says_the_detector_found_nothing(
    tmp_path: Path,
) -> None:
    empty = write_video(tmp_path / "empty.mp4", [frame_with(160, 96, [], background=90) for _ in range(30)])
    result = tag_video(empty, settings=settings(), detector=ColourDetector(tiny_spec(tmp_path)))
    assert result.placements == ()
    assert result.funnel.detections == 0
    assert result.empty_reason == (
        f"the detector found nothing above its confidence threshold (0.3) "
        f"in {result.funnel.sampled_frames} sampled frames"
    )


def test_given_only_short_tracks_when_tagged_then_the_result_says_they_were_too_short(
    two_shot_video: Path, tmp_path: Path
) -> None:
    result = tag_video(
        two_shot_video,
        settings=settings(min_placement_ms=60_000),
        detector=ColourDetector(tiny_spec(tmp_path)),
    )
    assert result.placements == ()
    assert result.funnel.tracks >= 3
    assert result.empty_reason == (
        f"{result.funnel.tracks} tracks, none long enough to become a placement "
        "(at least 60000 ms and 2 detections)"
    )


class LabelLinker:
    """Links every placement to a SKU named after the colour of its best crop, and records the calls."""

    def __init__(self) -> None:
        self.crops_seen: list[int] = []

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        self.crops_seen.append(len(crops))
        first = crops[0]
        image = first if isinstance(first, np.ndarray) else first.image
        sku = "BLUE" if image[..., 0].mean() > 180 else "RED"
        approved = thresholds is not None and thresholds.auto_approve < 0.9
        decision = Decision.APPROVED if approved else Decision.PROPOSED
        return link_result(sku, sku.title(), 0.9, decision, crops_used=len(crops), index_version="v7")


def test_given_a_linker_when_tagged_then_each_placement_carries_its_link(
    two_shot_video: Path, tmp_path: Path
) -> None:
    linker = LabelLinker()
    steps: list[tuple[int, int]] = []
    result = tag_video(
        two_shot_video,
        settings=settings(),
        detector=ColourDetector(tiny_spec(tmp_path)),
        linker=linker,
        thresholds=LinkThresholds(auto_approve=0.8, floor=0.3),
        link_progress=lambda done, total: steps.append((done, total)),
    )
    assert [(p.label, p.link.sku if p.link else None) for p in result.placements] == [
        ("bottle", "RED"),
        ("bottle", "RED"),
        ("cup", "BLUE"),
    ]
    assert {p.link.decision for p in result.placements if p.link} == {Decision.APPROVED}
    assert sorted(linker.crops_seen) == sorted(len(p.crops) for p in result.placements)
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert 0 < result.timing.link_s < result.timing.total_s
    cup = result.to_json()["placements"][2]
    assert (cup["sku_candidates"], cup["link"]) == (
        [{"sku": "BLUE", "title": "Blue", "confidence": 0.9}],
        {
            "sku": "BLUE",
            "confidence": 0.9,
            "decision": "approved",
            "evidence": "",
            "contradicted": False,
            "approval_level": None,  # the test's linker decides without thresholds
            "index_version": "v7",
        },
    )


class CountingLinker(LabelLinker):
    """`LabelLinker` that counts its calls and how many run at once; `before_link(call)` (1-based)
    runs inside each call, counted as running, before the link is made."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.calls = self.running = self.most_at_once = 0

    def before_link(self, call: int) -> None:
        """What a subclass does while the link runs (wait, sleep, fail)."""

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        with self._lock:
            self.calls += 1
            call = self.calls
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.before_link(call)
            return super().link_track(crops, thresholds)
        finally:
            with self._lock:
                self.running -= 1


class SlowFirstLinker(CountingLinker):
    """Its first calls take longest (so parallel links finish out of order); `fail_on` makes that
    call (1-based) raise."""

    def __init__(self, fail_on: int | None = None) -> None:
        super().__init__()
        self.fail_on = fail_on

    def before_link(self, call: int) -> None:
        time.sleep(0.3 / call)
        if call == self.fail_on:
            raise LinkingError("the catalog index went away")


class RendezvousLinker(CountingLinker):
    """Links wait for each other until `parties` run at once (a barrier), so linking side by side is
    shown without timing anything; the first call also returns last."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self._barrier = threading.Barrier(parties, timeout=10)

    def before_link(self, call: int) -> None:
        self._barrier.wait()
        if call == 1:
            time.sleep(0.05)


@pytest.mark.parametrize("threads", [1, 3])
def test_placements_are_linked_side_by_side_and_keep_their_order(
    two_shot_video: Path, tmp_path: Path, threads: int
) -> None:
    linker = RendezvousLinker(parties=threads)
    steps: list[tuple[int, int]] = []

    result = tag_video(
        two_shot_video,
        settings=settings(link_threads=threads),
        detector=ColourDetector(tiny_spec(tmp_path)),
        linker=linker,
        thresholds=LinkThresholds(auto_approve=0.8, floor=0.3),
        link_progress=lambda done, total: steps.append((done, total)),
    )

    assert [p.link.sku if p.link else None for p in result.placements] == ["RED", "RED", "BLUE"]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert linker.most_at_once == threads


class SecondShotWaitsForALink(ColourDetector):
    """Holds the first frame of the second (brighter) shot until some placement has been linked:
    a pass that links only after detecting everything would wait here in vain."""

    def __init__(self, spec: DetectorSpec, linked: threading.Event) -> None:
        super().__init__(spec)
        self._linked = linked
        self.saw_a_link_mid_episode: bool | None = None

    def detect(self, frames: Sequence[Image]) -> list[Detections]:
        if self.saw_a_link_mid_episode is None and frames[0].mean() > 120:
            self.saw_a_link_mid_episode = self._linked.wait(10)
        return super().detect(frames)


class SignallingLinker(LabelLinker):
    def __init__(self) -> None:
        super().__init__()
        self.linked = threading.Event()

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        result = super().link_track(crops, thresholds)
        self.linked.set()
        return result


def test_a_shots_placements_are_linked_while_the_next_shot_is_tagged(
    two_shot_video: Path, tmp_path: Path
) -> None:
    linker = SignallingLinker()
    detector = SecondShotWaitsForALink(tiny_spec(tmp_path), linker.linked)

    result = tag_video(two_shot_video, settings=settings(), detector=detector, linker=linker)

    assert detector.saw_a_link_mid_episode is True
    assert [p.link.sku if p.link else None for p in result.placements] == ["RED", "RED", "BLUE"]


class HeldLinker(CountingLinker):
    """Holds every link until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def before_link(self, call: int) -> None:
        self.started.set()
        assert self.release.wait(10), "the test never released the link"


class BreaksOnTheSecondShot(ColourDetector):
    """Fails on the second (brighter) shot's first frame, once the first shot's link is running;
    the link is released just before, so it finishes while the error unwinds."""

    def __init__(self, spec: DetectorSpec, linker: HeldLinker) -> None:
        super().__init__(spec)
        self._linker = linker

    def detect(self, frames: Sequence[Image]) -> list[Detections]:
        if frames[0].mean() > 120:
            assert self._linker.started.wait(10)
            self._linker.release.set()
            raise RuntimeError("the detector's runtime went away")
        return super().detect(frames)


def test_a_detection_error_while_a_link_runs_is_raised_once_that_link_is_done(
    two_shot_video: Path, tmp_path: Path
) -> None:
    linker = HeldLinker()

    with pytest.raises(RuntimeError, match="the detector's runtime went away"):
        tag_video(
            two_shot_video,
            settings=settings(),
            detector=BreaksOnTheSecondShot(tiny_spec(tmp_path), linker),
            linker=linker,
        )

    assert linker.calls == 1  # the first shot's one placement
    assert linker.running == 0  # nothing left running behind the error


class BreaksOnTheFourthFrame(ColourDetector):
    """Fails past the shot's dense start, when the decoder is ahead by the schedule's lead and waits."""

    def detect(self, frames: Sequence[Image]) -> list[Detections]:
        if self.calls == 3:
            raise RuntimeError("the detector's runtime went away")
        return super().detect(frames)


def test_a_detection_error_stops_decoding_and_scaling_at_once(
    two_shot_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The decoder runs ahead of the detector only so far, then waits for its answers: stopped by the
    # error, it must be released rather than waited for (it used to hold the error back 10 s, the
    # prefetch's join timeout, and then leave the decoder behind).
    stages: list[Prefetch[Any]] = []

    class Recorded(Prefetch[Any]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            stages.append(self)

    monkeypatch.setattr(pipeline, "Prefetch", Recorded)
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="the detector's runtime went away"):
        tag_video(two_shot_video, settings=settings(), detector=BreaksOnTheFourthFrame(tiny_spec(tmp_path)))

    assert len(stages) == 2  # decoding, scaling
    assert [stage.running for stage in stages] == [False, False]
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failing_link_fails_the_tagging_with_its_error(
    two_shot_video: Path, tmp_path: Path, threads: int
) -> None:
    linker = SlowFirstLinker(fail_on=1)

    with pytest.raises(LinkingError, match="the catalog index went away"):
        tag_video(
            two_shot_video,
            settings=settings(link_threads=threads),
            detector=ColourDetector(tiny_spec(tmp_path)),
            linker=linker,
        )
    if threads == 1:
        assert linker.calls == 1  # nothing after the failure is linked
    assert linker.running == 0  # no link is left running behind the error


class UnsureLinker:
    """A linker over a real (synthetic) catalog index that is never sure: every link is "unknown"."""

    def __init__(self, index: CatalogIndex) -> None:
        self.index = index

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        return LinkResult(
            candidates=(SkuCandidate("SKU-2", "Product 2", 0.2),),
            sku=None,
            confidence=0.2,
            unknown_probability=0.7,
            decision=Decision.UNKNOWN,
            index_version=self.index.version,
            crops_used=len(crops),
        )


@pytest.fixture(scope="module")
def held_product_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s of catalog packshot SKU-2 held in front of a busy background, with a red square (a
    "bottle" to the general test detector, and no catalog product) beside it."""
    frame, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    frame[40:100, 40:100] = (0, 0, 255)
    return write_video(tmp_path_factory.mktemp("held") / "held.mp4", [frame] * 45)


def test_given_a_catalog_when_tagged_then_a_product_is_found_by_its_print_and_unexplained_boxes_dropped(
    held_product_video: Path, tmp_path: Path
) -> None:
    linker = UnsureLinker(build_catalog_index(catalog(6), extractor()))
    located = settings(work_max_side=960, sample_fps=2.5, min_placement_ms=500)

    result = tag_video(
        held_product_video, settings=located, detector=ColourDetector(tiny_spec(tmp_path)), linker=linker
    )
    kept_all = tag_video(
        held_product_video,
        settings=located.model_copy(update={"drop_unexplained": False}),
        detector=ColourDetector(tiny_spec(tmp_path)),
        linker=linker,
    )
    no_catalog = tag_video(held_product_video, settings=located, detector=ColourDetector(tiny_spec(tmp_path)))

    assert [p.label for p in result.placements] == ["product"]
    assert sorted(p.label for p in kept_all.placements) == ["bottle", "product"]
    # The test detector also calls the carton a "cup"; with the catalog that box gives way to the
    # located product (one object, one track).
    assert [p.label for p in no_catalog.placements] == ["bottle", "cup"]
    assert result.timing.locate_s > 0
    assert no_catalog.timing.locate_s == 0


def test_a_product_found_after_its_shot_began_becomes_a_placement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first look of the shot sees nothing; the retry look a second later finds the product. An
    IoU tracker confirms a new track only if the next frame's detections match it, and the locator
    looks again only every 600 ms: handed to the tracker, the product never became a placement."""
    frame, truth = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    video = write_video(tmp_path / "held.mp4", [frame] * 90)
    looks: list[bool] = []

    def brought_into_view(
        *args: object, rows: Sequence[int] | None = None, **kwargs: object
    ) -> list[Located]:
        looks.append(rows is not None)
        box = (float(truth[0]), float(truth[1]), float(truth[2]), float(truth[3]))
        return [] if len(looks) == 1 else [Located(1, "SKU-2", 30, box)]

    monkeypatch.setattr("tagger.locating.locate_products", brought_into_view)
    linker = UnsureLinker(build_catalog_index(catalog(6), extractor()))

    result = tag_video(
        video,
        settings=settings(work_max_side=960, sample_fps=2.5, min_placement_ms=500),
        detector=ColourDetector(tiny_spec(tmp_path)),
        linker=linker,
    )

    products = [p for p in result.placements if p.label == "product"]
    assert len(products) == 1
    assert 900 <= products[0].start_ms <= 1200
    assert products[0].end_ms >= 2000
    assert looks[:3] == [False, False, True]  # a full look, the retry that finds it, then following


@pytest.mark.parametrize("after", ["a cut", "the video's end"])
def test_a_product_found_late_in_its_shot_is_a_placement_held_to_the_cut(
    after: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Carried into view late: the retry that finds it comes 2.2 s into a 2.8 s shot (retries every
    second: the hold to the cut is the subject, not when the look comes). The next sample sees it
    again (a second sighting; the next follow would be past the cut), and no look saw it leave, so
    its placement runs to the shot's last frame: 567 ms, where its two sightings span 400."""
    frame, truth = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    dark = np.full_like(frame, 8)
    # The shot's last frame is 83 (2767 ms): a cut follows it, or the video ends there.
    video = write_video(tmp_path / "late.mp4", [frame] * 84 + ([dark] * 30 if after == "a cut" else []))
    box = (float(truth[0]), float(truth[1]), float(truth[2]), float(truth[3]))
    full_looks: list[int] = []

    def carried_in(
        image: Image, *args: object, rows: Sequence[int] | None = None, **kwargs: object
    ) -> list[Located]:
        if rows is None:
            full_looks.append(1)
        in_view = rows is not None or len(full_looks) >= 3
        return [Located(1, "SKU-2", 30, box)] if in_view and image.mean() > 20 else []

    monkeypatch.setattr("tagger.locating.locate_products", carried_in)
    linker = UnsureLinker(build_catalog_index(catalog(6), extractor()))
    at = settings(work_max_side=960, sample_fps=2.5, min_placement_ms=500, locate_max_retry_ms=1000)

    result = tag_video(video, settings=at, detector=ColourDetector(tiny_spec(tmp_path)), linker=linker)

    (product,) = [p for p in result.placements if p.label == "product"]
    assert (product.start_ms, product.end_ms) == (2200, 2767)
    assert (product.start_frame, product.end_frame) == (66, 83)
    assert [k.t_ms for k in product.keyframes] == [2200, 2600]  # the box is held after its last sighting


def test_a_weak_print_seen_twice_is_one_placement_from_its_first_sighting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the bar (10 keypoints against 12) at every look: a candidate at the shot's first look,
    confirmed by the retry a second later and credited back to the first. The test detector's "cup"
    on the same carton, tracked until the product was confirmed, is not a second placement."""
    frame, truth = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    frame[40:100, 40:100] = (0, 0, 255)
    video = write_video(tmp_path / "weak.mp4", [frame] * 90)
    box = (float(truth[0]), float(truth[1]), float(truth[2]), float(truth[3]))

    def weak_print(*args: object, **kwargs: object) -> list[Located]:
        return [Located(1, "SKU-2", 10, box)]

    monkeypatch.setattr("tagger.locating.locate_products", weak_print)
    linker = UnsureLinker(build_catalog_index(catalog(6), extractor()))
    keep_all = settings(work_max_side=960, sample_fps=2.5, min_placement_ms=500, drop_unexplained=False)

    result = tag_video(video, settings=keep_all, detector=ColourDetector(tiny_spec(tmp_path)), linker=linker)

    labels = sorted(p.label for p in result.placements)
    assert labels == ["bottle", "product"]
    (product,) = [p for p in result.placements if p.label == "product"]
    assert product.start_ms == 0
    assert product.end_ms >= 2000


class NothingLinker:
    """A catalog that explains nothing: every placement is an unknown product."""

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        return link_result(None, "Something else", 0.04, Decision.UNKNOWN, crops_used=len(crops))


def test_given_a_catalog_that_explains_nothing_when_tagged_then_no_placement_and_the_reason(
    two_shot_video: Path, tmp_path: Path
) -> None:
    result = tag_video(
        two_shot_video,
        settings=settings(),
        detector=ColourDetector(tiny_spec(tmp_path)),
        linker=NothingLinker(),
        thresholds=LinkThresholds(auto_approve=0.8, floor=0.3),
    )
    assert result.placements == ()
    assert (result.funnel.placements, result.funnel.unexplained) == (0, 3)
    assert result.empty_reason == (
        "3 possible placements, but no catalog product explains any of them "
        "(the linker called each an unknown product)"
    )


def test_each_sample_says_how_much_the_picture_changed_over_the_last_sampling_period(tmp_path: Path) -> None:
    # A still backdrop, then a photo sliding up into view (no cut): the locator searches sooner when
    # the picture changes that much (`LocateSchedule.change_luma`). Then a cut to a dark frame: a
    # shot's first sample has nothing earlier in its shot to differ from, so 0.
    picture = tmp_path / "carton.png"
    image = np.full((300, 300, 3), 255, np.uint8)
    image[::20] = 0  # some print; its backdrop is a blurred copy at 0.6 of the brightness
    cv2.imwrite(str(picture), image)
    dark = tmp_path / "dark.png"
    cv2.imwrite(str(dark), np.full((300, 300, 3), 20, np.uint8))
    video = tmp_path / "entering.mp4"
    shots = [ShotSpec(picture, 4000, "GS-01", zoom=0.0, enter_ms=1500), ShotSpec(dark, 1500, None, zoom=0.0)]
    render_episode(shots, video, size=(180, 320), fps=10)
    settings = TaggerSettings()
    schedule = DetectionSchedule(settings.sample_fps, settings.frames_after_cut)

    samples = list(sampled_frames(video, settings, DecodeStats(), schedule))

    changes = {sample.t_ms: sample.change for sample in samples}
    assert changes[0] == 0.0
    before = [change for t_ms, change in changes.items() if 0 < t_ms < 1500]
    sliding = [change for t_ms, change in changes.items() if 1500 < t_ms <= 2600]
    assert before
    assert max(before) < 5.0
    assert sliding
    assert max(sliding) >= settings.locate_change_luma
    [cut] = [sample for sample in samples if sample.starts_shot and sample.t_ms > 0]
    assert cut.t_ms == 4000
    assert cut.change == 0.0
    assert cut.change_map is None
    # Where it changed: the map's mean is the change, and the slide changed the lower rows (where the
    # photo rises from) more than the top.
    [slide] = [sample for sample in samples if sample.change == max(sliding)]
    assert slide.change_map is not None
    assert float(slide.change_map.mean()) == pytest.approx(slide.change)
    rows = slide.change_map.shape[0]
    assert slide.change_map[rows // 2 :].mean() > slide.change_map[: rows // 4].mean()


def test_the_change_is_measured_over_about_one_sampling_period_however_close_the_samples() -> None:
    # Samples come closer after a cut and while the tracker asks for more; the level was measured
    # over the plain period, so the change is taken against the sample nearest that age.
    frames = {t_ms: np.full((4, 4), t_ms // 100, np.uint8) for t_ms in range(0, 2001, 100)}
    recent: deque[tuple[int, Image]] = deque()

    assert mean_change(change_map(recent, 0, frames[0], 400.0)) == 0.0
    for t_ms in (0, 133, 267, 400, 533):
        recent.append((t_ms, frames[(t_ms // 100) * 100]))

    assert mean_change(change_map(recent, 667, frames[600], 400.0)) == 4.0  # against 267 (2), not 533 (5)
    assert (
        mean_change(change_map(recent, 1000, frames[1000], 400.0)) == 5.0
    )  # against 533, the nearest to 400 ms
    assert [t_ms for t_ms, _ in recent] == [267, 400, 533]  # older than two periods: dropped
    resized = change_map(recent, 1100, np.zeros((2, 2), np.uint8), 400.0)
    assert resized is not None
    assert resized.tolist() == [[255, 255], [255, 255]]  # a change of size changes everything


@pytest.mark.parametrize("while_following", [False, True])
def test_a_brands_detector_sits_out_while_the_located_product_is_followed(
    held_product_video: Path, tmp_path: Path, while_following: bool
) -> None:
    linker = UnsureLinker(build_catalog_index(catalog(6), extractor()))
    brand_spec = tiny_spec(
        tmp_path / "brand", name="brand-acme-1", layout="ultralytics", classes=("p1",), products=("p1",)
    )
    brand = FixedDetector(brand_spec, Detections.empty())  # finds nothing; counts the frames it sees
    merged = MergedDetector(ColourDetector(tiny_spec(tmp_path / "general")), brand)
    located = settings(
        work_max_side=960,
        sample_fps=2.5,
        min_placement_ms=500,
        brand_detector_while_following=while_following,
    )

    result = tag_video(held_product_video, settings=located, detector=merged, linker=linker)

    # The carton is located at the shot's first frame and followed to its end: with the default the
    # brand's detector sees only that first frame, the general one every sample.
    assert [p.label for p in result.placements] == ["product"]
    assert brand.calls == (result.timing.detected_frames if while_following else 1)
    assert result.timing.detected_frames > 1
