"""A small H.264 test episode whose frame contents are known: each placement's box is painted where the
timeline says it is, so screenshots show hotspots sitting on the "product"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from tests.web.factories import TimelinePlacement, interpolate_box

# Portrait 9:16, small enough to encode in well under a second on a busy CI core.
WIDTH = 360
HEIGHT = 640
FPS = 30


@dataclass(frozen=True)
class TestVideo:
    __test__ = False  # a value type, not a pytest test class

    path: Path
    width: int
    height: int
    fps: int
    duration_ms: int


def _frame(
    t_ms: int, placements: Sequence[TimelinePlacement], width: int = WIDTH, height: int = HEIGHT
) -> npt.NDArray[np.uint8]:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    # A background that changes every frame so a stalled decoder shows up in screenshots.
    frame[:] = (20 + (t_ms // 40) % 60, 24, 48)
    for placement in placements:
        if not placement.start_ms <= t_ms < placement.end_ms or not placement.drawable:
            continue
        x, y, w, h = interpolate_box(placement.keyframes, t_ms)
        x0, y0 = round(x * width), round(y * height)
        x1, y1 = round((x + w) * width), round((y + h) * height)
        frame[y0:y1, x0:x1] = placement.color
    return frame


def write_test_video(
    path: Path,
    placements: Sequence[TimelinePlacement],
    duration_ms: int,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> TestVideo:
    """Encode H.264/yuv420p MP4 with the moov atom up front, so the browser can seek before it has it all."""
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS)}
        for index in range(duration_ms * FPS // 1000):
            t_ms = index * 1000 // FPS
            video_frame = av.VideoFrame.from_ndarray(_frame(t_ms, placements, width, height), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return TestVideo(path=path, width=width, height=height, fps=FPS, duration_ms=duration_ms)


def packshot_png(colour: tuple[int, int, int]) -> bytes:
    """A 200 by 300 packshot: a block of `colour` on a near-white ground, PNG-encoded."""
    image = np.full((300, 200, 3), 245, dtype=np.uint8)
    image[60:240, 40:160] = colour
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()
