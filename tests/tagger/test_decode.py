"""Decoding: exact PTS times and indices, variable frame rate, rotation, odd sizes, skipped frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from tagger.settings import TaggerSettings
from tagger.video.decode import PacketIndex, decode_frames, index_packets
from tests.tagger.factories import Square, frame_with, write_video


def frames_of(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    return [frame_with(width, height, [Square(2 * i % (width - 8), 4, 8)]) for i in range(count)]


def test_given_constant_rate_video_when_decoded_then_every_frame_with_its_index_and_pts_time(
    tmp_path: Path,
) -> None:
    video = write_video(tmp_path / "cfr.mp4", frames_of(12), fps=30)

    decoded = [(f.index, f.t_ms) for f in decode_frames(video)]

    assert decoded == [(i, round(i * 1000 / 30)) for i in range(12)]


def test_given_variable_rate_video_when_decoded_then_times_come_from_pts_not_from_the_index(
    tmp_path: Path,
) -> None:
    pts = [0, 40, 50, 300, 310, 1000]
    video = write_video(
        tmp_path / "vfr.mkv",
        frames_of(6),
        fps=25,
        pts=pts,
        time_base=Fraction(1, 1000),
        options={"preset": "ultrafast"},
    )

    decoded = [(f.index, f.t_ms) for f in decode_frames(video)]

    assert decoded == list(enumerate(pts))


def test_given_rotation_metadata_when_imaged_then_display_orientation(tmp_path: Path) -> None:
    # A red square in the coded top-left corner; the file says "rotate 90 degrees counter-clockwise".
    coded = frame_with(64, 32, [Square(0, 0, 12)])
    video = write_video(tmp_path / "rotated.mp4", [coded] * 3, rotation=90)

    frame = next(iter(decode_frames(video)))
    image = frame.image(max_side=64)

    assert frame.rotation == 90
    assert image.shape == (64, 32, 3)
    assert frame.tiny.shape[0] > frame.tiny.shape[1]
    # Counter-clockwise: the top-left corner ends up bottom-left.
    assert image[-4, 3, 2] > 180
    assert image[3, 3, 2] < 150


def test_given_odd_sized_video_when_decoded_then_full_size_image(tmp_path: Path) -> None:
    video = write_video(
        tmp_path / "odd.mkv", frames_of(3, width=33, height=17), codec="ffv1", pix_fmt="yuv420p"
    )

    frame = next(iter(decode_frames(video)))

    assert frame.image(max_side=64).shape == (17, 33, 3)


def test_given_large_frame_when_imaged_then_scaled_to_max_side_keeping_aspect(tmp_path: Path) -> None:
    video = write_video(tmp_path / "big.mp4", frames_of(2, width=320, height=192))

    frame = next(iter(decode_frames(video)))

    assert frame.image(max_side=160).shape == (96, 160, 3)


def test_given_b_frames_when_skipping_non_reference_frames_then_indices_and_times_still_exact(
    tmp_path: Path,
) -> None:
    video = write_video(
        tmp_path / "b.mp4", frames_of(30), options={"preset": "ultrafast", "bf": "3", "b_pyramid": "0"}
    )
    packets = index_packets(video)

    everything = {f.index: f.t_ms for f in decode_frames(video, packets=packets)}
    skipped = {f.index: f.t_ms for f in decode_frames(video, skip="nonref", packets=packets)}

    assert packets is not None
    assert packets.frames == 30
    assert len(skipped) < len(everything) == 30
    assert skipped == {index: everything[index] for index in skipped}


def _panning_texture(count: int) -> list[np.ndarray]:
    """A blurred noise texture panned diagonally: motion an encoder predicts from several references."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (200, 300, 3)).astype(np.uint8), (0, 0), 1.5)
    return [
        np.ascontiguousarray(texture[2 * i % 100 : 2 * i % 100 + 64, 3 * i % 150 : 3 * i % 150 + 96])
        for i in range(count)
    ]


