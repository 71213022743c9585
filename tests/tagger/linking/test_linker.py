"""Linking crops and tracks against a synthetic catalog: right SKU, honest confidence, decisions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytest

import tagger.linking.linker as linker_module
from tagger.arrays import Image
from tagger.linking.catalog import CatalogItem
from tagger.linking.croppers import WholeImageCropper
from tagger.linking.dataset import Query
from tagger.linking.decision import Decided, Decision, DecisionInputs, LinkThresholds, decide, decided
from tagger.linking.errors import LinkingError
from tagger.linking.evaluation import collect, fit_on_all
from tagger.linking.features import FeatureConfig, FeatureExtractor
from tagger.linking.fusion import FEATURE_NAMES, SIGNAL_NAMES, FusionModel
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.keypoints import (
    DESCRIPTOR_LEVELS,
    LocalFeatures,
    MatchingQuery,
    QuantizedDescriptors,
    Verification,
    extract_local_features,
    quantize_candidate,
    ratio_test_matches,
    verified_inliers,
    verify,
)
from tagger.linking.linker import (
    CandidateSet,
    Linker,
    LinkResult,
    OwnPrintMarks,
    PrintEvidence,
    ShortlistConfig,
    SkuCandidate,
    candidate_set,
    link_track,
    print_evidence,
    scorer_id,
)
from tagger.linking.ocr import TextLine
from tagger.linking.print_match import PrintMatch
from tests.tagger.linking.factories import (
    FakeEmbedder,
    FakeReader,
    catalog,
    extractor,
    packshot,
    photo_of,
    scene_around,
)


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return build_catalog_index(catalog(6), extractor())


@pytest.fixture(scope="module")
def model(index: CatalogIndex, tmp_path_factory: pytest.TempPathFactory) -> FusionModel:
    """Fitted the way production's model is: on labelled photos (other seeds than the tests use)."""
    folder = tmp_path_factory.mktemp("photos")
    queries = []
    for row, sku in enumerate(index.skus):
        for seed in (50,):
            path = folder / f"{sku}-{seed}.png"
            cv2.imwrite(str(path), photo_of(packshot(row), seed))
            queries.append(Query(path, sku))
    records = collect(queries, index, extractor(), ShortlistConfig(size=5), WholeImageCropper())
    return fit_on_all(records, fitted_on="synthetic")


@dataclass(frozen=True)
class Crop:
    image: np.ndarray
    sharpness: float = 1.0


def test_same_print_under_rotation_has_many_inliers_and_other_print_few() -> None:
    shot = extract_local_features(packshot(3), upscale_to=400, max_features=300)
    same = extract_local_features(photo_of(packshot(3)), upscale_to=400, max_features=300)
    other = extract_local_features(photo_of(packshot(4)), upscale_to=400, max_features=300)

    assert verified_inliers(same, shot) >= 20
    assert verified_inliers(other, shot) < 10


def _brute_force_ratio_matches(query: np.ndarray, candidate: np.ndarray) -> list[tuple[int, int]]:
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(query.astype(np.float32), candidate.astype(np.float32), k=2)
    return sorted((a.queryIdx, a.trainIdx) for a, b in pairs if a.distance < 0.8 * b.distance)


def _floats(local: LocalFeatures) -> np.ndarray:
    """A freshly extracted (query-side) image's descriptors: float, not quantized."""
    assert not isinstance(local.descriptors, QuantizedDescriptors)
    return local.descriptors


def _on_byte_grid(descriptors: np.ndarray) -> np.ndarray:
    levels = DESCRIPTOR_LEVELS
    return (np.rint(np.asarray(descriptors, np.float64) * levels) / levels).astype(np.float32)


@pytest.mark.parametrize(("query_seed", "shot_row"), [(0, 3), (1, 4), (2, 5)])
def test_ratio_test_finds_exactly_opencvs_brute_force_matches_of_the_byte_quantized_descriptors(
    query_seed: int, shot_row: int
) -> None:
    query = extract_local_features(photo_of(packshot(3), query_seed), upscale_to=400, max_features=300)
    shot = extract_local_features(packshot(shot_row), upscale_to=400, max_features=300)
    expected = _brute_force_ratio_matches(_on_byte_grid(_floats(query)), _on_byte_grid(_floats(shot)))

    rows, columns = ratio_test_matches(query.descriptors, shot.descriptors)

    assert expected  # the comparison means something only when there are matches
    assert sorted(zip(rows.tolist(), columns.tolist(), strict=True)) == expected


def test_ratio_test_keeps_nearly_all_matches_of_the_full_precision_descriptors() -> None:
    query = extract_local_features(photo_of(packshot(3), 0), upscale_to=400, max_features=300)
    shot = extract_local_features(packshot(3), upscale_to=400, max_features=300)
    full_precision = set(_brute_force_ratio_matches(_floats(query), _floats(shot)))

    rows, columns = ratio_test_matches(query.descriptors, shot.descriptors)
    quantized = set(zip(rows.tolist(), columns.tolist(), strict=True))

    assert len(full_precision) >= 20
    assert len(quantized & full_precision) >= 0.85 * len(quantized | full_precision)


def test_ratio_test_ranks_by_distance_also_for_descriptors_of_unequal_length() -> None:
    rng = np.random.default_rng(7)
    # Non-negative like RootSIFT, rows of very different lengths, on the matcher's byte grids.
    candidate = _on_byte_grid(rng.uniform(size=(60, 16)) * rng.uniform(0.1, 1.0, size=(60, 1)))
    query = _on_byte_grid(np.clip(candidate[:30] + rng.normal(scale=0.02, size=(30, 16)), 0, 1))
    expected = _brute_force_ratio_matches(query, candidate)

    rows, columns = ratio_test_matches(query, candidate)

    assert len(expected) >= 20
    assert sorted(zip(rows.tolist(), columns.tolist(), strict=True)) == expected


