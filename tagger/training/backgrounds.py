"""Background pictures for synthetic training images: frames sampled evenly from videos (the brand's
own episodes, stock footage) and still photos. Only what is passed in is used: callers decide what is
fair to train on (never the pictures an evaluation scores)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import cv2
import numpy as np

from tagger.arrays import Image
from tagger.training.errors import TrainingError

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
# Frames are kept at this longest side: a training image is at most a few hundred pixels wide.
_MAX_SIDE = 960


def _shrink(frame: Image) -> Image:
    scale = _MAX_SIDE / max(frame.shape[:2])
    if scale >= 1.0:
        return frame
    size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
    return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def video_frames(path: Path, count: int) -> list[Image]:
    """`count` frames spread evenly over the video (decoded in order; no seeking, GIFs have no index)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]
    except (av.error.FFmpegError, IndexError, OSError) as error:
        raise TrainingError(f"background video {path} cannot be decoded: {error}") from error
    if not frames:
        return []
    picks = np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int)
    return [_shrink(np.ascontiguousarray(frames[i], dtype=np.uint8)) for i in sorted(set(picks.tolist()))]


def load_backgrounds(paths: Iterable[Path], frames_per_video: int = 24) -> list[Image]:
    """Every still image and `frames_per_video` frames of every video under `paths` (files or folders),
    in sorted order so a seed gives the same data set."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
    backgrounds: list[Image] = []
    for file in files:
        suffix = file.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            backgrounds.extend(video_frames(file, frames_per_video))
        elif suffix in IMAGE_SUFFIXES:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is not None:
                backgrounds.append(_shrink(np.asarray(image, dtype=np.uint8)))
    return backgrounds
