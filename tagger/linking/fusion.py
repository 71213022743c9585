"""Fusing signals into one calibrated confidence: a conditional logit with an "unknown product" option.

For one query with shortlisted candidates j (feature rows x_j) the model says

    P(candidate j) = exp(w·x_j) / (exp(b) + Σ_k exp(w·x_k)),   P(unknown) = exp(b) / (same)

so the confidence of the top SKU is a probability over "which SKU, or none of them". It is fitted by
maximum likelihood (Newton's method, a few parameters, convex) on queries whose answer is known, plus
the same queries with their true SKU removed (target "unknown"); that is what teaches `b`, the
evidence a candidate needs before it beats "not in the catalog".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import DoubleArray
from tagger.linking.errors import LinkingError

# What the linker measures per candidate (see linker.candidate_set) ...
SIGNAL_NAMES: tuple[str, ...] = (
    "embedding",
    "colour",
    "keypoints",
    "text",
    "aligned",
    "patches",
    # The catalog colour against the query's central half as well as against its 0.7 crop: with both
    # scales cross-validated packaged top-5 rose from 0.95 to 0.97 (whole photos, 12 fold seeds) and
    # from 0.94 to 0.955 with detector crops, top-1 unchanged within a query (BENCHMARKS.md, Linking).
    "centre_colour",
)
# ... and what the model weighs: the signals, each signal's lead over the best other candidate (sibling
# packages share most of their print, so "how much better than the runner-up" carries the decision),
# and inliers beyond what unrelated packshots reach by chance (about ten on grocery-dev). Not the global
# embedding's lead: an ImageNet embedding knows "carton", not which carton, and its margin mostly
# rewarded "hub" packshots that look like every carton (without it, cross-validated packaged top-1 rose
# from 0.83 to 0.85 with whole photos and 0.81 to 0.825 with detector crops; BENCHMARKS.md, Linking).
FEATURE_NAMES: tuple[str, ...] = (
    *SIGNAL_NAMES,
    "keypoints_lead",
    "text_lead",
    "keypoints_strong",
    "aligned_lead",
    "patches_lead",
    "patches_lead_printed",
)
CHANCE_INLIERS = 10.0
DEFAULT_MODEL_PATH = Path(__file__).with_name("fusion_default.json")


def _lead(values: DoubleArray) -> DoubleArray:
    """Each value minus the best of the others (0 stands in for "others" with one candidate)."""
    if values.size < 2:
        return values.copy()
    order = np.argsort(-values, kind="stable")
    best, runner_up = values[order[0]], values[order[1]]
    others_best = np.full_like(values, best)
    others_best[order[0]] = runner_up
    return values - others_best


def design(signals: NDArray[np.floating]) -> DoubleArray:
    """K x 7 signals (embedding, colour, log1p inliers, log1p text, aligned colour, patches, centre
    colour) -> K x 13 features.

    The last one is the patch lead again, but only when OCR matched catalog text for some candidate:
    then the product is a printed package, whose mid-level print patterns tell siblings apart, while
    on produce (no print) the same lead is mostly noise and colour should weigh more.
    """
    base = np.asarray(signals, dtype=np.float64).reshape(-1, len(SIGNAL_NAMES))
    inliers = np.expm1(base[:, 2])
    strong = np.maximum(0.0, inliers - CHANCE_INLIERS) / CHANCE_INLIERS
    patches_lead = _lead(base[:, 5])
    printed = float(base.shape[0] > 0 and base[:, 3].max() > 0)
    return np.column_stack(
        [
            base,
            _lead(base[:, 2]),
            _lead(base[:, 3]),
            strong,
            _lead(base[:, 4]),
            patches_lead,
            patches_lead * printed,
        ]
    )


@dataclass(frozen=True, slots=True)
class TrainingGroup:
    """One query's candidates (K x 7 signals), the row of the right one (None: the right SKU is absent)."""

    features: DoubleArray
    target: int | None
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class FusionModel:
    weights: tuple[float, ...]
    unknown_bias: float
    feature_names: tuple[str, ...] = FEATURE_NAMES
    fitted_on: str = ""

    def probabilities(self, signals: NDArray[np.floating]) -> tuple[DoubleArray, float]:
        """(probability of each candidate row, probability that none is right) from K x 7 signals."""
        scores = design(signals) @ np.asarray(self.weights, dtype=np.float64)
        top = max(float(scores.max(initial=-np.inf)), self.unknown_bias)
        exp_scores = np.exp(scores - top)
        exp_unknown = float(np.exp(self.unknown_bias - top))
        total = exp_unknown + float(exp_scores.sum())
        return exp_scores / total, exp_unknown / total

    def to_json(self) -> str:
        return json.dumps(
            {
                "feature_names": list(self.feature_names),
                "weights": list(self.weights),
                "unknown_bias": self.unknown_bias,
                "fitted_on": self.fitted_on,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "fusion model") -> FusionModel:
        try:
            data = json.loads(text)
            names = tuple(str(name) for name in data["feature_names"])
            weights = tuple(float(value) for value in data["weights"])
            bias = float(data["unknown_bias"])
        except (ValueError, KeyError, TypeError) as error:
            raise LinkingError(f"{source} is not a fusion model: {error}") from error
        if names != FEATURE_NAMES or len(weights) != len(names):
            raise LinkingError(
                f"{source} was fitted on features {names}, this linker computes {FEATURE_NAMES}"
            )
        return cls(weights, bias, names, str(data.get("fitted_on", "")))

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL_PATH) -> FusionModel:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise LinkingError(f"fusion model {path} cannot be read: {error}") from error
        return cls.from_json(text, source=str(path))