def test_ratio_test_refuses_a_query_quantized_as_a_candidate() -> None:
    descriptors = np.full((5, 128), 0.1, np.float32)

    with pytest.raises(ValueError, match="uint8 x int8"):
        ratio_test_matches(quantize_candidate(descriptors), descriptors)


def test_ratio_test_with_too_few_descriptors_finds_nothing() -> None:
    descriptors = np.full((5, 128), 0.1, np.float32)

    for query, candidate in ((descriptors, descriptors[:1]), (descriptors[:0], descriptors)):
        rows, columns = ratio_test_matches(query, candidate)
        assert rows.size == 0
        assert columns.size == 0


def test_track_links_to_its_sku_with_top5_candidates(index: CatalogIndex, model: FusionModel) -> None:
    linker = Linker(index, extractor(), model, ShortlistConfig(size=5))
    crops = [Crop(photo_of(packshot(2), seed)) for seed in range(2)]

    result = link_track(crops, linker, LinkThresholds(auto_approve=0.8, floor=0.3))

    assert result.sku == "SKU-2"
    assert result.decision is Decision.APPROVED
    assert result.candidates[0] == SkuCandidate("SKU-2", "Product 2", result.confidence)
    assert len(result.candidates) == 5
    assert result.confidence > 0.8
    assert result.index_version == index.version
    assert result.crops_used == 2


def test_product_missing_from_the_catalog_is_not_approved(index: CatalogIndex, model: FusionModel) -> None:
    linker = Linker(index.without({"SKU-2"}), extractor(), model, ShortlistConfig(size=5))

    result = linker.link_track([photo_of(packshot(2))], LinkThresholds(auto_approve=0.8, floor=0.3))

    assert result.decision is Decision.UNKNOWN
    assert result.sku is None
    assert result.unknown_probability > 0.7


def test_track_without_usable_crops_is_unknown_with_no_candidates(
    index: CatalogIndex, model: FusionModel
) -> None:
    linker = Linker(index, extractor(), model)

    result = linker.link_track([np.zeros((4, 4, 3), dtype=np.uint8)])

    assert result == LinkResult(
        candidates=(),
        sku=None,
        confidence=0.0,
        unknown_probability=1.0,
        decision=Decision.UNKNOWN,
        index_version=index.version,
        crops_used=0,
        evidence="its print was not seen (no catalog text read, too few keypoints)",
        approval_level=0.8,
        inputs=DecisionInputs(
            confidence=0.0,
            print_evidence=False,
            reason="its print was not seen (no catalog text read, too few keypoints)",
            scorer=linker.scorer,
        ),
    )


def test_index_built_with_another_recipe_is_refused(index: CatalogIndex, model: FusionModel) -> None:
    with pytest.raises(LinkingError, match="rebuild the index"):
        Linker(index, extractor(ocr=True), model)


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [(0.95, Decision.APPROVED), (0.8, Decision.APPROVED), (0.5, Decision.PROPOSED), (0.1, Decision.UNKNOWN)],
)
def test_decision_follows_thresholds(confidence: float, expected: Decision) -> None:
    assert decide(confidence, LinkThresholds(auto_approve=0.8, floor=0.3)) is expected


def test_inconsistent_thresholds_are_refused() -> None:
    with pytest.raises(LinkingError, match="floor ≤ auto_approve"):
        LinkThresholds(auto_approve=0.2, floor=0.5)
    with pytest.raises(LinkingError, match="own_print_approve must be between 0 and 1"):
        LinkThresholds(own_print_approve=1.5)


@pytest.mark.parametrize(
    ("confidence", "flags", "packshots", "expected"),
    [
        (0.6, {"own_print_confirmed": True}, None, Decision.APPROVED),
        (0.5, {"own_print_confirmed": True}, None, Decision.APPROVED),
        (0.6, {}, None, Decision.PROPOSED),  # the marks were not confirmed: the usual level
        (0.45, {"own_print_confirmed": True}, None, Decision.PROPOSED),
        (0.6, {"own_print_confirmed": True, "contradicted": True}, None, Decision.PROPOSED),
        (0.6, {"own_print_confirmed": True, "own_print_unseen": True}, None, Decision.PROPOSED),
        (0.6, {"own_print_confirmed": True, "print_evidence": False}, None, Decision.PROPOSED),
        (0.6, {"own_print_confirmed": True}, 0.55, Decision.APPROVED),  # scenes: packshots agree
        (0.6, {"own_print_confirmed": True}, 0.4, Decision.PROPOSED),  # ... or do not
    ],
)
def test_a_confirmed_own_print_is_approved_from_the_own_print_level(
    confidence: float, flags: dict[str, bool], packshots: float | None, expected: Decision
) -> None:
    thresholds = LinkThresholds(auto_approve=0.8, floor=0.3, own_print_approve=0.5)

    decision = decide(confidence, thresholds, packshot_confidence=packshots, **flags)

    assert decision is expected


@pytest.mark.parametrize(
    ("thresholds", "level"),
    [
        (LinkThresholds(auto_approve=0.8, floor=0.3, own_print_approve=0.5), 0.5),
        (LinkThresholds(auto_approve=0.8, floor=0.3, own_print_approve=0.1), 0.3),  # never under the floor
        (LinkThresholds(auto_approve=0.4, floor=0.3, own_print_approve=0.5), 0.4),  # never over auto
        (LinkThresholds(auto_approve=0.8, floor=0.3, own_print_approve=1.0), 0.8),  # turned off
    ],
)
def test_the_own_print_level_only_lowers_approval_and_never_under_the_floor(
    thresholds: LinkThresholds, level: float
) -> None:
    assert thresholds.approval_level(own_print_confirmed=True) == level
    assert thresholds.approval_level(own_print_confirmed=False) == thresholds.auto_approve


