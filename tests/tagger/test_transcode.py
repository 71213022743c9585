"""Which files browsers play as they are, and the H.264 transcode of the others."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from tagger.exceptions import VideoError
from tagger.probe import probe_video
from tagger.transcode import MP4, WEBM, media_kind, transcode_for_browsers
from tagger.video.decode import decode_frames
from tests.utils.media import frame_times_ms, write_clip


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "plays_as"),
    [
        ("h264.mp4", "libx264", "yuv420p", MP4),
        ("h264.mov", "libx264", "yuv420p", MP4),
        ("vp9.webm", "libvpx-vp9", "yuv420p", WEBM),
        ("vp8.mkv", "libvpx", "yuv420p", WEBM),
        ("h264-444.mp4", "libx264", "yuv444p", None),
        ("hevc.mp4", "libx265", "yuv420p", None),
        ("mpeg4.avi", "mpeg4", "yuv420p", None),
        ("h264.mkv", "libx264", "yuv420p", None),
        ("prores.mov", "prores_ks", "yuv422p10le", None),
    ],
)
def test_browser_playability_comes_from_container_and_codec(
    tmp_path: Path, name: str, codec: str, pix_fmt: str, plays_as: str | None
) -> None:
    path = write_clip(tmp_path / name, codec, pix_fmt)
    assert media_kind(path).browser_media_type == plays_as
    # Whatever the file is called: the same bytes under another name are judged alike
    renamed = path.rename(tmp_path / "clip.gif")
    assert media_kind(renamed).browser_media_type == plays_as


def test_the_transcode_keeps_times_and_size_in_h264_420(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "hevc.mp4", "libx265", "yuv420p", fps=12, frames=12)
    target = tmp_path / "out.mp4"
    transcode_for_browsers(source, target)
    assert media_kind(target).browser_media_type == MP4
    before, after = probe_video(source), probe_video(target)
    assert (after.codec, after.width, after.height, after.duration_ms) == ("h264", 64, 48, before.duration_ms)
    assert frame_times_ms(target) == frame_times_ms(source)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_a_file_that_does_not_decode_leaves_no_output(tmp_path: Path) -> None:
    source = tmp_path / "junk.mp4"
    source.write_bytes(b"\0junk" * 200)
    with pytest.raises(VideoError) as raised:
        transcode_for_browsers(source, tmp_path / "out.mp4")
    assert str(tmp_path) not in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]


@pytest.mark.parametrize(("name", "sound", "plays_as"), [("a.mov", "pcm_s16le", None), ("a.mp4", "aac", MP4)])
def test_sound_browsers_cannot_play_needs_transcoding_too(
    tmp_path: Path, name: str, sound: str, plays_as: str | None
) -> None:
    path = tmp_path / name
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(sound, rate=16000)
        assert isinstance(audio, av.AudioStream)
        audio.layout = "mono"
        for index in range(10):
            for packet in video.encode(
                av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            ):
                container.mux(packet)
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16", layout="mono")
            samples.sample_rate, samples.pts = 16000, index * 1600
            for packet in audio.encode(samples):
                container.mux(packet)
        for packet in [*video.encode(None), *audio.encode(None)]:
            container.mux(packet)
    assert media_kind(path).browser_media_type == plays_as


def test_rotation_metadata_is_applied_to_the_transcoded_pixels(tmp_path: Path) -> None:
    # Given an HEVC MP4 whose track matrix says "rotate for display" (as a phone writes it)
    source = tmp_path / "phone.mp4"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("libx265", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(5):
            image = np.zeros((48, 64, 3), dtype=np.uint8)
            image[0:16, 0:16] = 255  # a mark in the stored frame's top-left corner
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = bytearray(source.read_bytes())
    matrix = data.index(b"tkhd") + 44  # version-0 tkhd: the 3x3 matrix follows 40 bytes of fields
    assert data[matrix : matrix + 36] == struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    source.write_bytes(bytes(data))
    assert probe_video(source).rotation == 270

    # When it is transcoded
    target = tmp_path / "upright.mp4"
    transcode_for_browsers(source, target)

    # Then the output carries no rotation and its pixels are what the tagger sees (display orientation)
    info = probe_video(target)
    assert (info.rotation, info.width, info.height) == (0, 48, 64)
    shown = next(iter(decode_frames(source))).image(1000)
    with av.open(str(target)) as container:
        upright = next(container.decode(video=0)).to_ndarray(format="bgr24")
    assert upright.shape == shown.shape
    assert np.abs(upright.astype(int) - shown.astype(int)).mean() < 4
