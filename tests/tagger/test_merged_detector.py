"""A brand's trained detector beside the general one: one merged set of proposals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.detection.factory import load_detector_card
from tagger.detection.merged import MergedDetector, prefer
from tagger.detections import Detections
from tagger.exceptions import ModelChecksumError
from tests.tagger.factories import FixedDetector, tiny_spec, trained_brand_card


def _boxes(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    array = np.array(rows, dtype=np.float32).reshape(-1, 6)
    return Detections(array[:, :4], array[:, 4], array[:, 5].astype(np.int64))


def test_given_general_box_on_a_brand_box_when_preferred_then_only_the_brand_box_stays() -> None:
    brand = _boxes([(10, 10, 50, 90, 0.6, 80)])
    general = _boxes([(12, 8, 52, 88, 0.9, 39), (100, 100, 140, 140, 0.8, 41)])

    merged = prefer(brand, general, overlap_iou=0.45)

    assert merged == _boxes([(10, 10, 50, 90, 0.6, 80), (100, 100, 140, 140, 0.8, 41)])


def test_given_two_detectors_when_merged_then_brand_classes_follow_the_general_ones(tmp_path: Path) -> None:
    general_spec = tiny_spec(tmp_path / "general", name="general", classes=("bottle", "cup", "person"))
    brand_spec = tiny_spec(
        tmp_path / "brand",
        name="brand-acme-1",
        layout="ultralytics",
        classes=("p1", "p2"),
        products=("p1", "p2"),
    )
    general = FixedDetector(general_spec, _boxes([(0, 0, 10, 10, 0.9, 1), (50, 50, 90, 90, 0.5, 0)]))
    brand = FixedDetector(brand_spec, _boxes([(52, 48, 90, 92, 0.7, 1)]))

    merged = MergedDetector(general, brand)
    [found] = merged.detect([np.zeros((100, 100, 3), np.uint8)])

    assert merged.spec.class_names == ("bottle", "cup", "person", "p1", "p2")
    assert merged.spec.product_classes == frozenset({"bottle", "cup", "p1", "p2"})
    assert merged.spec.card.name == "general+brand-acme-1"
    assert merged.sha256 == brand_spec.card.sha256
    assert found == _boxes([(52, 48, 90, 92, 0.7, 4), (0, 0, 10, 10, 0.9, 1)])


def _trained(tmp_path: Path) -> Path:
    """A card and an ultralytics-layout model side by side, as a train job leaves them."""
    output = np.zeros((1, 6, 4), np.float32)
    output[0, :, 0] = (16, 16, 8, 8, 0.9, 0.1)
    return trained_brand_card(tmp_path, output, ("p1", "p2"))


def test_given_a_trained_card_when_loaded_then_the_model_beside_it_runs(tmp_path: Path) -> None:
    detector = load_detector_card(_trained(tmp_path))

    [found] = detector.detect([np.zeros((32, 32, 3), np.uint8)])

    assert detector.spec.class_names == ("p1", "p2")
    assert found.class_id.tolist() == [0]
    assert found.xyxy.tolist() == [[12.0, 12.0, 20.0, 20.0]]


def test_given_a_tampered_trained_model_when_loaded_then_refused_by_its_sha256(tmp_path: Path) -> None:
    card = _trained(tmp_path)
    model = tmp_path / "brand-acme-1.onnx"
    model.write_bytes(model.read_bytes() + b"\0")

    with pytest.raises(ModelChecksumError):
        load_detector_card(card)
