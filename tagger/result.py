"""What tagging returns: the video, the model, timings and placements, and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tagger.placements import Placement


@dataclass(frozen=True, slots=True)
class VideoSummary:
    duration_ms: int
    fps: float
    width: int
    height: int
    frames: int


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds spent per stage; decoding and scaling run in threads of their own, so the stages overlap
    in `total_s`. `decode_s` is those two threads' time in their loops, which includes the decoder's
    waits for the detector's answers (`tagger.sampling.DetectionSchedule`): an upper bound on the work."""

    decode_s: float
    detect_s: float
    track_s: float
    total_s: float
    realtime_factor: float
    detected_frames: int
    # Linking the placements' crops against a catalog, when one was given: the part of total_s spent
    # after the detection pass, waiting for links still running (a shot's placements are linked from
    # its cut on, beside detection: `tagger.link_queue`).
    link_s: float = 0.0
    # Finding catalog products by their print (settings.locate_products; part of total_s, not detect_s).
    locate_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Funnel:
    """How much survived each stage. A tag run that finds nothing is explained by where this narrows
    to zero: no frames, no detections, no confirmed tracks, or tracks too short to be placements."""

    sampled_frames: int
    detections: int
    tracks: int
    placements: int
    # Placements dropped after linking because no catalog SKU explains them (tagging with a catalog).
    unexplained: int = 0


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot: from the frame after a cut (or the first) to the frame before the next cut (or the
    last), in ms. A product shown in it is a placement within it; one the tagger missed is not."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class TagResult:
    video: VideoSummary
    model: ModelRef
    timing: Timing
    placements: tuple[Placement, ...]
    funnel: Funnel
    # One sentence saying why there are no placements; None when there are some.
    empty_reason: str | None = None
    # The shots the cut detector found, in order, covering the video.
    shots: tuple[Shot, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "video": {
                "duration_ms": self.video.duration_ms,
                "fps": self.video.fps,
                "width": self.video.width,
                "height": self.video.height,
                "frames": self.video.frames,
            },
            "model": {"name": self.model.name, "sha256": self.model.sha256},
            "timing": {
                "decode_s": round(self.timing.decode_s, 3),
                "detect_s": round(self.timing.detect_s, 3),
                "track_s": round(self.timing.track_s, 3),
                "link_s": round(self.timing.link_s, 3),
                "total_s": round(self.timing.total_s, 3),
                "realtime_factor": round(self.timing.realtime_factor, 2),
            },
            "funnel": {
                "sampled_frames": self.funnel.sampled_frames,
                "detections": self.funnel.detections,
                "tracks": self.funnel.tracks,
                "placements": self.funnel.placements,
                "unexplained": self.funnel.unexplained,
            },
            "empty_reason": self.empty_reason,
            "shots": [{"start_ms": shot.start_ms, "end_ms": shot.end_ms} for shot in self.shots],
            "placements": [placement_json(p) for p in self.placements],
        }


def placement_json(placement: Placement) -> dict[str, Any]:
    return {
        "id": placement.id,
        "label": placement.label,
        "confidence": placement.confidence,
        "start_ms": placement.start_ms,
        "end_ms": placement.end_ms,
        "start_frame": placement.start_frame,
        "end_frame": placement.end_frame,
        "keyframes": [{"t_ms": k.t_ms, "box": list(k.box)} for k in placement.keyframes],
        "thumbnail": str(placement.thumbnail) if placement.thumbnail is not None else None,
        "sku_candidates": [
            {"sku": c.sku, "title": c.title, "confidence": round(c.confidence, 4)}
            for c in (placement.link.candidates if placement.link is not None else ())
        ],
        "link": (
            {
                "sku": placement.link.sku,
                "confidence": round(placement.link.confidence, 4),
                "decision": placement.link.decision.value,
                "evidence": placement.link.evidence,
                "contradicted": placement.link.contradicted,
                "approval_level": placement.link.approval_level,
                "index_version": placement.link.index_version,
            }
            if placement.link is not None
            else None
        ),
    }