def _signals(text: float = 0.0, inliers: int = 0) -> list[float]:
    row = [0.5] * len(SIGNAL_NAMES)
    row[SIGNAL_NAMES.index("text")] = text
    row[SIGNAL_NAMES.index("keypoints")] = float(np.log1p(inliers))
    return row


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (_signals(text=1.2), True),  # OCR read words of this SKU's catalog text
        (_signals(inliers=25), True),  # its print matched under one homography
        (_signals(inliers=12), False),  # about what an unrelated packshot reaches by chance
        (_signals(), False),  # colour and shape only
    ],
)
def test_print_evidence_is_text_or_strong_keypoints(signals: list[float], expected: bool) -> None:
    inliers = round(float(np.expm1(signals[SIGNAL_NAMES.index("keypoints")])))
    matches = (PrintMatch(0, 0, 0), PrintMatch(inliers, 0, 0))
    sets = [CandidateSet(np.array([4, 7]), np.array([_signals(), signals]), matches)]

    assert print_evidence(sets, 7).seen is expected
    assert print_evidence(sets, 9).seen is False  # a row no crop shortlisted


def _matched(inliers: int, coloured: int, same: int) -> PrintMatch:
    return PrintMatch(inliers=inliers, coloured_pairs=coloured, same_colour_pairs=same)


@pytest.mark.parametrize(
    ("signals", "match", "expected"),
    [
        # Garant's 3 % milk matched its 1.5 % sibling's packshot with 75 inliers, 9 of 46 in its hue.
        (_signals(inliers=75), _matched(75, 46, 9), False),
        # The same count of inliers in the SKU's own colours.
        (_signals(inliers=75), _matched(75, 46, 44), True),
        # OCR read a word of the SKU's text, but the print it matched is in another colour.
        (_signals(text=3.7, inliers=27), _matched(27, 15, 0), False),
        # A black-on-white print: too few coloured pairs to say anything about colour.
        (_signals(inliers=40), _matched(40, 3, 0), True),
    ],
)
def test_print_matched_in_other_colours_is_not_evidence_of_the_sku(
    signals: list[float], match: PrintMatch, expected: bool
) -> None:
    sets = [CandidateSet(np.array([4, 7]), np.array([_signals(), signals]), (PrintMatch(0, 0, 0), match))]

    evidence = print_evidence(sets, 7)

    assert evidence.seen is expected
    assert ("other colours" in evidence.reason) is not expected


def test_colour_is_judged_over_the_tracks_crops_together() -> None:
    """A sibling in other ink disagrees in every crop; one off frame (a colour cast, a smear) among
    frames that agree does not take the approval away."""
    own = CandidateSet(np.array([7]), np.array([_signals(inliers=60)]), (_matched(60, 30, 29),))
    off_frame = CandidateSet(np.array([7]), np.array([_signals(inliers=50)]), (_matched(50, 20, 2),))
    other_ink = CandidateSet(np.array([7]), np.array([_signals(inliers=50)]), (_matched(50, 30, 3),))

    assert print_evidence([own, off_frame], 7) == PrintEvidence(
        True,
        "crop 1: its print matched (60 keypoints); crop 2: its print matched (50 keypoints); "
        "31 of 50 coloured keypoint matches in its hue",
    )
    assert print_evidence([other_ink, off_frame], 7) == PrintEvidence(
        False,
        "its print matched in other colours: 5 of 50 coloured keypoint matches in its hue "
        "(a sibling variant?)",
        contradicted=True,
    )


