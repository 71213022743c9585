"""Small real video files for tests (PyAV): a bright square sliding across a dark 64x48 frame."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_clip(
    path: Path, codec: str, pix_fmt: str, *, fps: int = 10, frames: int = 10, container: str | None = None
) -> Path:
    """`frames` frames at `fps` in `codec`/`pix_fmt`; the container from `container` or the suffix."""
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for index in range(frames):
            image = np.zeros((48, 64, 3), dtype=np.uint8)
            image[8:16, index * 4 : index * 4 + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def frame_times_ms(path: Path) -> list[int]:
    """Every frame's presentation time in ms, in decode order."""
    with av.open(str(path)) as source:
        stream = source.streams.video[0]
        time_base = stream.time_base or Fraction(1, 1000)
        return [round(float(f.pts * time_base) * 1000) for f in source.decode(stream) if f.pts is not None]
