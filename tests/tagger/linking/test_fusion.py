"""The conditional-logit fusion: it learns which signals matter and when to say "unknown"."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.errors import LinkingError
from tagger.linking.fusion import FEATURE_NAMES, SIGNAL_NAMES, FusionModel, TrainingGroup, design, fit_fusion


def _groups(seed: int, count: int) -> list[TrainingGroup]:
    """Queries whose right candidate has a high 'keypoints' feature; the other features are noise.
    Each also appears with the right candidate removed (target unknown)."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(count):
        features = rng.normal(0.0, 1.0, size=(6, len(SIGNAL_NAMES)))
        features[:, 2] = rng.uniform(0.0, 1.0, size=6)
        features[0, 2] = 3.0 + rng.uniform(0.0, 1.0)
        groups.append(TrainingGroup(features, 0))
        groups.append(TrainingGroup(features[1:], None, 0.5))
    return groups


def test_fit_weights_the_informative_signal_and_learns_the_unknown_bias() -> None:
    model = fit_fusion(_groups(0, 60), l2=0.01)

    keypoint_weights = [
        w for name, w in zip(FEATURE_NAMES, model.weights, strict=True) if "keypoints" in name
    ]
    assert max(keypoint_weights) == max(model.weights)
    known = np.zeros((2, len(SIGNAL_NAMES)))
    known[:, 2] = [3.5, 0.5]
    probabilities, unknown = model.probabilities(known)
    assert probabilities[0] > 0.9
    left_out_probabilities, left_out_unknown = model.probabilities(known[1:])
    assert left_out_unknown > 0.9
    assert left_out_probabilities[0] < 0.1
    assert probabilities.sum() + unknown == pytest.approx(1.0)


def test_probabilities_of_no_candidates_are_all_unknown() -> None:
    model = FusionModel((1.0,) * len(FEATURE_NAMES), 0.0)

    probabilities, unknown = model.probabilities(np.zeros((0, len(SIGNAL_NAMES))))

    assert probabilities.shape == (0,)
    assert unknown == 1.0


def test_json_round_trip() -> None:
    model = FusionModel(tuple(float(n) for n in range(len(FEATURE_NAMES))), -1.5, FEATURE_NAMES, "unit test")

    assert FusionModel.from_json(model.to_json()) == model


def test_model_for_other_features_is_refused() -> None:
    text = '{"feature_names": ["a"], "weights": [1.0], "unknown_bias": 0.0}'

    with pytest.raises(LinkingError, match=r"was fitted on features \('a',\)"):
        FusionModel.from_json(text, source="m.json")


def test_malformed_model_is_refused() -> None:
    with pytest.raises(LinkingError, match=r"m\.json is not a fusion model"):
        FusionModel.from_json("{}", source="m.json")


def test_fitting_nothing_is_an_error() -> None:
    with pytest.raises(LinkingError, match="no queries"):
        fit_fusion([])


def test_design_adds_leads_over_the_runner_up_and_strong_inliers() -> None:
    signals = np.array(
        [
            [0.9, 0.5, np.log1p(30.0), 2.0, 0.8, 0.70, 0.6],
            [0.7, 0.4, np.log1p(5.0), 0.0, 0.3, 0.75, 0.5],
            [0.5, 0.3, 0.0, 1.0, 0.0, 0.60, 0.2],
        ]
    )

    features = design(signals)

    assert features.shape == (3, len(FEATURE_NAMES))
    column = {name: features[:, position] for position, name in enumerate(FEATURE_NAMES)}
    np.testing.assert_allclose(features[:, : len(SIGNAL_NAMES)], signals)
    np.testing.assert_allclose(column["centre_colour"], [0.6, 0.5, 0.2])
    np.testing.assert_allclose(column["text_lead"], [1.0, -2.0, -1.0])
    np.testing.assert_allclose(column["keypoints_strong"], [2.0, 0.0, 0.0])  # (30 - 10) / 10 beyond chance
    np.testing.assert_allclose(column["aligned_lead"], [0.5, -0.5, -0.8])
    np.testing.assert_allclose(column["patches_lead"], [-0.05, 0.05, -0.15])
    np.testing.assert_allclose(column["patches_lead_printed"], [-0.05, 0.05, -0.15])  # OCR matched text
    assert "embedding_lead" not in FEATURE_NAMES  # a category-level embedding's margin rewards hubs


def test_design_counts_the_patch_lead_twice_only_for_printed_products() -> None:
    produce = np.array([[0.9, 0.5, 0.0, 0.0, 0.0, 0.70, 0.5], [0.7, 0.4, 0.0, 0.0, 0.0, 0.60, 0.4]])

    features = design(produce)

    np.testing.assert_allclose(features[:, FEATURE_NAMES.index("patches_lead")], [0.1, -0.1])
    np.testing.assert_allclose(features[:, FEATURE_NAMES.index("patches_lead_printed")], [0.0, 0.0])