def hue_rotated(image: np.ndarray) -> np.ndarray:
    """The same print in the opposite hue (Lab a and b negated, lightness kept): what SIFT sees of it is
    unchanged, as for two fat levels of one milk printed in red and green."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.int16)
    lab[..., 1:] = 256 - lab[..., 1:]
    return np.asarray(cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR), dtype=np.uint8)


@pytest.mark.parametrize("row", [0, 2, 3, 4])
def test_a_sibling_in_other_ink_matches_the_print_but_is_not_print_evidence(
    index: CatalogIndex, row: int
) -> None:
    config = ShortlistConfig(size=5)
    own = candidate_set(extractor().query_features(photo_of(packshot(row))), index, config)
    sibling = candidate_set(extractor().query_features(photo_of(hue_rotated(packshot(row)))), index, config)
    position = int(np.flatnonzero(sibling.rows == row)[0])

    # Keypoints alone would have called it this SKU's print ...
    inliers = np.expm1(sibling.features[position, SIGNAL_NAMES.index("keypoints")])
    assert inliers >= 2 * 10
    # ... its colours say it is not.
    assert print_evidence([own], row).seen is True
    evidence = print_evidence([sibling], row)
    assert evidence.seen is False
    assert evidence.contradicted is True  # not merely unseen: another product's print
    assert "in other colours" in evidence.reason


def test_a_link_the_crops_contradicted_is_never_approved_even_when_print_evidence_is_waived() -> None:
    waived = LinkThresholds(require_print_evidence=False)

    assert decide(0.99, waived, print_evidence=False, contradicted=True) is Decision.PROPOSED
    assert decide(0.99, LinkThresholds(), print_evidence=False, contradicted=True) is Decision.PROPOSED
    assert decide(0.1, waived, print_evidence=False, contradicted=True) is Decision.UNKNOWN


def test_without_a_product_its_unique_title_words_name_nothing(juices: CatalogIndex) -> None:
    """Evaluation's 'left out of the catalog' hides a row; the words only its title used must stop being
    names too, as they would in a catalog that never had it."""
    apple = juices.skus.index("SKU-1")  # "Tropic Apple Juice"

    without = juices.naming_words_without(apple)

    assert {"tropic", "apple"} <= juices.naming_words
    assert "apple" not in without
    assert "tropic" not in without
    assert "juice" in without  # the orange juice's title still uses it


def test_a_confident_link_without_print_evidence_is_proposed_not_approved() -> None:
    assert decide(0.95, LinkThresholds(), print_evidence=False) is Decision.PROPOSED
    assert (
        decide(0.95, LinkThresholds(require_print_evidence=False), print_evidence=False) is Decision.APPROVED
    )
    assert decide(0.1, LinkThresholds(), print_evidence=False) is Decision.UNKNOWN


def test_track_whose_print_is_not_visible_gets_its_sku_for_review(index: CatalogIndex) -> None:
    """A model that trusts appearance alone is confident about a blurred photo (no keypoints, no text);
    the linker still names the SKU but leaves the approval to a person."""
    weights = [0.0] * len(FEATURE_NAMES)
    weights[FEATURE_NAMES.index("embedding")] = 200.0
    appearance_only = FusionModel(tuple(weights), unknown_bias=-5.0)
    linker = Linker(index, extractor(), appearance_only, ShortlistConfig(size=5))
    blurred = np.asarray(cv2.GaussianBlur(photo_of(packshot(2)), (0, 0), 6), dtype=np.uint8)

    result = linker.link_track([blurred])
    trusting = linker.link_track([blurred], LinkThresholds(require_print_evidence=False))

    assert result.sku == "SKU-2"
    assert result.confidence > 0.8
    assert result.decision is Decision.PROPOSED
    assert result.contradicted is False  # unseen is not contradicted: nothing showed another product
    assert trusting.decision is Decision.APPROVED


class CountingReader(FakeReader):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines)
        self.images: list[tuple[int, ...]] = []

    def read_lines(self, image: np.ndarray) -> list[TextLine]:
        self.images.append(image.shape)
        return super().read_lines(image)


def test_a_track_is_read_by_ocr_once_on_its_best_crop_and_every_crop_uses_those_words(
    model: FusionModel,
) -> None:
    reader = CountingReader(["Product 2 bravo"])
    reading = FeatureExtractor(FakeEmbedder(), reader, FeatureConfig(ocr=True, max_keypoints=300))
    linker = Linker(build_catalog_index(catalog(6), reading), reading, model, ShortlistConfig(size=5))
    reader.images.clear()
    best, *others = [photo_of(packshot(2), seed, size=size) for seed, size in ((0, 320), (1, 300), (2, 280))]

    sets = linker.track_candidates([best, *others])
    result = linker.link_track([best, *others])

    assert reader.images == [best.shape, best.shape]  # once per track, on the best crop
    text = [c.features[:, SIGNAL_NAMES.index("text")].max() for c in sets]
    assert min(text) > 0  # the other crops scored the best crop's words
    assert result.sku == "SKU-2"


def test_the_centre_colour_sees_the_product_where_the_whole_crop_sees_mostly_shelf(
    index: CatalogIndex,
) -> None:
    # A photo whose middle is the packshot's carton and whose outer ring is a red shelf.
    shot = packshot(2)
    photo = np.zeros((400, 400, 3), np.uint8)
    photo[:] = (20, 20, 200)
    photo[110:290, 140:260] = cv2.resize(shot[10:190, 40:160], (120, 180))
    features = extractor().query_features(photo)
    row = index.skus.index(catalog(6)[2].sku)

    candidates = candidate_set(features, index, ShortlistConfig(size=6))
    hit = int(np.flatnonzero(candidates.rows == row)[0])
    signals = candidates.features[hit]

    assert features.centre_colour.shape == features.colour.shape
    assert signals[SIGNAL_NAMES.index("centre_colour")] > signals[SIGNAL_NAMES.index("colour")] + 0.2
    # Features computed without it (an older cache, another extractor) fall back to the crop colour.
    older = candidate_set(
        replace(features, centre_colour=np.zeros(0, np.float32)), index, ShortlistConfig(size=6)
    )
    np.testing.assert_allclose(
        older.features[:, SIGNAL_NAMES.index("centre_colour")],
        older.features[:, SIGNAL_NAMES.index("colour")],
    )


def test_catalog_descriptors_quantized_once_match_exactly_as_their_half_precision_values() -> None:
    # The index keeps `compact()` features; indexes before format 4 kept float16 and quantized per match.
    query = extract_local_features(photo_of(packshot(3), 0), upscale_to=400, max_features=300)
    shot = extract_local_features(packshot(3), upscale_to=400, max_features=300)

    compact = shot.compact()
    before = ratio_test_matches(query.descriptors, _floats(shot).astype(np.float16))
    after = ratio_test_matches(query.descriptors, compact.descriptors)

    assert isinstance(compact.descriptors, QuantizedDescriptors)
    assert compact.compact() is compact
    assert before[0].size >= 20
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert verify(query, compact).inliers == verify(query, shot).inliers


def _steps(*values: int) -> np.ndarray:
    row = np.zeros(128, np.float32)
    row[: len(values)] = values
    return row / DESCRIPTOR_LEVELS


@pytest.mark.parametrize(("second", "matched"), [((5, 0), False), ((5, 1), True)])
def test_the_ratio_test_is_decided_on_exact_integers_at_its_boundary(
    second: tuple[int, int], matched: bool
) -> None:
    # Squared distances 16 and 25 stand exactly at 0.8² = 16/25: not a match (strictly below, as
    # OpenCV's brute-force matcher decides it); 16 and 26 are.
    query = np.stack([_steps(0)])
    candidate = np.stack([_steps(4), _steps(*second)])

    rows, columns = ratio_test_matches(query, candidate)

    assert (rows.tolist(), columns.tolist()) == (([0], [0]) if matched else ([], []))
    by_opencv = _brute_force_ratio_matches(query * DESCRIPTOR_LEVELS, candidate * DESCRIPTOR_LEVELS)
    assert bool(by_opencv) is matched


def test_a_catalog_images_quantized_descriptors_are_not_taken_as_a_query() -> None:
    shot = extract_local_features(packshot(3), upscale_to=400, max_features=300).compact()

    with pytest.raises(ValueError, match="cannot be matched as a query"):
        MatchingQuery.of(shot)


def _reading(
    lines: list[str], place: tuple[tuple[float, float], tuple[float, float]] | None = None
) -> FeatureExtractor:
    return FeatureExtractor(
        FakeEmbedder(), FakeReader(lines, place), FeatureConfig(ocr=True, max_keypoints=300)
    )


@pytest.fixture(scope="module")
def juices() -> CatalogIndex:
    """Orange juice's packshot, apple juice's and four others; the packshots print no words (an empty
    reader), so each SKU's text is its catalog text."""
    titles = [
        "Bravo Orange Juice",
        "Tropic Apple Juice",
        "Garant Milk",
        "Arla Milk",
        "Oatly Oat Drink",
        "Valio Cream",
    ]
    items = [
        CatalogItem(f"SKU-{row}", title, title.split()[0], "", (packshot(row),))
        for row, title in enumerate(titles)
    ]
    return build_catalog_index(items, _reading([]))


