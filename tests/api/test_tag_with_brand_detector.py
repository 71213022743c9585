"""A brand's tag jobs run its newest trained detector beside the general one (one merged set of
proposals); a trained model that fails its sha256 is refused and the general detector tags alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from api.jobs.tagger_adapter import PipelineTagFunction
from api.jobs.tagging import TagOutcome
from api.settings import ApiSettings
from tagger.settings import TaggerSettings
from tests.api.test_tag_phases import FakeCatalog
from tests.tagger.factories import (
    BLUE,
    ColourDetector,
    Square,
    frame_with,
    tiny_spec,
    trained_brand_card,
    write_video,
)


class OneCard:
    def __init__(self, card: Path | None) -> None:
        self.card = card

    def newest_card(self, brand_id: uuid.UUID) -> Path | None:
        return self.card


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [frame_with(160, 96, [Square(20, 30, 20), Square(100, 40, 24, BLUE)]) for _ in range(45)]
    return write_video(tmp_path_factory.mktemp("video") / "two-products.mp4", frames)


def _trained_card(folder: Path) -> Path:
    """A brand model (ultralytics layout, 32x32 centred letterbox) that always finds the blue carton:
    the 160x96 frame scales by 0.2 and sits 6.5 px down, so the square at (100, 40, 24) is here."""
    output = np.zeros((1, 5, 4), np.float32)
    output[0, :, 0] = (22.4, 16.9, 4.8, 4.8, 0.8)
    return trained_brand_card(folder, output, ("acme-oat-drink",))


def _tag(episode: Path, tmp_path: Path, card: Path | None) -> TagOutcome:
    function = PipelineTagFunction(
        ApiSettings(media_dir=tmp_path / "media"),
        TaggerSettings(sample_fps=10, work_max_side=160, min_placement_ms=300, decode_skip="none"),
        linking=FakeCatalog(None),
        detector=ColourDetector(tiny_spec(tmp_path)),
        brand_detectors=OneCard(card),
    )
    return function(
        episode, brand_id=uuid.uuid4(), thumbnails_dir=tmp_path / "thumbs", progress=lambda *_: None
    )


def test_given_a_trained_detector_when_tagging_then_its_box_replaces_the_general_one_it_lies_on(
    episode: Path, tmp_path: Path
) -> None:
    outcome = _tag(episode, tmp_path, _trained_card(tmp_path / "brand"))

    assert sorted(draft.label for draft in outcome.drafts) == ["acme-oat-drink", "bottle"]


def test_given_no_trained_detector_when_tagging_then_the_general_one_alone(
    episode: Path, tmp_path: Path
) -> None:
    outcome = _tag(episode, tmp_path, None)

    assert sorted(draft.label for draft in outcome.drafts) == ["bottle", "cup"]


def test_given_a_tampered_trained_model_when_tagging_then_refused_and_general_detector_tags(
    episode: Path, tmp_path: Path
) -> None:
    card = _trained_card(tmp_path / "brand")
    model = card.with_suffix(".onnx")
    model.write_bytes(model.read_bytes() + b"\0")

    outcome = _tag(episode, tmp_path, card)

    assert sorted(draft.label for draft in outcome.drafts) == ["bottle", "cup"]
