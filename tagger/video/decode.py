"""Decode an episode with PyAV, carrying each frame's exact presentation time and index.

Cheap by design: every decoded frame yields only a tiny luma thumbnail (read straight from the Y
plane, no colour conversion), and a full colour image is made only when the pipeline asks for one.
A demux-only pass first lists every packet's PTS, so frame indices stay exact even when the decoder
is told to skip frames nothing depends on, and never come from `time * fps`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from tagger.arrays import Image
from tagger.exceptions import VideoError
from tagger.probe import media_error_reason

# Decoder skip modes: nothing skipped, or the frames no other frame refers to (`settings.DecodeSkip`
# says why skipping every B-frame is not one of them).
_SKIP_MODES = {"none": "DEFAULT", "nonref": "NONREF"}
# Pixel formats whose first plane is full-resolution 8-bit luma.
_LUMA_FIRST = ("yuv", "yuvj", "nv12", "nv21", "gray")
TINY_SHORT_SIDE = 36


@dataclass(frozen=True, slots=True)
class PacketIndex:
    """Every video packet's PTS in presentation order: the frame index of a PTS is its rank."""

    pts: tuple[int, ...]

    def index_of(self, pts: int) -> int:
        return bisect.bisect_left(self.pts, pts)

    @property
    def frames(self) -> int:
        return len(self.pts)


@dataclass(slots=True)
class DecodedFrame:
    """One decoded frame: exact index and time, a tiny luma thumbnail, and the frame for later use."""

    index: int
    t_ms: int
    tiny: Image
    rotation: int
    frame: av.VideoFrame = field(repr=False)

    def image(self, max_side: int) -> Image:
        """The frame as BGR uint8 in display orientation, its longest side at most `max_side`."""
        width, height = self.frame.width, self.frame.height
        scale = max_side / max(width, height)
        if scale >= 1.0:
            array = self.frame.to_ndarray(format="bgr24")
        else:
            # Even sizes keep the scaler's chroma subsampling exact.
            out_w, out_h = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
            array = self.frame.reformat(width=out_w, height=out_h, format="bgr24").to_ndarray()
        return rotate_for_display(np.asarray(array, dtype=np.uint8), self.rotation)


def rotate_for_display(image: Image, rotation: int) -> Image:
    """Apply a display-matrix rotation (degrees counter-clockwise, as PyAV reports it)."""
    turns = round(rotation / 90) % 4
    if turns == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=turns))