@pytest.mark.parametrize(
    ("read", "place", "seen"),
    [
        (["BRAVO APPLE"], None, False),  # on the matched print: the pack names another product
        (["BRAVO ORANGE"], None, True),  # its own variant's word
        (["BRAVO APPLE"], ((0.01, 0.02), (0.08, 0.02)), True),  # a neighbour's word, off the print
    ],
    ids=["another variant's word on its print", "its own word", "another word beside the print"],
)
def test_a_print_that_reads_another_products_name_is_not_evidence_of_the_sku(
    juices: CatalogIndex,
    read: list[str],
    place: tuple[tuple[float, float], tuple[float, float]] | None,
    seen: bool,
) -> None:
    """The orange juice's print (a sibling's carton, say, whose own SKU is not in the catalog) matched
    with many keypoints; where OCR read 'apple' on that print, the match is not the SKU's evidence."""
    query = _reading(read, place).query_features(photo_of(packshot(0)))
    candidates = candidate_set(query, juices, ShortlistConfig(size=6))
    row = juices.skus.index("SKU-0")
    position = int(np.flatnonzero(candidates.rows == row)[0])
    assert np.expm1(candidates.features[position, SIGNAL_NAMES.index("keypoints")]) >= 20

    evidence = print_evidence([candidates], row)

    assert evidence.seen is seen
    assert evidence.contradicted is not seen
    if not seen:
        assert "'apple'" in evidence.reason
        assert candidates.match(position).foreign_words == ("apple",)


def test_words_read_on_another_crop_of_the_track_are_not_placed_on_this_one(juices: CatalogIndex) -> None:
    """Only the crop OCR read knows where its words are; the track's other crops reuse the words, not
    their places, so they neither veto nor vouch."""
    reading = _reading(["BRAVO APPLE"])
    best = reading.query_features(photo_of(packshot(0), 1))
    other = reading.query_features(photo_of(packshot(0), 2), words=best.words)

    assert len(best.word_points) == len(best.words) == 2
    assert other.words == best.words
    assert other.word_points.shape == (0, 2)
    candidates = candidate_set(other, juices, ShortlistConfig(size=6))
    assert print_evidence([candidates], juices.skus.index("SKU-0")).seen is True


def test_print_evidence_counts_the_print_matchs_inliers_not_the_keypoint_signal() -> None:
    # The keypoint signal says 139 inliers (as a shop photo's shelf once gave), the print matched 5.
    sets = [CandidateSet(np.array([7]), np.array([_signals(inliers=139)]), (PrintMatch(5, 0, 0),))]

    seen = print_evidence(sets, 7)

    assert seen.seen is False
    assert "not seen" in seen.reason


