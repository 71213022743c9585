"""Make an episode file something every browser plays: H.264 (yuv420p) in MP4, AAC audio.

Browsers play few of the files FFmpeg reads. A GIF, an HEVC or ProRes `.mov`, an MPEG-4 Part 2 `.avi` or
a 4:4:4 H.264 decode fine for the tagger but show black in `<video>`. What a file is comes from its
container and codec as PyAV reads them, never from its name. Transcoding keeps each frame's
presentation time (in the source stream's time base, counted from the container's start, as the
tagger and players count), so placements found on either file line up with the played video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from tagger.exceptions import VideoError
from tagger.probe import media_error_reason, probe_video
from tagger.video.decode import rotate_for_display

MP4 = "video/mp4"
WEBM = "video/webm"
# FFmpeg's demuxer names: ISO BMFF (mp4, mov, m4v) and Matroska (webm, mkv) each come as one family.
_MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
_MATROSKA_FAMILY = "matroska,webm"
# What Chrome, Firefox and Safari all decode in a plain <video src>: 4:2:0 8-bit only.
_PLAYABLE_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})
_PLAYABLE_IN_MP4 = frozenset({"h264"})
_PLAYABLE_IN_WEBM = frozenset({"vp8", "vp9"})
_AUDIO_IN_MP4 = frozenset({"aac", "mp3", "opus"})
_AUDIO_IN_WEBM = frozenset({"opus", "vorbis"})


@dataclass(frozen=True, slots=True)
class MediaKind:
    """What a file holds, as a browser would care: container family and codecs."""

    container: str
    video_codec: str
    pixel_format: str
    audio_codec: str | None

    @property
    def browser_media_type(self) -> str | None:
        """`video/mp4` or `video/webm` when browsers play the file as is; None when it needs transcoding."""
        if self.pixel_format not in _PLAYABLE_PIXEL_FORMATS:
            return None
        if self.container == _MP4_FAMILY and self.video_codec in _PLAYABLE_IN_MP4:
            return MP4 if self._audio_in(_AUDIO_IN_MP4) else None
        if self.container == _MATROSKA_FAMILY and self.video_codec in _PLAYABLE_IN_WEBM:
            return WEBM if self._audio_in(_AUDIO_IN_WEBM) else None
        return None

    def _audio_in(self, playable: frozenset[str]) -> bool:
        return self.audio_codec is None or self.audio_codec in playable


def media_kind(path: Path) -> MediaKind:
    """Read the container and codecs (headers only); `VideoError` when there is no video stream."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise VideoError(f"{path.name} has no video stream", path=str(path))
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            return MediaKind(
                container=container.format.name,
                video_codec=video.codec_context.name,
                pixel_format=video.codec_context.format.name if video.codec_context.format else "",
                audio_codec=audio.codec_context.name if audio is not None else None,
            )
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(
            f"{path.name} is not a readable media file: {media_error_reason(error)}", path=str(path)
        ) from error