def tiny_luma(frame: av.VideoFrame, rotation: int) -> Image:
    """A ~36-pixel-high grayscale thumbnail for shot-cut detection, as cheaply as the format allows."""
    width, height = frame.width, frame.height
    step = max(1, min(width, height) // TINY_SHORT_SIDE)
    if frame.format.name.startswith(_LUMA_FIRST):
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
        tiny = rows[:height:step, :width:step]
    else:
        small = frame.reformat(width=max(1, width // step), height=max(1, height // step), format="gray")
        tiny = np.asarray(small.to_ndarray(), dtype=np.uint8)
    return rotate_for_display(np.array(tiny, dtype=np.uint8), rotation)


def index_packets(path: Path, max_packets: int = 10_000_000) -> PacketIndex | None:
    """Demux without decoding and list the video packets' PTS; `None` when some packet has none.

    Also the cheapest place to notice a truncated file: the header states how many frames there are
    or how long the file is, and the packets really there (of any stream) fall short of that.
    """
    pts: list[int] = []
    has_all_pts = True
    last_s = 0.0
    with _open(path) as container:
        video = container.streams.video[0]
        declared_frames = int(video.frames or 0)
        declared_s = _declared_seconds(container)
        try:
            for packet in container.demux():
                if packet.size == 0:
                    continue
                if packet.pts is not None and packet.time_base is not None:
                    end = int(packet.pts) + int(packet.duration or 0)
                    last_s = max(last_s, float(end * packet.time_base))
                if packet.stream.index != video.index:
                    continue
                if packet.pts is None:
                    has_all_pts = False
                    continue
                pts.append(int(packet.pts))
                if len(pts) > max_packets:
                    raise VideoError(f"{path.name} has more than {max_packets} video packets", path=str(path))
        except (av.FFmpegError, ValueError) as error:
            message = f"{path.name}: container breaks while reading: {media_error_reason(error)}"
            raise VideoError(message, path=str(path)) from error
    if declared_frames and len(pts) < declared_frames and has_all_pts:
        raise VideoError(
            f"{path.name} is truncated: its header promises {declared_frames} frames, {len(pts)} are there",
            path=str(path),
        )
    # One second of slack: muxers round durations, and the last packet may lack its own.
    if declared_s is not None and declared_s - last_s > 1.0:
        raise VideoError(
            f"{path.name} is truncated: the header says {declared_s:.1f} s, packets stop at {last_s:.1f} s",
            path=str(path),
        )
    return PacketIndex(tuple(sorted(set(pts)))) if has_all_pts else None


def _declared_seconds(container: Any) -> float | None:
    """Where the file says it ends (start + duration, in seconds), when it says so."""
    if container.duration is None:
        return None
    start = int(container.start_time or 0)
    return float(Fraction(start + int(container.duration), av.time_base))


def _open(path: Path) -> Any:
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(
            f"{path.name} is not a readable media file: {media_error_reason(error)}", path=str(path)
        ) from error
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path.name} has no video stream", path=str(path))
    return container


def decode_frames(
    path: Path,
    *,
    skip: str = "none",
    threads: int = 0,
    packets: PacketIndex | None = None,
    from_ms: int = 0,
) -> Iterator[DecodedFrame]:
    """Yield frames in presentation order with exact PTS times; `skip` drops frames nothing references.

    `packets` (from `index_packets`) maps PTS to frame index. Without it (a stream with no
    timestamps, such as a raw .h264 file) frames are counted, so nothing may be skipped.
    `from_ms` > 0 seeks first (with `packets` only: frame indices then still come from the PTS), so the
    frames from about there on are decoded, not the whole start; frames before `from_ms` come too (from
    the keyframe the seek found on).
    """
    if skip not in _SKIP_MODES:
        raise ValueError(f"skip must be one of {sorted(_SKIP_MODES)}, got {skip!r}")
    if packets is None:
        skip = "none"
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        stream.codec_context.skip_frame = _SKIP_MODES[skip]
        # Only for frames without any timestamp: then the stream's nominal rate is all there is.
        rate = stream.average_rate or stream.guessed_rate
        time_base = stream.time_base or Fraction(1, 1000)
        start = _start_pts(container, stream, time_base)
        if from_ms > SEEK_MARGIN_MS and packets is not None:
            _seek(
                container, stream, start + round(Fraction(from_ms - SEEK_MARGIN_MS, 1000) / time_base), path
            )
        counter = 0
        last_index = last_t_ms = -1
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and packets is not None:
                    index = packets.index_of(int(frame.pts))
                else:
                    index = counter
                if frame.pts is not None:
                    t_ms = round(float((int(frame.pts) - start) * time_base) * 1000)
                elif rate:
                    t_ms = max(last_t_ms + 1, round(counter * 1000 / float(rate)))
                else:
                    t_ms = last_t_ms + 1
                counter += 1
                last_t_ms = max(t_ms, last_t_ms)
                last_index = max(index, last_index)
                rotation = int(frame.rotation or 0)
                yield DecodedFrame(
                    index=index, t_ms=t_ms, tiny=tiny_luma(frame, rotation), rotation=rotation, frame=frame
                )
        except (av.FFmpegError, ValueError, MemoryError) as error:
            raise VideoError(
                f"{path.name}: decoding failed after frame {last_index} ({max(last_t_ms, 0)} ms): "
                f"{media_error_reason(error)}",
                path=str(path),
            ) from error


# A seek finds the keyframe at or before a time by its decode time, which B-frames put up to a few frames
# after its display time (in an MP4 muxed without an edit list, a fragmented one): sought from that time,
# the frames shown just before a keyframe would be skipped. A second earlier, the keyframe found is shown
# before `from_ms` whatever the reordering.
SEEK_MARGIN_MS = 1000


def _seek(container: Any, stream: Any, pts: int, path: Path) -> None:
    try:
        # backward: the keyframe at or before, so every frame after it decodes whole.
        container.seek(pts, stream=stream, backward=True)
    except (av.FFmpegError, ValueError) as error:
        raise VideoError(
            f"{path.name}: seeking failed: {media_error_reason(error)}", path=str(path)
        ) from error


def _start_pts(container: Any, stream: Any, time_base: Fraction) -> int:
    """PTS of time zero: the container's start when known (what players count from), else the stream's."""
    if container.start_time is not None:
        return round(Fraction(int(container.start_time), av.time_base) / time_base)
    if stream.start_time is not None:
        return int(stream.start_time)
    return 0