def _augmented(features: DoubleArray) -> DoubleArray:
    # Row 0 is the "unknown" option: zero features, indicator on the bias column.
    rows, dim = features.shape
    out = np.zeros((rows + 1, dim + 1), dtype=np.float64)
    out[0, dim] = 1.0
    out[1:, :dim] = features
    return out


def _log_likelihood(theta: DoubleArray, groups: Sequence[tuple[DoubleArray, int, float]], l2: float) -> float:
    total = -0.5 * l2 * float(theta[:-1] @ theta[:-1])
    for matrix, target, weight in groups:
        scores = matrix @ theta
        top = float(scores.max())
        total += weight * (float(scores[target]) - top - float(np.log(np.exp(scores - top).sum())))
    return total


def fit_fusion(groups: Sequence[TrainingGroup], *, l2: float = 0.1, fitted_on: str = "") -> FusionModel:
    """Maximum-likelihood fit with an L2 penalty on the feature weights (not on the bias)."""
    if not groups:
        raise LinkingError("cannot fit a fusion model on no queries")
    dim = len(FEATURE_NAMES)
    prepared = [
        (_augmented(design(g.features)), 0 if g.target is None else g.target + 1, g.weight) for g in groups
    ]
    theta = np.zeros(dim + 1, dtype=np.float64)
    penalty = np.full(dim + 1, l2)
    penalty[-1] = 1e-6
    current = _log_likelihood(theta, prepared, l2)
    for _ in range(100):
        gradient = -penalty * theta
        hessian = -np.diag(penalty)
        for matrix, target, weight in prepared:
            scores = matrix @ theta
            probs = np.exp(scores - scores.max())
            probs /= probs.sum()
            mean = probs @ matrix
            gradient += weight * (matrix[target] - mean)
            hessian -= weight * ((matrix * probs[:, None]).T @ matrix - np.outer(mean, mean))
        step = np.linalg.solve(hessian, -gradient)
        scale = 1.0
        while scale > 1e-4:
            candidate = theta + scale * step
            value = _log_likelihood(candidate, prepared, l2)
            if value >= current - 1e-12:
                break
            scale /= 2
        theta, improvement = candidate, value - current
        current = value
        if abs(improvement) < 1e-9:
            break
    return FusionModel(tuple(float(v) for v in theta[:-1]), float(theta[-1]), FEATURE_NAMES, fitted_on)