def transcode_for_browsers(
    source: Path,
    target: Path,
    *,
    crf: int = 20,
    preset: str = "veryfast",
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """Write `source` as H.264 + AAC MP4 at `target`, keeping its frame times, size and orientation.

    Rotation metadata is applied to the pixels (the output has none), and odd sides are rounded down
    to even ones, as 4:2:0 needs. The file appears at `target` only once it is complete. `on_progress`
    hears the share of the video's duration written so far (0..1), once a second of video or so.
    """
    info = probe_video(source)
    width = max(2, info.display_width - info.display_width % 2)
    height = max(2, info.display_height - info.display_height % 2)
    partial = target.with_name(target.name + ".part")
    try:
        _transcode(
            source,
            partial,
            width=width,
            height=height,
            crf=crf,
            preset=preset,
            on_progress=_every_second(on_progress, info.duration_ms),
        )
        partial.replace(target)
    except OSError:
        # The machine's fault, not the video's (a full disk, an I/O error; FFmpeg's errno errors are
        # OSErrors too): the caller may try again, and must not blame the file.
        raise
    except (av.FFmpegError, ValueError, MemoryError) as error:
        raise VideoError(
            f"{source.name} could not be converted to H.264: {media_error_reason(error)}", path=str(source)
        ) from error
    finally:
        partial.unlink(missing_ok=True)


def _every_second(
    on_progress: Callable[[float], None] | None, duration_ms: int
) -> Callable[[int], None] | None:
    """A per-frame callback (the frame's time in ms) that tells `on_progress` once per second of video."""
    if on_progress is None or duration_ms <= 0:
        return None
    told = -1

    def frame_at(time_ms: int) -> None:
        nonlocal told
        second = time_ms // 1000
        if second > told:
            told = second
            on_progress(min(1.0, time_ms / duration_ms))

    return frame_at


def _transcode(
    source: Path,
    target: Path,
    *,
    width: int,
    height: int,
    crf: int,
    preset: str,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    with av.open(str(source), mode="r") as src:
        video_in = src.streams.video[0]
        audio_in = src.streams.audio[0] if src.streams.audio else None
        time_base = video_in.time_base or Fraction(1, 1000)
        rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
        start_s = Fraction(int(src.start_time), av.time_base) if src.start_time is not None else Fraction(0)
        with av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"}) as dst:
            # No B-frames: packets leave the encoder in presentation order, so each one's duration is
            # the gap to the next and the file lasts exactly as long as the source (a GIF's last delay too).
            video_out = dst.add_stream(
                "libx264", rate=rate, options={"crf": str(crf), "preset": preset, "bf": "0"}
            )
            video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
            video_out.codec_context.time_base = time_base
            video_out.time_base = time_base
            audio_out = None
            if audio_in is not None and audio_in.codec_context.sample_rate:
                audio_out = dst.add_stream("aac", rate=audio_in.codec_context.sample_rate)
                audio_out.layout = "stereo" if audio_in.codec_context.layout.nb_channels > 1 else "mono"
            video = _VideoTimes(time_base, rate, start_pts=round(start_s / time_base))
            pending: list[av.Packet[Any]] = []

            def mux_video(packets: list[av.Packet[Any]]) -> None:
                for packet in packets:
                    if pending:
                        previous = pending.pop()
                        if previous.pts is not None and packet.pts is not None:
                            previous.duration = max(1, int(packet.pts) - int(previous.pts))
                        dst.mux(previous)
                    pending.append(packet)

            streams = [video_in] if audio_out is None or audio_in is None else [video_in, audio_in]
            for packet in src.demux(*streams):
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        out = _display_frame(frame, width, height)
                        out.pts, out.time_base = video.next_pts(frame), time_base
                        mux_video(video_out.encode(out))
                        if on_progress is not None:
                            on_progress(int(out.pts * time_base * 1000))
                    elif isinstance(frame, av.AudioFrame) and audio_out is not None:
                        if frame.pts is not None and frame.time_base is not None:
                            frame.pts = max(0, int(frame.pts) - round(start_s / frame.time_base))
                        for encoded in audio_out.encode(frame):
                            dst.mux(encoded)
            if video.frames == 0:
                raise ValueError("no video frame decodes")
            mux_video(video_out.encode(None))
            for last in pending:
                last.duration = video.last_duration
                dst.mux(last)
            if audio_out is not None:
                for encoded in audio_out.encode(None):
                    dst.mux(encoded)


class _VideoTimes:
    """Output times in the source's time base, from the container's start; strictly increasing."""

    def __init__(self, time_base: Fraction, rate: Fraction, *, start_pts: int) -> None:
        self.time_base, self.rate, self.start_pts = time_base, rate, start_pts
        self.frames = 0
        self.last_pts = -1
        self.last_duration = max(1, round(1 / rate / time_base))

    def next_pts(self, frame: av.VideoFrame) -> int:
        if frame.pts is not None:
            pts = int(frame.pts) - self.start_pts
        else:
            pts = round(Fraction(self.frames) / self.rate / self.time_base)
        # A muxer refuses repeated or backward times; such a frame shows for one tick.
        pts = max(pts, self.last_pts + 1)
        if frame.duration:
            self.last_duration = int(frame.duration)
        self.frames += 1
        self.last_pts = pts
        return pts


def _display_frame(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The frame upright, at the output size, in 4:2:0, with no picture type for x264 to obey."""
    rotation = int(frame.rotation or 0)
    if rotation % 360:
        upright = rotate_for_display(np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8), rotation)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(upright), format="rgb24")
    out = frame.reformat(width=width, height=height, format="yuv420p")
    out.pict_type = av.video.frame.PictureType.NONE
    return out
