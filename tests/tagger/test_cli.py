"""`reelcart tag` and `reelcart models` through the real Typer app, with tiny carded models."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.tagger.factories import Square, constant_output_model, frame_with, write_card, write_video

runner = CliRunner()


def cup_everywhere() -> np.ndarray:
    """YOLOX-layout output that always sees a "cup" in the middle of a 32x32 input."""
    raw = np.zeros((1, 21, 8), dtype=np.float32)
    raw[0, 20] = [
        0.5,
        0.5,
        np.log(0.5),
        np.log(0.5),
        1.0,
        0.0,
        0.9,
        0.0,
    ]  # stride 32: a 16x16 box at the centre
    return raw


@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A model dir holding a constant-output detector and a cards dir with its card, wired via env."""
    source = constant_output_model(tmp_path / "source" / "tiny.onnx", cup_everywhere())
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    cards, models = tmp_path / "cards", tmp_path / "models"
    write_card(cards, sha256=digest)
    monkeypatch.setenv("REELCART_MODEL_CARDS_DIR", str(cards))
    monkeypatch.setenv("REELCART_MODEL_DIR", str(models))
    monkeypatch.setenv("REELCART_DETECTOR", "tiny")
    return tmp_path / "source", models


@pytest.fixture
def video(tmp_path: Path) -> Path:
    frames = [frame_with(96, 64, [Square(30, 20, 16)]) for _ in range(45)]
    return write_video(tmp_path / "clip.mp4", frames)


def test_models_pull_from_a_local_folder_then_verify_and_list(tiny_model: tuple[Path, Path]) -> None:
    source, models = tiny_model

    pulled = runner.invoke(app, ["models", "pull", "tiny", "--from", str(source.parent)])
    verified = runner.invoke(app, ["models", "verify"])
    listed = runner.invoke(app, ["models", "list"])

    assert pulled.exit_code == 0, pulled.output
    assert (models / "tiny.onnx").read_bytes() == (source / "tiny.onnx").read_bytes()
    assert verified.exit_code == 0
    assert verified.stdout == f"tiny: ok {models / 'tiny.onnx'}\n"
    assert "tiny" in listed.stdout
    assert "ok" in listed.stdout


def test_models_verify_refuses_a_corrupt_file_naming_its_sha256(tiny_model: tuple[Path, Path]) -> None:
    _, models = tiny_model
    models.mkdir()
    (models / "tiny.onnx").write_bytes(b"corrupt")

    result = runner.invoke(app, ["models", "verify", "tiny"])

    assert result.exit_code == 1
    assert hashlib.sha256(b"corrupt").hexdigest() in result.stdout
    assert result.stderr.startswith("error: 1 model(s) missing or corrupt")


def test_models_pull_of_unknown_name_fails_with_one_line(tiny_model: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["models", "pull", "nope"])

    assert result.exit_code == 1
    assert result.stderr == "error: no model card named nope (known: tiny)\n"


def test_tag_writes_the_json_placements(tiny_model: tuple[Path, Path], video: Path, tmp_path: Path) -> None:
    source, _ = tiny_model
    runner.invoke(app, ["models", "pull", "--from", str(source)])
    out = tmp_path / "out" / "clip.json"

    result = runner.invoke(
        app, ["tag", str(video), "--out", str(out), "--sample-fps", "5", "--thumbnails", str(tmp_path / "t")]
    )

    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["video"] == {"duration_ms": 1500, "fps": 30.0, "width": 96, "height": 64, "frames": 45}
    assert document["model"]["name"] == "tiny"
    [placement] = document["placements"]
    # The constant 16x16 box at the centre of a 32x32 input is, in the 96x64 frame, x 24-72 and y 24-72
    # clipped to the frame height: ratio 3, letterboxed top-left.
    assert (placement["label"], placement["start_ms"], placement["start_frame"]) == ("cup", 0, 0)
    assert placement["keyframes"][0]["box"] == [0.25, 0.375, 0.5, 0.625]
    assert Path(placement["thumbnail"]).is_file()
    assert (placement["sku_candidates"], placement["link"]) == ([], None)
    assert "1 placements" in result.stderr


EMBEDDER = Path(__file__).resolve().parents[2] / "var" / "models" / "mobilenetv2_embedder.onnx"


def packshot(path: Path, background: tuple[int, int, int], mark: tuple[int, int, int]) -> Path:
    """A drawn package: a coloured field with rings and bars, so it has colour, texture and corners."""
    image = np.full((240, 240, 3), background, dtype=np.uint8)
    for radius in (30, 60, 90):
        cv2.circle(image, (120, 120), radius, mark, 6)
    for x in range(20, 220, 40):
        cv2.rectangle(image, (x, 10), (x + 15, 40), mark, -1)
    cv2.imwrite(str(path), image)
    return path


