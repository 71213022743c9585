"""The trainer subprocess's protocol, and that the runtime imports training code without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tagger.training.errors import TrainingError
from tagger.training.request import TrainEvent, TrainOptions, TrainRequest, parse_event
from tagger.training.synthetic import ProductShots, SyntheticConfig


def test_given_a_request_when_round_tripped_through_json_then_equal(tmp_path: Path) -> None:
    request = TrainRequest(
        name="brand-acme-2",
        brand="acme",
        products=(ProductShots("p-1", (tmp_path / "a.jpg", tmp_path / "b.png")),),
        backgrounds=(tmp_path / "videos",),
        out_dir=tmp_path / "out",
        synthetic=SyntheticConfig(image_size=256, train_per_class=7, seed=5),
        options=TrainOptions(epochs=3, time_hours=0.5, single_class=True, threads=3),
        frames_per_video=9,
    )

    assert TrainRequest.from_json(request.to_json()) == request


def test_given_a_malformed_request_when_read_then_training_error() -> None:
    with pytest.raises(TrainingError, match="malformed training request"):
        TrainRequest.from_json('{"name": "x"}')


def test_given_a_request_for_no_threads_when_read_then_training_error(tmp_path: Path) -> None:
    request = TrainRequest(name="n", brand="b", products=(), backgrounds=(), out_dir=tmp_path)
    text = request.to_json().replace('"threads": null', '"threads": 0')

    with pytest.raises(TrainingError, match="threads must be positive"):
        TrainRequest.from_json(text)


def test_given_trainer_output_when_parsed_then_only_event_lines_are_events() -> None:
    event = TrainEvent("train", 0.4, "epoch 2/5, loss 3.100")

    assert parse_event(event.line()) == event
    assert parse_event("      Epoch    GPU_mem   box_loss") is None
    assert parse_event("@reelcart {not json") is None


def test_the_runtime_imports_the_trainer_modules_without_torch_or_ultralytics() -> None:
    code = (
        "import sys, tagger.training.run, tagger.training.ultralytics_train, tagger.training.synthetic; "
        "print(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