def test_given_a_multi_reference_b_pyramid_encode_when_skipping_then_every_frame_decoded_is_the_one_shown(
    tmp_path: Path,
) -> None:
    # x264 "medium" (three reference frames, B-frames kept as references): P-frames refer to B-frames
    # here, so skipping every B-frame would decode later frames from the wrong picture.
    video = write_video(
        tmp_path / "medium.mp4",
        _panning_texture(48),
        options={"preset": "medium", "bf": "3", "b_pyramid": "normal", "refs": "3"},
    )
    packets = index_packets(video)
    assert packets is not None
    shown = {f.index: f.frame.to_ndarray(format="gray") for f in decode_frames(video, packets=packets)}

    decoded = decode_frames(video, skip="nonref", packets=packets)
    skipped = {f.index: f.frame.to_ndarray(format="gray") for f in decoded}
    all_b_frames_skipped = _decoded_skipping_every_b_frame(video, packets)

    assert 0 < len(skipped) < len(shown) == 48
    assert all(np.array_equal(image, shown[index]) for index, image in skipped.items())
    # What the mode ReelCart no longer offers did to this file.
    assert any(not np.array_equal(image, shown[index]) for index, image in all_b_frames_skipped.items())


def _decoded_skipping_every_b_frame(video: Path, packets: PacketIndex) -> dict[int, np.ndarray]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "BIDIR"
        return {
            packets.index_of(int(frame.pts)): frame.to_ndarray(format="gray")
            for frame in container.decode(stream)
            if frame.pts is not None
        }


def test_given_a_skip_mode_that_drops_referenced_frames_when_asked_then_refused(tmp_path: Path) -> None:
    video = write_video(tmp_path / "any.mp4", frames_of(3))

    with pytest.raises(ValueError, match="skip must be one of"):
        next(iter(decode_frames(video, skip="bidir")))
    with pytest.raises(ValidationError, match="decode_skip"):
        TaggerSettings(decode_skip="bidir")


def test_given_a_raw_stream_without_timestamps_when_decoded_then_every_frame_counted_at_the_nominal_rate(
    tmp_path: Path,
) -> None:
    video = write_video(tmp_path / "raw.h264", frames_of(10))
    packets = index_packets(video)

    decoded = [(f.index, f.t_ms) for f in decode_frames(video, skip="nonref", packets=packets)]

    # No PTS to index skipped frames by, so nothing is skipped; FFmpeg's nominal rate for raw H.264 is 25.
    assert packets is None
    assert decoded == [(i, i * 40) for i in range(10)]


def _mp4_without_edit_list(path: Path, frames: list[np.ndarray]) -> Path:
    """H.264 with B-frames in an MP4 muxed without an edit list: decode times run ahead of display
    times, as in files some tools write (and fragmented MP4s)."""
    with av.open(str(path), "w", options={"use_editlist": "0"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "10", "keyint_min": "10", "bf": "3"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("edit_list", [True, False])
def test_given_a_start_time_when_decoded_then_every_frame_from_it_comes_exact_without_the_whole_start(
    tmp_path: Path, edit_list: bool
) -> None:
    # 4 s, keyframes every 10 frames (333 ms), B-frames between
    frames = frames_of(120)
    options = {"preset": "ultrafast", "g": "10", "bf": "3", "keyint_min": "10"}
    video = (
        write_video(tmp_path / "gop.mp4", frames, options=options)
        if edit_list
        else _mp4_without_edit_list(tmp_path / "gop.mp4", frames)
    )
    packets = index_packets(video)
    everything = {f.index: (f.t_ms, f.image(64).tobytes()) for f in decode_frames(video, packets=packets)}

    for from_ms in range(1500, 3900, 33):  # every frame time, those just before keyframes included
        sought = [
            (f.index, f.t_ms, f.image(64).tobytes())
            for f in decode_frames(video, packets=packets, from_ms=from_ms)
        ]
        wanted = sorted(index for index, (t_ms, _) in everything.items() if t_ms >= from_ms)
        # Every frame from the start time on, each as decoded whole; and not the video's first second
        assert [index for index, _, _ in sought if index >= wanted[0]] == wanted, from_ms
        assert all(everything[index] == (t_ms, pixels) for index, t_ms, pixels in sought), from_ms
        assert sought[0][0] > 0, from_ms