def test_a_scene_image_showing_another_product_gives_it_no_keypoints_and_no_print_evidence() -> None:
    """SKU-0's second catalog image is a shop photo with SKU-1 in it, and SKU-1 is not in the catalog:
    a photo of SKU-1 verifies against that image, which must count neither as SKU-0's keypoints nor as
    its print."""
    other = packshot(1)
    scene = scene_around(other, seed=3)
    own = packshot(0)
    features = extractor()

    def sku_0_with(second: Image) -> CatalogIndex:
        return build_catalog_index([CatalogItem("SKU-0", "Product 0", "Brand", "", (own, second))], features)

    in_scene = sku_0_with(scene)
    # The same picture with a white margin is a packshot again: its print is then SKU-0's print.
    framed = cv2.copyMakeBorder(scene, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    as_packshot = sku_0_with(np.asarray(framed, dtype=np.uint8))
    query = features.query_features(photo_of(other))

    scene_set = candidate_set(query, in_scene, ShortlistConfig())
    packshot_set = candidate_set(query, as_packshot, ShortlistConfig())

    keypoints = SIGNAL_NAMES.index("keypoints")
    assert np.expm1(scene_set.features[0, keypoints]) < 25
    assert scene_set.match(0).inliers < 25
    assert print_evidence([scene_set], 0).seen is False
    assert np.expm1(packshot_set.features[0, keypoints]) >= 25
    assert print_evidence([packshot_set], 0).seen is True


def test_approval_needs_the_packshots_alone_to_be_sure_too() -> None:
    backed = decide(0.99, LinkThresholds(), packshot_confidence=0.85)
    unbacked = decide(0.99, LinkThresholds(), packshot_confidence=0.45)
    waived = LinkThresholds(require_print_evidence=False)

    assert backed is Decision.APPROVED
    assert unbacked is Decision.PROPOSED  # still its SKU, for a person to check
    assert decide(0.99, waived, print_evidence=False, packshot_confidence=0.45) is Decision.PROPOSED
    assert decide(0.2, LinkThresholds(), packshot_confidence=0.1) is Decision.UNKNOWN


def _sibling_of(row: int, other: int) -> Image:
    """Product `row`'s carton with its lower half printed like product `other`: one brand's two
    variants, sharing a logo and a colour (Yoggi Strawberry and Vanilla)."""
    sibling, second = packshot(row), packshot(other)
    sibling[100:190, 40:160] = second[100:190, 40:160]
    return sibling


@pytest.fixture(scope="module")
def shelf_catalog() -> tuple[CatalogIndex, Image]:
    """The six-product catalog where SKU-0 has a second image: a shop photo taken in front of its
    sibling variant, which the catalog does not sell."""
    sibling = _sibling_of(0, 9)
    items = catalog(6)
    shop_photo = scene_around(sibling, seed=3)
    items[0] = replace(items[0], images=(items[0].images[0], shop_photo))
    return build_catalog_index(items, extractor()), sibling


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_shop_photo_of_the_sibling_shelf_does_not_lift_the_missing_sibling_to_its_sku(
    shelf_catalog: tuple[CatalogIndex, Image], index: CatalogIndex, model: FusionModel, seed: int
) -> None:
    """The shop photo matches the sibling's whole print (it lifted SKU-0 to 0.98-0.99 and approved it
    when its keypoints counted); on SKU-0's packshot (the same logo, another lower half) the link is as
    unsure as a catalog of packshots makes it, and stays a proposal for review."""
    with_shop_photo, sibling = shelf_catalog
    photo = photo_of(sibling, seed)

    with_photo = Linker(with_shop_photo, extractor(), model).link_track([photo])
    on_packshots = Linker(index, extractor(), model).link_track([photo])

    assert with_photo.sku == on_packshots.sku == "SKU-0"
    assert with_photo.decision is Decision.PROPOSED
    assert with_photo.confidence < 0.6
    assert abs(with_photo.confidence - on_packshots.confidence) < 0.1


def _shelf_shot() -> Image:
    """A photo of the shop photo's shelf (a near-twin of the catalog's shop photo)."""
    shelf = np.asarray(cv2.resize(scene_around(_sibling_of(0, 9), seed=3), (200, 200)), dtype=np.uint8)
    return photo_of(shelf, 0)


def _appearance_model() -> FusionModel:
    """A model that trusts the embedding far more than the fitted one: what a near-twin shop photo does
    to the real model's confidence (BENCHMARKS.md, End to end), reproduced with the fake embedder."""
    weights = [0.0] * len(FEATURE_NAMES)
    weights[FEATURE_NAMES.index("embedding")] = 200.0
    weights[FEATURE_NAMES.index("keypoints")] = 2.0
    return FusionModel(tuple(weights), unknown_bias=-5.0)


@pytest.mark.parametrize("trust", [LinkThresholds(), LinkThresholds(require_print_evidence=False)])
def test_a_link_a_scene_made_confident_is_approved_only_if_its_packshots_agree(
    shelf_catalog: tuple[CatalogIndex, Image], trust: LinkThresholds
) -> None:
    """A shot of the shop photo's shelf (the sibling in front) looks like the shop photo, so SKU-0 is
    certain, and the shared logo matches SKU-0's packshot: print evidence. On the packshots alone
    another SKU looks more like the shot."""
    with_shop_photo, _ = shelf_catalog
    shot = _shelf_shot()

    result = Linker(with_shop_photo, extractor(), _appearance_model(), ShortlistConfig(size=5)).link_track(
        [shot], trust
    )

    assert result.sku == "SKU-0"
    assert result.confidence >= 0.99
    assert "its print matched" in result.evidence
    assert result.decision is Decision.PROPOSED
    alone = re.search(r"(\d\.\d+) on its packshots alone, under the approval level", result.evidence)
    assert alone is not None, result.evidence
    assert float(alone.group(1)) < 0.01  # far under the approval level, not on its edge


def test_products_on_their_own_packshots_are_still_approved_in_a_catalog_with_scenes(
    shelf_catalog: tuple[CatalogIndex, Image], model: FusionModel
) -> None:
    with_shop_photo, _ = shelf_catalog
    linker = Linker(with_shop_photo, extractor(), model)

    for row in (0, 2):
        result = linker.link_track([photo_of(packshot(row), 1)])

        assert result.sku == f"SKU-{row}"
        assert result.decision is Decision.APPROVED
        assert "on its packshots alone" in result.evidence


@pytest.mark.parametrize("catalog_kind", ["scenes", "scenes, appearance model", "packshots only"])
def test_a_links_inputs_decide_it_as_it_was_decided_and_under_other_levels_as_linking_again_would(
    shelf_catalog: tuple[CatalogIndex, Image], index: CatalogIndex, model: FusionModel, catalog_kind: str
) -> None:
    """A link's inputs decided again under the thresholds it was linked with give its result; under
    others, the result of linking its crops again. In a catalog with a scene image some levels ask
    for the packshots' opinion: where the first link was never asked for it, its inputs say None
    (link again); a catalog of packshots only never needs it."""
    with_shop_photo, sibling = shelf_catalog
    scenes = catalog_kind != "packshots only"
    fusion = _appearance_model() if "appearance" in catalog_kind else model
    linker = Linker(with_shop_photo if scenes else index, extractor(), fusion)
    crops = [_shelf_shot(), photo_of(sibling, 0), photo_of(packshot(0), 1), photo_of(packshot(2), 1)]
    levels = [LinkThresholds(auto_approve=level, floor=0.1) for level in (0.3, 0.55, 0.8, 0.97)]
    decisions, undecidable = set(), 0
    for crop in crops:
        for then in levels:
            linked = linker.link_track([crop], then)
            assert linked.inputs is not None
            assert linked.inputs.scenes is scenes
            assert linked.inputs.scorer == scorer_id(fusion, linker.shortlist)
            level = linked.approval_level
            assert level is not None
            assert decided(linked.inputs, then) == Decided(linked.decision, level, linked.evidence)
            for now in levels:
                again = decided(linked.inputs, now)
                relinked = linker.link_track([crop], now)
                decisions.add(relinked.decision)
                if again is None:
                    undecidable += 1
                    assert relinked.inputs is not None
                    assert relinked.inputs.packshot_confidence is not None
                    continue
                assert relinked.approval_level is not None
                assert again == Decided(relinked.decision, relinked.approval_level, relinked.evidence)
    # The levels straddle the links: both decisions occur. Only scenes leave links undecidable, and with
    # the fitted model some sit between two levels where the lower asks and the higher did not
    assert {Decision.APPROVED, Decision.PROPOSED} <= decisions
    if catalog_kind == "scenes":
        assert undecidable > 0
    if not scenes:
        assert undecidable == 0


def test_a_link_says_what_scored_it_and_another_model_or_shortlist_scores_differently(
    index: CatalogIndex, model: FusionModel
) -> None:
    # A settings change decides stored links again only where the linker still scores as it did: a
    # refitted fusion model (one weight moved), another shortlist, or scoring code of another revision is
    # another scorer, and its links are linked again from their crops.
    shipped = Linker(index, extractor(), model)
    refit = replace(model, weights=(model.weights[0] + 0.01, *model.weights[1:]))
    scorers = {
        shipped.scorer,
        Linker(index, extractor(), refit).scorer,
        Linker(index, extractor(), model, ShortlistConfig(size=20)).scorer,
    }
    assert len(scorers) == 3
    assert Linker(index, extractor(), model).scorer == shipped.scorer  # and the same linker, the same id
    linked = shipped.link_track([photo_of(packshot(0), 1)])
    assert linked.inputs is not None
    assert linked.inputs.scorer == shipped.scorer
    assert DecisionInputs.from_stored(linked.inputs.stored()) == linked.inputs
    revised = linker_module.SCORING_REVISION + 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linker_module, "SCORING_REVISION", revised)
        assert scorer_id(model, ShortlistConfig()) != shipped.scorer


