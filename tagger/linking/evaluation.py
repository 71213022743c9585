"""The linking evaluation: run what production runs on labelled photos, then score it honestly.

Protocol (also written into every report): the fusion model is fitted with k-fold cross-validation
over queries; each query is scored by a model that never saw it. Unknown products are measured by
leaving each query's true SKU out of the catalog (its shortlist is recomputed without it) and
asking how confident the linker still is.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tagger.linking.croppers import Cropper
from tagger.linking.dataset import Query
from tagger.linking.decision import DEFAULT_OWN_PRINT_APPROVE, Decision, LinkThresholds, decide
from tagger.linking.errors import EvaluationInputError
from tagger.linking.features import Extractor, ImageFeatures
from tagger.linking.fusion import FusionModel, TrainingGroup, fit_fusion
from tagger.linking.images import ImageProblem, read_image
from tagger.linking.index import CatalogIndex
from tagger.linking.linker import (
    CandidateSet,
    QueryVerifications,
    ShortlistConfig,
    candidate_set,
    marks_of,
    packshot_probability,
    print_evidence,
    vote,
)

# Leave-out copies stand for detections of products the brand does not sell; this weight sets how
# common the model believes they are. 1.0: as common as the brand's own products — in a drama episode
# most bottles and cartons on screen are not the brand's. On grocery-dev (BENCHMARKS.md, Linking) 1.0
# instead of 0.5 left top-1 and precision unchanged, cut auto-approvals of products missing from the
# catalog from 3.5 % to 1.3 % of packaged detector crops, and auto-approved 19-21 % instead of 27-30 %.
UNKNOWN_WEIGHT = 1.0
RELIABILITY_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0001)


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One query's shortlists (per crop) with and without its true SKU, and the time linking took."""

    query: Query
    truth_row: int
    known: tuple[CandidateSet, ...]
    left_out: tuple[CandidateSet, ...]
    seconds: float
    # The same against the catalog's packshots alone (`CatalogIndex.packshots_only`), for a catalog with
    # scenes: approval's second opinion (`Linker.link_track`). Empty when every image is a packshot.
    known_packshots: tuple[CandidateSet, ...] = ()
    left_out_packshots: tuple[CandidateSet, ...] = ()