def test_tag_with_a_catalog_links_each_placement(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    if not EMBEDDER.is_file():
        pytest.skip(f"{EMBEDDER} is absent; `make models` exports it")
    source, models = tiny_model
    runner.invoke(app, ["models", "pull", "--from", str(source)])
    (models / EMBEDDER.name).symlink_to(EMBEDDER)
    shown = packshot(tmp_path / "sun.png", (0, 200, 255), (0, 0, 200))
    packshot(tmp_path / "sea.png", (200, 120, 0), (40, 200, 40))
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,currency,image\n"
        "SUN-1,Sun Juice,19.90,SEK,sun.png\nSEA-1,Sea Salt,9.90,SEK,sea.png\n",
        encoding="utf-8",
    )
    frame = cv2.resize(np.asarray(cv2.imread(str(shown)), dtype=np.uint8), (192, 128))
    clip = write_video(tmp_path / "sun.mp4", [np.asarray(frame, dtype=np.uint8)] * 45)
    out = tmp_path / "linked.json"

    result = runner.invoke(
        app,
        [
            *("tag", str(clip), "--catalog", str(catalog), "--out", str(out)),
            *("--thumbnails", str(tmp_path / "t"), "--auto-approve", "0.9", "--own-print-approve", "0.6"),
        ],
    )

    assert result.exit_code == 0, result.output
    [placement] = json.loads(out.read_text(encoding="utf-8"))["placements"]
    assert placement["link"]["approval_level"] == 0.9  # the catalog marks no own print
    candidates = placement["sku_candidates"]
    assert [candidate["sku"] for candidate in candidates][:1] == ["SUN-1"]
    assert candidates[0]["title"] == "Sun Juice"
    assert placement["link"]["decision"] in {"approved", "proposed", "unknown"}
    assert placement["link"]["confidence"] == pytest.approx(candidates[0]["confidence"], abs=1e-3)


def test_tag_with_a_missing_catalog_fails_with_one_line(
    tiny_model: tuple[Path, Path], video: Path, tmp_path: Path
) -> None:
    source, _ = tiny_model
    runner.invoke(app, ["models", "pull", "--from", str(source)])
    result = runner.invoke(app, ["tag", str(video), "--catalog", str(tmp_path / "none.csv")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot open {tmp_path / 'none.csv'}")
    floors = runner.invoke(app, ["tag", str(video), "--floor", "0.9", "--auto-approve", "0.5"])
    assert floors.stderr == "error: --floor (0.9) must not exceed --auto-approve (0.5)\n"
    own = runner.invoke(app, ["tag", str(video), "--own-print-approve", "1.5"])
    assert own.exit_code == 2
    assert "--own-print-approve" in own.output


def test_tag_of_a_zero_byte_file_fails_with_one_line(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    source, _ = tiny_model
    runner.invoke(app, ["models", "pull", "--from", str(source)])
    (tmp_path / "empty.mp4").write_bytes(b"")

    result = runner.invoke(app, ["tag", str(tmp_path / "empty.mp4")])

    assert result.exit_code == 1
    assert result.stderr == "error: empty.mp4 is empty (0 bytes)\n"


def test_tag_refuses_a_corrupt_model_with_its_sha256(tiny_model: tuple[Path, Path], video: Path) -> None:
    _, models = tiny_model
    models.mkdir()
    (models / "tiny.onnx").write_bytes(b"not the model")

    result = runner.invoke(app, ["tag", str(video)])

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert f"sha256 {hashlib.sha256(b'not the model').hexdigest()} does not match" in result.stderr


def test_tag_without_the_model_says_how_to_pull_it(tiny_model: tuple[Path, Path], video: Path) -> None:
    result = runner.invoke(app, ["tag", str(video)])

    assert result.exit_code == 1
    assert "run `reelcart models pull tiny`" in result.stderr


def test_tag_on_an_unavailable_device_fails_clearly(tiny_model: tuple[Path, Path], video: Path) -> None:
    source, _ = tiny_model
    runner.invoke(app, ["models", "pull", "--from", str(source)])

    result = runner.invoke(app, ["tag", str(video), "--device", "cuda"])

    assert result.exit_code == 1
    assert result.stderr.startswith("error: execution provider(s) CUDAExecutionProvider not available here")


def test_tag_with_an_onnx_file_that_no_card_pins_is_refused(
    tiny_model: tuple[Path, Path], video: Path, tmp_path: Path
) -> None:
    stray = constant_output_model(tmp_path / "stray.onnx", np.ones((1, 21, 8), dtype=np.float32))

    result = runner.invoke(app, ["tag", str(video), "--model", str(stray)])

    assert result.exit_code == 1
    assert "matches no detector card" in result.stderr
