"""Settings for the tagging pipeline: one pydantic-settings class, `REELCART_` prefix.

Every knob the pipeline reads lives here so the CLI, the API worker and the benchmark tag the same
way; the defaults are the ones measured in BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository's `models/` folder: cards ship with the code, weights do not.
DEFAULT_MODEL_CARDS_DIR = Path(__file__).resolve().parents[1] / "models"

# What the decoder may skip: only frames no other frame refers to, so every frame it does decode is the
# one a player shows. Skipping all B-frames ("bidir", offered until 2026-12-07) is not among them: B-frames
# kept as references (x264's default B-pyramid) are referred to by P-frames as soon as an encoder uses
# more than one reference frame (x264's "medium" and slower presets do), and every P-frame after a
# skipped one then decodes from the wrong picture until the next keyframe (21 dB PSNR against a full
# decode on a "medium" encode of the episode benchmark; BENCHMARKS.md, Tagging).
DecodeSkip = Literal["none", "nonref"]
TrackerName = Literal["botsort", "bytetrack"]


class TaggerSettings(BaseSettings):
    """What an operator may tune about tagging; every field has a measured default."""

    model_config = SettingsConfigDict(env_prefix="REELCART_", env_file=".env", extra="ignore")

    model_dir: Path = Path("var/models")
    model_cards_dir: Path = DEFAULT_MODEL_CARDS_DIR
    detector: str = "yolox-nano"
    execution_providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    # ONNX Runtime intra-op threads (0: one per core). One is measured fastest: decoding runs in a
    # parallel thread, and extra ONNX Runtime threads spin-wait for cores the decoder is using.
    intra_op_threads: int = Field(default=1, ge=0, le=256)
    # numpy's BLAS threads in a process that tags (0: BLAS's own choice, one per core). One: its float
    # products are small and the tagger's own threads keep the cores busy, so BLAS's extra threads only
    # spun waiting (`tagger.blas_threads`). Process-wide from the first tag job on.
    blas_threads: int = Field(default=1, ge=0, le=256)

    # Sampling: the detector runs at this rate plus on the first frames after every cut.
    sample_fps: float = Field(default=2.5, gt=0.0, le=120.0)
    frames_after_cut: int = Field(default=2, ge=1, le=10)
    # While the tracker is unsure (a track being born, a box jumping), detect at this rate for a while.
    boost_fps: float = Field(default=8.0, gt=0.0, le=120.0)
    boost_ms: int = Field(default=600, ge=0, le=10_000)
    # Which frames the decoder may skip outright (`DecodeSkip`). "nonref" skips frames nothing else
    # depends on (non-reference B-frames, about half of an H.264 stream) and is the measured default;
    # "none" decodes all.
    decode_skip: DecodeSkip = "nonref"
    # Decoder threads (0: FFmpeg's choice, one more than the cores). One: decoding runs beside the
    # detector (and, with a catalog, the locator and the link threads), which already keep the cores
    # busy, so FFmpeg's frame threads only added their own overhead. With one thread a tag job took
    # 0.4-0.5 CPU-s less on 2 cores and ran faster with and without a catalog, with identical answers
    # (BENCHMARKS.md, End to end and Tagging).
    decode_threads: int = Field(default=1, ge=0, le=64)
    # Longest side of the working image a sampled frame is scaled to (crops and thumbnails come
    # from it; the detector input is letterboxed from it).
    work_max_side: int = Field(default=960, ge=64, le=4096)

    # Shot cuts: mean absolute luma difference (0-255) between consecutive tiny frames.
    cut_threshold: float = Field(default=28.0, gt=0.0, le=255.0)

    # Detection.
    confidence_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    nms_iou_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    max_detections: int = Field(default=100, ge=1, le=1000)
    # One object, one box: a bag scored as "handbag" and "backpack" must not become two hotspots.
    class_agnostic_nms: bool = True
    # A brand's trained detector (run beside the general one when the brand has one): its own bar,
    # since a model trained from scratch on synthetic composites scores on its own scale.
    brand_confidence_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    # Run the brand's detector also on frames where the print locator already follows a product of
    # the shot. Off: there its boxes were the located product again, or parts of it, linked and dropped
    # (BENCHMARKS.md, End to end); the general detector still runs on every frame.
    brand_detector_while_following: bool = False
    # A box covering most of the frame is a wall or a fridge door, never a tappable product hotspot.
    max_box_area: float = Field(default=0.6, gt=0.0, le=1.0)

    # Tracking (the `trackers` package).
    tracker: TrackerName = "botsort"
    # BoT-SORT's camera-motion compensation (sparse optical flow on the working image). Off by
    # default: on the benchmark episode (pans, zooms) it cost ~10 ms per detected frame and found no
    # placement more than buffered-IoU association plus boosted sampling (BENCHMARKS.md).
    camera_motion_compensation: bool = False
    track_activation_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    # Detections this confident take part in the tracker's first association round, and only they
    # confirm a newborn track (ByteTrack/BoT-SORT); weaker ones may only extend existing tracks.
    # Below the trackers' stock 0.5: at a few detections per second a newborn track gets far fewer
    # looks to confirm itself than on every frame (0.45 recovers the borderline products a dense
    # run keeps, BENCHMARKS.md).
    track_high_confidence: float = Field(default=0.45, ge=0.0, le=1.0)
    lost_track_s: float = Field(default=1.0, ge=0.0, le=30.0)
    # Relative margin added around boxes before IoU association (buffered IoU); 0 is plain IoU.
    track_iou_buffer: float = Field(default=0.3, ge=0.0, le=2.0)

    # Placements.
    min_placement_ms: int = Field(default=500, ge=0)
    min_placement_detections: int = Field(default=2, ge=1)
    keyframe_tolerance: float = Field(default=0.01, gt=0.0, le=0.5)
    merge_gap_ms: int = Field(default=1500, ge=0)
    merge_min_iou: float = Field(default=0.3, ge=0.0, le=1.0)
    crops_per_placement: int = Field(default=3, ge=1, le=16)
    max_side_px: int = Field(default=8192, ge=16)

    # Catalog-aware proposals (only when tagging with a catalog): find the brand's products by their
    # print (packshot keypoints under one similarity, `tagger.linking.locate`) at shot starts, follow
    # them, and give them to the tracker as detections of a "product" class beside the general
    # detector's. On the episode benchmark (3 seeds, 24 product shots each) it took found product shots
    # from 7/3/5 to 21/15/20 and right first SKUs from 5/3/5 to 19/14/18, with no wrong auto-approval,
    # at ~2.4x the CPU (≈ 41 s instead of 17 s per 98 s episode: locating ≈ 9-15 s, the rest linking
    # twice as many placements; BENCHMARKS.md, End to end).
    locate_products: bool = True
    locate_min_inliers: int = Field(default=12, ge=6, le=1000)
    # Below the bar, a print seen with this many inliers is found only when the next look sees the same
    # SKU at the same place (`tagger.locating`); at most locate_min_inliers (set both equal to turn off).
    locate_tentative_inliers: int = Field(default=8, ge=6, le=1000)
    locate_max_keypoints: int = Field(default=1000, ge=10, le=10_000)
    # 720 cost ~13 % less CPU per episode and found one product shot fewer per episode (measured).
    locate_max_side: int = Field(default=960, ge=64, le=4096)
    # A whole-frame look searches the catalog rows the frame's keypoints vote for
    # (`tagger.linking.print_shortlist`): locate_row_share of the catalog, at least locate_min_rows,
    # at most locate_max_rows, so a look's cost stays bounded at any catalog size
    # (`tagger.linking.locate.LocateConfig`).
    locate_max_rows: int = Field(default=256, ge=1, le=100_000)
    locate_min_rows: int = Field(default=32, ge=1, le=100_000)
    locate_row_share: float = Field(default=0.25, gt=0.0, le=1.0)
    # A shot where nothing was found is searched again this often (2000 lost 2 of 21 found shots).
    locate_retry_ms: int = Field(default=1000, ge=0)
    # ... and each time it again sees nothing, the wait doubles, up to this (set it to locate_retry_ms
    # for a look every interval): on the episode benchmark no retry of a plain episode found anything.
    locate_max_retry_ms: int = Field(default=2000, ge=0)
    # ... and sooner when the picture changes this much over a sampling period (mean absolute
    # difference of the tiny luma frames, 0-255): a product coming into view
    # (`tagger.locating.LocateSchedule`). Where products are followed, a change this large away from
    # them brings a look for newcomers (a second product carried in). 256 turns both off.
    locate_change_luma: float = Field(default=28.0, gt=0.0, le=256.0)
    # A found product is looked for again, around its last box, this often (its placement's path is
    # interpolated between looks; a look that misses it, there and then in the whole frame, ends its
    # track; a product no look saw leave is shown until its next look was due, or the cut). A product
    # found mid-shot, and a candidate below the bar, are looked at again at the very next sample.
    locate_follow_ms: int = Field(default=600, ge=0)
    # With a catalog, a general detector's placement that no SKU explains (the linker's decision
    # "unknown": no SKU above the brand's floor) is shelf clutter or a false detection, not something
    # a viewer can buy: it is dropped. Products found by their print are kept (a packshot explained
    # them; the linker may still hesitate between siblings). Measured: placements on product-free
    # shots 4/5/0 -> 0/1/0 with no found shot lost.
    drop_unexplained: bool = True
    # Placements linked at once (threads). A shot's placements are linked from its cut on, beside the
    # detection of the next shots (`tagger.link_queue`). Linking one placement runs on one core
    # (embedding, keypoints, verification; each OCR read on an engine of its own); on the 2-core
    # target detection already keeps both cores busy, so the threads gain there only on the tail after
    # detection (BENCHMARKS.md, End to end).
    # Answers do not depend on it: every placement is linked on its own.
    link_threads: int = Field(default=2, ge=1, le=64)
