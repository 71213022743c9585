"""A tag job's progress follows every phase: the catalog index, detection, and linking each placement,
through the real pipeline (a colour detector on a synthetic episode) with a fake catalog linker."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from api.jobs.models import JobPhase
from api.jobs.tagger_adapter import (
    DETECT_SHARE_WHEN_LINKING,
    INDEX_SHARE,
    WORK_END,
    PipelineTagFunction,
)
from api.jobs.tagging import TagOutcome
from api.linking.service import BrandLinker, IndexProgress
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tagger.arrays import Image
from tagger.linking import Decision, LinkResult, LinkThresholds
from tagger.linking.decision import DecisionInputs
from tagger.linking.linker import CropLike
from tagger.settings import TaggerSettings
from tests.tagger.factories import (
    BLUE,
    ColourDetector,
    Square,
    frame_with,
    link_result,
    tiny_spec,
    write_video,
)

PRODUCT = str(uuid.uuid4())
INPUTS = DecisionInputs(0.6, True, "crop 1: its print matched (40 keypoints)")


class OneProductLinker:
    """Links every placement to one product, proposed for review, and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        self.calls += 1
        result = link_result(PRODUCT, "Cola 330 ml", 0.6, Decision.PROPOSED, crops_used=len(crops))
        return replace(result, inputs=INPUTS)


class FakeCatalog:
    def __init__(self, linker: OneProductLinker | None) -> None:
        self.linker = linker

    def fetch_pending_images(self, brand_id: uuid.UUID) -> None:
        return None

    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None:
        if self.linker is None:
            return None
        if on_progress is not None:
            on_progress(1, 2)
            on_progress(2, 2)
        return BrandLinker(self.linker, LinkThresholds(auto_approve=0.8, floor=0.3), {PRODUCT: None}, "v1")


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [frame_with(160, 96, [Square(20, 30, 20), Square(100, 40, 24, BLUE)]) for _ in range(45)]
    return write_video(tmp_path_factory.mktemp("video") / "two-products.mp4", frames)


def tag_with(
    catalog: FakeCatalog, episode: Path, tmp_path: Path
) -> tuple[list[tuple[float, JobPhase | None]], TagOutcome]:
    tagger_settings = TaggerSettings(
        sample_fps=10, work_max_side=160, min_placement_ms=300, decode_skip="none"
    )
    function = PipelineTagFunction(
        ApiSettings(media_dir=tmp_path / "media"),
        tagger_settings,
        linking=catalog,
        detector=ColourDetector(tiny_spec(tmp_path)),
    )
    reports: list[tuple[float, JobPhase | None]] = []
    outcome = function(
        episode,
        brand_id=uuid.uuid4(),
        thumbnails_dir=tmp_path / "thumbs",
        progress=lambda fraction, phase=None: reports.append((fraction, phase)),
    )
    return reports, outcome


def phases(reports: list[tuple[float, JobPhase | None]]) -> list[JobPhase]:
    return [phase for _, phase in reports if phase is not None]


def test_with_a_catalog_progress_goes_index_detect_link_and_linking_moves_the_bar(
    episode: Path, tmp_path: Path
) -> None:
    linker = OneProductLinker()
    reports, outcome = tag_with(FakeCatalog(linker), episode, tmp_path)

    assert phases(reports) == [JobPhase.INDEX, JobPhase.DETECT, JobPhase.LINK]
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions)
    link_start = next(index for index, (_, phase) in enumerate(reports) if phase is JobPhase.LINK)
    during_linking = fractions[link_start:]
    # One report per placement after the phase starts, the last at the linking phase's end.
    assert len(during_linking) == 1 + linker.calls == 1 + len(outcome.drafts) == 3
    assert during_linking[0] < during_linking[1] < during_linking[2] == pytest.approx(WORK_END)
    # Detection (with each shot linked beside it) ends where the bar leaves the wait for the last links.
    assert fractions[link_start - 1] == pytest.approx(INDEX_SHARE + DETECT_SHARE_WHEN_LINKING)
    assert [draft.sku_candidates[0].title for draft in outcome.drafts] == ["Cola 330 ml"] * 2
    assert {draft.status for draft in outcome.drafts} == {PlacementStatus.PROPOSED}
    # What each decision weighed travels with it, for a settings change to decide it again
    assert [draft.link_inputs for draft in outcome.drafts] == [INPUTS.stored()] * 2
    assert (outcome.empty_reason, outcome.unlinked_reason) == (None, None)


def test_without_catalog_images_detection_fills_the_bar_and_the_outcome_says_why_unlinked(
    episode: Path, tmp_path: Path
) -> None:
    reports, outcome = tag_with(FakeCatalog(None), episode, tmp_path)

    assert phases(reports) == [JobPhase.INDEX, JobPhase.DETECT]
    assert reports[-1][0] == pytest.approx(0.98)
    assert len(outcome.drafts) == 2
    assert all(draft.sku_candidates == [] for draft in outcome.drafts)
    assert outcome.unlinked_reason == "the brand's catalog has no product image to link against"
