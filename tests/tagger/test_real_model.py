"""The real YOLOX-Nano model and real footage from ../shared (skipped, loudly, without it)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tagger.detection.factory import load_detector
from tagger.detection.onnx_backend import OnnxDetector
from tagger.models.cards import find_card, load_card
from tagger.models.registry import pull
from tagger.pipeline import tag_video
from tagger.settings import DEFAULT_MODEL_CARDS_DIR, TaggerSettings

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def settings(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TaggerSettings:
    model_dir = tmp_path_factory.mktemp("models")
    pull(
        load_card(find_card(DEFAULT_MODEL_CARDS_DIR, "yolox-nano")),
        model_dir,
        source_dir=shared_dir / "models",
    )
    return TaggerSettings(model_dir=model_dir)


@pytest.fixture(scope="module")
def detector(settings: TaggerSettings) -> OnnxDetector:
    return load_detector(settings)


def test_yolox_nano_finds_the_fruit_in_grocery_photographs(shared_dir: Path, detector: OnnxDetector) -> None:
    photos = sorted((shared_dir / "data" / "grocery-dev" / "val" / "Fruit").glob("*/*.jpg"))
    labels: set[str] = set()
    for photo in photos[::10]:
        image = cv2.imread(str(photo))
        assert image is not None
        for found in detector.detect([np.asarray(image, dtype=np.uint8)]):
            labels.update(detector.spec.class_names[c] for c in found.class_id)

    assert {"apple", "orange"} <= labels
    assert "person" not in labels


def test_a_grocery_photo_gives_boxes_inside_the_photo(shared_dir: Path, detector: OnnxDetector) -> None:
    photo = sorted((shared_dir / "data" / "grocery-dev" / "val" / "Fruit" / "Apple").rglob("*.jpg"))[0]
    image = cv2.imread(str(photo))
    assert image is not None

    (found,) = detector.detect([np.asarray(image, dtype=np.uint8)])

    assert len(found) >= 1
    height, width = image.shape[:2]
    assert (found.xyxy[:, [0, 2]] <= width).all()
    assert (found.xyxy[:, [1, 3]] <= height).all()
    assert (found.confidence >= 0.3).all()


def test_real_gif_footage_tags_end_to_end(shared_dir: Path, settings: TaggerSettings, tmp_path: Path) -> None:
    gif = shared_dir / "data" / "videos" / "fruit-and-vegetable-detection.gif"

    result = tag_video(gif, settings=settings, thumbnails_dir=tmp_path)

    assert result.video.frames > 10
    assert result.model.sha256 == "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
    assert result.placements, "the fruit clip shows fruit the whole time"
    labels = {p.label for p in result.placements}
    assert labels <= {"apple", "orange", "banana", "broccoli", "carrot", "bowl", "bottle", "cup"}
    for placement in result.placements:
        assert 0 <= placement.start_ms < placement.end_ms <= result.video.duration_ms
        assert placement.thumbnail is not None
        assert placement.thumbnail.is_file()