def test_each_packshot_is_verified_once_per_crop_for_both_opinions_and_a_scene_never(
    shelf_catalog: tuple[CatalogIndex, Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_shop_photo, _ = shelf_catalog
    scene = with_shop_photo.image_features[with_shop_photo.products[0].image_digests[1]].local
    verified: list[int] = []
    real_verify = verify

    def counting(query: MatchingQuery, candidate: LocalFeatures) -> Verification:
        verified.append(id(candidate))
        return real_verify(query, candidate)

    monkeypatch.setattr(linker_module, "verify", counting)
    shot = _shelf_shot()
    linker = Linker(with_shop_photo, extractor(), _appearance_model(), ShortlistConfig(size=5))
    result = linker.link_track([shot])

    assert "on its packshots alone" in result.evidence  # the second opinion was asked
    assert verified
    assert len(verified) == len(set(verified))
    assert id(scene) not in verified


def _keypoint_model() -> FusionModel:
    """A model that trusts a strong print match, as the shipped one does when dozens of keypoints
    agree: what approved a left-out sibling that shares the logo (BENCHMARKS.md, End to end)."""
    weights = [0.0] * len(FEATURE_NAMES)
    weights[FEATURE_NAMES.index("keypoints")] = 4.0
    return FusionModel(tuple(weights), unknown_bias=6.0)


def _with_picture_below(image: Image, seed: int) -> Image:
    """The carton with its lower half printed with a seeded picture (a flavour's fruit): two seeds are
    two variants of one product that share its logo half."""
    rng = np.random.default_rng(seed)
    variant = image.copy()
    variant[100:190, 40:160] = rng.integers(40, 200, size=3)
    for _ in range(40):
        centre = (int(rng.integers(45, 155)), int(rng.integers(105, 185)))
        dot = tuple(int(c) for c in rng.integers(0, 255, size=3))
        cv2.circle(variant, centre, int(rng.integers(2, 7)), dot, thickness=-1)
    return variant


# Where `_with_picture_below` prints the variant's picture: the part of the pack only it has.
LOWER_HALF = ((0.2, 0.5, 0.8, 0.95),)
SKU_0_PACK, SKU_0_SIBLING = _with_picture_below(packshot(0), 1), _with_picture_below(packshot(0), 2)


def _catalog_with_sku_0_pack(own_print: tuple[tuple[float, float, float, float], ...]) -> CatalogIndex:
    items = catalog(6)
    items[0] = replace(items[0], images=(SKU_0_PACK,), own_print=own_print)
    return build_catalog_index(items, extractor())


@pytest.fixture(scope="module")
def marked_catalog() -> CatalogIndex:
    return _catalog_with_sku_0_pack(LOWER_HALF)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_sibling_the_catalog_lacks_matches_the_shared_print_but_not_the_marked_own_print(
    marked_catalog: CatalogIndex, seed: int
) -> None:
    """SKU-0's sibling (same logo half, another picture below) is not in the catalog. Its carton
    matches SKU-0's logo half with enough keypoints to be approved as SKU-0; once the brand marked
    SKU-0's picture as its own, the link waits for review, saying why."""
    variant = photo_of(SKU_0_SIBLING, seed)

    unmarked = Linker(_catalog_with_sku_0_pack(()), extractor(), _keypoint_model()).link_track([variant])
    marked = Linker(marked_catalog, extractor(), _keypoint_model()).link_track([variant])

    assert unmarked.sku == marked.sku == "SKU-0"
    assert unmarked.decision is Decision.APPROVED
    assert marked.confidence == unmarked.confidence  # the marks decide approval, not ranking
    assert marked.decision is Decision.PROPOSED
    assert marked.contradicted is False  # a person checks it; nothing says it is another product
    assert "in the part of its print marked as its own (needs 10: a sibling?)" in marked.evidence


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_product_itself_matches_its_marked_own_print_and_is_approved(
    marked_catalog: CatalogIndex, model: FusionModel, seed: int
) -> None:
    result = Linker(marked_catalog, extractor(), model).link_track([photo_of(SKU_0_PACK, seed)])

    assert result.sku == "SKU-0"
    assert result.decision is Decision.APPROVED
    assert "keypoints matched in the part of its print marked as its own" in result.evidence


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_confirmed_own_print_approves_below_the_auto_approve_level_and_a_sibling_does_not(
    marked_catalog: CatalogIndex, seed: int
) -> None:
    """A model that trusts keypoints only moderately puts the product's own photo at 0.54-0.57 and its
    sibling's (same logo, another picture; not in the catalog) at 0.35-0.39, both under the brand's
    auto-approve level and over its own-print level. Only the product's own photo confirms its marks
    and is approved; without marks it is not."""
    weights = [0.0] * len(FEATURE_NAMES)
    weights[FEATURE_NAMES.index("keypoints")] = 1.0
    moderate = FusionModel(tuple(weights), unknown_bias=3.0)
    thresholds = LinkThresholds(auto_approve=0.8, floor=0.2, own_print_approve=0.3)

    own = Linker(marked_catalog, extractor(), moderate).link_track([photo_of(SKU_0_PACK, seed)], thresholds)
    sibling = Linker(marked_catalog, extractor(), moderate).link_track(
        [photo_of(SKU_0_SIBLING, seed)], thresholds
    )
    unmarked = Linker(_catalog_with_sku_0_pack(()), extractor(), moderate).link_track(
        [photo_of(SKU_0_PACK, seed)], thresholds
    )

    assert (own.sku, own.decision) == ("SKU-0", Decision.APPROVED)
    assert 0.3 <= own.confidence < 0.8
    assert "which confirms it" in own.evidence
    assert (sibling.sku, sibling.decision) == ("SKU-0", Decision.PROPOSED)
    assert sibling.confidence >= 0.3
    assert (unmarked.sku, unmarked.decision) == ("SKU-0", Decision.PROPOSED)


def test_marks_on_a_products_second_image_are_measured_there(model: FusionModel) -> None:
    items = catalog(6)
    items[0] = replace(items[0], images=(packshot(5), SKU_0_PACK), own_print=LOWER_HALF, own_print_image=1)
    index = build_catalog_index(items, extractor())

    result = Linker(index, extractor(), model).link_track([photo_of(SKU_0_PACK, 0)])

    assert result.sku == "SKU-0"
    assert result.decision is Decision.APPROVED
    assert "keypoints matched in the part of its print marked as its own" in result.evidence


def test_a_mark_where_the_pack_prints_nothing_keeps_every_link_for_review(model: FusionModel) -> None:
    items = catalog(6)
    items[2] = replace(items[2], own_print=((0.0, 0.0, 0.15, 0.15),))  # white background: no keypoints
    marked = build_catalog_index(items, extractor())

    result = Linker(marked, extractor(), model).link_track([photo_of(packshot(2), 0)])

    assert result.sku == "SKU-2"
    assert result.decision is Decision.PROPOSED
    assert "only 0 keypoints matched in the part of its print marked as its own" in result.evidence


def test_marks_are_part_of_the_index_version_to_the_last_digit() -> None:
    nudged = ((0.2000001, 0.5, 0.8, 0.95),)

    assert _catalog_with_sku_0_pack(nudged).version != _catalog_with_sku_0_pack(LOWER_HALF).version
    assert _catalog_with_sku_0_pack(LOWER_HALF).version != _catalog_with_sku_0_pack(()).version


def test_a_brand_that_waived_print_evidence_still_needs_the_marked_own_print(
    marked_catalog: CatalogIndex,
) -> None:
    waived = LinkThresholds(require_print_evidence=False)

    result = Linker(marked_catalog, extractor(), _keypoint_model()).link_track(
        [photo_of(SKU_0_SIBLING, 0)], waived
    )

    assert result.sku == "SKU-0"
    assert result.confidence >= 0.8
    assert result.decision is Decision.PROPOSED


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(lambda: scene_around(SKU_0_PACK, seed=4), id="a scene"),
        pytest.param(lambda: b"not an image", id="unreadable"),
    ],
)
def test_marks_on_a_first_image_that_is_no_packshot_approve_nothing_and_say_why(
    first: Callable[[], Image | bytes], model: FusionModel
) -> None:
    """The marks are on the first image (`own_print_image` 0); when it is a scene or cannot be read they
    must not fall on the image after it, and nothing can match them."""
    items = catalog(6)
    items[0] = replace(items[0], images=(first(), SKU_0_PACK), own_print=LOWER_HALF)
    index = build_catalog_index(items, extractor())

    result = Linker(index, extractor(), model).link_track([photo_of(SKU_0_PACK, 0)])

    assert result.sku == "SKU-0"
    assert result.decision is Decision.PROPOSED
    assert "its own print is marked on an image that is not an indexed packshot" in result.evidence


