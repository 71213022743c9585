"""The tagging benchmark's floor: the decoding a tag job does, alone."""

from __future__ import annotations

from pathlib import Path

from tests.tagger.factories import Square, frame_with, write_video
from tests.utils.scripts import script_module


def test_decoding_as_tagged_decodes_what_the_tagger_decodes(tmp_path: Path) -> None:
    frames = [frame_with(64, 48, [Square(2 * i % 56, 4, 8)]) for i in range(30)]
    video = write_video(
        tmp_path / "b.mp4", frames, options={"preset": "ultrafast", "bf": "3", "b_pyramid": "0"}
    )

    with script_module("bench_tagging") as bench:
        skipping = bench.phase_decode_as_tagged(video, {})
        everything = bench.phase_decode_as_tagged(video, {"decode_skip": "none"})

    # The default skips the B-frames nothing refers to; "none" decodes all 30.
    assert everything["frames"] == 30
    assert 0 < skipping["frames"] < 30
