"""Bad input is refused with one clear line, before or instead of any placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.exceptions import VideoError
from tagger.pipeline import tag_video
from tagger.settings import TaggerSettings
from tests.tagger.factories import (
    ColourDetector,
    Square,
    frame_with,
    tiny_spec,
    write_audio_only,
    write_video,
)

SETTINGS = TaggerSettings(sample_fps=10, work_max_side=160)


@pytest.fixture(scope="module")
def good_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [frame_with(96, 64, [Square(10 + i, 20, 16)]) for i in range(60)]
    return write_video(tmp_path_factory.mktemp("good") / "good.mp4", frames)


@pytest.fixture(scope="module")
def good_mkv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [frame_with(96, 64, [Square(10 + i, 20, 16)]) for i in range(60)]
    return write_video(tmp_path_factory.mktemp("good") / "good.mkv", frames)


def refused(path: Path, tmp_path: Path, settings: TaggerSettings = SETTINGS) -> str:
    detector = ColourDetector(tiny_spec(tmp_path))
    with pytest.raises(VideoError) as raised:
        tag_video(path, settings=settings, detector=detector)
    message = str(raised.value)
    assert "\n" not in message
    assert raised.value.path == str(path)
    return message


def test_missing_file(tmp_path: Path) -> None:
    # The name only: the reason reaches API answers, which never show a server path.
    assert refused(tmp_path / "nope.mp4", tmp_path) == "no such video file: nope.mp4"


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")

    assert refused(tmp_path / "empty.mp4", tmp_path) == "empty.mp4 is empty (0 bytes)"


def test_not_a_video(tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("these are not frames\n" * 50, encoding="utf-8")

    assert refused(tmp_path / "notes.mp4", tmp_path).startswith("notes.mp4 is not a readable media file")


def test_audio_only(tmp_path: Path) -> None:
    audio = write_audio_only(tmp_path / "voice.wav")

    assert refused(audio, tmp_path) == "voice.wav has no video stream (found: audio)"


def test_truncated_mp4_loses_its_index(good_mp4: Path, tmp_path: Path) -> None:
    data = good_mp4.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])

    assert refused(tmp_path / "cut.mp4", tmp_path).startswith("cut.mp4 is not a readable media file")


def test_truncated_streamable_file_is_caught_before_decoding(good_mkv: Path, tmp_path: Path) -> None:
    data = good_mkv.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])

    assert refused(tmp_path / "cut.mkv", tmp_path).startswith("cut.mkv is truncated: the header says 2.0 s")


def test_file_that_fails_midway_raises_and_returns_nothing(good_mp4: Path, tmp_path: Path) -> None:
    data = bytearray(good_mp4.read_bytes())
    # Zeros over a stretch of frame data (the index, at the end of this mp4, stays intact).
    start = int(len(data) * 0.3)
    data[start : start + 500] = bytes(500)
    (tmp_path / "broken.mp4").write_bytes(bytes(data))

    assert refused(tmp_path / "broken.mp4", tmp_path).startswith("broken.mp4: decoding failed after frame ")


def test_absurd_resolution_is_refused_before_decoding(tmp_path: Path) -> None:
    # 8200 x 2 is cheap to write with a lossless codec, and wider than any real episode.
    huge = write_video(tmp_path / "huge.mkv", [np.zeros((2, 8200, 3), dtype=np.uint8)], codec="ffv1")

    assert refused(huge, tmp_path) == "huge.mkv is 8200x2; ReelCart accepts at most 8192 px a side"


def test_resolution_above_the_configured_limit_is_refused(good_mp4: Path, tmp_path: Path) -> None:
    settings = SETTINGS.model_copy(update={"max_side_px": 64})

    assert refused(good_mp4, tmp_path, settings) == "good.mp4 is 96x64; tagging accepts at most 64 px a side"


def test_the_good_files_themselves_tag_fine(good_mp4: Path, good_mkv: Path, tmp_path: Path) -> None:
    for video in (good_mp4, good_mkv):
        result = tag_video(video, settings=SETTINGS, detector=ColourDetector(tiny_spec(tmp_path)))
        assert [p.label for p in result.placements] == ["bottle"]