def test_marks_whose_image_the_catalog_does_not_hold_yet_approve_nothing(model: FusionModel) -> None:
    items = catalog(6)
    items[0] = replace(items[0], images=(SKU_0_PACK,), own_print=LOWER_HALF, own_print_image=None)

    result = Linker(build_catalog_index(items, extractor()), extractor(), model).link_track(
        [photo_of(SKU_0_PACK, 0)]
    )

    assert result.decision is Decision.PROPOSED
    assert "not an indexed packshot" in result.evidence


@pytest.mark.parametrize(
    ("own", "seen", "confirmed"),
    [
        (0, False, False),
        (9, False, False),
        (10, True, False),
        (19, True, False),
        (20, True, True),
        (40, True, True),
    ],
)
def test_own_print_evidence_needs_ten_inliers_inside_the_marks_and_twenty_confirm_it(
    own: int, seen: bool, confirmed: bool
) -> None:
    signals = np.array([_signals(inliers=60)])
    weak = CandidateSet(np.array([7]), signals, (PrintMatch(60, 0, 0, own_print_inliers=3),))
    strong = CandidateSet(np.array([7]), signals, (PrintMatch(60, 0, 0, own_print_inliers=own),))

    marked = print_evidence([weak, strong], 7, own_print=OwnPrintMarks.PLACED)

    assert (marked.seen, marked.own_print_confirmed) == (seen, confirmed)
    assert ("which confirms it" in marked.reason) is confirmed
    assert print_evidence([weak, strong], 7).seen is True  # unmarked: the whole print is evidence
    assert print_evidence([weak, strong], 7).own_print_confirmed is False


def test_a_print_in_other_colours_is_never_confirmed_by_its_marks() -> None:
    signals = np.array([_signals(inliers=60)])
    other_ink = CandidateSet(np.array([7]), signals, (PrintMatch(60, 40, 3, own_print_inliers=35),))

    evidence = print_evidence([other_ink], 7, own_print=OwnPrintMarks.PLACED)

    assert (evidence.contradicted, evidence.own_print_confirmed) == (True, False)