def collect(
    queries: Sequence[Query],
    index: CatalogIndex,
    extractor: Extractor,
    shortlist: ShortlistConfig,
    cropper: Cropper,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[QueryRecord]:
    """Features and shortlists for every query: the production shortlist, and the one a catalog without
    the query's SKU would have produced (recomputed, so which rows get verified is exactly what it
    would be)."""
    rows = {sku: row for row, sku in enumerate(index.skus)}
    records = []
    for position, query in enumerate(queries):
        if query.sku not in rows:
            raise EvaluationInputError(
                f"query {query.image} names sku {query.sku!r}, not in the catalog", path=str(query.image)
            )
        image = read_image(query.image)
        if isinstance(image, ImageProblem):
            raise EvaluationInputError(f"query image {image.source}: {image.reason}", path=image.source)
        truth = rows[query.sku]
        started = time.perf_counter()
        features = [extractor.query_features(crop) for crop in cropper.crops(image)]
        verified = [QueryVerifications.of(f) for f in features]
        pairs = list(zip(features, verified, strict=True))
        known = tuple(candidate_set(f, index, shortlist, verifications=v) for f, v in pairs)
        seconds = time.perf_counter() - started
        left_out = tuple(candidate_set(f, index, shortlist, exclude=truth, verifications=v) for f, v in pairs)
        known_alone, left_alone = _packshot_sets(features, verified, index, shortlist, query.sku)
        records.append(QueryRecord(query, truth, known, left_out, seconds, known_alone, left_alone))
        if on_progress is not None:
            on_progress(position + 1, len(queries))
    return records


def _packshot_sets(
    features: Sequence[ImageFeatures],
    verified: Sequence[QueryVerifications],
    index: CatalogIndex,
    shortlist: ShortlistConfig,
    sku: str,
) -> tuple[tuple[CandidateSet, ...], tuple[CandidateSet, ...]]:
    """A query's candidate sets against the catalog's packshots alone, with and without its SKU; none
    for a catalog of packshots (its links need no second opinion)."""
    alone = index.packshots_only()
    if alone is index:
        return (), ()
    own = alone.skus.index(sku) if sku in alone.skus else None  # a SKU shown only in scenes is absent
    pairs = list(zip(features, verified, strict=True))
    known = tuple(candidate_set(f, alone, shortlist, verifications=v) for f, v in pairs)
    left_out = tuple(candidate_set(f, alone, shortlist, exclude=own, verifications=v) for f, v in pairs)
    return known, left_out


def _packshot_probability(
    sets: Sequence[CandidateSet], model: FusionModel, index: CatalogIndex, sku: str
) -> float | None:
    """`linker.packshot_probability` of the top SKU; None for a catalog of packshots (no second
    opinion)."""
    alone = index.packshots_only()
    return None if alone is index else packshot_probability(sets, model, alone, sku)


def training_groups(records: Sequence[QueryRecord]) -> list[TrainingGroup]:
    groups = []
    for record in records:
        for candidates in record.known:
            hits = np.flatnonzero(candidates.rows == record.truth_row)
            groups.append(TrainingGroup(candidates.features, int(hits[0]) if hits.size else None))
        groups.extend(TrainingGroup(c.features, None, UNKNOWN_WEIGHT) for c in record.left_out)
    return groups


@dataclass(frozen=True, slots=True)
class Prediction:
    """One query's scored outcome under a given model."""

    query: Query
    rank: int | None  # 1-based rank of the true SKU; None when it did not make the shortlist
    top_sku: str | None
    confidence: float
    top_correct: bool
    left_out_confidence: float
    seconds: float
    # Whether the top SKU's print was seen (the auto-approval rule; see LinkThresholds).
    print_evidence: bool = True
    left_out_print_evidence: bool = True
    # Whether the crops contradicted the top SKU (never approved; see `decide`).
    contradicted: bool = False
    left_out_contradicted: bool = False
    # The top SKU's probability on the catalog's packshots alone (None: a catalog of packshots).
    packshot_confidence: float | None = None
    left_out_packshot_confidence: float | None = None
    # The brand marked the top SKU's own print and no crop matched it (never approved; see `decide`).
    own_print_unseen: bool = False
    left_out_own_print_unseen: bool = False
    # The crops confirmed the top SKU's marked own print (approved from the own-print level).
    own_print_confirmed: bool = False
    left_out_own_print_confirmed: bool = False

    def approved(self, thresholds: LinkThresholds) -> bool:
        decision = decide(
            self.confidence,
            thresholds,
            print_evidence=self.print_evidence,
            contradicted=self.contradicted,
            packshot_confidence=self.packshot_confidence,
            own_print_unseen=self.own_print_unseen,
            own_print_confirmed=self.own_print_confirmed,
        )
        return decision is Decision.APPROVED

    def left_out_approved(self, thresholds: LinkThresholds) -> bool:
        decision = decide(
            self.left_out_confidence,
            thresholds,
            print_evidence=self.left_out_print_evidence,
            contradicted=self.left_out_contradicted,
            packshot_confidence=self.left_out_packshot_confidence,
            own_print_unseen=self.left_out_own_print_unseen,
            own_print_confirmed=self.left_out_own_print_confirmed,
        )
        return decision is Decision.APPROVED


def predict(record: QueryRecord, model: FusionModel, index: CatalogIndex) -> Prediction:
    probabilities, _ = vote(record.known, model, len(index))
    truth = float(probabilities[record.truth_row])
    rank = 1 + int((probabilities > truth).sum()) if truth > 0 else None
    top = int(np.argmax(probabilities))
    left_probabilities, _ = vote(record.left_out, model, len(index))
    left_top = int(np.argmax(left_probabilities))
    known = print_evidence(record.known, top, own_print=marks_of(index, top))
    left_out = print_evidence(record.left_out, left_top, own_print=marks_of(index, left_top))
    return Prediction(
        query=record.query,
        rank=rank,
        top_sku=index.skus[top] if probabilities[top] > 0 else None,
        confidence=float(probabilities[top]),
        top_correct=top == record.truth_row and probabilities[top] > 0,
        left_out_confidence=float(left_probabilities.max(initial=0.0)),
        seconds=record.seconds,
        print_evidence=known.seen,
        left_out_print_evidence=left_out.seen,
        contradicted=known.contradicted,
        left_out_contradicted=left_out.contradicted,
        own_print_unseen=known.own_print_unseen,
        left_out_own_print_unseen=left_out.own_print_unseen,
        own_print_confirmed=known.own_print_confirmed,
        left_out_own_print_confirmed=left_out.own_print_confirmed,
        packshot_confidence=_packshot_probability(record.known_packshots, model, index, index.skus[top]),
        left_out_packshot_confidence=_packshot_probability(
            record.left_out_packshots, model, index, index.skus[left_top]
        ),
    )


def fold_models(
    records: Sequence[QueryRecord], *, folds: int, seed: int = 0, l2: float = 0.1
) -> list[tuple[FusionModel, list[int]]]:
    """(model fitted without the fold, positions of the fold's records) for each of k seeded folds."""
    order = np.random.default_rng(seed).permutation(len(records))
    assignment = np.empty(len(records), dtype=np.int64)
    assignment[order] = np.arange(len(records)) % folds
    result = []
    for fold in range(folds):
        train = [r for r, f in zip(records, assignment, strict=True) if f != fold]
        model = fit_fusion(training_groups(train), l2=l2)
        result.append((model, [int(position) for position in np.flatnonzero(assignment == fold)]))
    return result


def cross_validate(
    records: Sequence[QueryRecord], index: CatalogIndex, *, folds: int, seed: int = 0, l2: float = 0.1
) -> list[Prediction]:
    """Every query predicted by a model fitted on the other folds (fold assignment is seeded)."""
    predictions: list[Prediction | None] = [None] * len(records)
    for model, members in fold_models(records, folds=folds, seed=seed, l2=l2):
        for position in members:
            predictions[position] = predict(records[position], model, index)
    return [p for p in predictions if p is not None]


def by_group(predictions: Sequence[Prediction]) -> dict[str, list[Prediction]]:
    """ "all", then each query group (Packages, Fruit, …) in the order first seen."""
    groups: dict[str, list[Prediction]] = {"all": list(predictions)}
    for prediction in predictions:
        if prediction.query.group != "all":
            groups.setdefault(prediction.query.group, []).append(prediction)
    return groups


def repeated_cross_validation(
    records: Sequence[QueryRecord],
    index: CatalogIndex,
    thresholds: LinkThresholds,
    *,
    folds: int,
    seeds: Sequence[int],
) -> dict[str, dict[str, dict[str, float]]]:
    """Group → metric → mean, min and max over several fold assignments. One assignment moves a
    100-query group's top-1 by a query or two either way; the mean over a few is the steadier figure.
    Precision counts only the assignments that auto-approved something (absent when none did)."""
    per_seed: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        predictions = cross_validate(records, index, folds=folds, seed=seed)
        for name, items in by_group(predictions).items():
            summary = summarize(items, thresholds)
            values = {
                "top1": summary["top1"],
                "top5": summary["top5"],
                "mrr": summary["mrr"],
                "coverage": summary["auto_approved"]["coverage"],
                "precision": summary["auto_approved"]["precision"],
                "leave_sku_out_approved": summary["leave_sku_out"]["auto_approved_share"],
            }
            if not summary["auto_approved"]["count"]:
                del values["precision"]
            metrics = per_seed.setdefault(name, {})
            for metric, value in values.items():
                metrics.setdefault(metric, []).append(float(value))
    return {
        name: {
            metric: {
                "mean": round(float(np.mean(values)), 4),
                "min": round(min(values), 4),
                "max": round(max(values), 4),
            }
            for metric, values in metrics.items()
        }
        for name, metrics in per_seed.items()
    }


def simulate_tracks(
    records: Sequence[QueryRecord], index: CatalogIndex, *, folds: int, seed: int = 0, size: int = 2
) -> dict[str, dict[str, float]]:
    """Does voting across crops help? Photos of one SKU in the same fold are grouped `size` at a time
    into pretend tracks and linked together (probabilities averaged, as `Linker.link_track` does);
    compares the tracks' top-1 with the top-1 of their photos alone, per query group."""
    outcome: dict[str, list[tuple[bool, float]]] = {}
    for model, members in fold_models(records, folds=folds, seed=seed):
        by_sku: dict[str, list[QueryRecord]] = {}
        for position in members:
            by_sku.setdefault(records[position].query.sku, []).append(records[position])
        for group_records in by_sku.values():
            for start in range(0, len(group_records) - size + 1, size):
                track = group_records[start : start + size]
                probabilities, _ = vote([c for r in track for c in r.known], model, len(index))
                right = int(np.argmax(probabilities)) == track[0].truth_row and probabilities.max() > 0
                single = float(np.mean([predict(r, model, index).top_correct for r in track]))
                for name in {"all", track[0].query.group}:
                    outcome.setdefault(name, []).append((bool(right), single))
    return {
        name: {
            "tracks": len(items),
            "track_top1": _rate(sum(right for right, _ in items), len(items)),
            "single_photo_top1": round(float(np.mean([single for _, single in items])), 4),
        }
        for name, items in sorted(outcome.items())
    }


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def summarize(predictions: Sequence[Prediction], thresholds: LinkThresholds) -> dict[str, Any]:
    """Top-1/top-5/MRR, precision and coverage of auto-approval, the review and unknown shares."""
    total = len(predictions)
    approved = [p for p in predictions if p.approved(thresholds)]
    unknown = [p for p in predictions if p.confidence < thresholds.floor]
    return {
        "queries": total,
        "top1": _rate(sum(p.rank == 1 for p in predictions), total),
        "top5": _rate(sum(p.rank is not None and p.rank <= 5 for p in predictions), total),
        "mrr": round(sum(1.0 / p.rank for p in predictions if p.rank) / total, 4) if total else 0.0,
        "auto_approved": {
            "threshold": thresholds.auto_approve,
            "count": len(approved),
            "coverage": _rate(len(approved), total),
            "precision": _rate(sum(p.top_correct for p in approved), len(approved)),
        },
        "unknown_share": _rate(len(unknown), total),
        "leave_sku_out": {
            "auto_approved_share": _rate(sum(p.left_out_approved(thresholds) for p in predictions), total),
            "above_floor_share": _rate(
                sum(p.left_out_confidence >= thresholds.floor for p in predictions), total
            ),
            "mean_confidence": round(float(np.mean([p.left_out_confidence for p in predictions])), 4)
            if total
            else 0.0,
        },
    }


def reliability_table(
    confidences: NDArray[np.float64], correct: NDArray[np.float64], weights: NDArray[np.float64]
) -> dict[str, Any]:
    """Weighted confidence-vs-accuracy bins and the expected calibration error."""
    bins = []
    ece = 0.0
    total = float(weights.sum())
    for low, high in itertools.pairwise(RELIABILITY_EDGES):
        inside = (confidences >= low) & (confidences < high)
        weight = float(weights[inside].sum())
        if weight > 0:
            mean_confidence = float(np.average(confidences[inside], weights=weights[inside]))
            accuracy = float(np.average(correct[inside], weights=weights[inside]))
            ece += weight / total * abs(mean_confidence - accuracy)
            bins.append(
                {
                    "range": [low, min(high, 1.0)],
                    "count": int(inside.sum()),
                    "mean_confidence": round(mean_confidence, 4),
                    "accuracy": round(accuracy, 4),
                }
            )
    return {"bins": bins, "expected_calibration_error": round(ece, 4)}


def reliability(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Top-SKU confidence against how often it was right, on the known-product queries."""
    confidences = np.array([p.confidence for p in predictions])
    correct = np.array([p.top_correct for p in predictions], dtype=np.float64)
    return reliability_table(confidences, correct, np.ones(len(predictions)))


def reliability_with_unknowns(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """The same on the population the model is fitted for: known queries plus their leave-SKU-out
    copies (whose top SKU is always wrong) at weight UNKNOWN_WEIGHT."""
    confidences = np.array([p.confidence for p in predictions] + [p.left_out_confidence for p in predictions])
    correct = np.array([p.top_correct for p in predictions] + [False] * len(predictions), dtype=np.float64)
    weights = np.array([1.0] * len(predictions) + [UNKNOWN_WEIGHT] * len(predictions))
    return reliability_table(confidences, correct, weights)


def per_sku(predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    grouped: dict[str, list[Prediction]] = {}
    for prediction in predictions:
        grouped.setdefault(prediction.query.sku, []).append(prediction)
    return [
        {
            "sku": sku,
            "queries": len(items),
            "top1": _rate(sum(p.rank == 1 for p in items), len(items)),
            "top5": _rate(sum(p.rank is not None and p.rank <= 5 for p in items), len(items)),
            "mean_confidence": round(float(np.mean([p.confidence for p in items])), 4),
            "confused_with": sorted({p.top_sku for p in items if not p.top_correct and p.top_sku}),
        }
        for sku, items in sorted(grouped.items())
    ]


def precision_curve(
    predictions: Sequence[Prediction],
    levels: Sequence[float],
    *,
    require_print_evidence: bool = True,
    own_print_approve: float = DEFAULT_OWN_PRINT_APPROVE,
) -> list[dict[str, float]]:
    """Precision and coverage of auto-approval had the threshold been each of `levels` (with the same
    own-print level: a confirmed own print is approved from the lower of the two)."""
    curve = []
    for level in levels:
        thresholds = LinkThresholds(
            auto_approve=level,
            floor=0.0,
            require_print_evidence=require_print_evidence,
            own_print_approve=own_print_approve,
        )
        above = [p for p in predictions if p.approved(thresholds)]
        curve.append(
            {
                "threshold": level,
                "coverage": _rate(len(above), len(predictions)),
                "precision": _rate(sum(p.top_correct for p in above), len(above)),
            }
        )
    return curve


def timing(predictions: Sequence[Prediction]) -> dict[str, float]:
    seconds = np.array([p.seconds for p in predictions]) * 1000.0
    return {
        "mean_ms": round(float(seconds.mean()), 1),
        "p50_ms": round(float(np.median(seconds)), 1),
        "p95_ms": round(float(np.percentile(seconds, 95)), 1),
    }


def report(
    predictions: Sequence[Prediction], thresholds: LinkThresholds, *, protocol: str, extra: dict[str, Any]
) -> dict[str, Any]:
    groups = by_group(predictions)
    return {
        **extra,
        "protocol": protocol,
        "thresholds": {
            "auto_approve": thresholds.auto_approve,
            "floor": thresholds.floor,
            "require_print_evidence": thresholds.require_print_evidence,
            "own_print_approve": thresholds.own_print_approve,
        },
        "groups": {name: summarize(items, thresholds) for name, items in groups.items()},
        "reliability": reliability(predictions),
        "reliability_with_unknowns": reliability_with_unknowns(predictions),
        "precision_curve": precision_curve(
            predictions,
            (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
            require_print_evidence=thresholds.require_print_evidence,
            own_print_approve=thresholds.own_print_approve,
        ),
        "timing": timing(predictions),
        "per_sku": per_sku(predictions),
    }


def top_confidences(predictions: Sequence[Prediction]) -> NDArray[np.float64]:
    return np.array([p.confidence for p in predictions])


def predict_fixed(
    records: Sequence[QueryRecord], model: FusionModel, index: CatalogIndex
) -> list[Prediction]:
    """Score every query with one given model (what production does with the shipped model)."""
    return [predict(record, model, index) for record in records]


def fit_on_all(records: Sequence[QueryRecord], *, fitted_on: str, l2: float = 0.1) -> FusionModel:
    model = fit_fusion(training_groups(records), l2=l2)
    return FusionModel(model.weights, model.unknown_bias, model.feature_names, fitted_on)
