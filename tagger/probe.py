"""Read what an episode file is (duration, frame rate, size, rotation) and prove it decodes.

Probing decodes the first frame on purpose: a container that parses but whose video stream does not
decode is not a usable episode, and the API must refuse it before it is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from tagger.exceptions import VideoError

# Beyond 8K on either side we refuse: real episodes are ≤ 4K, and a forged header could make the
# decoder allocate gigabytes per frame.
MAX_SIDE_PX = 8192
# FFmpeg renders text files (by their suffix) as video; a text file is not an episode.
TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the rest of ReelCart needs to know about an episode file."""

    duration_ms: int
    fps: float
    time_base: str
    width: int
    height: int
    rotation: int
    frame_count: int | None
    codec: str

    @property
    def display_width(self) -> int:
        """Width as shown to the viewer, after rotation metadata is applied."""
        return self.height if self.rotation % 180 else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation % 180 else self.height


def probe_video(path: Path) -> VideoInfo:
    """Probe a video file; raise `VideoError` with a one-line reason when it is not a usable video."""
    if not path.is_file():
        raise VideoError(f"no such video file: {path.name}", path=str(path))
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes)", path=str(path))
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(
            f"{path.name} is not a readable media file: {media_error_reason(error)}", path=str(path)
        ) from error
    with container:
        if container.format.name in TEXT_FORMATS:
            raise VideoError(f"{path.name} is text, not a video", path=str(path))
        if not container.streams.video:
            kinds = ", ".join(sorted({str(stream.type) for stream in container.streams})) or "no streams"
            raise VideoError(f"{path.name} has no video stream (found: {kinds})", path=str(path))
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(f"{path.name} has a {width}x{height} video stream", path=str(path))
        if width > MAX_SIDE_PX or height > MAX_SIDE_PX:
            raise VideoError(
                f"{path.name} is {width}x{height}; ReelCart accepts at most {MAX_SIDE_PX} px a side",
                path=str(path),
            )
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, ValueError) as error:
            raise VideoError(
                f"{path.name}: video does not decode: {media_error_reason(error)}", path=str(path)
            ) from error
        if first is None:
            raise VideoError(f"{path.name}: video stream holds no decodable frame", path=str(path))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        return VideoInfo(
            duration_ms=_duration_ms(container, stream),
            fps=round(fps, 3),
            time_base=str(stream.time_base or Fraction(1, 1000)),
            width=width,
            height=height,
            rotation=int(getattr(first, "rotation", 0) or 0) % 360,
            frame_count=stream.frames or None,
            codec=stream.codec_context.name,
        )


def media_error_reason(error: Exception) -> str:
    """FFmpeg's reason without the file's path or errno: callers show it to whoever sent the file."""
    if isinstance(error, av.FFmpegError) and len(error.args) >= 2 and isinstance(error.args[1], str):
        return error.args[1]
    if isinstance(error, UnicodeDecodeError):
        return "its metadata is not valid text"
    return type(error).__name__ if isinstance(error, av.FFmpegError) else str(error)


def _duration_ms(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Stream duration when the container states it, else the container's; 0 when neither does."""
    if stream.duration is not None and stream.time_base is not None:
        return round(float(stream.duration * stream.time_base) * 1000)
    if container.duration is not None:
        return round(container.duration / av.time_base * 1000)
    return 0
